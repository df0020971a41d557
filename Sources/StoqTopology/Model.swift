import StoqEngine

/// Where something was written in a topology file: printed as `file:line:column`.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// The three network tiers of the STOQ design.
public enum LinkTier: String, CaseIterable, Sendable {
    case mbps100 = "100mbps"
    case gbps1 = "1gbps"
    case gbps2_5 = "2.5gbps"

    public var bitsPerSecond: UInt64 {
        switch self {
        case .mbps100: return 100_000_000
        case .gbps1: return 1_000_000_000
        case .gbps2_5: return 2_500_000_000
        }
    }

    /// The tier a bandwidth falls into for reporting (nearest tier at or below,
    /// the lowest tier for anything slower).
    public static func reportingTier(forBitsPerSecond bps: UInt64) -> LinkTier {
        allCases.last { $0.bitsPerSecond <= bps } ?? .mbps100
    }
}

public enum NodeRole: String, CaseIterable, Sendable {
    case edge, core, client, ca
}

/// A geographic site; every node sits at one. Each site owns a /48 of the run's
/// ULA prefix unless the file gives one.
public struct Site: Sendable {
    public var name: String
    public var latitude: Double
    public var longitude: Double
    public var region: String
    public var prefix: IPv6Prefix
    public var location: SourceLocation

    public init(name: String, latitude: Double, longitude: Double, region: String, prefix: IPv6Prefix, location: SourceLocation) {
        self.name = name
        self.latitude = latitude
        self.longitude = longitude
        self.region = region
        self.prefix = prefix
        self.location = location
    }
}

/// One simulated node (after `count` templates have been stamped out).
public struct NodeSpec: Sendable {
    public var name: String
    public var site: String
    public var role: NodeRole
    public var address: IPv6Address
    public var location: SourceLocation
    /// The node's `transport:` QUIC settings as written; the scenario module checks them.
    public var transport: ConfigMap?

    public init(name: String, site: String, role: NodeRole, address: IPv6Address, location: SourceLocation) {
        self.name = name
        self.site = site
        self.role = role
        self.address = address
        self.location = location
    }
}

/// A bidirectional link; each direction has its own queue and serializer.
public struct LinkSpec: Sendable {
    public var from: String
    public var to: String
    public var bandwidthBitsPerSecond: UInt64
    /// One-way propagation delay (resolved from geography when written `auto`).
    public var latency: SimDuration
    public var latencyIsAuto: Bool
    /// Probability that a packet is lost on this link, per direction.
    public var lossRate: Double
    /// Drop-tail queue capacity in bytes, per direction.
    public var queueBytes: Int
    public var location: SourceLocation
    /// Jitter, burst loss, corruption, duplication, MTU (empty: none).
    public var models: LinkModels

    public init(from: String, to: String, bandwidthBitsPerSecond: UInt64, latency: SimDuration, latencyIsAuto: Bool,
                lossRate: Double, queueBytes: Int, location: SourceLocation, models: LinkModels = LinkModels()) {
        self.from = from
        self.to = to
        self.bandwidthBitsPerSecond = bandwidthBitsPerSecond
        self.latency = latency
        self.latencyIsAuto = latencyIsAuto
        self.lossRate = lossRate
        self.queueBytes = queueBytes
        self.location = location
        self.models = models
    }

    public var tier: LinkTier { LinkTier.reportingTier(forBitsPerSecond: bandwidthBitsPerSecond) }
}

/// A workload entry. The topology module only knows its kind and its fields;
/// each workload kind (probe, transfer, …) parses its own fields through
/// `ConfigMap`, which reports errors with file:line.
public struct WorkloadSpec {
    public var kind: String
    public var fields: ConfigMap
    public var location: SourceLocation

    public init(kind: String, fields: ConfigMap, location: SourceLocation) {
        self.kind = kind
        self.fields = fields
        self.location = location
    }
}

/// A scheduled fault: a link or a node goes down (and maybe up again).
public struct FaultSpec: Sendable {
    public enum Target: Sendable, Equatable {
        case link(String, String)
        case node(String)
    }
    public var target: Target
    public var downAt: SimDuration
    public var upAt: SimDuration?
    public var location: SourceLocation

    public init(target: Target, downAt: SimDuration, upAt: SimDuration?, location: SourceLocation) {
        self.target = target
        self.downAt = downAt
        self.upAt = upAt
        self.location = location
    }
}

/// The `routing:` section. Strategy names are checked by StoqRouting, which
/// owns the list; this type only carries what the file says.
public struct RoutingConfig: Sendable {
    public var strategy: String
    public var location: SourceLocation?
    /// Region name → strategy name: a packet whose source node sits in that
    /// region is forwarded with that strategy's tables (see docs/routing.md).
    public var regions: [String: String] = [:]
    /// Where each `regions` entry was written, for error messages.
    public var regionLocations: [String: SourceLocation] = [:]
    /// Time from a failure until the forwarding tables follow; nil: zero.
    public var detectionDelay: SimDuration?
    /// `weighted` strategy weights (latency, bandwidth, load, geography); nil: defaults.
    public var weights: RoutingWeights?
    /// How often link utilisation is sampled and fed back to load-aware strategies; nil: 1 s.
    public var loadInterval: SimDuration?
    /// Number of paths of the `k-shortest` strategy; nil: 3.
    public var k: Int?
    /// `ecmp` path metric: "latency" or "hops"; nil: latency.
    public var ecmpMetric: String?

    public init(strategy: String = "latency", location: SourceLocation? = nil) {
        self.strategy = strategy
        self.location = location
    }
}

/// Weights of the `weighted` strategy's cost terms; they need not sum to 1.
public struct RoutingWeights: Sendable, Equatable {
    public var latency: Double
    public var bandwidth: Double
    public var load: Double
    public var geography: Double

    public static let standard = RoutingWeights(latency: 0.4, bandwidth: 0.3, load: 0.2, geography: 0.1)

    public init(latency: Double, bandwidth: Double, load: Double, geography: Double) {
        self.latency = latency
        self.bandwidth = bandwidth
        self.load = load
        self.geography = geography
    }
}

/// A validated topology: every name resolves, every address is IPv6, every
/// number is in range. Build it with `TopologyParser`.
public struct Topology {
    public var name: String
    public var sourceFile: String
    public var seed: UInt64
    public var duration: SimDuration
    /// Fiber paths are longer than great circles; `auto` latencies are
    /// multiplied by this factor.
    public var routeInflation: Double
    public var sites: [Site]
    public var nodes: [NodeSpec]
    public var links: [LinkSpec]
    public var faults: [FaultSpec]
    public var workloads: [WorkloadSpec]
    public var routing: RoutingConfig
    /// Non-fatal findings (e.g. a disconnected graph), printed but not fatal.
    public var warnings: [TopologyDiagnostic]
    /// The top-level `transport:` QUIC settings of every node, as written; the
    /// scenario module checks them (and each node's own `transport:`).
    public var transport: ConfigMap?
    /// The top-level `trace:` settings (what a run records over time), as
    /// written; the scenario module checks them, `run --series-*` overrides them.
    public var trace: ConfigMap?
    /// The limits this topology was read with (its `limits:` applied).
    public var limits = TopologyLimits.standard
    /// Sites and nodes whose definitions had errors, in a topology parsed with
    /// errors: later checks skip references to them instead of calling them unknown.
    public var unresolvedNames: Set<String> = []

    public init(name: String, sourceFile: String, seed: UInt64, duration: SimDuration, routeInflation: Double,
                sites: [Site], nodes: [NodeSpec], links: [LinkSpec], faults: [FaultSpec], workloads: [WorkloadSpec],
                routing: RoutingConfig, warnings: [TopologyDiagnostic]) {
        self.name = name
        self.sourceFile = sourceFile
        self.seed = seed
        self.duration = duration
        self.routeInflation = routeInflation
        self.sites = sites
        self.nodes = nodes
        self.links = links
        self.faults = faults
        self.workloads = workloads
        self.routing = routing
        self.warnings = warnings
    }

    public func site(named name: String) -> Site? { sites.first { $0.name == name } }
    public func node(named name: String) -> NodeSpec? { nodes.first { $0.name == name } }
}

/// One problem found in a topology file, printed for people:
/// `file:line:column: error: what` and, on the next line, what to do.
public struct TopologyDiagnostic: Error, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public var severity: Severity
    public var location: SourceLocation
    public var message: String
    public var hint: String?

    public init(_ severity: Severity = .error, at location: SourceLocation, _ message: String, hint: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.hint = hint
    }

    public var description: String {
        var s = "\(location): \(severity.rawValue): \(message)"
        if let hint { s += "\n    hint: \(hint)" }
        return s
    }
}

/// A reference to a site or node whose own definition already failed: its
/// error was reported there, so the reference is skipped, not reported again.
public struct UnresolvedReference: Error {
    public var name: String
    public init(name: String) { self.name = name }
}

/// All errors of one file, so a user fixes them in one pass.
public struct TopologyErrors: Error, CustomStringConvertible {
    public var diagnostics: [TopologyDiagnostic]
    public init(_ diagnostics: [TopologyDiagnostic]) { self.diagnostics = diagnostics }

    /// Diagnostics gathered by several checks, in file order, each once.
    public init(inFileOrder diagnostics: [TopologyDiagnostic]) {
        var seen = Set<String>()
        self.diagnostics = TopologyBuilder.sorted(diagnostics).filter { seen.insert($0.description).inserted }
    }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
