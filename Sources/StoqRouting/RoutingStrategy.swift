/// How routes are chosen. A strategy only has to grow a tree of best paths
/// from one node; `ForwardingTables` turns trees into next hops. Strategies are
/// called from several threads at once, so they must be immutable values.
public protocol RoutingStrategy: Sendable {
    /// The name used in topology files (`routing: { strategy: latency }`).
    var name: String { get }
    /// Best paths from `source` to every node, using only usable edges.
    func shortestPathTree(from source: Int32, in graph: RoutingGraph) -> PathTree
}

/// Lowest total propagation delay.
public struct LatencyStrategy: RoutingStrategy, EdgeCost {
    public init() {}
    public var name: String { "latency" }

    public func cost(ofEdge edge: Int, in graph: RoutingGraph) -> Int64 { graph.edgeLatency[edge] }

    public func shortestPathTree(from source: Int32, in graph: RoutingGraph) -> PathTree {
        ShortestPathSearch.tree(from: source, in: graph, cost: self)
    }
}

/// Strategy lookup by the name a topology file uses. Adding a strategy is one
/// entry in `all`.
public enum RoutingStrategies {
    private static let all: [(name: String, make: @Sendable () -> RoutingStrategy)] = [
        ("latency", { LatencyStrategy() }),
    ]

    /// Every accepted name, for "unknown strategy 'x'; known: …" messages.
    public static var names: [String] { all.map(\.name) }

    public static func named(_ name: String) -> RoutingStrategy? {
        all.first { $0.name == name }?.make()
    }
}
