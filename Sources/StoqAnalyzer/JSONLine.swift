import Foundation

/// Builds one JSON object with fields in the order they are added. Trace files
/// must be byte-identical across runs with the same seed, so no dictionary (whose
/// order is random per process) ever decides the output order. Built as UTF-8
/// bytes: `TraceWriter` appends records straight into its output buffer.
public struct JSONLine {
    private(set) var bytes: [UInt8]
    private var first = true

    public init() { bytes = [0x7b] }

    /// Continues `buffer`: the object is appended after its bytes (see `TraceWriter`).
    init(appendingTo buffer: [UInt8]) {
        bytes = buffer
        bytes.append(0x7b)
    }

    private mutating func key(_ k: StaticString) {
        if !first { bytes.append(0x2c) }
        first = false
        bytes.append(0x22)
        bytes.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
        bytes.append(0x22)
        bytes.append(0x3a)
    }

    public mutating func add(_ k: StaticString, _ v: String) {
        key(k)
        JSONLine.appendQuoted(v, to: &bytes)
    }

    /// A constant that needs no escaping (a record's `type`).
    mutating func add(_ k: StaticString, constant v: StaticString) {
        key(k)
        bytes.append(0x22)
        bytes.append(contentsOf: UnsafeBufferPointer(start: v.utf8Start, count: v.utf8CodeUnitCount))
        bytes.append(0x22)
    }

    public mutating func add(_ k: StaticString, _ v: Int64) {
        key(k)
        if v < 0 { bytes.append(0x2d) }
        appendDecimal(v.magnitude)
    }
    public mutating func add(_ k: StaticString, _ v: Int) { add(k, Int64(v)) }
    public mutating func add(_ k: StaticString, _ v: UInt64) { key(k); appendDecimal(v) }
    public mutating func add(_ k: StaticString, _ v: Bool) {
        key(k)
        bytes.append(contentsOf: v ? [0x74, 0x72, 0x75, 0x65] : [0x66, 0x61, 0x6c, 0x73, 0x65])
    }

    /// Doubles are printed with a fixed number of significant digits (C's
    /// `%.*g`) so the text does not depend on the platform's shortest-representation printing.
    public mutating func add(_ k: StaticString, _ v: Double, digits: Int = 9) {
        key(k)
        guard v.isFinite else { return appendNull() }
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 48) { buf in
            let n = withVaList([Int32(digits), v]) { Int(vsnprintf(buf.baseAddress!, 48, "%.*g", $0)) }
            buf.baseAddress!.withMemoryRebound(to: UInt8.self, capacity: 48) {
                bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: Swift.min(n, 47)))
            }
        }
    }

    public mutating func add(_ k: StaticString, _ values: [String]) {
        key(k)
        bytes.append(0x5b)
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(0x2c) }
            JSONLine.appendQuoted(v, to: &bytes)
        }
        bytes.append(0x5d)
    }

    public mutating func addNull(_ k: StaticString) { key(k); appendNull() }

    /// Embeds an already-built object.
    public mutating func add(_ k: StaticString, object: JSONLine) { key(k); bytes += object.bytes; bytes.append(0x7d) }

    public var string: String { String(decoding: bytes + [0x7d], as: UTF8.self) }

    /// The finished object's bytes (after whatever it was appended to).
    mutating func finish() -> [UInt8] {
        bytes.append(0x7d)
        return bytes
    }

    private mutating func appendNull() { bytes.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c]) }

    private mutating func appendDecimal(_ v: UInt64) {
        if v < 10 { bytes.append(0x30 &+ UInt8(v)); return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var i = 20, x = v
            while x > 0 { i -= 1; buf[i] = 0x30 &+ UInt8(x % 10); x /= 10 }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[i..<20]))
        }
    }

    static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(0x5c); out.append(0x22)
            case 0x5c: out.append(0x5c); out.append(0x5c)
            case 0x0a: out.append(0x5c); out.append(0x6e)
            case 0x0d: out.append(0x5c); out.append(0x72)
            case 0x09: out.append(0x5c); out.append(0x74)
            case ..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out += [0x5c, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(0x22)
    }
}
