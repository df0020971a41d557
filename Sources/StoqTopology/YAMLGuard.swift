import CYaml

/// A pass over the YAML event stream before any value is built, so a hostile
/// file is refused while it is still cheap to refuse: nesting deeper than
/// `maximumDepth` (the YAML library composes recursively and would overflow
/// the stack), and more values than `maximumValues` once aliases are expanded
/// (a 400-byte "billion laughs" file expands to gigabytes). Syntax errors are
/// left to the composer, which reports them with their place.
///
/// Uses libyaml directly (the C library inside Yams) because Yams offers no
/// event API; this is the one place the project touches it.
enum YAMLGuard {
    struct Violation: Error {
        var message: String
        var hint: String
        /// 1-based, as editors show them.
        var line: Int
        var column: Int
    }

    static func check(_ bytes: UnsafeBufferPointer<UInt8>, limits: TopologyLimits) -> Violation? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count)

        // Per open collection: its anchor and how many values it expands to so far.
        var open: [(anchor: String?, values: Int)] = []
        // Expanded size of every anchored value, for the aliases that repeat it.
        var anchored: [String: Int] = [:]
        var total = 0
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }   // the composer reports it
            defer { yaml_event_delete(&event) }
            let mark = event.start_mark
            func violation(_ message: String, _ hint: String) -> Violation {
                Violation(message: message, hint: hint, line: mark.line + 1, column: mark.column + 1)
            }
            // Adds one value (expanding to `weight` values) to the open collection.
            func add(_ weight: Int) -> Violation? {
                total += weight
                if !open.isEmpty { open[open.count - 1].values += weight }
                guard total <= limits.yamlValues else {
                    return violation("the file expands to more than \(limits.yamlValues) YAML values (aliases count as copies)",
                                     "a topology this large is almost surely an alias bomb; if it is real, raise the limit with --limit yaml-values=N")
                }
                return nil
            }
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_SCALAR_EVENT:
                if let anchor = string(event.data.scalar.anchor) { anchored[anchor] = 1 }
                if let v = add(1) { return v }
            case YAML_ALIAS_EVENT:
                let weight = string(event.data.alias.anchor).flatMap { anchored[$0] } ?? 1
                if let v = add(weight) { return v }
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let anchor = event.type == YAML_SEQUENCE_START_EVENT
                    ? string(event.data.sequence_start.anchor) : string(event.data.mapping_start.anchor)
                guard open.count < limits.yamlDepth else {
                    return violation("the YAML nesting is deeper than \(limits.yamlDepth) levels",
                                     "topologies nest a few levels; if this is real, raise the limit with --limit yaml-depth=N")
                }
                if let v = add(1) { return v }
                open.append((anchor, 1))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let closed = open.popLast() else { break }
                if let anchor = closed.anchor { anchored[anchor] = closed.values }
                // Its own 1 went to the parent at the start event.
                if !open.isEmpty { open[open.count - 1].values += closed.values - 1 }
            default:
                break
            }
        }
    }

    private static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        p.map { String(cString: $0) }
    }
}
