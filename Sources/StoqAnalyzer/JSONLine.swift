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

    /// `,"k":` in one append: every `Array.append` checks uniqueness and
    /// capacity, and keys are a third of what a trace writes.
    private mutating func key(_ k: StaticString) {
        let n = k.utf8CodeUnitCount
        let comma = first ? 0 : 1
        first = false
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n + 4) { buf in
            let p = buf.baseAddress!
            p[0] = 0x2c
            p[comma] = 0x22
            (p + comma + 1).initialize(from: k.utf8Start, count: n)
            p[comma + 1 + n] = 0x22
            p[comma + 2 + n] = 0x3a
            bytes.append(contentsOf: UnsafeBufferPointer(start: p, count: comma + 3 + n))
        }
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

    /// A JSON array of integers.
    public mutating func add(_ k: StaticString, integers values: [Int64]) {
        key(k)
        bytes.append(0x5b)
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(0x2c) }
            if v < 0 { bytes.append(0x2d) }
            appendDecimal(v.magnitude)
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

    /// Runs of bytes that need no escape go in with one append each (most strings are one run).
    static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { u in
            out.append(0x22)
            var run = 0
            for i in 0..<u.count {
                let b = u[i]
                guard b == 0x22 || b == 0x5c || b < 0x20 else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: u[run..<i]))
                run = i + 1
                switch b {
                case 0x22: out.append(0x5c); out.append(0x22)
                case 0x5c: out.append(0x5c); out.append(0x5c)
                case 0x0a: out.append(0x5c); out.append(0x6e)
                case 0x0d: out.append(0x5c); out.append(0x72)
                case 0x09: out.append(0x5c); out.append(0x74)
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    out += [0x5c, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]]
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: u[run..<u.count]))
            out.append(0x22)
        }
    }
}
