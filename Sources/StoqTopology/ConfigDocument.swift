import Foundation

/// A YAML file as a located `ConfigValue` tree, for files other than
/// topologies (sweep experiments) and for edited topologies written back out.
public enum ConfigDocument {
    /// The file's root (nil when empty) with the same guards as topology files
    /// (size, UTF-8, nesting, alias expansion); duplicate keys are errors.
    public static func read(bytes: [UInt8], file: String, limits: TopologyLimits = .standard) throws -> ConfigValue? {
        var duplicates: [TopologyDiagnostic] = []
        let root = try YAMLReader.read(bytes, file: file, limits: limits, duplicates: &duplicates)
        if !duplicates.isEmpty { throw TopologyErrors(duplicates) }
        return root
    }

    /// Reads at most `limits.fileBytes` + 1 bytes of `path`.
    public static func read(path: String, limits: TopologyLimits = .standard) throws -> ConfigValue? {
        let start = SourceLocation(file: path, line: 1, column: 1)
        let bytes: [UInt8]
        do {
            bytes = try YAMLReader.readFile(path: path, limits: limits)
        } catch {
            throw TopologyDiagnostic(at: start, "cannot read \(path): \(error.localizedDescription)",
                                     hint: "check the path")
        }
        return try read(bytes: bytes, file: path, limits: limits)
    }

    /// Block-style YAML that reads back to the same tree (every scalar is a
    /// string to the readers, so quoting never changes a value's meaning).
    public static func yaml(_ root: ConfigValue) -> String {
        var out = ""
        emit(root, indent: 0, into: &out, inList: false)
        return out
    }

    private static func emit(_ value: ConfigValue, indent: Int, into out: inout String, inList: Bool) {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .scalar(let s, _):
            out += scalar(s) + "\n"
        case .sequence(let items, _):
            guard !items.isEmpty else { out += "[]\n"; return }
            for (i, item) in items.enumerated() {
                // A list item right after "- " (as a list's own item) continues that line.
                out += (i == 0 && inList ? "" : pad) + "- "
                emitInline(item, indent: indent + 2, into: &out)
            }
        case .mapping(let m):
            guard !m.entries.isEmpty else { out += "{}\n"; return }
            for (i, e) in m.entries.enumerated() {
                out += (i == 0 && inList ? "" : pad) + scalar(e.key) + ":"
                switch e.value {
                case .scalar(let s, _): out += " " + scalar(s) + "\n"
                case .sequence(let items, _) where items.isEmpty: out += " []\n"
                case .mapping(let inner) where inner.entries.isEmpty: out += " {}\n"
                default:
                    out += "\n"
                    emit(e.value, indent: indent + 2, into: &out, inList: false)
                }
            }
        }
    }

    /// The value of a list item, starting on the "- " line.
    private static func emitInline(_ value: ConfigValue, indent: Int, into out: inout String) {
        switch value {
        case .scalar(let s, _): out += scalar(s) + "\n"
        default: emit(value, indent: indent, into: &out, inList: true)
        }
    }

    /// Plain when that cannot be misread, double-quoted otherwise (an empty
    /// value too: quoted, it stays a value rather than a missing one).
    static func scalar(_ s: String) -> String {
        if s.isEmpty { return "\"\"" }
        let plainChars = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.%/+:-µ")
        let safe = s.unicodeScalars.allSatisfy { plainChars.contains($0) }
            && s.first.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." } == true
            && !s.hasSuffix(":") && !["~", "null", "Null", "NULL"].contains(s)
        if safe { return s }
        var q = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": q += "\\\""
            case "\\": q += "\\\\"
            case "\n": q += "\\n"
            case "\t": q += "\\t"
            default:
                if c.value < 0x20 || c.value == 0x7F { q += String(format: "\\x%02X", c.value) } else { q.unicodeScalars.append(c) }
            }
        }
        return q + "\""
    }
}
