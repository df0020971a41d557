import Foundation
import StoqEngine

/// All-pairs figures of the routes the tables give: latency, hop count,
/// bottleneck bandwidth and stretch against the great-circle lower bound.
/// Paths themselves are not stored (10^6 pairs × several hops); ask the
/// tables for one with `path(from:to:)`.
///
/// Each destination's column is computed independently (one pass over the
/// tables' next hops), on all cores when `parallel`; the figures do not
/// depend on the split.
public struct RoutingMatrix: Sendable {
    public let tables: ForwardingTables
    public var nodeCount: Int { tables.rowLength }
    /// `[source * n + destination]`; latency -1 marks an unreachable pair.
    public let latency: [Int64]
    public let hops: [Int32]
    public let bottleneck: [UInt64]

    public init(tables: ForwardingTables, parallel: Bool? = nil) {
        let n = tables.rowLength
        let graph = tables.graph
        self.tables = tables
        var latency = [Int64](repeating: -1, count: n * n)
        var hops = [Int32](repeating: 0, count: n * n)
        var bottleneck = [UInt64](repeating: 0, count: n * n)
        let sourcesOfPlane = (0..<tables.planes.count).map { p in (0..<n).filter { Int(tables.policy.planeOfNode[$0]) == p } }
        latency.withUnsafeMutableBufferPointer { lat in
            hops.withUnsafeMutableBufferPointer { hop in
                bottleneck.withUnsafeMutableBufferPointer { width in
                    let (lat, hop, width) = (lat.baseAddress!, hop.baseAddress!, width.baseAddress!)
                    // Column d: each cell depends on the next hop's cell, so walk
                    // next-hop chains once and fill them from the destination back.
                    func column(_ d: Int) {
                        var cLat = [Int64](repeating: 0, count: n)
                        var cHop = [Int32](repeating: 0, count: n)
                        var cWidth = [UInt64](repeating: 0, count: n)
                        var state = [UInt8](repeating: 0, count: n)   // 0 unknown, 1 done, 2 unreachable
                        var chain: [Int] = []
                        for (p, plane) in tables.planes.enumerated() where !sourcesOfPlane[p].isEmpty {
                            for i in 0..<n { state[i] = 0 }
                            if graph.nodeUp[d] { state[d] = 1; cLat[d] = 0; cHop[d] = 0; cWidth[d] = .max } else { state[d] = 2 }
                            let row = d * n
                            for s in sourcesOfPlane[p] {
                                var v = s
                                while state[v] == 0 {
                                    let e = plane.next[row + v]
                                    if e < 0 || chain.count > n { state[v] = 2; break }
                                    chain.append(v)
                                    v = Int(graph.edgeTarget[Int(e)])
                                }
                                while let u = chain.popLast() {
                                    if state[v] == 2 { state[u] = 2 } else {
                                        let e = Int(plane.next[row + u])
                                        cLat[u] = cLat[v] + graph.edgeLatency[e]
                                        cHop[u] = cHop[v] + 1
                                        cWidth[u] = min(cWidth[v], graph.edgeBandwidth[e])
                                        state[u] = 1
                                    }
                                    v = u
                                }
                                if state[s] == 1 {
                                    lat[s * n + d] = cLat[s]; hop[s * n + d] = cHop[s]; width[s * n + d] = cWidth[s]
                                }
                            }
                        }
                    }
                    if parallel ?? (n >= ForwardingTables.parallelThreshold) {
                        let chunks = min(n, max(1, ProcessInfo.processInfo.activeProcessorCount * 4))
                        DispatchQueue.concurrentPerform(iterations: chunks) { c in
                            var d = c
                            while d < n { column(d); d += chunks }
                        }
                    } else {
                        for d in 0..<n { column(d) }
                    }
                }
            }
        }
        self.latency = latency
        self.hops = hops
        self.bottleneck = bottleneck
    }

    public func isReachable(from s: Int32, to d: Int32) -> Bool { latency[Int(s) * nodeCount + Int(d)] >= 0 }

    /// The great-circle lower bound of the pair (ns; 0 for nodes of one site).
    public func lowerBound(from s: Int32, to d: Int32) -> Int64 { Route.lowerBound(from: s, to: d, in: tables.graph) }

    /// Latency over the lower bound; nil when unreachable or for nodes of one site.
    public func stretch(from s: Int32, to d: Int32) -> Double? {
        let l = latency[Int(s) * nodeCount + Int(d)]
        let bound = lowerBound(from: s, to: d)
        return l >= 0 && bound > 0 ? Double(l) / Double(bound) : nil
    }

    public func summary() -> RoutingSummary { RoutingSummary(self) }
}

/// What the matrix says about the whole topology, over ordered pairs of
/// distinct nodes.
public struct RoutingSummary: Sendable, Equatable {
    public var pairs = 0
    public var unreachablePairs = 0
    /// Pairs whose nodes sit at different sites, i.e. that have a stretch.
    public var stretchPairs = 0
    /// Nearest-rank percentiles of stretch; nil without any stretch pair.
    public var stretchP50: Double?
    public var stretchP90: Double?
    public var stretchP99: Double?
    public var stretchMax: Double?
    /// The reachable pair with the largest latency, and that latency (ns).
    public var diameterLatency: Int64 = 0
    public var diameterLatencyPair: (Int32, Int32)?
    /// The reachable pair with the most hops, and that count.
    public var diameterHops = 0
    public var diameterHopsPair: (Int32, Int32)?
    /// Mean latency over reachable pairs (ns).
    public var meanLatency: Double = 0

    init(_ m: RoutingMatrix) {
        let n = m.nodeCount
        var stretches: [Double] = []
        stretches.reserveCapacity(n * n)
        var sum = 0.0
        var reachable = 0
        for s in 0..<n {
            for d in 0..<n where s != d {
                pairs += 1
                let i = s * n + d
                let l = m.latency[i]
                if l < 0 { unreachablePairs += 1; continue }
                reachable += 1
                sum += Double(l)
                if l > diameterLatency || diameterLatencyPair == nil { diameterLatency = l; diameterLatencyPair = (Int32(s), Int32(d)) }
                if Int(m.hops[i]) > diameterHops || diameterHopsPair == nil { diameterHops = Int(m.hops[i]); diameterHopsPair = (Int32(s), Int32(d)) }
                if let st = m.stretch(from: Int32(s), to: Int32(d)) { stretches.append(st) }
            }
        }
        meanLatency = reachable > 0 ? sum / Double(reachable) : 0
        stretchPairs = stretches.count
        stretches.sort()
        func rank(_ q: Double) -> Double? {
            stretches.isEmpty ? nil : stretches[max(0, Int((q * Double(stretches.count)).rounded(.up)) - 1)]
        }
        stretchP50 = rank(0.5)
        stretchP90 = rank(0.9)
        stretchP99 = rank(0.99)
        stretchMax = stretches.last
    }

    public static func == (a: RoutingSummary, b: RoutingSummary) -> Bool {
        a.pairs == b.pairs && a.unreachablePairs == b.unreachablePairs && a.stretchPairs == b.stretchPairs
            && a.stretchP50 == b.stretchP50 && a.stretchP90 == b.stretchP90 && a.stretchP99 == b.stretchP99
            && a.stretchMax == b.stretchMax && a.diameterLatency == b.diameterLatency && a.diameterHops == b.diameterHops
            && a.meanLatency == b.meanLatency && a.diameterLatencyPair.map { [$0.0, $0.1] } == b.diameterLatencyPair.map { [$0.0, $0.1] }
            && a.diameterHopsPair.map { [$0.0, $0.1] } == b.diameterHopsPair.map { [$0.0, $0.1] }
    }
}
