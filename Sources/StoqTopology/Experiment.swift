import Foundation
import StoqEngine

/// A sweep: a base topology, the factors to vary and the seeds to repeat each
/// configuration with (format: docs/experiments.md). Parsing checks the file
/// itself; `resolve` checks each factor path against the topology, so every
/// error names the experiment file's line and column before anything runs.
public struct Experiment {
    /// One thing varied: `strategy`, or a topology field addressed by a path.
    public struct Factor {
        /// As written: `strategy`, `workloads[transfer-1].size`.
        public var name: String
        public var path: FactorPath
        /// Short name for directory names and tables (`size`, `loss`).
        public var label: String
        public var values: [ConfigValue]
        public var location: SourceLocation
    }

    /// One point of the matrix: a value index per factor.
    public struct Configuration: Equatable {
        public var valueIndices: [Int]
    }

    public var name: String
    public var file: String
    /// The base topology, relative paths taken from the experiment file's directory.
    public var topologyPath: String
    public var topologyLocation: SourceLocation
    public var seeds: [UInt64]
    public var factors: [Factor]
    public var configurations: [Configuration]
    /// Wall-clock limit per run.
    public var timeout: SimDuration

    public static let defaultSeeds: [UInt64] = Array(1...10)
    public static let defaultTimeout = SimDuration.seconds(3600 as Int64)
    /// Runs a matrix may hold: beyond it the plan itself is the problem.
    public static let maximumRuns = 100_000
    static let keys = ["name", "topology", "seeds", "factors", "configurations", "timeout"]

    public init(name: String, file: String, topologyPath: String, topologyLocation: SourceLocation, seeds: [UInt64],
                factors: [Factor], configurations: [Configuration]? = nil, timeout: SimDuration = Experiment.defaultTimeout) {
        self.name = name
        self.file = file
        self.topologyPath = topologyPath
        self.topologyLocation = topologyLocation
        self.seeds = seeds
        self.factors = factors
        self.configurations = configurations ?? Experiment.product(factors.map(\.values.count))
        self.timeout = timeout
    }

    /// Every combination of value indices, the first factor varying slowest.
    static func product(_ counts: [Int]) -> [Configuration] {
        var out: [[Int]] = [[]]
        for count in counts { out = out.flatMap { prefix in (0..<count).map { prefix + [$0] } } }
        return out.map(Configuration.init)
    }

    // MARK: Reading

    /// Reads an experiment file; every problem is reported at once.
    public static func load(path: String) throws -> Experiment {
        guard let root = try ConfigDocument.read(path: path) else {
            throw TopologyDiagnostic(at: SourceLocation(file: path, line: 1, column: 1), "the experiment file is empty",
                                     hint: "name at least 'topology:'; see docs/experiments.md")
        }
        return try parse(root: root, file: path)
    }

    /// Whether a YAML root is an experiment rather than a topology: it names
    /// its topology by path (a topology's own `topology:` is an import
    /// mapping) or has an experiment's keys.
    public static func isExperiment(_ root: ConfigValue?) -> Bool {
        guard case .mapping(let m)? = root else { return false }
        if case .scalar? = m["topology"] { return true }
        return ["seeds", "factors", "configurations"].contains { m[$0] != nil }
    }

    public static func parse(root: ConfigValue, file: String) throws -> Experiment {
        guard case .mapping(let top) = root else {
            throw TopologyDiagnostic(at: root.location, "an experiment must be a mapping (key: value lines), not \(root.kindName)",
                                     hint: "start with 'topology: FILE'; see docs/experiments.md")
        }
        var errors = top.unknownKeys(allowed: keys, context: "an experiment")
        func attempt<T>(_ body: () throws -> T) -> T? {
            do { return try body() } catch let d as TopologyDiagnostic { errors.append(d) } catch let e as TopologyErrors {
                errors += e.diagnostics
            } catch { errors.append(TopologyDiagnostic(at: top.location, "\(error)")) }
            return nil
        }
        let topology = attempt { try top.requiredString("topology", context: "an experiment") }
        let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        let name = attempt { () throws -> String in
            let n = try top.string("name") ?? stem.replacingOccurrences(of: ".experiment", with: "")
            try TopologyParser.checkName(n, at: top.location(of: "name"), kind: "experiment")
            return n
        } ?? stem
        let seeds = attempt { try top["seeds"].map(parseSeeds) ?? defaultSeeds }
        let timeout = attempt { try top.duration("timeout") ?? defaultTimeout }
        if let t = timeout, t <= .zero {
            errors.append(TopologyDiagnostic(at: top["timeout"]!.location, "'timeout' must be more than 0"))
        }
        var factors: [Factor] = []
        var configurations: [Configuration]?
        if top["factors"] != nil, top["configurations"] != nil {
            errors.append(TopologyDiagnostic(at: top.location(of: "configurations"), "give either 'factors' or 'configurations', not both",
                                             hint: "'factors' runs every combination; 'configurations' lists the ones to run"))
        } else if let f = attempt({ try top.map("factors") }) ?? nil {
            for e in f.entries {
                if let factor = attempt({ try makeFactor(e, values: e.value) }) { factors.append(factor) }
            }
        } else if let list = top["configurations"] {
            if let parsed = attempt({ try parseConfigurations(list) }) { (factors, configurations) = parsed }
        }
        errors += duplicateFactors(factors)
        if let seeds, errors.isEmpty {
            let runs = (configurations?.count ?? factors.reduce(1) { $0 * $1.values.count }) * seeds.count
            if runs > maximumRuns {
                errors.append(TopologyDiagnostic(at: top.location, "the matrix has \(runs) runs, more than \(maximumRuns)",
                                                 hint: "split the study into several experiments"))
            }
        }
        guard errors.isEmpty, let topology, let seeds, let timeout else { throw TopologyErrors(inFileOrder: errors) }
        let base = (file as NSString).deletingLastPathComponent
        let topologyPath = topology.hasPrefix("/") || base.isEmpty ? topology : (base as NSString).appendingPathComponent(topology)
        var experiment = Experiment(name: name, file: file, topologyPath: topologyPath, topologyLocation: top["topology"]!.location,
                                    seeds: seeds, factors: factors, configurations: configurations, timeout: timeout)
        experiment.assignLabels()
        return experiment
    }

    /// `1..20`, a list of seeds, or one seed.
    static func parseSeeds(_ value: ConfigValue) throws -> [UInt64] {
        func seed(_ text: String, at loc: SourceLocation) throws -> UInt64 {
            guard let n = UInt64(text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")) else {
                throw TopologyDiagnostic(at: loc, "a seed must be a whole number ≥ 0; got '\(excerpt(text))'",
                                         hint: "write seeds as a range '1..20' or a list '[1, 2, 3]'")
            }
            return n
        }
        var seeds: [UInt64]
        switch value {
        case .scalar(let s, let loc):
            let parts = s.components(separatedBy: "..")
            if parts.count == 2 {
                let lo = try seed(parts[0], at: loc), hi = try seed(parts[1], at: loc)
                guard lo <= hi else { throw TopologyDiagnostic(at: loc, "the seed range '\(s)' is empty", hint: "write the smaller seed first: '1..10'") }
                guard hi - lo < UInt64(maximumRuns) else {
                    throw TopologyDiagnostic(at: loc, "the seed range '\(s)' holds more than \(maximumRuns) seeds")
                }
                seeds = Array(lo...hi)
            } else {
                seeds = [try seed(s, at: loc)]
            }
        case .sequence(let items, let loc):
            seeds = try items.map { item in
                guard case .scalar(let s, let l) = item else { throw TopologyDiagnostic(at: item.location, "each seed must be a single value") }
                return try seed(s, at: l)
            }
            guard !seeds.isEmpty else {
                throw TopologyDiagnostic(at: loc, "'seeds' is empty: a sweep needs at least one seed",
                                         hint: "e.g. 'seeds: 1..10'; statistics need two or more")
            }
            if let dup = Dictionary(grouping: seeds, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
                throw TopologyDiagnostic(at: loc, "seed \(dup) is listed twice", hint: "each seed runs once per configuration")
            }
        case .mapping(let m):
            throw TopologyDiagnostic(at: m.location, "'seeds' must be a range such as '1..10' or a list, not a mapping")
        }
        return seeds
    }

    static func makeFactor(_ entry: ConfigMap.Entry, values: ConfigValue) throws -> Factor {
        let path = try FactorPath.parse(entry.key, at: entry.keyLocation)
        let list: [ConfigValue]
        switch values {
        case .sequence(let items, let loc):
            guard !items.isEmpty else { throw TopologyDiagnostic(at: loc, "factor '\(excerpt(entry.key))' has no values") }
            list = items
        default: list = [values]
        }
        return Factor(name: entry.key, path: path, label: entry.key, values: list, location: entry.keyLocation)
    }

    /// `configurations: [{strategy: latency, links[*].loss: 0.01}, …]`: the
    /// factors are the union of the keys; each configuration names them all.
    static func parseConfigurations(_ value: ConfigValue) throws -> ([Factor], [Configuration]) {
        guard case .sequence(let items, _) = value, !items.isEmpty else {
            throw TopologyDiagnostic(at: value.location, "'configurations' must be a non-empty list of mappings",
                                     hint: "e.g. '- {strategy: latency}'; quote keys with brackets in flow style")
        }
        var factors: [Factor] = []
        var rows: [[String: ConfigValue]] = []
        for item in items {
            guard case .mapping(let m) = item else {
                throw TopologyDiagnostic(at: item.location, "each configuration must be a mapping of factor to value, not \(item.kindName)")
            }
            var row: [String: ConfigValue] = [:]
            for e in m.entries {
                if !factors.contains(where: { $0.name == e.key }) {
                    let path = try FactorPath.parse(e.key, at: e.keyLocation)
                    factors.append(Factor(name: e.key, path: path, label: e.key, values: [], location: e.keyLocation))
                }
                row[e.key] = e.value
            }
            rows.append(row)
        }
        var configurations: [Configuration] = []
        for (item, row) in zip(items, rows) {
            var indices: [Int] = []
            for f in factors.indices {
                guard let v = row[factors[f].name] else {
                    throw TopologyDiagnostic(at: item.location, "this configuration does not set '\(excerpt(factors[f].name))'",
                                             hint: "every configuration names the same factors (another one sets it)")
                }
                let text = ConfigDocument.yaml(v)
                if let i = factors[f].values.firstIndex(where: { ConfigDocument.yaml($0) == text }) {
                    indices.append(i)
                } else {
                    factors[f].values.append(v)
                    indices.append(factors[f].values.count - 1)
                }
            }
            if configurations.contains(Configuration(valueIndices: indices)) {
                throw TopologyDiagnostic(at: item.location, "this configuration repeats an earlier one")
            }
            configurations.append(Configuration(valueIndices: indices))
        }
        return (factors, configurations)
    }

    /// Two factors addressing the same field (`strategy` and `routing.strategy`).
    static func duplicateFactors(_ factors: [Factor]) -> [TopologyDiagnostic] {
        var seen: [String: Factor] = [:]
        var out: [TopologyDiagnostic] = []
        for f in factors {
            let key = f.path.description
            if let first = seen[key] {
                out.append(TopologyDiagnostic(at: f.location, "factor '\(excerpt(f.name))' sets the same field as '\(excerpt(first.name))' (line \(first.location.line))"))
            } else if key == "seed" {
                out.append(TopologyDiagnostic(at: f.location, "the seed is not a factor", hint: "list seeds under 'seeds:'"))
            } else {
                seen[key] = f
            }
        }
        return out
    }

    /// Short labels: the path's last key, or the whole path when two factors share it.
    mutating func assignLabels() {
        let short = factors.map { $0.path.lastKey }
        for i in factors.indices {
            factors[i].label = short.filter { $0 == short[i] }.count > 1 ? factors[i].name : short[i]
        }
    }

    // MARK: The matrix

    /// A factor value as shown in tables: the scalar, or its YAML in flow form.
    public static func describe(_ value: ConfigValue) -> String {
        switch value {
        case .scalar(let s, _): return s
        case .sequence(let items, _): return "[" + items.map(describe).joined(separator: ", ") + "]"
        case .mapping(let m): return "{" + m.entries.map { "\($0.key): \(describe($0.value))" }.joined(separator: ", ") + "}"
        }
    }

    /// `strategy=latency, size=1MB`; just `latency` when one factor varies;
    /// empty when nothing varies but the seed.
    public func label(_ c: Configuration) -> String {
        if factors.count == 1 { return Self.describe(factors[0].values[c.valueIndices[0]]) }
        return zip(factors, c.valueIndices).map { "\($0.label)=\(Self.describe($0.values[$1]))" }.joined(separator: ", ")
    }

    /// A directory name per configuration, unique within the sweep.
    public func directoryName(_ c: Configuration) -> String {
        let parts = zip(factors.indices, c.valueIndices).map { f, v in
            "\(Self.safe(factors[f].label))-\(valueToken(factor: f, value: v))"
        }
        return parts.isEmpty ? "base" : parts.joined(separator: "_")
    }

    /// The value's text when every value of the factor gives a distinct safe
    /// token, else its position (`v2`).
    private func valueToken(factor f: Int, value v: Int) -> String {
        let tokens = factors[f].values.map { value -> String? in
            if case .scalar(let s, _) = value, !s.isEmpty { return Self.safe(s) }
            return nil
        }
        if tokens.allSatisfy({ $0 != nil }), Set(tokens.map { $0! }).count == tokens.count { return tokens[v]! }
        return "v\(v + 1)"
    }

    static func safe(_ s: String) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+%")
        let mapped = String(s.unicodeScalars.map { allowed.contains($0) ? Character($0) : "-" }.prefix(48))
        return mapped.hasPrefix(".") ? "-" + mapped.dropFirst() : mapped
    }

    /// The base topology with a configuration's values and the seed set.
    /// Path errors (a missing workload, a field under a single value) are
    /// located at the factor in the experiment file.
    public func resolve(base: ConfigValue, configuration c: Configuration, seed: UInt64?) throws -> ConfigValue {
        var root = base
        var errors: [TopologyDiagnostic] = []
        for (f, v) in zip(factors, c.valueIndices) {
            do { try f.path.set(f.values[v], in: &root, factor: f) } catch let d as TopologyDiagnostic { errors.append(d) }
        }
        if let seed {
            let loc = SourceLocation(file: file, line: 1, column: 1)
            try? FactorPath(steps: [.key("seed")], text: "seed").set(.scalar(String(seed), loc), in: &root, factor: nil)
        }
        guard errors.isEmpty else { throw TopologyErrors(errors) }
        return root
    }
}

/// Where a factor goes in a topology: keys joined by `.`, list items chosen
/// by `[N]` (from 0), `[*]` (all) or `[name]` (the item with that name; a
/// workload's default name `KIND-N` counts).
public struct FactorPath: CustomStringConvertible {
    public enum Step: Equatable {
        case key(String)
        case index(Int)
        case all
        case named(String)
    }
    public var steps: [Step]
    public var text: String

    public var description: String { text }

    /// The last key: what the factor is called in directory names.
    var lastKey: String {
        for s in steps.reversed() { if case .key(let k) = s { return k } }
        return text
    }

    /// `strategy` is short for `routing.strategy`.
    static let aliases = ["strategy": "routing.strategy"]

    static func parse(_ written: String, at loc: SourceLocation) throws -> FactorPath {
        let text = aliases[written] ?? written
        func bad(_ why: String) -> TopologyDiagnostic {
            TopologyDiagnostic(at: loc, "bad factor path '\(excerpt(written))': \(why)",
                               hint: "write keys joined by '.', list items as [0], [*] or [name]: e.g. workloads[transfer-1].size, links[*].loss")
        }
        var steps: [Step] = []
        var i = text.startIndex
        var key = ""
        func flushKey() throws {
            guard !key.isEmpty else { throw bad("an empty key") }
            steps.append(.key(key))
            key = ""
        }
        while i < text.endIndex {
            let c = text[i]
            if c == "." {
                if case .key? = steps.last, key.isEmpty { throw bad("an empty key") }
                if !key.isEmpty { try flushKey() } else if steps.isEmpty { throw bad("an empty key") }
                i = text.index(after: i)
                guard i < text.endIndex, text[i] != "." else { throw bad("an empty key") }
            } else if c == "[" {
                if !key.isEmpty { try flushKey() }
                guard !steps.isEmpty else { throw bad("a list selector needs a key before it") }
                guard let close = text[i...].firstIndex(of: "]") else { throw bad("'[' without ']'") }
                let inside = String(text[text.index(after: i)..<close])
                if inside == "*" { steps.append(.all) } else if let n = Int(inside) {
                    guard n >= 0 else { throw bad("list positions count from 0") }
                    steps.append(.index(n))
                } else {
                    guard !inside.isEmpty else { throw bad("an empty selector '[]'") }
                    steps.append(.named(inside))
                }
                i = text.index(after: close)
                if i < text.endIndex, text[i] != ".", text[i] != "[" { throw bad("expected '.' or '[' after ']'") }
            } else if c == "]" {
                throw bad("']' without '['")
            } else {
                key.append(c)
                i = text.index(after: i)
            }
        }
        if !key.isEmpty { try flushKey() }
        guard case .key? = steps.last else { throw bad("it must end with a field name") }
        return FactorPath(steps: steps, text: text)
    }

    /// Sets `value` at this path in `root`: missing keys are added (the
    /// topology check then names a misspelt one at the factor), missing list
    /// items are errors.
    func set(_ value: ConfigValue, in root: inout ConfigValue, factor: Experiment.Factor?) throws {
        let loc = factor?.location ?? root.location
        let shown = factor?.name ?? text
        try set(value, steps: steps[...], in: &root, parentKey: "the top level", at: loc, shown: shown)
    }

    private func set(_ value: ConfigValue, steps: ArraySlice<Step>, in node: inout ConfigValue, parentKey: String,
                     at loc: SourceLocation, shown: String) throws {
        guard let step = steps.first else {
            node = value
            return
        }
        let rest = steps.dropFirst()
        func fail(_ message: String, hint: String? = nil) -> TopologyDiagnostic {
            TopologyDiagnostic(at: loc, "factor '\(excerpt(shown))': \(message)", hint: hint)
        }
        switch (step, node) {
        case (.key(let k), .mapping(var m)):
            if let i = m.entries.firstIndex(where: { $0.key == k }) {
                try set(value, steps: rest, in: &m.entries[i].value, parentKey: k, at: loc, shown: shown)
            } else {
                guard rest.isEmpty || { if case .key = rest.first! { return true }; return false }() else {
                    throw fail("the topology has no '\(k)' list under \(parentKey)")
                }
                var fresh: ConfigValue = rest.isEmpty ? value : .mapping(ConfigMap(entries: [], location: loc))
                if !rest.isEmpty { try set(value, steps: rest, in: &fresh, parentKey: k, at: loc, shown: shown) }
                m.entries.append(ConfigMap.Entry(key: k, keyLocation: loc, value: fresh))
            }
            node = .mapping(m)
        case (.key, .scalar(let s, _)) where s.isEmpty:
            // `routing:` with nothing under it: an empty mapping.
            node = .mapping(ConfigMap(entries: [], location: node.location))
            try set(value, steps: steps, in: &node, parentKey: parentKey, at: loc, shown: shown)
        case (.key(let k), _):
            throw fail("'\(parentKey)' is \(node.kindName), so it has no field '\(k)'",
                       hint: node.kindName == "a list" ? "select items of '\(parentKey)' with [0], [*] or [name]" : nil)
        case (_, .sequence(var items, let l)):
            let chosen: [Int]
            switch step {
            case .all: chosen = Array(items.indices)
            case .index(let n):
                guard n < items.count else { throw fail("'\(parentKey)' has \(items.count) entries; [\(n)] is past the end", hint: "positions count from 0") }
                chosen = [n]
            case .named(let name):
                chosen = items.indices.filter { Self.name(of: items[$0], at: $0) == name }
                guard !chosen.isEmpty else {
                    let names = items.indices.compactMap { Self.name(of: items[$0], at: $0) }
                    throw fail("no entry of '\(parentKey)' is named '\(excerpt(name))'",
                               hint: names.isEmpty ? "its entries have no names; select them by position [0] or all [*]"
                                   : "names: \(names.prefix(12).joined(separator: ", "))\(names.count > 12 ? ", …" : "")")
                }
            case .key: fatalError("handled above")
            }
            guard !chosen.isEmpty else { throw fail("'\(parentKey)' has no entries") }
            for i in chosen {
                try set(value, steps: rest, in: &items[i], parentKey: parentKey, at: loc, shown: shown)
            }
            node = .sequence(items, l)
        default:
            throw fail("'\(parentKey)' is \(node.kindName), not a list, so it has no entry [\(Self.selector(step))]")
        }
    }

    private static func selector(_ step: Step) -> String {
        switch step {
        case .all: return "*"
        case .index(let n): return String(n)
        case .named(let s): return s
        case .key(let k): return k
        }
    }

    /// An item's `name`, or for a workload without one its default `KIND-N`.
    private static func name(of item: ConfigValue, at index: Int) -> String? {
        guard case .mapping(let m) = item else { return nil }
        if case .scalar(let n, _)? = m["name"], !n.isEmpty { return n }
        if case .scalar(let kind, _)? = m["kind"], !kind.isEmpty { return "\(kind)-\(index + 1)" }
        return nil
    }
}
