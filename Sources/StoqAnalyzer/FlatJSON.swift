import Foundation

/// A parser for one flat JSON object (our trace lines), reading fields in
/// place from the line's bytes. Analysis reads up to 10^8 lines, and
/// `JSONSerialization` (a dictionary of boxed values per line) was the
/// bottleneck; this keeps one reusable field table and materialises only the
/// values a decoder asks for. Nested arrays and objects are skipped over
/// (kept as raw text) so newer record kinds with them do not break the reader.
struct FlatJSONObject {
    enum Kind: UInt8 { case string, number, trueValue, falseValue, null, nested }

    struct Field {
        var keyStart: Int
        var keyLength: Int
        var valueStart: Int
        var valueEnd: Int
        var kind: Kind
        /// The string value contains backslash escapes and needs unescaping.
        var escaped: Bool
    }

    /// The parsed line's fields, in line order (valid until the next `parse`).
    var fields: UnsafeBufferPointer<Field> { UnsafeBufferPointer(start: table.fields, count: table.count) }
    private(set) var bytes = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
    /// The field table, reused from line to line, and the lookup cursor.
    /// A class with a raw buffer: an array's uniqueness and capacity checks
    /// on every append were a visible share of parsing. Copies of the parser
    /// share it (the decoders read the line just parsed through a copy).
    private let table = FieldTable()

    private final class FieldTable {
        var fields: UnsafeMutablePointer<Field>
        var count = 0
        var capacity = 16
        /// Where the next `field` lookup starts: decoders ask for fields in the
        /// order the writer wrote them, so each lookup usually hits at once.
        var next = 0

        init() { fields = .allocate(capacity: capacity) }
        deinit { fields.deallocate() }

        @inline(__always)
        func append(_ f: Field) {
            if count == capacity { grow() }
            (fields + count).initialize(to: f)
            count += 1
        }

        private func grow() {
            let bigger = UnsafeMutablePointer<Field>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: fields, count: count)
            fields.deallocate()
            fields = bigger
            capacity *= 2
        }
    }

    init() {}

    /// Parses `line`; false if it is not a single JSON object. The buffer must
    /// stay valid while values are read.
    mutating func parse(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        table.count = 0
        table.next = 0
        bytes = line
        guard let b = line.baseAddress else { return false }
        let n = line.count
        var i = 0
        @inline(__always) func skipSpace() { while i < n, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0d || b[i] == 0x0a { i += 1 } }
        /// Index just past the closing quote of the string opening at `i`.
        @inline(__always) func scanString(_ escaped: inout Bool) -> Bool {
            i += 1
            while i < n {
                let c = b[i]
                if c == 0x22 { i += 1; return true }
                if c == 0x5c { escaped = true; i += 2; continue }
                i += 1
            }
            return false
        }
        skipSpace()
        guard i < n, b[i] == 0x7b else { return false }
        i += 1
        skipSpace()
        if i < n, b[i] == 0x7d { i += 1; skipSpace(); return i == n }
        while true {
            skipSpace()
            guard i < n, b[i] == 0x22 else { return false }
            var keyEscaped = false
            let keyStart = i + 1
            guard scanString(&keyEscaped) else { return false }
            let keyLength = i - 1 - keyStart
            skipSpace()
            guard i < n, b[i] == 0x3a else { return false }
            i += 1
            skipSpace()
            guard i < n else { return false }
            let valueStart = i
            var kind: Kind
            var escaped = false
            switch b[i] {
            case 0x22:
                guard scanString(&escaped) else { return false }
                kind = .string
            case 0x74:
                guard matches("true", at: i) else { return false }
                i += 4; kind = .trueValue
            case 0x66:
                guard matches("false", at: i) else { return false }
                i += 5; kind = .falseValue
            case 0x6e:
                guard matches("null", at: i) else { return false }
                i += 4; kind = .null
            case 0x2d, 0x30...0x39:
                i += 1
                while i < n, (0x30...0x39).contains(b[i]) || b[i] == 0x2e || b[i] == 0x65 || b[i] == 0x45 || b[i] == 0x2b || b[i] == 0x2d { i += 1 }
                kind = .number
            case 0x7b, 0x5b:
                var depth = 0
                repeat {
                    let c = b[i]
                    if c == 0x22 { var e = false; guard scanString(&e) else { return false }; continue }
                    if c == 0x7b || c == 0x5b { depth += 1 } else if c == 0x7d || c == 0x5d { depth -= 1 }
                    i += 1
                } while depth > 0 && i < n
                guard depth == 0 else { return false }
                kind = .nested
            default:
                return false
            }
            table.append(Field(keyStart: keyStart, keyLength: keyLength, valueStart: valueStart, valueEnd: i,
                                kind: kind, escaped: escaped))
            skipSpace()
            guard i < n else { return false }
            if b[i] == 0x2c { i += 1; continue }
            guard b[i] == 0x7d else { return false }
            i += 1
            skipSpace()
            return i == n
        }
    }

    private func matches(_ word: StaticString, at i: Int) -> Bool {
        let len = word.utf8CodeUnitCount
        guard i + len <= bytes.count else { return false }
        return memcmp(bytes.baseAddress! + i, word.utf8Start, len) == 0
    }

    /// The field named `key`; records have about ten fields, so a scan from
    /// the cursor beats hashing. (A key repeated in one line, which JSON
    /// leaves undefined and no writer of ours produces, reads one of its values.)
    func field(_ key: StaticString) -> Field? {
        let n = table.count
        guard n > 0 else { return nil }
        let len = key.utf8CodeUnitCount
        let start = table.next < n ? table.next : 0
        var i = start
        repeat {
            let f = table.fields[i]
            if f.keyLength == len, Self.equal(bytes.baseAddress! + f.keyStart, key.utf8Start, len) {
                table.next = i + 1
                return f
            }
            i = i + 1 == n ? 0 : i + 1
        } while i != start
        return nil
    }

    /// Keys are a few bytes: compared in line, not through a `memcmp` call.
    @inline(__always)
    private static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        for k in 0..<n where a[k] != b[k] { return false }
        return true
    }

    /// The raw bytes of a field's value; for strings, between the quotes (escapes left as they are).
    func valueBytes(_ f: Field) -> UnsafeBufferPointer<UInt8> {
        f.kind == .string ? UnsafeBufferPointer(rebasing: bytes[(f.valueStart + 1)..<(f.valueEnd - 1)])
                          : UnsafeBufferPointer(rebasing: bytes[f.valueStart..<f.valueEnd])
    }

    func string(_ f: Field) -> String {
        let raw = UnsafeBufferPointer(rebasing: bytes[(f.valueStart + 1)..<(f.valueEnd - 1)])
        return f.escaped ? Self.unescape(raw) : String(decoding: raw, as: UTF8.self)
    }

    /// The integer value, or nil when it is not an integer that fits.
    func int64(_ f: Field) -> Int64? {
        guard f.kind == .number else { return nil }
        var i = f.valueStart
        let negative = bytes[i] == 0x2d
        if negative { i += 1 }
        guard i < f.valueEnd else { return nil }
        var v: Int64 = 0
        while i < f.valueEnd {
            let d = bytes[i] &- 0x30
            guard d < 10 else { return double(f).flatMap { $0.rounded() == $0 ? Int64(exactly: $0) : nil } }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { return nil }
            v = s
            i += 1
        }
        return v
    }

    func uint64(_ f: Field) -> UInt64? {
        guard f.kind == .number, bytes[f.valueStart] != 0x2d else { return nil }
        var v: UInt64 = 0
        for i in f.valueStart..<f.valueEnd {
            let d = bytes[i] &- 0x30
            guard d < 10 else { return int64(f).flatMap { UInt64(exactly: $0) } }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1, !o2 else { return nil }
            v = s
        }
        return v
    }

    /// The number as a `Double`, or nil when it is not one. Parsed with
    /// `strtod` from a copy on the stack (what `Double(String)` runs, without
    /// a `String` per value; stoqsim sets no locale, so the decimal point is
    /// `.`); the whole text must be the number.
    func double(_ f: Field) -> Double? {
        guard f.kind == .number else { return nil }
        let n = f.valueEnd - f.valueStart
        guard n < 64 else {
            return Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[f.valueStart..<f.valueEnd]), as: UTF8.self))
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buf -> Double? in
            let p = buf.baseAddress!
            UnsafeMutableRawPointer(p).copyMemory(from: bytes.baseAddress! + f.valueStart, byteCount: n)
            p[n] = 0
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(p, &end)
            return end == p + n ? v : nil
        }
    }

    /// The raw JSON text of a value (for nested values).
    func rawText(_ f: Field) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[f.valueStart..<f.valueEnd]), as: UTF8.self)
    }

    /// Undoes JSON string escapes, \uXXXX surrogate pairs included; a broken
    /// escape becomes U+FFFD rather than failing the whole trace.
    static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(raw.count)
        var i = 0
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= raw.count else { return nil }
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                guard let d = Int(String(UnicodeScalar(raw[k])), radix: 16) else { return nil }
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while i < raw.count {
            let c = raw[i]
            guard c == 0x5c, i + 1 < raw.count else { out.append(c); i += 1; continue }
            let e = raw[i + 1]
            i += 2
            switch e {
            case 0x6e: out.append(0x0a)
            case 0x72: out.append(0x0d)
            case 0x74: out.append(0x09)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0c)
            case 0x75:
                var scalar = hex4(i) ?? 0xfffd
                i += 4
                if (0xd800..<0xdc00).contains(scalar), i + 6 <= raw.count, raw[i] == 0x5c, raw[i + 1] == 0x75,
                   let low = hex4(i + 2), (0xdc00..<0xe000).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                    i += 6
                }
                out.append(contentsOf: String(Character(UnicodeScalar(scalar) ?? "\u{fffd}")).utf8)
            default: out.append(e)   // \" \\ \/
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
