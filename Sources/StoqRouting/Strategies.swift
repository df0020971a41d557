import StoqTopology

/// Hop counts and latencies packed into one additive cost: hops dominate,
/// latency breaks ties. Exact while a path's latency stays under 2^40 ns (18 min).
let hopUnit: Int64 = 1 << 40

/// Fewest hops; among paths with equally few hops, the lowest latency.
/// Tree costs are `hops << 40 + latency ns`.
public struct HopsStrategy: RoutingStrategy, EdgeCost {
    public init() {}
    public var name: String { "hops" }

    public func cost(ofEdge edge: Int, in graph: RoutingGraph) -> Int64 { hopUnit + graph.edgeLatency[edge] }

    public func shortestPathTree(from source: Int32, in graph: RoutingGraph) -> PathTree {
        ShortestPathSearch.tree(from: source, in: graph, cost: self)
    }
}

/// Maximum bottleneck bandwidth; among paths of the same bottleneck, the
/// lowest latency. Tree costs are latencies (ns).
///
/// Bottleneck-then-latency is not a metric Dijkstra can settle in one pass (a
/// wider prefix may be slower), so the search runs twice: first the widest
/// bottleneck `W(v)` of every node, then a latency search that settles nodes
/// in order of decreasing `W` and reaches `v` only over edges at least `W(v)`
/// wide. Each node's path is therefore a widest path, and the result is still
/// a tree (consistent hop-by-hop forwarding): a node that joins at a lower
/// width attaches to the already-settled wider part at its lowest latency.
public struct WidestStrategy: RoutingStrategy {
    public init() {}
    public var name: String { "widest" }

    public func shortestPathTree(from source: Int32, in graph: RoutingGraph) -> PathTree {
        let n = graph.nodeCount
        var cost = [Int64](repeating: PathTree.unreachable, count: n)
        var parent = [Int32](repeating: -1, count: n)
        guard graph.nodeUp[Int(source)] else { return PathTree(source: source, cost: cost, parentEdge: parent) }
        let width = widths(from: source, in: graph)
        // Rank of each distinct width, widest first: the search's outer key.
        // Graphs have a handful of bandwidths, so a linear scan beats hashing.
        let levels = Array(Set(width.filter { $0 > 0 })).sorted(by: >)
        func rank(_ w: Int64) -> Int64 { Int64(levels.firstIndex(of: w)!) }
        let latencyMask: Int64 = hopUnit - 1
        var settled = [Bool](repeating: false, count: n)
        var heap = MinHeap()
        cost[Int(source)] = 0
        heap.push(cost: 0, node: source)
        while let (c, u) = heap.pop() {
            let ui = Int(u)
            if settled[ui] { continue }
            settled[ui] = true
            let latency = c & latencyMask
            for e in graph.edges(from: u) where graph.isUsable(edge: e) {
                let v = Int(graph.edgeTarget[e])
                if settled[v] || Int64(clamping: graph.edgeBandwidth[e]) < width[v] || width[ui] < width[v] { continue }
                let candidate = rank(width[v]) * hopUnit + latency + graph.edgeLatency[e]
                if candidate < cost[v] {
                    cost[v] = candidate
                    parent[v] = Int32(e)
                    heap.push(cost: candidate, node: Int32(v))
                }
            }
        }
        for v in 0..<n where cost[v] != PathTree.unreachable { cost[v] &= latencyMask }
        return PathTree(source: source, cost: cost, parentEdge: parent)
    }

    /// Widest bottleneck from `source` to every node (0: unreachable; the
    /// source itself gets Int64.max). A max-bottleneck Dijkstra on negated widths.
    func widths(from source: Int32, in graph: RoutingGraph) -> [Int64] {
        var width = [Int64](repeating: 0, count: graph.nodeCount)
        var settled = [Bool](repeating: false, count: graph.nodeCount)
        var heap = MinHeap()
        width[Int(source)] = .max
        heap.push(cost: -.max, node: source)
        while let (negative, u) = heap.pop() {
            if settled[Int(u)] { continue }
            settled[Int(u)] = true
            for e in graph.edges(from: u) where graph.isUsable(edge: e) {
                let v = Int(graph.edgeTarget[e])
                let w = min(-negative, Int64(clamping: graph.edgeBandwidth[e]))
                if !settled[v] && w > width[v] {
                    width[v] = w
                    heap.push(cost: -w, node: Int32(v))
                }
            }
        }
        return width
    }
}

/// A composite cost per link direction, each term normalised to 0…1 by a
/// graph-wide scale so the weights compare like with like:
///
///     cost(e) = wL · latency(e) / maxLatency
///             + wB · minBandwidth / bandwidth(e)
///             + wU · utilisation(e)
///             + wG · km(e) / maxKm
///
/// scaled by 10^6 to an integer, at least 1. `utilisation` is the measured
/// share of time the direction was serializing in the last sample interval
/// (`RoutingGraph.edgeLoad`); `km` is the great-circle length between the
/// link's end sites. Costs are for the direction traffic flows, so the tables
/// (grown from the destination) charge each edge the load of its reverse.
public struct WeightedStrategy: RoutingStrategy {
    public var weights: RoutingWeights
    /// Integer resolution of the summed terms.
    public static let scale = 1_000_000.0

    public init(weights: RoutingWeights = .standard) { self.weights = weights }
    public var name: String { "weighted" }
    public var usesLoad: Bool { weights.load > 0 }

    public func configured(by config: RoutingConfig) -> RoutingStrategy {
        WeightedStrategy(weights: config.weights ?? .standard)
    }

    /// The cost of crossing `edge` while the link direction `loadEdge` carries the load.
    public func cost(ofEdge e: Int, loadOf loadEdge: Int, in g: RoutingGraph) -> Int64 {
        let latency = Double(g.edgeLatency[e]) / Double(g.maxEdgeLatency)
        let bandwidth = Double(g.minEdgeBandwidth) / Double(max(1, g.edgeBandwidth[e]))
        let geography = g.maxEdgeKilometers > 0 ? g.edgeKilometers[e] / g.maxEdgeKilometers : 0
        let sum = weights.latency * latency + weights.bandwidth * bandwidth + weights.load * g.edgeLoad[loadEdge]
            + weights.geography * geography
        return max(1, Int64((sum * Self.scale).rounded()))
    }

    private struct Outward: EdgeCost {
        let s: WeightedStrategy
        func cost(ofEdge edge: Int, in graph: RoutingGraph) -> Int64 { s.cost(ofEdge: edge, loadOf: edge, in: graph) }
    }

    private struct Inward: EdgeCost {
        let s: WeightedStrategy
        func cost(ofEdge edge: Int, in graph: RoutingGraph) -> Int64 {
            s.cost(ofEdge: edge, loadOf: Int(graph.edgeReverse[edge]), in: graph)
        }
    }

    public func shortestPathTree(from source: Int32, in graph: RoutingGraph) -> PathTree {
        ShortestPathSearch.tree(from: source, in: graph, cost: Outward(s: self))
    }

    public func forwardingRow(toward destination: Int32, in graph: RoutingGraph) -> ForwardingRow {
        ForwardingRow(tree: ShortestPathSearch.tree(from: destination, in: graph, cost: Inward(s: self)), in: graph)
    }
}

/// Greedy geographic forwarding with shortest-path recovery.
///
/// Towards destination `d`, a node forwards to the neighbour with the smallest
/// key (great-circle km from the neighbour's site to `d`'s site, then the
/// neighbour's latency distance to `d`) if that key is strictly smaller than its
/// own. The second part only orders nodes of one site, which share coordinates.
/// A node without such a neighbour is a dead end: it, and every node on its
/// lowest-latency path to `d`, forwards along that path instead (recovery mode).
/// Tables hold no per-packet state, so recovery is a property of the node, not
/// of the packet; this keeps forwarding loop-free (greedy keys strictly drop
/// until the packet meets a recovery node, which then stays on one tree).
///
/// `shortestPathTree` is the latency tree recovery follows.
public struct GeographicStrategy: RoutingStrategy {
    public init() {}
    public var name: String { "geographic" }

    public func shortestPathTree(from source: Int32, in graph: RoutingGraph) -> PathTree {
        LatencyStrategy().shortestPathTree(from: source, in: graph)
    }

    public func forwardingRow(toward d: Int32, in graph: RoutingGraph) -> ForwardingRow {
        let n = graph.nodeCount
        let tree = shortestPathTree(from: d, in: graph)
        let km = (0..<n).map { graph.kilometers(from: Int32($0), to: d) }
        var next = [Int32](repeating: -1, count: n)
        var recovery = [Bool](repeating: false, count: n)
        var deadEnds: [Int32] = []
        for u in 0..<n where u != Int(d) && tree.isReachable(Int32(u)) {
            var best: Int32 = -1
            var bestKm = km[u], bestCost = tree.cost[u]
            for e in graph.edges(from: Int32(u)) where graph.isUsable(edge: e) {
                let v = Int(graph.edgeTarget[e])
                if km[v] < bestKm || (km[v] == bestKm && tree.cost[v] < bestCost) {
                    best = Int32(e); bestKm = km[v]; bestCost = tree.cost[v]
                }
            }
            next[u] = best
            if best < 0 { deadEnds.append(Int32(u)) }
        }
        for start in deadEnds {
            var u = start
            while u != d && !recovery[Int(u)] {
                recovery[Int(u)] = true
                let e = graph.edgeReverse[Int(tree.parentEdge[Int(u)])]
                next[Int(u)] = e
                u = graph.edgeTarget[Int(e)]
            }
        }
        return ForwardingRow(next: next, recovery: recovery)
    }
}

/// Equal-cost multipath: every next hop on some best path is kept, and the
/// network picks one per flow by hashing (source, destination, ports) (see
/// `FlowHash`). Costs are latencies, or hop counts with `ecmp_metric: hops`.
/// Only edges that strictly approach the destination count, so zero-latency
/// links cannot form loops.
public struct ECMPStrategy: RoutingStrategy {
    public enum Metric: String, Sendable { case latency, hops }
    public var metric: Metric

    public init(metric: Metric = .latency) { self.metric = metric }
    public var name: String { "ecmp" }

    public func configured(by config: RoutingConfig) -> RoutingStrategy {
        ECMPStrategy(metric: config.ecmpMetric.flatMap(Metric.init(rawValue:)) ?? .latency)
    }

    private struct Cost: EdgeCost {
        let metric: Metric
        func cost(ofEdge edge: Int, in graph: RoutingGraph) -> Int64 { metric == .hops ? 1 : graph.edgeLatency[edge] }
    }

    public func shortestPathTree(from source: Int32, in graph: RoutingGraph) -> PathTree {
        ShortestPathSearch.tree(from: source, in: graph, cost: Cost(metric: metric))
    }

    public func forwardingRow(toward d: Int32, in graph: RoutingGraph) -> ForwardingRow {
        let tree = shortestPathTree(from: d, in: graph)
        var row = ForwardingRow(tree: tree, in: graph)
        let c = Cost(metric: metric)
        var start: [Int32] = [0]
        var edges: [Int32] = []
        start.reserveCapacity(graph.nodeCount + 1)
        for u in 0..<graph.nodeCount {
            let primary = row.next[u]
            if primary >= 0 {
                edges.append(primary)
                for e in graph.edges(from: Int32(u)) where e != Int(primary) && graph.isUsable(edge: e) {
                    let v = Int(graph.edgeTarget[e])
                    if tree.isReachable(Int32(v)) && tree.cost[v] < tree.cost[u] && tree.cost[v] + c.cost(ofEdge: e, in: graph) == tree.cost[u] {
                        edges.append(Int32(e))
                    }
                }
            }
            start.append(Int32(edges.count))
        }
        row.multipathStart = start
        row.multipathEdges = edges
        return row
    }
}

/// The k lowest-latency loop-free paths per pair (Yen's algorithm, see
/// `KShortestPaths`), for what-if studies and multipath experiments.
/// Forwarding uses the first path, i.e. it forwards like `latency`.
public struct KShortestStrategy: RoutingStrategy {
    public var k: Int

    public init(k: Int = 3) { self.k = max(1, k) }
    public var name: String { "k-shortest" }

    public func configured(by config: RoutingConfig) -> RoutingStrategy { KShortestStrategy(k: config.k ?? 3) }

    public func shortestPathTree(from source: Int32, in graph: RoutingGraph) -> PathTree {
        LatencyStrategy().shortestPathTree(from: source, in: graph)
    }

    /// Up to `k` loop-free paths from `source` to `destination`, cheapest first.
    public func paths(from source: Int32, to destination: Int32, in graph: RoutingGraph) -> [Route] {
        KShortestPaths.yen(from: source, to: destination, k: k, in: graph, cost: LatencyStrategy())
    }
}
