import Foundation

/// Names seen in a trace (nodes, workloads, congestion controllers), each
/// given a small integer the first time it appears. The analysis' hot loops
/// key their groups by these integers: a probe line's names are looked up
/// from the line's bytes without building a `String` per record.
final class NameTable {
    /// A name's UTF-8 bytes: the table's own copy, or a line's bytes while
    /// looking one up.
    private struct Key: Hashable {
        let start: UnsafePointer<UInt8>
        let count: Int
        static func == (a: Key, b: Key) -> Bool { a.count == b.count && memcmp(a.start, b.start, a.count) == 0 }
        func hash(into h: inout Hasher) { h.combine(bytes: UnsafeRawBufferPointer(start: start, count: count)) }
    }

    private var ids: [Key: Int32] = [:]
    /// The names by id.
    private(set) var names: [String] = []
    private var owned: [UnsafeMutablePointer<UInt8>] = []

    init() {}

    deinit { for p in owned { p.deallocate() } }

    func id(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard let start = bytes.baseAddress, bytes.count > 0 else { return emptyID() }
        if let id = ids[Key(start: start, count: bytes.count)] { return id }
        let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
        copy.initialize(from: start, count: bytes.count)
        owned.append(copy)
        ids[Key(start: copy, count: bytes.count)] = Int32(names.count)
        names.append(String(decoding: UnsafeBufferPointer(start: copy, count: bytes.count), as: UTF8.self))
        return Int32(names.count - 1)
    }

    /// The empty name has no bytes to point at, so it is kept aside.
    private var empty: Int32?
    private func emptyID() -> Int32 {
        if let empty { return empty }
        names.append("")
        empty = Int32(names.count - 1)
        return empty!
    }

    func id(_ name: String) -> Int32 {
        var name = name
        return name.withUTF8 { id($0) }
    }

    subscript(id: Int32) -> String { names[Int(id)] }
}

extension TraceRecord.Fields {
    /// The id of string field `k` in `table`, with the decoder's errors.
    func nameID(_ k: StaticString, in table: NameTable) throws -> Int32 {
        let f = try field(k)
        guard f.kind == .string else { throw TraceRecord.DecodeError(line: line, message: "'\(k)' must be a string") }
        return f.escaped ? table.id(json.string(f)) : table.id(json.valueBytes(f))
    }

    /// Like `nameID`, nil when the field is missing or null.
    func optionalNameID(_ k: StaticString, in table: NameTable) throws -> Int32? {
        guard let f = json.field(k), f.kind != .null else { return nil }
        guard f.kind == .string else { throw TraceRecord.DecodeError(line: line, message: "'\(k)' must be a string or null") }
        return f.escaped ? table.id(json.string(f)) : table.id(json.valueBytes(f))
    }
}
