import Dispatch
import Foundation
import StoqEngine

/// Next hops for every (node, destination) pair: the routing matrix the
/// network model forwards with, hop by hop.
///
/// One row is computed per destination by the strategy (by default a tree
/// grown *from* the destination and read backwards: a node's next hop towards
/// `d` is the reverse of its parent edge in `d`'s tree). Because links are
/// symmetric this equals the forward best path, and it makes hop-by-hop
/// forwarding loop-free and consistent (every node on the way follows the same
/// tree), which trees grown from each source would not guarantee under ties or
/// for non-additive metrics.
///
/// With a per-region `RoutingPolicy` there is one plane of rows per distinct
/// strategy and a packet uses the plane of its source node. ECMP planes also
/// keep every equal-cost next hop; `nextEdge(from:to:source:flow:)` picks one
/// by flow hash. Memory is 4 bytes per pair and plane (4 MB at 1,000 nodes).
public struct ForwardingTables: Sendable {
    public let graph: RoutingGraph
    public let policy: RoutingPolicy
    /// The default (plane 0) strategy's name.
    public var strategyName: String { policy.defaultStrategy.name }
    /// `nextEdges[destination * n + node]` of plane 0: the edge to leave `node`
    /// by, -1 when `node` is the destination or cannot reach it.
    /// Destination-major so each row is contiguous.
    @usableFromInline let nextEdges: [Int32]
    /// The node count, stored so the inlined lookup needs no call into the graph.
    @usableFromInline let rowLength: Int
    let planes: [Plane]
    /// False when there is one plane without alternatives: then the inlinable
    /// `nextEdge(from:to:)` is the whole lookup.
    public let needsFlowLookup: Bool

    struct Plane: Sendable {
        var next: [Int32]
        /// Per destination: `start` (n + 1 offsets) into `edges`; nil unless ECMP.
        var multipath: [(start: [Int32], edges: [Int32])]?
        /// Geographic only, `[destination * n + node]`: the route from `node` needs recovery.
        var recoveryRoute: [Bool]?
    }

    /// Graphs at least this large are routed on all cores.
    public static let parallelThreshold = 128

    public init(graph: RoutingGraph, strategy: RoutingStrategy, parallel: Bool? = nil) {
        self.init(graph: graph, policy: RoutingPolicy(strategy: strategy, nodeCount: graph.nodeCount), parallel: parallel)
    }

    /// `parallel` nil: decide by size. The result is the same either way (each
    /// destination's row is computed independently).
    public init(graph: RoutingGraph, policy: RoutingPolicy, parallel: Bool? = nil) {
        let n = graph.nodeCount
        self.graph = graph
        self.policy = policy
        rowLength = n
        let parallel = parallel ?? (n >= Self.parallelThreshold)
        planes = policy.strategies.map { Self.plane(graph: graph, strategy: $0, parallel: parallel) }
        nextEdges = planes[0].next
        needsFlowLookup = planes.count > 1 || planes.contains { $0.multipath != nil }
    }

    private static func plane(graph: RoutingGraph, strategy: RoutingStrategy, parallel: Bool) -> Plane {
        let n = graph.nodeCount
        let rows = computeRows(count: n, parallel: parallel) { strategy.forwardingRow(toward: Int32($0), in: graph) }
        var next = [Int32]()
        next.reserveCapacity(n * n)
        for r in rows { next.append(contentsOf: r.next) }
        var plane = Plane(next: next)
        if rows.contains(where: { $0.multipathStart != nil }) {
            plane.multipath = rows.map { r in (r.multipathStart ?? [Int32](repeating: 0, count: n + 1), r.multipathEdges ?? []) }
        }
        if rows.contains(where: { $0.recovery != nil }) {
            var needs = [Bool](repeating: false, count: n * n)
            for (d, r) in rows.enumerated() {
                guard let recovery = r.recovery else { continue }
                // A route needs recovery when following next hops meets a recovery node.
                var state = [UInt8](repeating: 0, count: n)   // 0 unknown, 1 no, 2 yes
                state[d] = 1
                var chain: [Int] = []
                for u in 0..<n where state[u] == 0 {
                    var v = u
                    while state[v] == 0 && !recovery[v] && r.next[v] >= 0 && chain.count <= n {
                        chain.append(v)
                        v = Int(graph.edgeTarget[Int(r.next[v])])
                    }
                    let answer: UInt8 = recovery[v] || state[v] == 2 ? 2 : 1
                    if state[v] == 0 { state[v] = answer }
                    for c in chain { state[c] = answer }
                    chain.removeAll(keepingCapacity: true)
                }
                for u in 0..<n { needs[d * n + u] = state[u] == 2 && r.next[u] >= 0 }
            }
            plane.recoveryRoute = needs
        }
        return plane
    }

    /// `body(i)` for i in 0..<count, on all cores when `parallel`; results in index order.
    static func computeRows<T>(count: Int, parallel: Bool, _ body: (Int) -> T) -> [T] {
        guard parallel, count > 1 else { return (0..<count).map(body) }
        var results = [T?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            // A few chunks per core balance uneven rows without per-row dispatch
            // cost; rows are disjoint, so concurrent writers never share an element.
            let chunks = min(count, max(1, ProcessInfo.processInfo.activeProcessorCount * 4))
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                var i = c
                while i < count { (base + i).pointee = body(i); i += chunks }
            }
        }
        return results.map { $0! }
    }

    /// The edge `node` forwards a packet for `destination` on, or -1 (default
    /// plane, primary next hop).
    @inlinable
    public func nextEdge(from node: Int32, to destination: Int32) -> Int32 {
        nextEdges[Int(destination) * rowLength + Int(node)]
    }

    /// The edge `node` forwards a packet of flow `flow` from `source` to
    /// `destination` on: the source's plane, and among equal-cost next hops
    /// the one the flow hash picks. -1 when there is none.
    public func nextEdge(from node: Int32, to destination: Int32, source: Int32, flow: UInt64) -> Int32 {
        let plane = planes[Int(policy.planeOfNode[Int(source)])]
        if let multipath = plane.multipath {
            let column = multipath[Int(destination)]
            let lo = Int(column.start[Int(node)]), hi = Int(column.start[Int(node) + 1])
            if hi - lo > 1 { return column.edges[lo + FlowHash.choose(flow, at: node, among: hi - lo)] }
        }
        return plane.next[Int(destination) * rowLength + Int(node)]
    }

    /// Every equal-cost next hop of `node` towards `destination` in `source`'s plane, primary first.
    public func nextEdges(from node: Int32, to destination: Int32, source: Int32) -> [Int32] {
        let plane = planes[Int(policy.planeOfNode[Int(source)])]
        if let multipath = plane.multipath {
            let column = multipath[Int(destination)]
            return Array(column.edges[Int(column.start[Int(node)])..<Int(column.start[Int(node) + 1])])
        }
        let e = plane.next[Int(destination) * rowLength + Int(node)]
        return e < 0 ? [] : [e]
    }

    /// True when geographic forwarding from `source` to `destination` falls
    /// back to recovery somewhere on the way.
    public func needsRecovery(from source: Int32, to destination: Int32) -> Bool {
        planes[Int(policy.planeOfNode[Int(source)])].recoveryRoute?[Int(destination) * rowLength + Int(source)] ?? false
    }

    /// Some route needs geographic recovery (`needsRecovery` can be true).
    public var hasRecoveryRoutes: Bool { planes.contains { $0.recoveryRoute != nil } }

    /// (source, destination) pairs whose route needed geographic recovery, over all planes' sources.
    public var recoveryPairs: Int {
        var count = 0
        for s in 0..<Int32(rowLength) {
            for d in 0..<Int32(rowLength) where needsRecovery(from: s, to: d) { count += 1 }
        }
        return count
    }

    public func nextHop(from node: Int32, to destination: Int32) -> (neighbor: Int32, edge: Int32)? {
        let e = nextEdge(from: node, to: destination)
        return e < 0 ? nil : (graph.edgeTarget[Int(e)], e)
    }

    /// The edges a packet from `source` to `destination` crosses (its source's
    /// plane; the primary next hops, or the ones `flow` hashes to); empty when
    /// they are the same (up) node, nil when unreachable.
    public func edges(from source: Int32, to destination: Int32, flow: UInt64? = nil) -> [Int32]? {
        if source == destination { return graph.nodeUp[Int(source)] ? [] : nil }
        let plane = planes[Int(policy.planeOfNode[Int(source)])]
        var result: [Int32] = []
        var u = source
        while u != destination {
            let e = flow.map { nextEdge(from: u, to: destination, source: source, flow: $0) }
                ?? plane.next[Int(destination) * rowLength + Int(u)]
            if e < 0 || result.count > rowLength { return nil }
            result.append(e)
            u = graph.edgeTarget[Int(e)]
        }
        return result
    }

    /// The route with its latency, hops, bottleneck and stretch.
    public func route(from source: Int32, to destination: Int32, flow: UInt64? = nil) -> Route? {
        edges(from: source, to: destination, flow: flow).map { Route(source: source, edges: $0, in: graph) }
    }

    /// Nodes from `source` to `destination` inclusive, or nil when unreachable.
    public func path(from source: Int32, to destination: Int32) -> [Int32]? {
        edges(from: source, to: destination).map { [source] + $0.map { graph.edgeTarget[Int($0)] } }
    }

    /// Sum of one-way propagation delays along the path (no queueing or serialization).
    public func latency(from source: Int32, to destination: Int32) -> SimDuration? {
        edges(from: source, to: destination).map { SimDuration(nanoseconds: $0.reduce(0) { $0 + graph.edgeLatency[Int($1)] }) }
    }

    public func hopCount(from source: Int32, to destination: Int32) -> Int? {
        edges(from: source, to: destination)?.count
    }

    /// The slowest link on the path; `UInt64.max` for the empty path to oneself.
    public func bottleneckBandwidth(from source: Int32, to destination: Int32) -> UInt64? {
        edges(from: source, to: destination).map { $0.reduce(UInt64.max) { min($0, graph.edgeBandwidth[Int($1)]) } }
    }
}
