import Foundation

/// The summary's tables as files: every list of rows in summary.json (per
/// pair RTTs `probes`, `probeWorkloads`, `probeRegionPairs`, `tiers`,
/// `links`, `sites`, `siteLinks`, `stateChanges`, `transfers`,
/// `content.versions`, `content.edges`, `certificates.timeline` …) becomes `summary-NAME.csv`
/// (or `.jsonl`), NAME being its dotted path in summary.json; every single
/// value becomes a row of `summary.csv` (key, value). Built from the JSON of
/// the summary rather than from its Swift types, so a section added to the
/// summary is exported without touching this file.
///
/// CSV columns are the rows' keys in alphabetical order (summary.json's own
/// names); a nested object's values get dotted names (`rttNs.p99`), a list
/// inside a row is one cell holding its JSON text (`cdfNs`), null is empty.
/// JSONL rows keep the summary's nesting. Lists with no rows write no file.
enum SummaryExport {
    struct Table {
        var name: String
        var rows: [JSONValue]
    }

    /// The overview (single values, by dotted key) and the tables, in key order.
    static func tables(_ summary: RunSummary) throws -> (overview: [(key: String, value: JSONValue)], tables: [Table]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let root = try JSONDecoder().decode(JSONValue.self, from: encoder.encode(summary))
        var overview: [(String, JSONValue)] = []
        var tables: [Table] = []
        func walk(_ object: [String: JSONValue], _ path: String) {
            for key in object.keys.sorted() {
                let value = object[key]!, name = path.isEmpty ? key : "\(path).\(key)"
                switch value {
                case .object(let o): walk(o, name)
                case .array(let rows) where !rows.isEmpty && rows.allSatisfy(\.isObject): tables.append(Table(name: name, rows: rows))
                case .array(let rows) where rows.isEmpty: break   // an empty table: nothing to say
                default: overview.append((name, value))
                }
            }
        }
        if case .object(let o) = root { walk(o, "") }
        return (overview, tables)
    }

    /// Writes `summary.FORMAT` and one file per table; returns the paths and row counts.
    static func write(_ summary: RunSummary, to directory: String, format: ExportFormat) throws -> [(path: String, rows: Int)] {
        let (overview, tables) = try tables(summary)
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent("\(name).\(format.rawValue)") }
        var written: [(String, Int)] = []
        let first = try ExportFile(path: path("summary"))
        if format == .csv { first.write(CSV.row(["key", "value"])) }
        for (key, value) in overview {
            first.write(format == .csv ? CSV.row([key, value.cellText ?? ""])
                                       : JSONValue.object(["key": .string(key), "value": value]).jsonText + "\n")
        }
        try first.close()
        written.append((first.path, overview.count))
        for table in tables {
            let out = try ExportFile(path: path("summary-" + exportFileName(table.name)))
            if format == .csv {
                let flat = table.rows.map { $0.flattened() }
                let columns = Set(flat.flatMap(\.keys)).sorted()
                out.write(CSV.row(columns))
                for row in flat { out.write(CSV.row(columns.map { row[$0]?.cellText ?? "" })) }
            } else {
                for row in table.rows { out.write(row.jsonText + "\n") }
            }
            try out.close()
            written.append((out.path, table.rows.count))
        }
        return written
    }
}

/// Any JSON value, decoded without losing which numbers are integers
/// (a `UInt64` byte count stays exact) or which values are booleans.
enum JSONValue: Codable, Equatable {
    case null, bool(Bool), int(Int64), uint(UInt64), double(Double), string(String)
    case array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let u = try? c.decode(UInt64.self) { self = .uint(u) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .uint(let u): try c.encode(u)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    var isObject: Bool { if case .object = self { return true } else { return false } }

    /// Compact JSON with sorted keys.
    var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// The text of a CSV cell: nil for null, lists and objects as JSON.
    var cellText: String? {
        switch self {
        case .null: return nil
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .double(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return s
        case .array, .object: return jsonText
        }
    }

    /// An object's values by dotted key, nested objects flattened into it.
    func flattened(prefix: String = "") -> [String: JSONValue] {
        guard case .object(let o) = self else { return [prefix: self] }
        var out: [String: JSONValue] = [:]
        for (k, v) in o {
            let name = prefix.isEmpty ? k : "\(prefix).\(k)"
            if v.isObject { out.merge(v.flattened(prefix: name)) { a, _ in a } } else { out[name] = v }
        }
        return out
    }
}
