import Foundation

/// The exact form `TraceWriter` writes one record kind in: `{`, its keys in
/// the order of the record's `fields(_:)` (read from the schema, so they are
/// stated once), no spaces, strings without escapes. The analyzer's hot loop
/// reads probe and transfer lines in this form in one pass over their bytes:
/// each key is compared where the writer put it instead of being scanned,
/// tabled and looked up, and integers are read as they are passed. A line in
/// any other form (spaces, another key order, escapes, extra keys, numbers
/// written differently) is not read: `scan` returns false and the caller
/// parses it in full with `FlatJSONObject`, which accepts all JSON and
/// reports errors, so this form never changes what a line means.
final class WrittenForm {
    enum Value: UInt8 {
        /// `"…"` without a backslash.
        case string
        /// An integer of at most 18 digits (no fraction or exponent).
        case signedInteger, unsignedInteger
        /// A JSON number (its text; see `double`).
        case number
        /// The `type` constant (in the prefix).
        case type
    }

    /// One field: its prefix `,"key":` (`{"key":` for the first; for `type`
    /// its value too) and what its value may be. Plain values, so the scan
    /// touches no reference counts.
    struct Field {
        var prefixStart: Int
        var prefixLength: Int
        var value: Value
        /// `null` stands for the value.
        var nullable: Bool
        /// The field may be left out of the line.
        var omittable: Bool
    }

    /// What `scan` read of one field: the value's bytes (a string's between its
    /// quotes) and an integer's value; `start < 0` when the field is null or left out.
    struct Scanned {
        var start: Int32 = -1
        var end: Int32 = 0
        var integer: Int64 = 0
        var isPresent: Bool { start >= 0 }
    }

    let keys: [String]
    let count: Int
    private let fields: UnsafeMutablePointer<Field>
    private let prefixes: UnsafeMutablePointer<UInt8>

    /// The form of the record whose placeholder is `shape`; nil for a record
    /// with keys that depend on its values or values this form does not read.
    init?<R: TraceRecordFields>(_ shape: R) {
        var builder = Builder()
        var record = shape
        try? record.fields(&builder)
        guard !builder.refused else { return nil }
        keys = builder.keys
        count = builder.fields.count
        fields = .allocate(capacity: count)
        fields.initialize(from: builder.fields, count: count)
        prefixes = .allocate(capacity: builder.prefixes.count)
        prefixes.initialize(from: builder.prefixes, count: builder.prefixes.count)
    }

    deinit {
        fields.deallocate()
        prefixes.deallocate()
    }

    /// The index of `key` among the fields (for a reader to find its values in `scan`'s output).
    func position(of key: StaticString) -> Int {
        guard let i = keys.firstIndex(of: key.description) else { preconditionFailure("'\(key)' is not a field of this record") }
        return i
    }

    /// Reads `line` in this form into `out` (`count` entries, one per field);
    /// false when the line is in any other form.
    @inline(__always)
    func scan(_ line: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<Scanned>) -> Bool {
        // Positions are kept as 32-bit numbers; a longer line is left to the parser.
        guard let b = line.baseAddress, line.count < Int(Int32.max) else { return false }
        let n = line.count
        var i = 0
        for k in 0..<count {
            let f = fields[k]
            guard i + f.prefixLength <= n, ShortBytes.equal(b + i, prefixes + f.prefixStart, f.prefixLength) else {
                if f.omittable { out[k] = Scanned(); continue }
                return false
            }
            i += f.prefixLength
            let valueStart = i
            if f.nullable, i + 4 <= n, UnsafeRawPointer(b + i).loadUnaligned(as: UInt32.self) == Self.null {
                i += 4
                out[k] = Scanned()
            } else {
                switch f.value {
                case .type:
                    out[k] = Scanned(start: Int32(valueStart), end: Int32(i))
                case .string:
                    guard i < n, b[i] == 0x22 else { return false }
                    i += 1
                    while i < n, b[i] != 0x22, b[i] != 0x5c { i += 1 }
                    guard i < n, b[i] == 0x22 else { return false }
                    out[k] = Scanned(start: Int32(valueStart + 1), end: Int32(i))
                    i += 1
                case .signedInteger, .unsignedInteger:
                    let negative = f.value == .signedInteger && i < n && b[i] == 0x2d
                    if negative { i += 1 }
                    let digits = i
                    var v: Int64 = 0
                    while i < n, b[i] &- 0x30 < 10 { v = v &* 10 &+ Int64(b[i] &- 0x30); i += 1 }
                    guard i > digits, i - digits <= 18 else { return false }
                    out[k] = Scanned(start: Int32(valueStart), end: Int32(i), integer: negative ? -v : v)
                case .number:
                    // As `FlatJSONObject` scans a number: a minus or a digit, then number bytes.
                    guard i < n, b[i] == 0x2d || b[i] &- 0x30 < 10 else { return false }
                    i += 1
                    while i < n, Self.isNumberByte(b[i]) { i += 1 }
                    out[k] = Scanned(start: Int32(valueStart), end: Int32(i))
                }
            }
            // What follows a value: the next field's comma or the closing brace.
            guard i < n, b[i] == 0x2c || b[i] == 0x7d else { return false }
        }
        return i + 1 == n && b[i] == 0x7d
    }

    /// `null` as a little-endian word.
    private static let null = UInt32(0x6e) | UInt32(0x75) << 8 | UInt32(0x6c) << 16 | UInt32(0x6c) << 24

    @inline(__always)
    private static func isNumberByte(_ c: UInt8) -> Bool {
        c &- 0x30 < 10 || c == 0x2e || c == 0x65 || c == 0x45 || c == 0x2b || c == 0x2d
    }

    /// The value of a `.number` field as `FlatJSONObject.double` reads it
    /// (nil when it is not a number). Numbers the writer prints (`%.9g`) have
    /// at most 15 significant digits and a small exponent: those are exact in
    /// one IEEE multiplication or division of exact operands (Clinger's fast
    /// path), the correctly rounded result `strtod` also gives; others go to `strtod`.
    static func double(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        guard let b = text.baseAddress, text.count > 0 else { return nil }
        let n = text.count
        var i = 0
        let negative = b[0] == 0x2d
        if negative { i += 1 }
        var mantissa: UInt64 = 0, digits = 0, exponent = 0
        let intStart = i
        while i < n, b[i] &- 0x30 < 10 {
            if digits < 19 { mantissa = mantissa * 10 + UInt64(b[i] &- 0x30); if mantissa > 0 { digits += 1 } } else { exponent += 1 }
            i += 1
        }
        var sawDigit = i > intStart
        if i < n, b[i] == 0x2e {
            i += 1
            let fracStart = i
            while i < n, b[i] &- 0x30 < 10 {
                if digits < 19 { mantissa = mantissa * 10 + UInt64(b[i] &- 0x30); if mantissa > 0 { digits += 1 }; exponent -= 1 }
                i += 1
            }
            guard i > fracStart else { return strtodWhole(text) }
            sawDigit = true
        }
        guard sawDigit else { return strtodWhole(text) }
        if i < n, b[i] == 0x65 || b[i] == 0x45 {
            i += 1
            var expNegative = false
            if i < n, b[i] == 0x2b || b[i] == 0x2d { expNegative = b[i] == 0x2d; i += 1 }
            let expStart = i
            var e = 0
            while i < n, b[i] &- 0x30 < 10, e < 10_000 { e = e * 10 + Int(b[i] &- 0x30); i += 1 }
            guard i > expStart else { return strtodWhole(text) }
            exponent += expNegative ? -e : e
        }
        guard i == n, digits <= 15, mantissa < 1 << 53, (-22...22).contains(exponent) else { return strtodWhole(text) }
        var v = Double(mantissa)
        if exponent < 0 { v /= powersOfTen[-exponent] } else if exponent > 0 { v *= powersOfTen[exponent] }
        return negative ? -v : v
    }

    /// 10^0 … 10^22, each exact in a `Double`.
    private static let powersOfTen: [Double] = (0...22).map { Foundation.pow(10.0, Double($0)) }

    /// `strtod` over the whole text, as `FlatJSONObject.double` reads a number.
    private static func strtodWhole(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        guard text.count < 64 else { return Double(String(decoding: text, as: UTF8.self)) }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buf -> Double? in
            let p = buf.baseAddress!
            UnsafeMutableRawPointer(p).copyMemory(from: text.baseAddress!, byteCount: text.count)
            p[text.count] = 0
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(p, &end)
            return end == p + text.count ? v : nil
        }
    }

    /// Collects the fields from a record's `fields(_:)`.
    private struct Builder: TraceFieldCoder {
        var fields: [Field] = []
        var keys: [String] = []
        var prefixes: [UInt8] = []
        var refused = false

        private mutating func add(_ key: StaticString, _ value: Value, nullable: Bool = false, omittable: Bool = false) {
            let start = prefixes.count
            prefixes += Array((fields.isEmpty ? "{\"" : ",\"").utf8) + Array(key.description.utf8) + Array("\":".utf8)
            fields.append(Field(prefixStart: start, prefixLength: prefixes.count - start, value: value,
                                nullable: nullable, omittable: omittable))
            keys.append(key.description)
        }

        mutating func type(_ name: StaticString) {
            add("type", .type)
            prefixes += Array("\"\(name)\"".utf8)
            fields[fields.count - 1].prefixLength = prefixes.count - fields[fields.count - 1].prefixStart
        }
        mutating func field(_ key: StaticString, _ v: inout String) { add(key, .string) }
        mutating func field(_ key: StaticString, _ v: inout Int64) { add(key, .signedInteger) }
        mutating func field(_ key: StaticString, _ v: inout Int) { add(key, .signedInteger) }
        mutating func field(_ key: StaticString, _ v: inout UInt64) { add(key, .unsignedInteger) }
        mutating func field(_ key: StaticString, _ v: inout Double, digits: Int) { add(key, .number) }
        mutating func field(_ key: StaticString, _ v: inout Int64?) { add(key, .signedInteger, nullable: true) }
        mutating func field(_ key: StaticString, _ v: inout Int?) { add(key, .signedInteger, nullable: true) }
        mutating func field(_ key: StaticString, _ v: inout Double?) { add(key, .number, nullable: true) }
        mutating func field(_ key: StaticString, _ v: inout String?) { add(key, .string, nullable: true) }
        mutating func omittedWhenNil(_ key: StaticString, _ v: inout String?) { add(key, .string, omittable: true) }
        mutating func omittedWhenNil(_ key: StaticString, _ v: inout UInt64?) { add(key, .unsignedInteger, omittable: true) }
        // Kinds with these are not read in this form (none is on the hot path).
        mutating func field(_ key: StaticString, _ v: inout Bool) { refused = true }
        mutating func field(_ key: StaticString, commaSeparated v: inout [String]) { refused = true }
        mutating func field(_ key: StaticString, integers v: inout [Int64]) { refused = true }
        mutating func linkOrNode(_ target: inout String, isNode: inout Bool) { refused = true }
        mutating func schemaVersion() { refused = true }
    }
}
