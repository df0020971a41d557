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
        let list = "allowed: \(allowed.joined(separator: ", "))"
        // Suggestions for the first hundred only: a generated file with 40,000
        // stray keys gets its errors, not 40,000 edit-distance searches.
        return entries.filter { !allowed.contains($0.key) }.enumerated().map { n, e in
            TopologyDiagnostic(at: e.keyLocation, "unknown field '\(excerpt(e.key))' in \(context)",
                               hint: (n < 100 ? closest(to: e.key, in: allowed) : nil).map { "did you mean '\($0)'? \(list)" } ?? list)
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
        try measured(key, expected: "a duration with a unit (ns, us, ms, s, m, h, d), e.g. 10ms") { s throws(Units.UnitError) in try Units.checkedDuration(s) }
    }

    /// `1200`, `64KiB`, `1MB`.
    public func byteCount(_ key: String) throws -> Int? {
        try measured(key, expected: "a size in bytes, e.g. 1200, 64KiB or 1MB") { s throws(Units.UnitError) in try Units.checkedBytes(s) }
    }

    /// `100mbps`, `1gbps`, `2.5gbps`, `40gbps`.
    public func bandwidth(_ key: String) throws -> UInt64? {
        try measured(key, expected: "a bandwidth, e.g. 100mbps, 1gbps or 2.5gbps") { s throws(Units.UnitError) in try Units.checkedBandwidth(s) }
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

    private func scalar<T>(_ key: String, expected: String, _ convert: (String) throws -> T?) throws -> T? {
        guard let v = self[key] else { return nil }
        guard case .scalar(let s, let loc) = v else {
            throw TopologyDiagnostic(at: v.location, "'\(key)' must be \(expected), not \(v.kindName)")
        }
        guard let value = try convert(s.trimmingCharacters(in: .whitespaces)) else {
            throw TopologyDiagnostic(at: loc, "'\(key)' must be \(expected); got '\(excerpt(s))'")
        }
        return value
    }

    /// A unit-bearing scalar: malformed text reads as "must be …", a value
    /// outside the documented range says the range.
    private func measured<T>(_ key: String, expected: String, _ convert: (String) throws(Units.UnitError) -> T) throws -> T? {
        try scalar(key, expected: expected) { text in
            do throws(Units.UnitError) {
                return try convert(text)
            } catch .malformed {
                return nil
            } catch .outOfRange(let why) {
                throw TopologyDiagnostic(at: self[key]!.location, "'\(key)' is out of range; got '\(excerpt(text))'",
                                         hint: why + "; see 'Limits' in docs/topology-format.md")
            }
        }
    }
}

/// User text quoted in a message, cut short: a 10 MB value must not become a
/// 10 MB error message.
public func excerpt(_ text: String, limit: Int = 64) -> String {
    guard text.utf8.count > limit else { return text }
    let head = String(decoding: text.utf8.prefix(limit), as: UTF8.self)
    return "\(head)… (\(text.utf8.count) bytes)"
}

/// Edit distance suggestion for misspelt keys and names. Words much longer
/// than any real name get no suggestion: the distance is quadratic in length.
public func closest(to word: String, in candidates: [String]) -> String? {
    guard word.utf8.count <= 128 else { return nil }
    let w = Array(word.lowercased())
    let threshold = max(2, w.count / 3)
    var best: (name: String, distance: Int)?
    var previous: [Int] = [], current: [Int] = []
    for candidate in candidates {
        let c = Array(candidate.lowercased())
        // The distance is at least the difference in length: skip without the table.
        guard abs(c.count - w.count) <= min(threshold, (best?.distance ?? .max) - 1) else { continue }
        previous.removeAll(keepingCapacity: true)
        for j in 0...c.count { previous.append(j) }
        current = previous
        var rowMinimum = 0
        for i in 1...max(w.count, 1) where !w.isEmpty {
            current[0] = i
            rowMinimum = i
            for j in 1...max(c.count, 1) where !c.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (w[i - 1] == c[j - 1] ? 0 : 1))
                rowMinimum = min(rowMinimum, current[j])
            }
            if rowMinimum > threshold { break }      // no later row can come back under it
            swap(&previous, &current)
        }
        guard rowMinimum <= threshold else { continue }
        let distance = previous[c.count]
        if distance <= threshold, distance < (best?.distance ?? .max) { best = (candidate, distance) }
    }
    return best?.name
}
