/// The result of one single-source search: for every node the cost of the best
/// path from `source` and the edge that reaches it on that path.
public struct PathTree: Sendable {
    /// `cost` of a node no path reaches.
    public static let unreachable = Int64.max

    public let source: Int32
    /// In the strategy's own unit (nanoseconds for latency, hops for hop count, …).
    public var cost: [Int64]
    /// The edge parent → node on the chosen path; -1 for the source and for
    /// unreachable nodes.
    public var parentEdge: [Int32]

    public init(source: Int32, cost: [Int64], parentEdge: [Int32]) {
        self.source = source
        self.cost = cost
        self.parentEdge = parentEdge
    }

    public func isReachable(_ node: Int32) -> Bool { cost[Int(node)] != Self.unreachable }

    /// Nodes from `source` to `node` inclusive, or nil when `node` is unreachable.
    public func path(to node: Int32, in graph: RoutingGraph) -> [Int32]? {
        guard isReachable(node) else { return nil }
        var nodes = [node]
        var v = node
        while parentEdge[Int(v)] >= 0 {
            v = graph.edgeSource[Int(parentEdge[Int(v)])]
            nodes.append(v)
        }
        return nodes.reversed()
    }
}

/// An additive, non-negative edge cost for `ShortestPathSearch`.
public protocol EdgeCost {
    func cost(ofEdge edge: Int, in graph: RoutingGraph) -> Int64
}

/// Dijkstra with a binary heap, shared by every additive strategy (latency,
/// hops, weighted, …) so each of them is only its `EdgeCost`.
///
/// Ties are deterministic: nodes settle in (cost, node index) order and a node
/// keeps the first parent that reached its final cost, so among equal-cost
/// paths the one through the earliest-settled neighbour (and, between parallel
/// links, the lowest edge index) wins.
public enum ShortestPathSearch {
    public static func tree<C: EdgeCost>(from source: Int32, in graph: RoutingGraph, cost edgeCost: C) -> PathTree {
        let n = graph.nodeCount
        var cost = [Int64](repeating: PathTree.unreachable, count: n)
        var parent = [Int32](repeating: -1, count: n)
        guard graph.nodeUp[Int(source)] else { return PathTree(source: source, cost: cost, parentEdge: parent) }
        var settled = [Bool](repeating: false, count: n)
        var heap = MinHeap()
        cost[Int(source)] = 0
        heap.push(cost: 0, node: source)
        while let (c, u) = heap.pop() {
            let ui = Int(u)
            // Lazy deletion: stale entries (a cheaper path was found later) are skipped.
            if settled[ui] { continue }
            settled[ui] = true
            for e in graph.edges(from: u) where graph.isUsable(edge: e) {
                let v = Int(graph.edgeTarget[e])
                if settled[v] { continue }
                let candidate = c + edgeCost.cost(ofEdge: e, in: graph)
                if candidate < cost[v] {
                    cost[v] = candidate
                    parent[v] = Int32(e)
                    heap.push(cost: candidate, node: Int32(v))
                }
            }
        }
        return PathTree(source: source, cost: cost, parentEdge: parent)
    }
}

/// A binary min-heap of (cost, node), ordered by cost then node index.
struct MinHeap {
    private var costs: [Int64] = []
    private var nodes: [Int32] = []

    var isEmpty: Bool { nodes.isEmpty }

    @inline(__always)
    private func less(_ i: Int, _ j: Int) -> Bool {
        costs[i] < costs[j] || (costs[i] == costs[j] && nodes[i] < nodes[j])
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        costs.swapAt(i, j)
        nodes.swapAt(i, j)
    }

    mutating func push(cost: Int64, node: Int32) {
        costs.append(cost)
        nodes.append(node)
        var i = nodes.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard less(i, p) else { break }
            swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> (Int64, Int32)? {
        guard let lastNode = nodes.last else { return nil }
        let top = (costs[0], nodes[0])
        let lastCost = costs.removeLast()
        nodes.removeLast()
        guard !nodes.isEmpty else { return top }
        costs[0] = lastCost
        nodes[0] = lastNode
        var i = 0
        let n = nodes.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            var c = l
            if l + 1 < n && less(l + 1, l) { c = l + 1 }
            guard less(c, i) else { break }
            swapAt(i, c)
            i = c
        }
        return top
    }
}
