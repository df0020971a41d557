import StoqEngine

/// A YAML value with the place it was written, detached from the YAML library
/// so other modules can read workload fields with file:line errors.
public indirect enum ConfigValue: Sendable {
    case scalar(String, SourceLocation)
    case sequence([ConfigValue], SourceLocation)
    case mapping(ConfigMap)

    public var location: SourceLocation {
        switch self {
        case .scalar(_, let l), .sequence(_, let l): return l
        case .mapping(let m): return m.location
        }
    }

    var kindName: String {
        switch self {
        case .scalar: return "a single value"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

/// A YAML mapping with typed, located accessors. Every accessor throws a
/// `TopologyDiagnostic` that names the file, line and column of the bad value.
public struct ConfigMap: Sendable {
    public struct Entry: Sendable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: ConfigValue

        public init(key: String, keyLocation: SourceLocation, value: ConfigValue) {
            self.key = key
            self.keyLocation = keyLocation
            self.value = value
        }
    }

    public var entries: [Entry]
    public var location: SourceLocation

    public init(entries: [Entry], location: SourceLocation) {
        self.entries = entries
        self.location = location
    }

    public var keys: [String] { entries.map(\.key) }

    public subscript(key: String) -> ConfigValue? { entries.first { $0.key == key }?.value }

    /// Where `key` was written, or the mapping itself when it is absent.
    public func location(of key: String) -> SourceLocation {
        entries.first { $0.key == key }?.keyLocation ?? location
    }

    /// Rejects keys outside `allowed`, suggesting the closest allowed key.
    public func checkKeys(allowed: [String], context: String) throws {
        if let first = unknownKeys(allowed: allowed, context: context).first { throw first }
    }

    /// Every key outside `allowed`, so one pass reports all misspellings.
    public func unknownKeys(allowed: [String], context: String) -> [TopologyDiagnostic] {
        entries.filter { !allowed.contains($0.key) }.map { e in
            let list = "allowed: \(allowed.joined(separator: ", "))"
            return TopologyDiagnostic(at: e.keyLocation, "unknown field '\(e.key)' in \(context)",
                                      hint: closest(to: e.key, in: allowed).map { "did you mean '\($0)'? \(list)" } ?? list)
        }
    }

    public func require(_ key: String, context: String) throws -> ConfigValue {
        guard let v = self[key] else {
            throw TopologyDiagnostic(at: location, "missing field '\(key)' in \(context)")
        }
        return v
    }

    // MARK: Typed accessors (nil when absent, throw when present but wrong)

    public func string(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard case .scalar(let s, _) = v else {
            throw TopologyDiagnostic(at: v.location, "'\(key)' must be a single value, not \(v.kindName)")
        }
        return s
    }

    public func requiredString(_ key: String, context: String) throws -> String {
        let value = try require(key, context: context)
        let s = try string(key)!
        // `key:` with nothing after it reads as an empty scalar.
        guard !s.isEmpty else { throw TopologyDiagnostic(at: value.location, "'\(key)' in \(context) has no value") }
        return s
    }

    public func int(_ key: String) throws -> Int? {
        try scalar(key, expected: "a whole number") { Int($0.replacingOccurrences(of: "_", with: "")) }
    }

    public func double(_ key: String) throws -> Double? {
        try scalar(key, expected: "a number") { Double($0.replacingOccurrences(of: "_", with: "")) }
    }

    public func bool(_ key: String) throws -> Bool? {
        try scalar(key, expected: "true or false") { ["true": true, "yes": true, "false": false, "no": false][$0.lowercased()] }
    }

    /// A probability in [0, 1], written as `0.01` or `1%`.
    public func probability(_ key: String) throws -> Double? {
        try scalar(key, expected: "a probability between 0 and 1 (e.g. 0.01 or 1%)") { Units.parseProbability($0) }
    }

    /// `10ms`, `1.5s`, `250us`, `2m`, `1h`.
    public func duration(_ key: String) throws -> SimDuration? {
        try scalar(key, expected: "a duration with a unit (ns, us, ms, s, m, h), e.g. 10ms") { Units.parseDuration($0) }
    }

    /// `1200`, `64KiB`, `1MB`.
    public func byteCount(_ key: String) throws -> Int? {
        try scalar(key, expected: "a size in bytes, e.g. 1200, 64KiB or 1MB") { Units.parseBytes($0) }
    }

    /// `100mbps`, `1gbps`, `2.5gbps`, `40gbps`.
    public func bandwidth(_ key: String) throws -> UInt64? {
        try scalar(key, expected: "a bandwidth, e.g. 100mbps, 1gbps or 2.5gbps") { Units.parseBandwidth($0) }
    }

    /// A list of single values; a lone value counts as a list of one.
    public func stringList(_ key: String) throws -> [String]? {
        guard let v = self[key] else { return nil }
        switch v {
        case .scalar(let s, _): return [s]
        case .sequence(let items, _):
            return try items.map { item in
                guard case .scalar(let s, _) = item else {
                    throw TopologyDiagnostic(at: item.location, "each item of '\(key)' must be a single value")
                }
                return s
            }
        case .mapping(let m):
            throw TopologyDiagnostic(at: m.location, "'\(key)' must be a list, not a mapping")
        }
    }

    public func map(_ key: String) throws -> ConfigMap? {
        guard let v = self[key] else { return nil }
        guard case .mapping(let m) = v else {
            throw TopologyDiagnostic(at: v.location, "'\(key)' must be a mapping (key: value lines)")
        }
        return m
    }

    private func scalar<T>(_ key: String, expected: String, _ convert: (String) -> T?) throws -> T? {
        guard let v = self[key] else { return nil }
        guard case .scalar(let s, let loc) = v else {
            throw TopologyDiagnostic(at: v.location, "'\(key)' must be \(expected), not \(v.kindName)")
        }
        guard let value = convert(s.trimmingCharacters(in: .whitespaces)) else {
            throw TopologyDiagnostic(at: loc, "'\(key)' must be \(expected); got '\(s)'")
        }
        return value
    }
}

/// Edit distance suggestion for misspelt keys and names.
func closest(to word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var prev = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
    let w = Array(word.lowercased())
    let best = candidates.map { ($0, distance(w, Array($0.lowercased()))) }.min { $0.1 < $1.1 }
    guard let best, best.1 <= max(2, w.count / 3) else { return nil }
    return best.0
}
