import StoqTopology

/// How routes are chosen. A strategy grows best paths from one node; by
/// default `ForwardingTables` turns the tree grown *from* a destination into
/// every node's next hop towards it. Strategies whose forwarding is not a
/// plain tree (several next hops, greedy geography, direction-dependent cost)
/// override `forwardingRow`. Strategies are called from several threads at
/// once, so they must be immutable values.
public protocol RoutingStrategy: Sendable {
    /// The name used in topology files (`routing: { strategy: latency }`).
    var name: String { get }
    /// Best paths from `source` to every node, using only usable edges.
    func shortestPathTree(from source: Int32, in graph: RoutingGraph) -> PathTree
    /// Every node's way towards `destination`.
    func forwardingRow(toward destination: Int32, in graph: RoutingGraph) -> ForwardingRow
    /// True when routes depend on `graph.edgeLoad`, so the network re-routes after each load sample.
    var usesLoad: Bool { get }
    /// The same strategy with the file's parameters (weights, k, …) applied.
    func configured(by config: RoutingConfig) -> RoutingStrategy
}

public extension RoutingStrategy {
    /// Links are symmetric, so for a direction-independent cost the tree grown
    /// from the destination, read backwards, is every node's best path to it.
    func forwardingRow(toward destination: Int32, in graph: RoutingGraph) -> ForwardingRow {
        ForwardingRow(tree: shortestPathTree(from: destination, in: graph), in: graph)
    }

    var usesLoad: Bool { false }

    func configured(by config: RoutingConfig) -> RoutingStrategy { self }
}

/// One destination's column of the forwarding tables.
public struct ForwardingRow: Sendable {
    /// The edge each node leaves by towards the destination; -1 at the
    /// destination itself and where it is unreachable.
    public var next: [Int32]
    /// Equal-cost alternatives (ECMP): node `u` may leave by any of
    /// `multipathEdges[multipathStart[u]..<multipathStart[u+1]]`, the primary first.
    /// nil when every node has exactly one way.
    public var multipathStart: [Int32]?
    public var multipathEdges: [Int32]?
    /// Geographic routing: the node forwards in recovery mode (greedy failed on the way).
    public var recovery: [Bool]?

    public init(next: [Int32], multipathStart: [Int32]? = nil, multipathEdges: [Int32]? = nil, recovery: [Bool]? = nil) {
        self.next = next
        self.multipathStart = multipathStart
        self.multipathEdges = multipathEdges
        self.recovery = recovery
    }

    /// The reverse of each node's parent edge in a tree grown from the destination.
    public init(tree: PathTree, in graph: RoutingGraph) {
        next = tree.parentEdge.map { $0 < 0 ? -1 : graph.edgeReverse[Int($0)] }
    }
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
        ("hops", { HopsStrategy() }),
        ("widest", { WidestStrategy() }),
        ("weighted", { WeightedStrategy() }),
        ("geographic", { GeographicStrategy() }),
        ("ecmp", { ECMPStrategy() }),
        ("k-shortest", { KShortestStrategy() }),
    ]

    /// Every accepted name, for "unknown strategy 'x'; known: …" messages.
    public static var names: [String] { all.map(\.name) }

    public static func named(_ name: String) -> RoutingStrategy? {
        all.first { $0.name == name }?.make()
    }

    /// The strategy `name` with the parameters of `config` (weights, k, ECMP metric).
    public static func named(_ name: String, config: RoutingConfig) -> RoutingStrategy? {
        named(name)?.configured(by: config)
    }
}
