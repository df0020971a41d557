import StoqEngine
import StoqTopology

/// One path with the figures the routing matrix reports for it.
public struct Route: Sendable, Equatable {
    /// From source to destination inclusive.
    public let nodes: [Int32]
    /// The edges crossed, in order (`nodes.count - 1` of them).
    public let edges: [Int32]
    /// Sum of one-way propagation delays (ns).
    public let latency: Int64
    /// The slowest link; `UInt64.max` for the empty path to oneself.
    public let bottleneck: UInt64
    /// Great-circle distance between the end nodes' sites × 5 µs/km, without
    /// route inflation: no fiber path can be faster (ns).
    public let lowerBound: Int64

    public var hops: Int { edges.count }

    /// Latency over the great-circle lower bound; nil for nodes of one site
    /// (the bound is zero there, so stretch is meaningless).
    public var stretch: Double? { lowerBound > 0 ? Double(latency) / Double(lowerBound) : nil }

    /// Builds the route that leaves `source` by `edges`.
    public init(source: Int32, edges: [Int32], in graph: RoutingGraph) {
        var nodes = [source]
        nodes.reserveCapacity(edges.count + 1)
        var latency: Int64 = 0
        var bottleneck = UInt64.max
        for e in edges {
            nodes.append(graph.edgeTarget[Int(e)])
            latency += graph.edgeLatency[Int(e)]
            bottleneck = min(bottleneck, graph.edgeBandwidth[Int(e)])
        }
        self.nodes = nodes
        self.edges = edges
        self.latency = latency
        self.bottleneck = bottleneck
        lowerBound = Route.lowerBound(from: source, to: nodes.last!, in: graph)
    }

    /// The great-circle bound between two nodes (0 for nodes of one site).
    public static func lowerBound(from a: Int32, to b: Int32, in graph: RoutingGraph) -> Int64 {
        let sa = graph.nodeSite[Int(a)], sb = graph.nodeSite[Int(b)]
        if sa >= 0 && sa == sb { return 0 }
        return Int64((graph.kilometers(from: a, to: b) * Geography.fiberNanosecondsPerKilometer).rounded())
    }
}

extension ForwardingRow {
    /// Follows the primary next hops from `source`; nil when they do not reach the destination.
    func route(from source: Int32, to destination: Int32, in graph: RoutingGraph) -> Route? {
        if source == destination { return graph.nodeUp[Int(source)] ? Route(source: source, edges: [], in: graph) : nil }
        var edges: [Int32] = []
        var u = source
        while u != destination {
            let e = next[Int(u)]
            // A route longer than the node count would be a loop; strategies do not make them.
            if e < 0 || edges.count > graph.nodeCount { return nil }
            edges.append(e)
            u = graph.edgeTarget[Int(e)]
        }
        return Route(source: source, edges: edges, in: graph)
    }
}

public extension RoutingStrategy {
    /// The route a packet from `source` to `destination` takes under this
    /// strategy: one destination's row, so it agrees with `ForwardingTables`.
    func route(from source: Int32, to destination: Int32, in graph: RoutingGraph) -> Route? {
        forwardingRow(toward: destination, in: graph).route(from: source, to: destination, in: graph)
    }
}

/// Yen's k shortest loop-free paths.
public enum KShortestPaths {
    /// Up to `k` simple paths from `source` to `destination` over usable
    /// edges, by increasing total `cost` (ties: fewer hops, then edge indices).
    /// Parallel links make distinct paths.
    public static func yen<C: EdgeCost>(from source: Int32, to destination: Int32, k: Int, in graph: RoutingGraph, cost: C) -> [Route] {
        guard k > 0, graph.nodeUp[Int(source)], graph.nodeUp[Int(destination)] else { return [] }
        if source == destination { return [Route(source: source, edges: [], in: graph)] }
        var bannedNode = [Bool](repeating: false, count: graph.nodeCount)
        var bannedEdge = [Bool](repeating: false, count: graph.edgeCount)
        guard let first = search(from: source, to: destination, in: graph, cost: cost, bannedNode: bannedNode, bannedEdge: bannedEdge) else {
            return []
        }
        func total(_ edges: [Int32]) -> Int64 { edges.reduce(0) { $0 + cost.cost(ofEdge: Int($1), in: graph) } }
        var accepted: [[Int32]] = [first]
        var candidates: [(cost: Int64, edges: [Int32])] = []
        var known: Set<[Int32]> = [first]
        while accepted.count < k {
            let previous = accepted[accepted.count - 1]
            var spurNode = source
            for j in 0..<previous.count {
                let root = Array(previous[0..<j])
                // Forbid the next edge of every accepted path sharing this root, and the root's own nodes.
                var touchedEdges: [Int] = []
                for p in accepted where p.count > j && Array(p[0..<j]) == root {
                    bannedEdge[Int(p[j])] = true
                    touchedEdges.append(Int(p[j]))
                }
                var touchedNodes: [Int] = []
                var u = source
                for e in root {
                    bannedNode[Int(u)] = true
                    touchedNodes.append(Int(u))
                    u = graph.edgeTarget[Int(e)]
                }
                if let spur = search(from: spurNode, to: destination, in: graph, cost: cost, bannedNode: bannedNode, bannedEdge: bannedEdge) {
                    let path = root + spur
                    if known.insert(path).inserted { candidates.append((total(path), path)) }
                }
                for e in touchedEdges { bannedEdge[e] = false }
                for v in touchedNodes { bannedNode[v] = false }
                spurNode = graph.edgeTarget[Int(previous[j])]
            }
            guard let best = candidates.indices.min(by: { a, b in
                let x = candidates[a], y = candidates[b]
                return (x.cost, x.edges.count) < (y.cost, y.edges.count) || ((x.cost, x.edges.count) == (y.cost, y.edges.count) && x.edges.lexicographicallyPrecedes(y.edges))
            }) else { break }
            accepted.append(candidates.remove(at: best).edges)
        }
        return accepted.map { Route(source: source, edges: $0, in: graph) }
    }

    /// Dijkstra from `source` that stops at `destination`, skipping banned
    /// nodes and edges; returns the edges of the path.
    static func search<C: EdgeCost>(from source: Int32, to destination: Int32, in graph: RoutingGraph, cost edgeCost: C,
                                    bannedNode: [Bool], bannedEdge: [Bool]) -> [Int32]? {
        if bannedNode[Int(source)] { return nil }
        var cost = [Int64](repeating: PathTree.unreachable, count: graph.nodeCount)
        var parent = [Int32](repeating: -1, count: graph.nodeCount)
        var settled = [Bool](repeating: false, count: graph.nodeCount)
        var heap = MinHeap()
        cost[Int(source)] = 0
        heap.push(cost: 0, node: source)
        while let (c, u) = heap.pop() {
            if settled[Int(u)] { continue }
            settled[Int(u)] = true
            if u == destination { break }
            for e in graph.edges(from: u) where !bannedEdge[e] && graph.isUsable(edge: e) {
                let v = Int(graph.edgeTarget[e])
                if settled[v] || bannedNode[v] { continue }
                let candidate = c + edgeCost.cost(ofEdge: e, in: graph)
                if candidate < cost[v] {
                    cost[v] = candidate
                    parent[v] = Int32(e)
                    heap.push(cost: candidate, node: Int32(v))
                }
            }
        }
        guard settled[Int(destination)] else { return nil }
        var edges: [Int32] = []
        var v = destination
        while v != source {
            let e = parent[Int(v)]
            edges.append(e)
            v = graph.edgeSource[Int(e)]
        }
        return edges.reversed()
    }
}

/// A deterministic hash of a flow's 4-tuple, the same on every run and
/// platform (no per-process seed, unlike `Hasher`), so ECMP choices repeat.
public enum FlowHash {
    @inlinable
    static func mix(_ x: UInt64) -> UInt64 {
        // splitmix64's finaliser: every input bit affects every output bit.
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public static func hash(source: IPv6Address, sourcePort: UInt16, destination: IPv6Address, destinationPort: UInt16) -> UInt64 {
        var h = mix(source.high)
        h = mix(h ^ source.low)
        h = mix(h ^ destination.high)
        h = mix(h ^ destination.low)
        return mix(h ^ (UInt64(sourcePort) << 16 | UInt64(destinationPort)))
    }

    /// The choice among `count` next hops at `node`. Mixing in the node keeps
    /// consecutive ECMP stages from making correlated choices (polarisation).
    @inlinable
    public static func choose(_ flow: UInt64, at node: Int32, among count: Int) -> Int {
        Int(mix(flow ^ UInt64(UInt32(bitPattern: node))) % UInt64(count))
    }
}
