import Foundation
import Yams

/// Turns YAML text into located `ConfigValue` trees. Kept apart from the
/// topology parser so the YAML library stays an implementation detail.
enum YAMLReader {
    /// The document's root, or nil for an empty document. Duplicate keys are
    /// reported in `duplicates` rather than thrown: YAML forbids them but the
    /// rest of the file is still worth checking. Size, encoding, nesting and
    /// alias expansion are checked before any value is built.
    static func read(_ bytes: [UInt8], file: String, limits: TopologyLimits,
                     duplicates: inout [TopologyDiagnostic]) throws -> ConfigValue? {
        guard bytes.count <= limits.fileBytes else {
            throw TopologyDiagnostic(at: SourceLocation(file: file, line: 1, column: 1),
                                     "the file is \(bytes.count) bytes, more than the limit of \(limits.fileBytes)",
                                     hint: "raise it with --limit file-bytes=N if the file is meant to be this large")
        }
        if let bad = firstInvalidUTF8(bytes) {
            throw TopologyDiagnostic(at: position(ofByte: bad, in: bytes, file: file),
                                     "the file is not UTF-8 text: byte 0x\(String(bytes[bad], radix: 16, uppercase: true)) cannot start or continue a character here",
                                     hint: "save the file as UTF-8")
        }
        if let v = bytes.withUnsafeBufferPointer({ YAMLGuard.check($0, limits: limits) }) {
            throw TopologyDiagnostic(at: SourceLocation(file: file, line: v.line, column: v.column), v.message, hint: v.hint)
        }
        let yaml = String(decoding: bytes, as: UTF8.self)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxDiagnostic(error, yaml: yaml, file: file)
        }
        return root.map { convert($0, file: file, duplicates: &duplicates) }
    }

    /// At most `limits.fileBytes` + 1 bytes of the file: enough for `read` to
    /// refuse an oversized one (or /dev/zero) without reading it all.
    static func readFile(path: String, limits: TopologyLimits) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        return Array(try handle.read(upToCount: limits.fileBytes + 1) ?? Data())
    }

    /// The offset of the first byte that is not part of a valid UTF-8 sequence.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        // The standard library validates fast; the scalar walk below only finds where.
        if String(validating: bytes, as: UTF8.self) != nil { return nil }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    static func position(ofByte offset: Int, in bytes: [UInt8], file: String) -> SourceLocation {
        let before = bytes[..<min(offset, bytes.count)]
        let lineStart = (before.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
        let line = before.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        // Characters, not bytes, before the offset on its line (continuation bytes do not count).
        let column = bytes[lineStart..<before.endIndex].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
        return SourceLocation(file: file, line: line, column: column)
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
            var firstLine: [String: Int] = [:]     // a set, not a scan: 40,000 keys must not take n² comparisons
            for (k, v) in map {
                let keyLoc = location(k.mark, file: file)
                // Complex keys ({a: b}: c) have no use in a topology; name them by their text.
                let key = k.scalar?.string ?? "(a list or mapping used as a key)"
                if let line = firstLine[key] {
                    duplicates.append(TopologyDiagnostic(
                        at: keyLoc, "duplicate key '\(excerpt(key))' (first given at line \(line))",
                        hint: "YAML keeps only one value per key; remove or rename one of them"))
                    continue
                }
                firstLine[key] = keyLoc.line
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
            // Reader errors (a control character, say) carry a byte offset.
            return TopologyDiagnostic(at: position(ofByte: offset ?? 0, in: Array(yaml.utf8), file: file),
                                      "cannot read the file as YAML text: \(problem)",
                                      hint: "remove control characters; save the file as UTF-8 text")
        default:
            return TopologyDiagnostic(at: SourceLocation(file: file, line: 1, column: 1), "YAML error: \(error)")
        }
    }
}
