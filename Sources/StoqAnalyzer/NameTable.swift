import Foundation

/// Names seen in a trace (nodes, workloads, congestion controllers), each
/// given a small integer the first time it appears. The analysis' hot loops
/// key their groups by these integers: a probe line's names are looked up
/// from the line's bytes without building a `String` per record, in an
/// open-addressing table with a multiply-mix hash (a `Dictionary`'s SipHash
/// and its `Hashable` calls took a tenth of a probe analysis).
final class NameTable {
    /// The names by id.
    private(set) var names: [String] = []
    /// Open addressing, a power of two at most half full: each slot holds its
    /// name's hash tag, id and place in `arena`, so a lookup reads one slot and
    /// then the name's bytes (with the bytes in separate allocations and the
    /// hashes in their own array, a probe analysis' pair lookups were four
    /// dependent cache misses).
    /// 16 bytes, so four share a cache line: the table of a big probe
    /// analysis' pairs is mostly out of cache, and smaller misses less.
    private struct Slot {
        /// The hash's top half (the bytes decide; this only skips most of them).
        var tag: UInt32 = 0
        var id: Int32 = -1
        var offset: Int32 = 0
        var length: Int32 = 0
    }
    private var slots: UnsafeMutablePointer<Slot>
    private var slotCount = 64
    /// Every name's bytes, one after another.
    private var arena: UnsafeMutablePointer<UInt8>
    private var arenaCount = 0, arenaCapacity = 1024

    init() {
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: Slot(), count: slotCount)
        arena = .allocate(capacity: arenaCapacity)
    }

    deinit {
        slots.deallocate()
        arena.deallocate()
    }

    func id(_ name: UnsafeBufferPointer<UInt8>) -> Int32 {
        let h = Self.hash(name)
        let mask = slotCount - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s.id < 0 { break }
            if s.tag == UInt32(truncatingIfNeeded: h >> 32), Int(s.length) == name.count,
               name.count == 0 || ShortBytes.equal(arena + Int(s.offset), name.baseAddress!, name.count) {
                return s.id
            }
            i = (i + 1) & mask
        }
        return add(name, hash: h, at: i)
    }

    private func add(_ name: UnsafeBufferPointer<UInt8>, hash: UInt64, at i: Int) -> Int32 {
        precondition(arenaCount + name.count < Int(Int32.max), "names past 2 GiB")
        if arenaCount + name.count > arenaCapacity {
            while arenaCount + name.count > arenaCapacity { arenaCapacity *= 2 }
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: arenaCapacity)
            bigger.initialize(from: arena, count: arenaCount)
            arena.deallocate()
            arena = bigger
        }
        if let p = name.baseAddress { (arena + arenaCount).initialize(from: p, count: name.count) }
        let id = Int32(names.count)
        slots[i] = Slot(tag: UInt32(truncatingIfNeeded: hash >> 32), id: id, offset: Int32(arenaCount), length: Int32(name.count))
        arenaCount += name.count
        names.append(String(decoding: name, as: UTF8.self))
        if names.count * 2 > slotCount { rehash() }
        return id
    }

    func id(_ name: String) -> Int32 {
        var name = name
        return name.withUTF8 { id($0) }
    }

    subscript(id: Int32) -> String { names[Int(id)] }

    private func rehash() {
        let old = slots, oldCount = slotCount
        slotCount *= 2
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: Slot(), count: slotCount)
        let mask = slotCount - 1
        for k in 0..<oldCount where old[k].id >= 0 {
            let h = Self.hash(UnsafeBufferPointer(start: arena + Int(old[k].offset), count: Int(old[k].length)))
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i].id >= 0 { i = (i + 1) & mask }
            slots[i] = old[k]
        }
        old.deallocate()
    }

    /// Eight bytes at a time, each word folded in with a multiply (names are short).
    @inline(__always)
    static func hash(_ s: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h = UInt64(truncatingIfNeeded: s.count) &* 0x9E37_79B9_7F4A_7C15
        guard let p = s.baseAddress else { return mix(h) }
        let raw = UnsafeRawPointer(p)
        var i = 0
        while i + 8 <= s.count {
            h = mix(h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < s.count {
            var tail: UInt64 = 0
            for k in i..<s.count { tail |= UInt64(p[k]) << UInt64(8 * (k - i)) }
            h = mix(h ^ tail)
        }
        return mix(h)
    }

    /// A 64-bit finaliser (MurmurHash3's fmix64).
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }
}

/// Names and keys are a few bytes: compared in line, eight at a time, not
/// through a `memcmp` call (a tenth of the name lookups' time went to the call).
enum ShortBytes {
    /// Eight bytes at a time, the tail as the last eight (overlapping); under
    /// eight, the first and last four.
    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let x = UnsafeRawPointer(a), y = UnsafeRawPointer(b)
        if n >= 8 {
            var k = 0
            while k + 8 <= n {
                if x.loadUnaligned(fromByteOffset: k, as: UInt64.self) != y.loadUnaligned(fromByteOffset: k, as: UInt64.self) { return false }
                k += 8
            }
            return k == n || x.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) == y.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
        }
        if n >= 4 {
            return x.loadUnaligned(as: UInt32.self) == y.loadUnaligned(as: UInt32.self)
                && x.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self) == y.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
        }
        for k in 0..<n where a[k] != b[k] { return false }
        return true
    }
}

/// Small indices keyed by three 64-bit words (a probe group's name ids and
/// size), in an open-addressing table: the per-probe group lookup without `Hasher`.
struct PackedKeyIndex {
    typealias Key = (UInt64, UInt64, UInt64)
    private var keys: [Key] = []
    /// Indices into `keys` by hash, -1 where empty; a power of two at most half full.
    private var slots = [Int32](repeating: -1, count: 64)

    var count: Int { keys.count }

    /// The index of `key`, adding it (as the next index) the first time.
    /// `isNew` says whether it was added.
    @inline(__always)
    mutating func index(_ key: Key) -> (index: Int, isNew: Bool) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: Self.hash(key)) & mask
        while true {
            let k = slots[i]
            if k < 0 { break }
            if keys[Int(k)] == key { return (Int(k), false) }
            i = (i + 1) & mask
        }
        slots[i] = Int32(keys.count)
        keys.append(key)
        if keys.count * 2 > slots.count { rehash() }
        return (keys.count - 1, true)
    }

    private mutating func rehash() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        let mask = slots.count - 1
        for (n, key) in keys.enumerated() {
            var i = Int(truncatingIfNeeded: Self.hash(key)) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(n)
        }
    }

    @inline(__always)
    private static func hash(_ k: Key) -> UInt64 {
        NameTable.mix(k.0 ^ (k.1 &* 0x9E37_79B9_7F4A_7C15) ^ (k.2 &* 0xC2B2_AE3D_27D4_EB4F))
    }
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
