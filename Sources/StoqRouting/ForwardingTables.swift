import Dispatch
import Foundation
import StoqEngine

/// Next hops for every (node, destination) pair: the routing matrix the
/// network model forwards with, hop by hop.
///
/// One tree is grown per destination, *from* the destination, and read
/// backwards: a node's next hop towards `d` is the reverse of its parent edge in
/// `d`'s tree. Because links are symmetric this equals the forward best path,
/// and it makes hop-by-hop forwarding loop-free and consistent for any strategy
/// (every node on the way follows the same tree), which trees grown from each
/// source would not guarantee under ties or for non-additive metrics.
///
/// Memory is 4 bytes per pair (4 MB at 1,000 nodes).
public struct ForwardingTables: Sendable {
    public let graph: RoutingGraph
    public let strategyName: String
    /// `nextEdges[destination * n + node]`: the edge to leave `node` by, -1 when
    /// `node` is the destination or cannot reach it. Destination-major so each
    /// tree fills one contiguous row.
    @usableFromInline let nextEdges: [Int32]
    /// The node count, stored so the inlined lookup needs no call into the graph.
    @usableFromInline let rowLength: Int

    /// Graphs at least this large are routed on all cores.
    public static let parallelThreshold = 128

    /// `parallel` nil: decide by size. The result is the same either way (each
    /// destination's row is computed independently).
    public init(graph: RoutingGraph, strategy: RoutingStrategy, parallel: Bool? = nil) {
        let n = graph.nodeCount
        self.graph = graph
        strategyName = strategy.name
        rowLength = n
        nextEdges = [Int32](unsafeUninitializedCapacity: n * n) { buffer, initialized in
            let base = buffer.baseAddress
            // Rows are disjoint, so concurrent writers never touch the same element.
            func fillRow(_ d: Int) {
                let tree = strategy.shortestPathTree(from: Int32(d), in: graph)
                let row = base! + d * n
                for u in 0..<n {
                    let pe = Int(tree.parentEdge[u])
                    (row + u).initialize(to: pe < 0 ? -1 : graph.edgeReverse[pe])
                }
            }
            if parallel ?? (n >= Self.parallelThreshold) {
                // A few chunks per core balance uneven trees without per-row dispatch cost.
                let chunks = min(n, max(1, ProcessInfo.processInfo.activeProcessorCount * 4))
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    var d = c
                    while d < n { fillRow(d); d += chunks }
                }
            } else {
                for d in 0..<n { fillRow(d) }
            }
            initialized = n * n
        }
    }

    /// The edge `node` forwards a packet for `destination` on, or -1.
    @inlinable
    public func nextEdge(from node: Int32, to destination: Int32) -> Int32 {
        nextEdges[Int(destination) * rowLength + Int(node)]
    }

    public func nextHop(from node: Int32, to destination: Int32) -> (neighbor: Int32, edge: Int32)? {
        let e = nextEdge(from: node, to: destination)
        return e < 0 ? nil : (graph.edgeTarget[Int(e)], e)
    }

    /// The edges a packet from `source` to `destination` crosses; empty when they
    /// are the same (up) node, nil when unreachable.
    public func edges(from source: Int32, to destination: Int32) -> [Int32]? {
        if source == destination { return graph.nodeUp[Int(source)] ? [] : nil }
        var result: [Int32] = []
        var u = source
        while u != destination {
            let e = nextEdge(from: u, to: destination)
            if e < 0 { return nil }
            result.append(e)
            u = graph.edgeTarget[Int(e)]
        }
        return result
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
