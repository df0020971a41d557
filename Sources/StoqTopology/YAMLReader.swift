import Foundation
import Yams

/// Turns YAML text into located `ConfigValue` trees. Kept apart from the
/// topology parser so the YAML library stays an implementation detail.
enum YAMLReader {
    /// The document's root, or nil for an empty document. Duplicate keys are
    /// reported in `duplicates` rather than thrown: YAML forbids them but the
    /// rest of the file is still worth checking.
    static func read(_ yaml: String, file: String, duplicates: inout [TopologyDiagnostic]) throws -> ConfigValue? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxDiagnostic(error, yaml: yaml, file: file)
        }
        return root.map { convert($0, file: file, duplicates: &duplicates) }
    }

    private static func location(_ mark: Mark?, file: String) -> SourceLocation {
        // Yams marks are already 1-based, as editors show them.
        SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    private static func convert(_ node: Node, file: String, duplicates: inout [TopologyDiagnostic]) -> ConfigValue {
        let loc = location(node.mark, file: file)
        switch node {
        case .scalar(let s):
            return .scalar(isNull(s) ? "" : s.string, loc)
        case .sequence(let seq):
            return .sequence(seq.map { convert($0, file: file, duplicates: &duplicates) }, loc)
        case .mapping(let map):
            var entries: [ConfigMap.Entry] = []
            for (k, v) in map {
                let keyLoc = location(k.mark, file: file)
                // Complex keys ({a: b}: c) have no use in a topology; name them by their text.
                let key = k.scalar?.string ?? "\(k)"
                if let first = entries.first(where: { $0.key == key }) {
                    duplicates.append(TopologyDiagnostic(
                        at: keyLoc, "duplicate key '\(key)' (first given at line \(first.keyLocation.line))",
                        hint: "YAML keeps only one value per key; remove or rename one of them"))
                    continue
                }
                entries.append(ConfigMap.Entry(key: key, keyLocation: keyLoc,
                                               value: convert(v, file: file, duplicates: &duplicates)))
            }
            return .mapping(ConfigMap(entries: entries, location: loc))
        }
    }

    /// `key:` with nothing after it, `~` and `null` all mean "no value".
    private static func isNull(_ s: Node.Scalar) -> Bool {
        s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    private static func syntaxDiagnostic(_ error: YamlError, yaml: String, file: String) -> TopologyDiagnostic {
        let hint = "check the indentation (spaces only, no tabs) and that each 'key: value' has a space after the colon"
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line))" }
            let lineText = yaml.split(separator: "\n", omittingEmptySubsequences: false)
                .dropFirst(mark.line - 1).first ?? ""
            return TopologyDiagnostic(at: location(mark, file: file), message,
                                      hint: lineText.contains("\t") ? "this line contains a tab; indent with spaces" : hint)
        case .reader(let problem, let offset, _, _):
            // Reader errors carry a character offset; turn it into a line/column.
            var line = 1, column = 1
            for ch in yaml.prefix(offset ?? 0) {
                if ch == "\n" { line += 1; column = 1 } else { column += 1 }
            }
            return TopologyDiagnostic(at: SourceLocation(file: file, line: line, column: column),
                                      "cannot read the file as text: \(problem)", hint: "save the file as UTF-8")
        default:
            return TopologyDiagnostic(at: SourceLocation(file: file, line: 1, column: 1), "YAML error: \(error)")
        }
    }
}
