import StoqTopology

/// Which strategy routes which packets: one default strategy, and optionally
/// one per region (`routing: {strategy: latency, regions: {asia: hops}}`).
///
/// Semantics: a packet is forwarded, at every hop, with the tables of the
/// strategy of its *source* node's region (policy routing by source). Each
/// strategy's tables are loop-free on their own, so a packet never loops, even
/// when it crosses into a region that routes differently. A region without an
/// entry uses the default strategy.
public struct RoutingPolicy: Sendable {
    /// Plane 0 is the default strategy; the others are the distinct region strategies.
    public let strategies: [RoutingStrategy]
    /// The plane of each node's region.
    public let planeOfNode: [UInt8]

    /// One strategy for everything.
    public init(strategy: RoutingStrategy, nodeCount: Int) {
        strategies = [strategy]
        planeOfNode = Array(repeating: 0, count: nodeCount)
    }

    /// The policy `config` describes; `strategy` replaces the file's default
    /// (e.g. `--strategy`). Strategies get the file's parameters.
    public init(config: RoutingConfig, graph: RoutingGraph, strategy: RoutingStrategy? = nil) throws {
        guard let base = strategy?.configured(by: config) ?? RoutingStrategies.named(config.strategy, config: config) else {
            throw RoutingError.unknownStrategy(config.strategy, at: config.location)
        }
        var strategies = [base]
        var planeOfRegion: [String: UInt8] = [:]
        let present = Set(graph.nodeRegion)
        for region in config.regions.keys.sorted() {
            let name = config.regions[region]!
            let location = config.regionLocations[region]
            guard present.contains(region) else { throw RoutingError.unknownRegion(region, known: present.sorted(), at: location) }
            guard let s = RoutingStrategies.named(name, config: config) else { throw RoutingError.unknownStrategy(name, at: location) }
            if let i = strategies.firstIndex(where: { $0.name == s.name }) {
                planeOfRegion[region] = UInt8(i)
            } else {
                planeOfRegion[region] = UInt8(strategies.count)
                strategies.append(s)
            }
        }
        self.strategies = strategies
        planeOfNode = graph.nodeRegion.map { planeOfRegion[$0] ?? 0 }
    }

    public var defaultStrategy: RoutingStrategy { strategies[0] }
    public var usesLoad: Bool { strategies.contains { $0.usesLoad } }

    public func strategy(forSource node: Int32) -> RoutingStrategy { strategies[Int(planeOfNode[Int(node)])] }

    /// The route a packet from `source` takes: one search, consistent with the tables.
    public func route(from source: Int32, to destination: Int32, in graph: RoutingGraph) -> Route? {
        strategy(forSource: source).route(from: source, to: destination, in: graph)
    }

    /// Checks a topology's routing section: every diagnostic, with file positions.
    public static func check(_ topology: Topology) -> [TopologyDiagnostic] {
        do {
            _ = try RoutingPolicy(config: topology.routing, graph: RoutingGraph(topology: topology))
            return []
        } catch let e as RoutingError {
            return [e.diagnostic(file: topology.sourceFile)]
        } catch {
            return [TopologyDiagnostic(at: SourceLocation(file: topology.sourceFile, line: 1, column: 1), "\(error)")]
        }
    }
}

public enum RoutingError: Error, CustomStringConvertible, Equatable {
    case unknownStrategy(String, at: SourceLocation?)
    case unknownRegion(String, known: [String], at: SourceLocation?)
    case unknownNode(String)

    public var description: String {
        switch self {
        case .unknownStrategy(let s, _):
            return "unknown routing strategy '\(s)'; known strategies: \(RoutingStrategies.names.joined(separator: ", "))"
        case .unknownRegion(let r, let known, _):
            return "no node is in region '\(r)' named in 'routing.regions'; regions of this topology: \(known.filter { !$0.isEmpty }.joined(separator: ", "))"
        case .unknownNode(let n):
            return "no node named '\(n)' in the topology"
        }
    }

    /// The error as a located diagnostic (line 1 when the place is unknown).
    public func diagnostic(file: String) -> TopologyDiagnostic {
        let start = SourceLocation(file: file, line: 1, column: 1)
        switch self {
        case .unknownStrategy(let s, let at):
            return TopologyDiagnostic(at: at ?? start, "unknown routing strategy '\(s)'",
                                      hint: "known strategies: \(RoutingStrategies.names.joined(separator: ", "))")
        case .unknownRegion(let r, let known, let at):
            return TopologyDiagnostic(at: at ?? start, "no node is in region '\(r)'",
                                      hint: "regions of this topology: \(known.filter { !$0.isEmpty }.joined(separator: ", "))")
        case .unknownNode(let n):
            return TopologyDiagnostic(at: start, "no node named '\(n)' in the topology")
        }
    }
}
