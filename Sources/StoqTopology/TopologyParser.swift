import Foundation
import StoqEngine

/// Reads topology files (format: docs/topology-format.md). Every problem in the
/// file is reported at once as `TopologyErrors`; findings that do not stop a
/// run (a disconnected graph, an unknown region) land in `Topology.warnings`.
public enum TopologyParser {
    // Defaults, documented in docs/topology-format.md.
    /// A ULA prefix ("STO" in the global ID) with room for 256 sites of /48.
    public static let defaultPrefix = IPv6Prefix(address: IPv6Address(high: 0xfd00_5354_4f00_0000, low: 0), length: 40)
    public static let defaultSeed: UInt64 = 1
    public static let defaultDuration = SimDuration.seconds(30 as Int64)
    /// Terrestrial fiber runs typically 1.3–2× the great circle; 1.5 is a middle value.
    public static let defaultInflation = 1.5
    /// Floor for `latency: auto`: switching and in-building cabling at one site.
    public static let defaultMinimumLatency = SimDuration.microseconds(50 as Int64)
    public static let defaultRoutingStrategy = "latency"
    /// Default queues hold one round-trip bandwidth-delay product, clamped so
    /// short links still absorb bursts and long fat links do not buffer seconds.
    public static let minimumDefaultQueueBytes = 64 * 1024
    public static let maximumDefaultQueueBytes = 32 * 1024 * 1024

    public static func load(path: String, limits: TopologyLimits = .standard) throws -> Topology {
        let result = try read(path: path, limits: limits)
        guard let topology = result.topology, result.errors.isEmpty else { throw TopologyErrors(result.errors) }
        return topology
    }

    public static func parse(yaml: String, file: String, limits: TopologyLimits = .standard) throws -> Topology {
        let result = parse(bytes: Array(yaml.utf8), file: file, limits: limits)
        guard let topology = result.topology, result.errors.isEmpty else { throw TopologyErrors(result.errors) }
        return topology
    }

    /// What a parse found: the topology as far as it could be built (nil when
    /// the file is not a YAML mapping at all) and every error, so later checks
    /// (workloads, routing) can add theirs and the user sees all in one pass.
    /// A partial topology leaves out the sites and nodes whose definitions
    /// failed and lists them in `unresolvedNames`.
    public struct Result {
        public var topology: Topology?
        public var errors: [TopologyDiagnostic]
    }

    /// Reads at most `limits.fileBytes` + 1 bytes, so `/dev/zero` or a huge
    /// file is refused without reading it all.
    public static func read(path: String, limits: TopologyLimits = .standard) throws -> Result {
        let start = SourceLocation(file: path, line: 1, column: 1)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw TopologyErrors([TopologyDiagnostic(at: start, "cannot read topology file: it is a directory",
                                                     hint: "pass a YAML file, e.g. topologies/quickstart.yaml")])
        }
        let bytes: [UInt8]
        do {
            bytes = try YAMLReader.readFile(path: path, limits: limits)
        } catch {
            throw TopologyErrors([TopologyDiagnostic(at: start, "cannot read topology file: \(error.localizedDescription)",
                                                     hint: "check the path and that the file is UTF-8 text")])
        }
        return parse(bytes: bytes, file: path, limits: limits)
    }

    public static func parse(bytes: [UInt8], file: String, limits: TopologyLimits = .standard) -> Result {
        TopologyBuilder(file: file, limits: limits).build(bytes: bytes)
    }

    /// Parses a YAML tree read with `ConfigDocument.read` (a sweep edits one
    /// before parsing it); `file` names the topology for its defaults.
    public static func parse(root: ConfigValue?, file: String, limits: TopologyLimits = .standard) -> Result {
        TopologyBuilder(file: file, limits: limits).build(root: root)
    }

    /// Names show up in selectors (`role:client`, `site:fra`) and in generated
    /// node names, so ':' and spaces are kept out.
    public static func checkName(_ s: String, at loc: SourceLocation, kind: String,
                                 maximumBytes: Int = TopologyLimits.standard.nameBytes) throws {
        guard s.utf8.count <= maximumBytes else {
            throw TopologyDiagnostic(at: loc, "\(kind) name '\(excerpt(s))' is longer than \(maximumBytes) bytes",
                                     hint: "use a shorter name (or raise the limit with --limit name-bytes=N)")
        }
        let ok = s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) }
        guard ok, s.first.map({ $0.isLetter || $0.isNumber }) == true else {
            throw TopologyDiagnostic(at: loc, "invalid \(kind) name '\(excerpt(s))'",
                                     hint: "use letters, digits, '-', '_' and '.', starting with a letter or digit")
        }
    }

    /// The default queue for a link of this bandwidth and one-way latency.
    public static func defaultQueueBytes(bandwidthBitsPerSecond bps: UInt64, latency: SimDuration) -> Int {
        let bdp = Double(bps) / 8 * 2 * latency.seconds
        return Int(min(max(bdp, Double(minimumDefaultQueueBytes)), Double(maximumDefaultQueueBytes)))
    }

    /// `latency: auto` between two sites (the same site gives the minimum).
    public static func autoLatency(from a: Site, to b: Site, inflation: Double,
                                   minimum: SimDuration = defaultMinimumLatency) -> SimDuration {
        max(minimum, Geography.fiberDelay(kilometers: Geography.kilometers(a, b), inflation: inflation))
    }
}

/// A name as written, with where it was written (for "unknown node" errors).
struct NameRef {
    var name: String
    var location: SourceLocation
}

/// Raised for an item whose problem was already reported elsewhere (e.g. a
/// node at a site that itself failed): skipping it avoids cascades of errors.
private struct AlreadyReported: Error {}

/// One parse. A class so the per-section helpers share the diagnostics list.
final class TopologyBuilder {
    private let file: String
    /// From the command line; a `limits:` mapping in the file raises the model limits.
    private var limits: TopologyLimits
    private var errors: [TopologyDiagnostic] = []
    private var warnings: [TopologyDiagnostic] = []

    private var duration = TopologyParser.defaultDuration
    private var inflation = TopologyParser.defaultInflation
    private var minimumLatency = TopologyParser.defaultMinimumLatency
    private var basePrefix = TopologyParser.defaultPrefix
    private var basePrefixLocation: SourceLocation?
    /// Reported once; the nodes that then share automatic addresses are not.
    private var prefixesOverlap = false

    private struct SiteDraft {
        var site: Site
        var nameLocation: SourceLocation
        var prefixLocation: SourceLocation?
    }
    private var sites: [SiteDraft] = []
    private var siteIndex: [String: Int] = [:]
    private var brokenNames: Set<String> = []      // sites and nodes whose definition failed

    private struct NodeDraft {
        var name: String
        var nameLocation: SourceLocation
        var site: String
        var role: NodeRole
        var address: IPv6Address?
        var addressLocation: SourceLocation?
        var location: SourceLocation
        var transport: ConfigMap?
    }
    private var nodes: [NodeDraft] = []
    private var nodeIndex: [String: Int] = [:]
    /// Templates with `count`, so "unknown node 'client'" can say what it became.
    private var templates: [String: Int] = [:]

    struct LinkFields {
        var bandwidth: UInt64
        var latency: SimDuration?       // nil: auto
        var loss: Double
        var queue: Int?
        var models: LinkModels
    }
    private struct LinkDraft {
        var from: NameRef
        var to: NameRef
        var fields: LinkFields
        var location: SourceLocation
        var what: String
    }
    private var linkDrafts: [LinkDraft] = []

    static let topLevelKeys = ["name", "seed", "duration", "addressing", "latency", "routing", "limits", "topology", "transport",
                               "trace", "sites", "nodes", "links", "backbones", "faults", "workloads"]
    static let linkFieldKeys = ["tier", "bandwidth", "latency", "queue"] + LinkModelParser.fieldKeys

    init(file: String, limits: TopologyLimits) {
        self.file = file
        self.limits = limits
    }

    private var fileStart: SourceLocation { SourceLocation(file: file, line: 1, column: 1) }

    func build(bytes: [UInt8]) -> TopologyParser.Result {
        var duplicateKeys: [TopologyDiagnostic] = []
        let root: ConfigValue?
        do {
            root = try YAMLReader.read(bytes, file: file, limits: limits, duplicates: &duplicateKeys)
        } catch let d as TopologyDiagnostic {
            return .init(topology: nil, errors: [d])
        } catch {
            return .init(topology: nil, errors: [TopologyDiagnostic(at: fileStart, "cannot read the file as YAML: \(error)")])
        }
        errors += duplicateKeys
        return build(root: root)
    }

    /// Builds from an already read (and possibly edited) YAML tree; values keep
    /// the locations they carry, so an edit from another file is reported there.
    func build(root: ConfigValue?) -> TopologyParser.Result {
        guard let root else {
            return .init(topology: nil, errors: [TopologyDiagnostic(at: fileStart, "the topology file is empty",
                                                                    hint: "a topology needs at least 'sites' and 'nodes'; see docs/topology-format.md")])
        }
        guard case .mapping(let top) = root else {
            return .init(topology: nil, errors: [TopologyDiagnostic(at: root.location, "the top level must be a mapping (key: value lines), not \(root.kindName)",
                                                                    hint: "start with 'name:', 'sites:' and 'nodes:' at column 1")])
        }
        errors += top.unknownKeys(allowed: Self.topLevelKeys, context: "the top level")

        attempt { try parseLimits(top) }
        let name = attempt { try parseTopologyName(top) } ?? nil
        let seed = attempt { try parseSeed(top) ?? TopologyParser.defaultSeed } ?? TopologyParser.defaultSeed
        attempt { try parseSettings(top) }
        let routing = attempt { try parseRouting(top) ?? RoutingConfig() } ?? RoutingConfig()

        // An imported graph's sites, cores and links come first, as if written at the top of their sections.
        let imported = attempt { try parseImport(top) } ?? nil
        warnings += imported?.warnings ?? []
        let siteItems = (imported?.sites ?? []) + items("sites", of: top, required: imported == nil).map(\.1)
        for (i, m) in siteItems.enumerated() { attempt { try parseSite(m, index: i) } }
        assignPrefixes()
        for m in (imported?.nodes ?? []) + items("nodes", of: top, required: imported == nil).map(\.1) { attempt { try parseNode(m) } }
        if nodes.isEmpty, errors.isEmpty {
            errors.append(TopologyDiagnostic(at: top.location(of: "nodes"), "the topology has no nodes",
                                             hint: "add at least one node under 'nodes:'"))
        }
        for m in (imported?.links ?? []) + items("links", of: top).map(\.1) { attempt { try parseLink(m) } }
        for (_, m) in items("backbones", of: top) { attempt { try parseBackbone(m) } }
        let finalNodes = assignAddresses()
        let links = resolveLinks()
        var faults: [FaultSpec] = []
        for (_, m) in items("faults", of: top) {
            if let f = attempt({ try parseFault(m, links: links) }) { faults.append(f) }
        }
        var workloads: [WorkloadSpec] = []
        let workloadItems = items("workloads", of: top)
        if workloadItems.count > limits.workloads {
            errors.append(TopologyDiagnostic(at: top.location(of: "workloads"), "\(workloadItems.count) workloads, more than the limit of \(limits.workloads)",
                                             hint: Self.raiseHint("workloads")))
        } else {
            for (_, m) in workloadItems {
                if let w = attempt({ try parseWorkload(m) }) { workloads.append(w) }
            }
        }
        if errors.isEmpty { checkConnectivity(nodes: finalNodes, links: links) }

        let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        var topology = Topology(name: name ?? stem, sourceFile: file, seed: seed, duration: duration, routeInflation: inflation,
                                sites: sites.map(\.site), nodes: finalNodes, links: links, faults: faults, workloads: workloads,
                                routing: routing, warnings: Self.sorted(warnings))
        topology.limits = limits
        topology.transport = attempt { try top.map("transport") } ?? nil
        topology.trace = attempt { try top.map("trace") } ?? nil
        topology.unresolvedNames = brokenNames
        return .init(topology: topology, errors: Self.sorted(errors))
    }

    static func raiseHint(_ key: String) -> String {
        "raise it with 'limits: {\(key): N}' in the file or --limit \(key)=N; see 'Limits' in docs/topology-format.md"
    }

    static func sorted(_ d: [TopologyDiagnostic]) -> [TopologyDiagnostic] { inFileOrder(d, \.location) }

    /// Stable sort by line and column.
    static func inFileOrder<T>(_ items: [T], _ location: (T) -> SourceLocation) -> [T] {
        items.enumerated().sorted {
            let a = location($0.element), b = location($1.element)
            return (a.line, a.column, $0.offset) < (b.line, b.column, $1.offset)
        }.map(\.element)
    }

    // MARK: Error plumbing

    @discardableResult
    private func attempt<T>(_ body: () throws -> T) -> T? {
        do {
            return try body()
        } catch let d as TopologyDiagnostic {
            errors.append(d)
        } catch let e as TopologyErrors {
            errors += e.diagnostics
        } catch is AlreadyReported {
        } catch {
            errors.append(TopologyDiagnostic(at: fileStart, "\(error)"))
        }
        return nil
    }

    /// The mappings listed under `key`; anything else is reported and skipped.
    private func items(_ key: String, of map: ConfigMap, required: Bool = false) -> [(Int, ConfigMap)] {
        guard let value = map[key] else {
            if required {
                errors.append(TopologyDiagnostic(at: map.location, "missing field '\(key)' at the top level",
                                                 hint: "add a '\(key):' list; see docs/topology-format.md"))
            }
            return []
        }
        return mappings(value, named: key)
    }

    /// A list of mappings (a lone mapping counts as a list of one).
    private func mappings(_ value: ConfigValue, named key: String) -> [(Int, ConfigMap)] {
        switch value {
        case .mapping(let m): return [(0, m)]
        case .scalar(let s, let loc):
            if s.isEmpty { return [] }     // `links:` with nothing under it
            errors.append(TopologyDiagnostic(at: loc, "'\(key)' must be a list, not a single value",
                                             hint: "write each entry on its own line starting with '- '"))
            return []
        case .sequence(let list, _):
            var out: [(Int, ConfigMap)] = []
            for item in list {
                if case .mapping(let m) = item {
                    out.append((out.count, m))
                } else {
                    errors.append(TopologyDiagnostic(at: item.location, "each entry of '\(key)' must be a mapping, not \(item.kindName)",
                                                     hint: "write entries as '- name: …' or '- {name: …, …}'"))
                }
            }
            return out
        }
    }

    /// Names with their locations, from a single value or a list.
    private func refs(_ key: String, in m: ConfigMap) throws -> [NameRef]? {
        guard let value = m[key] else { return nil }
        let list: [ConfigValue]
        switch value {
        case .scalar: list = [value]
        case .sequence(let items, _): list = items
        case .mapping(let mm):
            throw TopologyDiagnostic(at: mm.location, "'\(key)' must be a list of names, not a mapping", hint: "write it as [a, b]")
        }
        return try list.map { item in
            guard case .scalar(let s, let loc) = item, !s.isEmpty else {
                throw TopologyDiagnostic(at: item.location, "each item of '\(key)' must be a name")
            }
            return NameRef(name: s, location: loc)
        }
    }

    private func requiredName(_ m: ConfigMap, context: String) throws -> NameRef {
        let value = try m.require("name", context: context)
        guard case .scalar(let s, let loc) = value, !s.isEmpty else {
            throw TopologyDiagnostic(at: value.location, "'name' of a \(context) must be a single value")
        }
        try TopologyParser.checkName(s, at: loc, kind: context, maximumBytes: limits.nameBytes)
        return NameRef(name: s, location: loc)
    }

    // MARK: Top-level settings

    /// `limits: {nodes: 200000}` raises (or lowers) the model limits; the
    /// command line's `--limit` wins over the file.
    private func parseLimits(_ top: ConfigMap) throws {
        guard let l = try top.map("limits") else { return }
        errors += l.unknownKeys(allowed: TopologyLimits.fileKeys, context: "'limits'")
        for key in TopologyLimits.fileKeys where l[key] != nil && !limits.setOnCommandLine.contains(key) {
            guard let n = try l.int(key), n >= 1 else {
                throw TopologyDiagnostic(at: l.location(of: key), "limit '\(key)' must be at least 1")
            }
            limits[key] = n
        }
    }

    /// The name is shown in reports and names the default run directory
    /// (runs/NAME-seedN), so it may not climb out of it or hide in it.
    private func parseTopologyName(_ top: ConfigMap) throws -> String? {
        guard let name = try top.string("name") else { return nil }
        let loc = top["name"]!.location
        guard !name.isEmpty else { throw TopologyDiagnostic(at: loc, "'name' has no value", hint: "e.g. name: my-study") }
        guard name.utf8.count <= limits.nameBytes else {
            throw TopologyDiagnostic(at: loc, "'name' is longer than \(limits.nameBytes) bytes", hint: "use a shorter name")
        }
        guard !name.contains("/"), !name.contains("\\"), !name.hasPrefix("."),
              !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw TopologyDiagnostic(at: loc, "'name' \(excerpt(name).debugDescription) cannot name a run directory",
                                     hint: "it names runs/NAME-seedN: leave out '/', '\\', control characters and a leading '.'")
        }
        return name
    }

    /// `topology: {import: FILE, format: gml|graphml|json, tier-from: capacity|distance}`:
    /// a published graph (docs/import.md), FILE relative to this file.
    private func parseImport(_ top: ConfigMap) throws -> GraphImport.Entries? {
        guard let t = try top.map("topology") else { return nil }
        errors += t.unknownKeys(allowed: ["import", "format", "tier-from"], context: "'topology'")
        let path = try t.requiredString("import", context: "'topology'")
        let full = path.hasPrefix("/") ? path : ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent(path)
        let format = try t.string("format").map { text -> ImportedGraph.Format in
            guard let f = ImportedGraph.Format(rawValue: text.lowercased()) else {
                throw TopologyDiagnostic(at: t.location(of: "format"), "unknown graph format '\(excerpt(text))'",
                                         hint: "formats: \(ImportedGraph.Format.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return f
        }
        let source = try t.string("tier-from").map { text -> GraphImport.TierSource in
            guard let s = GraphImport.TierSource(rawValue: text.lowercased()) else {
                throw TopologyDiagnostic(at: t.location(of: "tier-from"), "'tier-from' must be capacity or distance; got '\(excerpt(text))'")
            }
            return s
        } ?? .capacity
        guard FileManager.default.isReadableFile(atPath: full) else {
            throw TopologyDiagnostic(at: t.location(of: "import"), "cannot read graph file '\(excerpt(full))'",
                                     hint: "the path is relative to this topology file")
        }
        return try GraphImport(tierSource: source).entries(of: ImportedGraph.read(path: full, format: format))
    }

    private func parseSeed(_ top: ConfigMap) throws -> UInt64? {
        guard let s = try top.string("seed") else { return nil }
        guard let v = UInt64(s.replacingOccurrences(of: "_", with: "")) else {
            throw TopologyDiagnostic(at: top["seed"]!.location, "'seed' must be a whole number ≥ 0; got '\(s)'")
        }
        return v
    }

    private func parseSettings(_ top: ConfigMap) throws {
        if let d = try top.duration("duration") {
            guard d > .zero else {
                throw TopologyDiagnostic(at: top["duration"]!.location, "'duration' must be longer than zero", hint: "e.g. duration: 30s")
            }
            duration = d
        }
        if let a = try top.map("addressing") {
            errors += a.unknownKeys(allowed: ["prefix"], context: "'addressing'")
            if let p = try a["prefix"].map({ try parsePrefix($0, maxLength: 48, what: "addressing prefix") }) {
                basePrefix = p
                basePrefixLocation = a["prefix"]!.location
            }
        }
        if let l = try top.map("latency") {
            errors += l.unknownKeys(allowed: ["inflation", "minimum"], context: "'latency'")
            if let f = try l.double("inflation") {
                guard f >= 1, f <= 10 else {
                    throw TopologyDiagnostic(at: l["inflation"]!.location, "'inflation' must be between 1 and 10; got \(f)",
                                             hint: "fiber is never shorter than the great circle; typical values are 1.3–2")
                }
                inflation = f
            }
            if let m = try l.duration("minimum") { minimumLatency = m }
        }
    }

    private func parseRouting(_ top: ConfigMap) throws -> RoutingConfig? {
        guard let r = try top.map("routing") else { return nil }
        errors += r.unknownKeys(allowed: ["strategy", "regions", "detection_delay", "weights", "load_interval", "k", "ecmp_metric"],
                                context: "'routing'")
        // The routing module owns the list of strategies and checks the names.
        var config = RoutingConfig(strategy: try r.string("strategy") ?? TopologyParser.defaultRoutingStrategy,
                                   location: r.location(of: "strategy"))
        if let regions = try r.map("regions") {
            for entry in regions.entries {
                guard let name = try regions.string(entry.key), !name.isEmpty else {
                    throw TopologyDiagnostic(at: entry.value.location, "region '\(entry.key)' in 'routing.regions' needs a strategy name",
                                             hint: "e.g. regions: {asia: hops}")
                }
                config.regions[entry.key] = name
                config.regionLocations[entry.key] = entry.value.location
            }
        }
        if let d = try r.duration("detection_delay") {
            guard d >= .zero else {
                throw TopologyDiagnostic(at: r.location(of: "detection_delay"), "'detection_delay' must not be negative", hint: "e.g. detection_delay: 500ms")
            }
            config.detectionDelay = d
        }
        if let d = try r.duration("load_interval") {
            guard d > .zero else {
                throw TopologyDiagnostic(at: r.location(of: "load_interval"), "'load_interval' must be longer than zero", hint: "e.g. load_interval: 1s")
            }
            config.loadInterval = d
        }
        if let k = try r.int("k") {
            guard k >= 1 else { throw TopologyDiagnostic(at: r.location(of: "k"), "'k' must be at least 1; got \(k)", hint: "e.g. k: 3") }
            config.k = k
        }
        if let metric = try r.string("ecmp_metric") {
            guard ["latency", "hops"].contains(metric) else {
                throw TopologyDiagnostic(at: r.location(of: "ecmp_metric"), "'ecmp_metric' must be latency or hops; got '\(metric)'")
            }
            config.ecmpMetric = metric
        }
        if let w = try r.map("weights") {
            errors += w.unknownKeys(allowed: ["latency", "bandwidth", "load", "geography"], context: "'routing.weights'")
            let std = RoutingWeights.standard
            var weights = RoutingWeights.standard
            for (key, path, fallback) in [("latency", \RoutingWeights.latency, std.latency), ("bandwidth", \.bandwidth, std.bandwidth),
                                           ("load", \.load, std.load), ("geography", \.geography, std.geography)] {
                let v = try w.double(key) ?? fallback
                guard v >= 0, v.isFinite else {
                    throw TopologyDiagnostic(at: w.location(of: key), "weight '\(key)' must be a non-negative number; got \(v)")
                }
                weights[keyPath: path] = v
            }
            guard weights.latency + weights.bandwidth + weights.load + weights.geography > 0 else {
                throw TopologyDiagnostic(at: w.location, "at least one routing weight must be positive", hint: "defaults: latency 0.4, bandwidth 0.3, load 0.2, geography 0.1")
            }
            config.weights = weights
        }
        return config
    }

    private func parsePrefix(_ value: ConfigValue, maxLength: Int, what: String) throws -> IPv6Prefix {
        guard case .scalar(let s, let loc) = value else {
            throw TopologyDiagnostic(at: value.location, "\(what) must be a single value like fd00:5354:4f00::/40")
        }
        let prefix: IPv6Prefix
        do {
            prefix = try IPv6Prefix.parse(s)
        } catch let e as IPv6Address.ParseError {
            let detail = s.contains("/") ? "\(e)" : "'\(s)' has no prefix length"
            throw TopologyDiagnostic(at: loc, "bad \(what): \(detail)",
                                     hint: "write an IPv6 prefix with its length, e.g. fd00:5354:4f00::/40")
        }
        guard prefix.length <= maxLength else {
            throw TopologyDiagnostic(at: loc, "\(what) \(s) is too long (/\(prefix.length))",
                                     hint: "use a prefix of /\(maxLength) or shorter")
        }
        return prefix
    }

    private func parseAddress(_ value: ConfigValue) throws -> IPv6Address {
        guard case .scalar(let s, let loc) = value else {
            throw TopologyDiagnostic(at: value.location, "'address' must be a single IPv6 address")
        }
        let address: IPv6Address
        do {
            address = try IPv6Address.parse(s)
        } catch let e as IPv6Address.ParseError {
            throw TopologyDiagnostic(at: loc, "bad node address: \(e)",
                                     hint: "write an IPv6 address such as fd00:5354:4f00::10, or leave 'address' out to get one from the site's prefix")
        }
        if let why = address.reservedUse {
            throw TopologyDiagnostic(at: loc, "node address \(address) is \(why), not a node's own address",
                                     hint: "use a unicast address such as fd00:5354:4f00::10")
        }
        return address
    }

    // MARK: Sites

    private func parseSite(_ m: ConfigMap, index: Int) throws {
        errors += m.unknownKeys(allowed: ["name", "city", "latitude", "longitude", "region", "prefix"], context: "site")
        let name = try requiredName(m, context: "site")
        if let first = siteIndex[name.name] {
            throw TopologyDiagnostic(at: name.location, "duplicate site name '\(name.name)' (first defined at line \(sites[first].nameLocation.line))",
                                     hint: "site names must be unique; rename one of them")
        }
        brokenNames.insert(name.name)      // until the site is known to be good
        let context = "site '\(name.name)'"
        var city: City?
        if let cityName = try m.string("city") {
            city = CityCatalog.named(cityName)
            if city == nil {
                let guess = closest(to: cityName, in: ((try? CityCatalog.all()) ?? []).map(\.name))
                throw TopologyDiagnostic(at: m["city"]!.location, "unknown city '\(cityName)' in \(context)",
                                         hint: (guess.map { "did you mean '\($0)'? " } ?? "") +
                                            "the catalog is Sources/StoqTopology/Resources/cities.csv; or give latitude, longitude and region")
            }
        }
        func coordinate(_ key: String, range: ClosedRange<Double>, from cityValue: Double?) throws -> Double {
            guard let v = try m.double(key) ?? cityValue else {
                throw TopologyDiagnostic(at: m.location, "missing field '\(key)' in \(context)",
                                         hint: "give latitude, longitude and region, or 'city: <name>' from the city catalog")
            }
            guard range.contains(v) else {
                throw TopologyDiagnostic(at: m[key]!.location, "\(key) \(v) is out of range in \(context)",
                                         hint: "\(key) must lie between \(Int(range.lowerBound)) and \(Int(range.upperBound)) degrees")
            }
            return v
        }
        let lat = try coordinate("latitude", range: -90...90, from: city?.latitude)
        let lon = try coordinate("longitude", range: -180...180, from: city?.longitude)
        guard let region = try m.string("region") ?? city?.region, !region.isEmpty else {
            throw TopologyDiagnostic(at: m.location, "missing field 'region' in \(context)",
                                     hint: "one of \(CityCatalog.regions.joined(separator: ", "))")
        }
        if !CityCatalog.regions.contains(region) {
            warnings.append(TopologyDiagnostic(.warning, at: m["region"]?.location ?? m.location,
                                               "region '\(region)' of \(context) is not a catalog region",
                                               hint: (closest(to: region, in: CityCatalog.regions).map { "did you mean '\($0)'? " } ?? "") +
                                                "catalog regions: \(CityCatalog.regions.joined(separator: ", "))"))
        }
        var prefixLocation: SourceLocation?
        var prefix = basePrefix             // replaced by the carved /48 in assignPrefixes
        if let p = m["prefix"] {
            prefix = try parsePrefix(p, maxLength: 64, what: "site prefix")
            prefixLocation = p.location
        }
        brokenNames.remove(name.name)
        siteIndex[name.name] = sites.count
        sites.append(SiteDraft(site: Site(name: name.name, latitude: lat, longitude: lon, region: region, prefix: prefix, location: m.location),
                               nameLocation: name.location, prefixLocation: prefixLocation))
    }

    /// Site i gets the i-th /48 of the addressing prefix unless it gave its own.
    private func assignPrefixes() {
        let capacity = UInt64(1) << UInt64(min(48 - basePrefix.length, 63))
        var unassigned: [Int] = []
        for i in sites.indices where sites[i].prefixLocation == nil {
            guard UInt64(i) < capacity else { unassigned.append(i); continue }
            sites[i].site.prefix = basePrefix.subprefix(UInt64(i), length: 48)
        }
        if let first = unassigned.first {
            // One error for all of them; their nodes' addresses are not reported again.
            prefixesOverlap = true
            errors.append(TopologyDiagnostic(at: sites[first].nameLocation,
                                             "site '\(sites[first].site.name)' does not fit: addressing prefix \(basePrefix) holds \(capacity) sites of /48, and \(sites.count - sites.filter { $0.prefixLocation != nil }.count) sites need one",
                                             hint: "give a shorter 'addressing: {prefix: …}' (e.g. /32) or a 'prefix' per site"))
        }
        // Sorted by address, a prefix overlaps another exactly when one of the
        // prefixes still open before it contains it: n log n, not every pair.
        let unplaced = Set(unassigned)
        let placed = sites.indices.filter { !unplaced.contains($0) }
            .sorted { (sites[$0].site.prefix.address, sites[$0].site.prefix.length, $0) < (sites[$1].site.prefix.address, sites[$1].site.prefix.length, $1) }
        var open: [Int] = []
        for j in placed {
            let b = sites[j].site.prefix
            while let top = open.last, !sites[top].site.prefix.contains(b.address) { open.removeLast() }
            if let i = open.last {
                let a = sites[i].site.prefix
                let explicit = sites[j].prefixLocation ?? sites[i].prefixLocation
                prefixesOverlap = true
                errors.append(TopologyDiagnostic(at: explicit ?? sites[j].nameLocation,
                                                 "prefix \(b) of site '\(sites[j].site.name)' overlaps prefix \(a) of site '\(sites[i].site.name)'",
                                                 hint: "sites without 'prefix' get the i-th /48 of \(basePrefix); choose a site prefix outside it"))
            }
            open.append(j)
        }
    }

    private func site(_ ref: NameRef, in context: String) throws -> Int {
        if let i = siteIndex[ref.name] { return i }
        if brokenNames.contains(ref.name) { throw AlreadyReported() }
        throw TopologyDiagnostic(at: ref.location, "unknown site '\(ref.name)' in \(context)",
                                 hint: (closest(to: ref.name, in: sites.map(\.site.name)).map { "did you mean '\($0)'? " } ?? "") +
                                    "sites are defined under 'sites:'")
    }

    // MARK: Nodes

    private func parseNode(_ m: ConfigMap) throws {
        errors += m.unknownKeys(allowed: ["name", "site", "role", "address", "count", "uplink", "transport"], context: "node")
        let transport = try m.map("transport")
        let name = try requiredName(m, context: "node")
        let context = "node '\(name.name)'"
        var names = [name]
        if let count = try m.int("count") {
            guard count >= 1 else {
                throw TopologyDiagnostic(at: m["count"]!.location, "'count' must be at least 1; got \(count)",
                                         hint: "count stamps out name-1 … name-N; remove it for a single node")
            }
            if let a = m["address"] {
                throw TopologyDiagnostic(at: a.location, "'address' cannot be combined with 'count' in \(context)",
                                         hint: "stamped nodes get addresses from their site's prefix; list nodes separately to fix addresses")
            }
            guard count <= limits.nodes - nodes.count else {
                throw TopologyDiagnostic(at: m["count"]!.location, "'count: \(count)' would make more than \(limits.nodes) nodes",
                                         hint: TopologyBuilder.raiseHint("nodes"))
            }
            templates[name.name] = count
            names = (1...count).map { NameRef(name: "\(name.name)-\($0)", location: name.location) }
        }
        guard nodes.count + names.count <= limits.nodes else {
            throw TopologyDiagnostic(at: name.location, "node '\(name.name)' is one more than the limit of \(limits.nodes) nodes",
                                     hint: TopologyBuilder.raiseHint("nodes"))
        }
        // Register names first, so links to a node with a bad field do not cascade.
        names.forEach { brokenNames.insert($0.name) }
        let siteRef = try m.requiredString("site", context: context)
        let siteAt = try site(NameRef(name: siteRef, location: m["site"]!.location), in: context)
        let roleText = try m.requiredString("role", context: context)
        guard let role = NodeRole(rawValue: roleText.lowercased()) else {
            let all = NodeRole.allCases.map(\.rawValue)
            throw TopologyDiagnostic(at: m["role"]!.location, "unknown role '\(roleText)' in \(context)",
                                     hint: (closest(to: roleText, in: all).map { "did you mean '\($0)'? " } ?? "") + "roles: \(all.joined(separator: ", "))")
        }
        let address = try m["address"].map(parseAddress)
        var registered: [NameRef] = []
        for n in names {
            if let first = nodeIndex[n.name] {
                let made = n.name == name.name ? "" : " (made by 'count' on '\(name.name)')"
                errors.append(TopologyDiagnostic(at: n.location, "duplicate node name '\(n.name)'\(made); first defined at line \(nodes[first].nameLocation.line)",
                                                 hint: "node names must be unique; rename one of them"))
                continue
            }
            brokenNames.remove(n.name)
            registered.append(n)
            nodeIndex[n.name] = nodes.count
            nodes.append(NodeDraft(name: n.name, nameLocation: n.location, site: sites[siteAt].site.name, role: role,
                                   address: address, addressLocation: m["address"]?.location, location: m.location,
                                   transport: transport))
        }
        if let up = m["uplink"] {
            for (_, u) in mappings(up, named: "uplink") {
                attempt {
                    errors += u.unknownKeys(allowed: ["to"] + Self.linkFieldKeys, context: "uplink of \(context)")
                    let to = NameRef(name: try u.requiredString("to", context: "uplink of \(context)"), location: u["to"]!.location)
                    let fields = try parseLinkFields(u, context: "uplink of \(context)")
                    try reserveLinks(registered.count, at: u.location)
                    for n in registered {
                        linkDrafts.append(LinkDraft(from: n, to: to, fields: fields, location: u.location, what: "uplink of \(context)"))
                    }
                }
            }
        }
    }

    /// Node names in file order, with addresses: explicit ones as given, the
    /// rest host (ordinal within the site + 1) of subnet 0 of the site's prefix.
    private func assignAddresses() -> [NodeSpec] {
        var owner: [IPv6Address: Int] = [:]
        for (i, n) in nodes.enumerated() {
            guard let a = n.address else { continue }
            if let first = owner[a] {
                errors.append(TopologyDiagnostic(at: n.addressLocation!, "duplicate address \(a): node '\(nodes[first].name)' (line \(nodes[first].addressLocation!.line)) has it too",
                                                 hint: "every node needs its own address"))
            } else {
                owner[a] = i
            }
        }
        var ordinal = [Int](repeating: 0, count: sites.count)
        var result: [NodeSpec] = []
        result.reserveCapacity(nodes.count)
        for (i, n) in nodes.enumerated() {
            let s = siteIndex[n.site]!
            ordinal[s] += 1
            var address = n.address ?? sites[s].site.prefix.host(UInt64(ordinal[s]))
            if n.address == nil, let why = address.reservedUse {
                errors.append(TopologyDiagnostic(at: sites[s].prefixLocation ?? basePrefixLocation ?? n.location,
                                                 "the automatic address \(address) of node '\(n.name)' is \(why)",
                                                 hint: "give site '\(n.site)' a unicast prefix such as fd00:5354:4f00::/48"))
            } else if n.address == nil, let taken = owner[address] {
                let t = nodes[taken]
                if let explicit = t.addressLocation {
                    errors.append(TopologyDiagnostic(at: explicit, "address \(address) of node '\(t.name)' is also the automatic address of node '\(n.name)' (host \(ordinal[s]) of site '\(n.site)')",
                                                     hint: "automatic addresses are <site prefix>::1, ::2, … in node order; pick one outside that range"))
                } else if !prefixesOverlap {
                    errors.append(TopologyDiagnostic(at: n.location, "the automatic address \(address) of node '\(n.name)' is also the automatic address of node '\(t.name)'",
                                                     hint: "give their sites prefixes that do not overlap"))
                }
                address = IPv6Address(high: 0, low: 0)
            }
            owner[address] = owner[address] ?? i
            var spec = NodeSpec(name: n.name, site: n.site, role: n.role, address: address, location: n.location)
            spec.transport = n.transport
            result.append(spec)
        }
        return result
    }

    private func node(_ ref: NameRef, in context: String) throws -> Int {
        if let i = nodeIndex[ref.name] { return i }
        if brokenNames.contains(ref.name) { throw AlreadyReported() }
        var hint = closest(to: ref.name, in: Array(nodeIndex.keys).sorted()).map { "did you mean '\($0)'?" } ?? ""
        if let count = templates[ref.name] {
            hint = "'\(ref.name)' has count: \(count), so its nodes are \(ref.name)-1 … \(ref.name)-\(count)"
        }
        throw TopologyDiagnostic(at: ref.location, "unknown node '\(ref.name)' in \(context)",
                                 hint: hint.isEmpty ? "nodes are defined under 'nodes:'" : hint)
    }

    // MARK: Links

    func parseLinkFields(_ m: ConfigMap, context: String) throws -> LinkFields {
        let bandwidth: UInt64
        if let tierText = try m.string("tier") {
            if let b = m["bandwidth"] {
                throw TopologyDiagnostic(at: b.location, "give either 'tier' or 'bandwidth' in \(context), not both")
            }
            guard let tier = LinkTier(rawValue: tierText.lowercased()) else {
                throw TopologyDiagnostic(at: m["tier"]!.location, "unknown tier '\(tierText)' in \(context)",
                                         hint: "tiers are \(LinkTier.allCases.map(\.rawValue).joined(separator: ", ")); for another speed write "
                                            // Only propose the text as a bandwidth when it is one ('100mpbs' is not).
                                            + (Units.parseBandwidth(tierText) != nil ? "'bandwidth: \(excerpt(tierText))'" : "'bandwidth: <rate>' such as 40gbps"))
            }
            bandwidth = tier.bitsPerSecond
        } else if let b = try m.bandwidth("bandwidth") {
            bandwidth = b
        } else {
            throw TopologyDiagnostic(at: m.location, "missing field 'tier' in \(context)",
                                     hint: "give 'tier: 100mbps', '1gbps' or '2.5gbps', or 'bandwidth: <rate>' such as 40gbps")
        }
        var latency: SimDuration?
        if let text = try m.string("latency"), text.lowercased() != "auto" {
            do throws(Units.UnitError) {
                latency = try Units.checkedDuration(text)
            } catch .outOfRange(let why) {
                throw TopologyDiagnostic(at: m["latency"]!.location, "'latency' is out of range; got '\(excerpt(text))'", hint: why)
            } catch {
                throw TopologyDiagnostic(at: m["latency"]!.location, "'latency' must be 'auto' or a duration; got '\(excerpt(text))'",
                                         hint: "write e.g. 'latency: 12ms' (units ns, us, ms, s), or 'auto' to derive it from the sites' distance")
            }
        }
        let queue = try m.byteCount("queue")
        if let q = queue, q <= 0 {
            throw TopologyDiagnostic(at: m["queue"]!.location, "'queue' must hold at least one byte", hint: "e.g. queue: 256KiB")
        }
        let (loss, models) = try LinkModelParser.parse(m, context: context)
        return LinkFields(bandwidth: bandwidth, latency: latency, loss: loss, queue: queue, models: models)
    }

    private func parseLink(_ m: ConfigMap) throws {
        errors += m.unknownKeys(allowed: ["from", "to"] + Self.linkFieldKeys, context: "link")
        let from = NameRef(name: try m.requiredString("from", context: "link"), location: m["from"]!.location)
        let to = NameRef(name: try m.requiredString("to", context: "link"), location: m["to"]!.location)
        let fields = try parseLinkFields(m, context: "link")
        try reserveLinks(1, at: m.location)
        linkDrafts.append(LinkDraft(from: from, to: to, fields: fields, location: m.location, what: "link"))
    }

    /// Refuses links beyond the limit before they are made (a backbone over
    /// 2,000 sites is two million links).
    private func reserveLinks(_ count: Int, at location: SourceLocation) throws {
        guard count <= limits.links - linkDrafts.count else {
            throw TopologyDiagnostic(at: location, "this makes \(linkDrafts.count + count) links, more than the limit of \(limits.links)",
                                     hint: TopologyBuilder.raiseHint("links"))
        }
    }

    /// `sites: [a, b, c]` links every pair, `chain` consecutive ones, `ring`
    /// closes the chain. Each site is represented by its backbone node.
    private func parseBackbone(_ m: ConfigMap) throws {
        let shapes = ["sites", "chain", "ring"]
        errors += m.unknownKeys(allowed: shapes + Self.linkFieldKeys, context: "backbone")
        let given = shapes.filter { m[$0] != nil }
        guard given.count == 1, let shape = given.first, let list = try refs(shape, in: m) else {
            throw TopologyDiagnostic(at: given.count > 1 ? m.location(of: given[1]) : m.location,
                                     given.isEmpty ? "missing field 'sites' in backbone" : "a backbone takes one of 'sites', 'chain' or 'ring', not several",
                                     hint: "'sites: [a, b, c]' links every pair, 'chain: [a, b, c]' links a-b and b-c, 'ring' also links c-a")
        }
        var seen: [String: SourceLocation] = [:]
        var members: [NameRef] = []
        for ref in list {
            if let first = seen[ref.name] {
                throw TopologyDiagnostic(at: ref.location, "site '\(ref.name)' is listed twice in this backbone (first at column \(first.column))")
            }
            seen[ref.name] = ref.location
            let s = try site(ref, in: "backbone")
            guard let node = backboneNode(ofSite: sites[s].site.name) else {
                throw TopologyDiagnostic(at: ref.location, "site '\(ref.name)' has no core or edge node to carry backbone links",
                                         hint: "add a node with role core (or edge) at site '\(ref.name)'")
            }
            members.append(NameRef(name: node, location: ref.location))
        }
        guard members.count >= 2 else {
            throw TopologyDiagnostic(at: m.location(of: shape), "a backbone needs at least two sites")
        }
        let count = shape == "sites" ? members.count * (members.count - 1) / 2 : members.count - (shape == "chain" ? 1 : 0)
        try reserveLinks(count, at: m.location)
        var pairs: [(NameRef, NameRef)] = []
        switch shape {
        case "sites":
            for j in members.indices { for i in 0..<j { pairs.append((members[i], members[j])) } }
        default:
            pairs = zip(members, members.dropFirst()).map { ($0, $1) }
            if shape == "ring", members.count > 2 { pairs.append((members.last!, members[0])) }
        }
        let fields = try parseLinkFields(m, context: "backbone")
        linkDrafts += pairs.map { LinkDraft(from: $0.0, to: $0.1, fields: fields, location: m.location, what: "backbone") }
    }

    /// The first core node of the site in file order, else its first edge node.
    private func backboneNode(ofSite site: String) -> String? {
        let here = nodes.filter { $0.site == site }
        return (here.first { $0.role == .core } ?? here.first { $0.role == .edge })?.name
    }

    private func resolveLinks() -> [LinkSpec] {
        var seen: [String: SourceLocation] = [:]
        var links: [LinkSpec] = []
        // File order, so "first defined" really is the earlier line whichever section it is in.
        for d in Self.inFileOrder(linkDrafts, \.location) {
            attempt {
                let a = try node(d.from, in: d.what), b = try node(d.to, in: d.what)
                guard a != b else {
                    throw TopologyDiagnostic(at: d.to.location, "\(d.what) connects '\(d.from.name)' to itself",
                                             hint: "a link needs two different nodes")
                }
                let key = [d.from.name, d.to.name].sorted().joined(separator: " ")
                if let first = seen[key] {
                    throw TopologyDiagnostic(at: d.location, "duplicate link between '\(d.from.name)' and '\(d.to.name)' (first defined at line \(first.line))",
                                             hint: "remove one; for more capacity raise the first link's 'bandwidth'")
                }
                seen[key] = d.location
                let sa = sites[siteIndex[nodes[a].site]!].site, sb = sites[siteIndex[nodes[b].site]!].site
                let latency = d.fields.latency
                    ?? TopologyParser.autoLatency(from: sa, to: sb, inflation: inflation, minimum: minimumLatency)
                links.append(LinkSpec(from: d.from.name, to: d.to.name, bandwidthBitsPerSecond: d.fields.bandwidth,
                                      latency: latency, latencyIsAuto: d.fields.latency == nil, lossRate: d.fields.loss,
                                      queueBytes: d.fields.queue ?? TopologyParser.defaultQueueBytes(bandwidthBitsPerSecond: d.fields.bandwidth, latency: latency),
                                      location: d.location, models: d.fields.models))
            }
        }
        return links
    }

    // MARK: Faults and workloads

    private func parseFault(_ m: ConfigMap, links: [LinkSpec]) throws -> FaultSpec {
        errors += m.unknownKeys(allowed: ["link", "node", "down", "up"], context: "fault")
        let target: FaultSpec.Target
        switch (try refs("link", in: m), try refs("node", in: m)) {
        case (let l?, nil):
            guard l.count == 2 else {
                throw TopologyDiagnostic(at: m["link"]!.location, "'link' of a fault names the two ends of a link",
                                         hint: "write it as link: [node-a, node-b]")
            }
            _ = try node(l[0], in: "fault"); _ = try node(l[1], in: "fault")
            guard links.contains(where: { Set([$0.from, $0.to]) == Set([l[0].name, l[1].name]) }) else {
                throw TopologyDiagnostic(at: m["link"]!.location, "no link between '\(l[0].name)' and '\(l[1].name)' to fail",
                                         hint: "faults apply to links defined under 'links', 'uplink' or 'backbones'")
            }
            target = .link(l[0].name, l[1].name)
        case (nil, let n?):
            guard n.count == 1 else { throw TopologyDiagnostic(at: m["node"]!.location, "'node' of a fault is a single node name") }
            _ = try node(n[0], in: "fault")
            target = .node(n[0].name)
        default:
            throw TopologyDiagnostic(at: m.location, "a fault needs exactly one of 'link' or 'node'",
                                     hint: "e.g. {link: [a, b], down: 10s, up: 15s} or {node: x, down: 10s}")
        }
        guard let down = try m.duration("down") else {
            throw TopologyDiagnostic(at: m.location, "missing field 'down' in fault", hint: "give the time the fault starts, e.g. down: 10s")
        }
        let up = try m.duration("up")
        for (key, t) in [("down", down), ("up", up)] {
            if let t, t > duration {
                throw TopologyDiagnostic(at: m[key]!.location, "fault '\(key)' at \(t) is after the end of the run (duration \(duration))",
                                         hint: "move it before \(duration) or raise the top-level 'duration'")
            }
        }
        if let up, up <= down {
            throw TopologyDiagnostic(at: m["up"]!.location, "fault comes back 'up' at \(up), not after going 'down' at \(down)",
                                     hint: "'up' must be later than 'down'")
        }
        return FaultSpec(target: target, downAt: down, upAt: up, location: m.location)
    }

    /// Only `kind` is checked here; the scenario module validates the fields
    /// of each kind through the located `ConfigMap`.
    private func parseWorkload(_ m: ConfigMap) throws -> WorkloadSpec {
        let kind = try m.requiredString("kind", context: "workload")
        guard !kind.isEmpty else { throw TopologyDiagnostic(at: m["kind"]!.location, "'kind' of a workload is empty", hint: "e.g. kind: probe") }
        return WorkloadSpec(kind: kind, fields: m, location: m.location)
    }

    // MARK: Connectivity

    private func checkConnectivity(nodes: [NodeSpec], links: [LinkSpec]) {
        guard nodes.count > 1 else { return }
        var parent = Array(nodes.indices)
        func root(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }
            return x
        }
        for l in links { parent[root(nodeIndex[l.from]!)] = root(nodeIndex[l.to]!) }
        var groups: [Int: [Int]] = [:]
        for i in nodes.indices { groups[root(i), default: []].append(i) }
        guard groups.count > 1 else { return }
        // Largest part first; ties in file order, so the text is stable.
        let parts = groups.values.sorted { ($0.count, -$0[0]) > ($1.count, -$1[0]) }
        func describe(_ part: [Int]) -> String {
            let names = part.prefix(4).map { nodes[$0].name }
            return "{" + names.joined(separator: ", ") + (part.count > 4 ? ", … \(part.count - 4) more" : "") + "}"
        }
        let shown = parts.prefix(6).map(describe).joined(separator: ", ")
        let more = parts.count > 6 ? ", and \(parts.count - 6) more parts" : ""
        warnings.append(TopologyDiagnostic(.warning, at: nodes[parts[1][0]].location,
                                           "the network falls into \(parts.count) disconnected parts: \(shown)\(more)",
                                           hint: "nodes in different parts cannot reach each other; add a link, an uplink or a backbone between them"))
    }
}
