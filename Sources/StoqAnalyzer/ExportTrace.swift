import Foundation

/// Splits a trace into one file per record type (`trace-TYPE.csv` or
/// `.jsonl`), streaming: memory holds one line and the column list of each
/// type, never the records.
///
/// CSV columns are the union of the type's keys, in the order each key first
/// appears in the trace (the writer's field order, so `t` and `type` lead; a
/// key only some records carry comes where it first appeared). Strings are
/// unescaped, numbers and booleans written as in the trace, `null` or a
/// missing key is an empty cell, and a nested array or object (no record has
/// one today) is one cell holding its JSON text. That takes two passes: the
/// first collects the columns, the second writes the rows. JSONL files hold
/// the trace's own lines, unchanged, in one pass.
enum TraceExport {
    /// Record types beyond this are refused: one open file per type.
    static let maxTypes = 256

    /// Writes the files into `directory`; returns their paths and row counts, by type in first-seen order.
    static func write(tracePath: String, to directory: String, format: ExportFormat) throws -> [(path: String, rows: Int)] {
        let file: TraceFile
        do { file = try TraceFile(path: tracePath) } catch {
            throw ExportError("\(tracePath): cannot read the trace (\(FileManager.default.fileExists(atPath: tracePath) ? "unreadable" : "no such file"))",
                              badInput: true)
        }
        // Both passes read the same bytes, even if a run is still appending to the trace.
        let (types, scanned) = try scan(file)
        var outputs: [String: (file: ExportFile, columns: Columns, rows: Int)] = [:]
        for (name, columns) in zip(types.keys, types.values) {
            let path = (directory as NSString).appendingPathComponent("trace-\(exportFileName(name)).\(format.rawValue)")
            let out = try ExportFile(path: path)
            if format == .csv { out.write(CSV.row(columns.names)) }
            outputs[name] = (out, columns, 0)
        }
        var parser = FlatJSONObject()
        var slots: [Int] = []
        _ = try file.forEachLine(in: 0..<scanned) { line, index in
            guard parser.parse(line) else { throw ExportError("\(file.path):\(index + 1): changed while being exported") }
            let type = parser.field("type").map(parser.string) ?? ""
            guard var output = outputs[type] else { return true }
            if format == .jsonl {
                output.file.write(line)
                output.file.write(byte: 0x0a)
            } else {
                writeRow(parser, columns: output.columns, slots: &slots, to: output.file)
            }
            output.rows += 1
            outputs[type] = output
            return true
        }
        return try types.keys.map { name in
            let o = outputs[name]!
            try o.file.close()
            return (o.file.path, o.rows)
        }
    }

    /// A record type's columns, in first-seen order.
    final class Columns {
        private(set) var names: [String] = []
        private var index: [String: Int] = [:]

        func slot(_ key: String) -> Int {
            if let i = index[key] { return i }
            index[key] = names.count
            names.append(key)
            return names.count - 1
        }

        private var lastKeys: [[UInt8]] = []
        private var lastSlots: [Int] = []

        /// The column of each of the parsed line's fields, adding new keys.
        /// A type's records nearly always have the same keys in the same
        /// order, so the last line's layout is compared byte for byte before
        /// any key becomes a `String`.
        func slots(of parser: FlatJSONObject) -> [Int] {
            if parser.fields.count == lastKeys.count,
               zip(parser.fields, lastKeys).allSatisfy({ f, k in
                   f.keyLength == k.count && memcmp(parser.bytes.baseAddress! + f.keyStart, k, k.count) == 0
               }) {
                return lastSlots
            }
            lastKeys = parser.fields.map { Array(parser.bytes[$0.keyStart..<($0.keyStart + $0.keyLength)]) }
            lastSlots = parser.fields.map { slot(key($0, in: parser)) }
            return lastSlots
        }
    }

    /// First pass: every line parses and has a `type`; the columns of each
    /// type, and the offset the pass read to.
    static func scan(_ file: TraceFile) throws -> (OrderedGroups<String, Columns>, end: Int) {
        var types = OrderedGroups<String, Columns>()
        var parser = FlatJSONObject()
        let (_, end) = try file.forEachLine(in: 0..<file.size) { line, index in
            guard parser.parse(line) else { throw ExportError("\(file.path):\(index + 1): not a JSON object", badInput: true) }
            guard let typeField = parser.field("type"), typeField.kind == .string else {
                throw ExportError("\(file.path):\(index + 1): no \"type\" string in the record", badInput: true)
            }
            let type = parser.string(typeField)
            if types.keys.count >= maxTypes, !types.keys.contains(type) {
                throw ExportError("\(file.path):\(index + 1): more than \(maxTypes) record types; is this a stoqsim trace?", badInput: true)
            }
            let columns = types.values[types.slot(type) { Columns() }]
            _ = columns.slots(of: parser)
            return true
        }
        return (types, end)
    }

    static func key(_ f: FlatJSONObject.Field, in parser: FlatJSONObject) -> String {
        let raw = UnsafeBufferPointer(rebasing: parser.bytes[f.keyStart..<(f.keyStart + f.keyLength)])
        return raw.contains(0x5c) ? FlatJSONObject.unescape(raw) : String(decoding: raw, as: UTF8.self)
    }

    /// One CSV row: each field into its column's slot, then the slots in column order.
    static func writeRow(_ parser: FlatJSONObject, columns: Columns, slots: inout [Int], to out: ExportFile) {
        slots.removeAll(keepingCapacity: true)
        slots.append(contentsOf: repeatElement(-1, count: columns.names.count))
        for (i, c) in columns.slots(of: parser).enumerated() { slots[c] = i }
        for (c, fieldIndex) in slots.enumerated() {
            if c > 0 { out.write(byte: 0x2c) }
            guard fieldIndex >= 0 else { continue }
            let f = parser.fields[fieldIndex]
            switch f.kind {
            case .null: break
            case .string:
                // Most strings (names, numbers' units) need neither unescaping nor quoting.
                let raw = parser.valueBytes(f)
                if !f.escaped, !raw.contains(where: { $0 == 0x2c || $0 == 0x22 || $0 == 0x0a || $0 == 0x0d }) {
                    out.write(raw)
                } else {
                    out.write(CSV.field(parser.string(f)))
                }
            case .nested: out.write(CSV.field(parser.rawText(f)))
            case .number, .trueValue, .falseValue: out.write(parser.valueBytes(f))
            }
        }
        out.write(byte: 0x0a)
    }
}
