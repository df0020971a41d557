import StoqEngine
import StoqTopology

/// The topology as a directed graph in compressed-sparse-row form: node `u`'s
/// outgoing edges are `edgeStart[u]..<edgeStart[u+1]`. Flat arrays instead of
/// per-node objects because all-pairs routing walks every edge once per node
/// (10^6+ relaxations on 1,000-node graphs) and the packet path indexes edges
/// on every hop.
///
/// Node indices follow `topology.nodes` order; every link gives two directed
/// edges with the same latency and bandwidth, and both share the link's up/down
/// state. That symmetry is what lets `ForwardingTables` route towards a
/// destination with a tree grown *from* it.
public struct RoutingGraph: Sendable {
    public let nodeNames: [String]
    public let nodeAddresses: [IPv6Address]
    private let indexByName: [String: Int32]

    /// `edgeStart[u]..<edgeStart[u + 1]` are the edges leaving `u` (count: nodes + 1).
    public let edgeStart: [Int32]
    public let edgeSource: [Int32]
    public let edgeTarget: [Int32]
    /// One-way propagation delay in nanoseconds.
    public let edgeLatency: [Int64]
    public let edgeBandwidth: [UInt64]
    /// Index into `topology.links` of the link this edge belongs to.
    public let edgeLink: [Int32]
    /// The opposite direction of the same link.
    public let edgeReverse: [Int32]
    /// For link `l`: the edge in the direction the link was written (`from` → `to`);
    /// `edgeReverse` of it is the other direction.
    public let linkForwardEdge: [Int32]

    /// Coordinates (degrees) and region of each node's site; 0/0 and "" for a
    /// node whose site the topology does not define (hand-built tests).
    public let nodeLatitude: [Double]
    public let nodeLongitude: [Double]
    public let nodeRegion: [String]
    /// Index into `topology.sites`, -1 when unknown. Nodes of one site share coordinates.
    public let nodeSite: [Int32]
    /// Great-circle length of each edge's link between its end sites.
    public let edgeKilometers: [Double]
    /// Graph-wide scales the `weighted` strategy normalises by (fixed at build
    /// time so a failure does not change every other link's cost).
    public let maxEdgeLatency: Int64
    public let minEdgeBandwidth: UInt64
    public let maxEdgeKilometers: Double

    /// Measured utilisation (0…1) of each link direction, fed back by the
    /// network's load sampler; 0 until the first sample.
    public private(set) var edgeLoad: [Double]

    public private(set) var nodeUp: [Bool]
    /// Per directed edge; both directions of a link always agree.
    public private(set) var edgeUp: [Bool]

    /// Links whose endpoints are not nodes of the topology are skipped (the
    /// parser rejects them; this keeps hand-built test topologies from trapping).
    public init(topology: Topology) {
        let n = topology.nodes.count
        var index: [String: Int32] = [:]
        index.reserveCapacity(n)
        for (i, node) in topology.nodes.enumerated() where index[node.name] == nil {
            index[node.name] = Int32(i)
        }
        nodeNames = topology.nodes.map(\.name)
        nodeAddresses = topology.nodes.map(\.address)
        indexByName = index

        // Counting sort of directed edges by source keeps each adjacency list in
        // link order, so ties between parallel links resolve the same way every run.
        var endpoints: [(link: Int32, a: Int32, b: Int32)] = []
        endpoints.reserveCapacity(topology.links.count)
        var degree = [Int32](repeating: 0, count: n + 1)
        for (l, link) in topology.links.enumerated() {
            guard let a = index[link.from], let b = index[link.to] else { continue }
            endpoints.append((Int32(l), a, b))
            degree[Int(a)] += 1
            degree[Int(b)] += 1
        }
        var start = [Int32](repeating: 0, count: n + 1)
        for u in 0..<n { start[u + 1] = start[u] + degree[u] }
        let m = Int(start[n])
        var fill = Array(start[0..<n])
        var source = [Int32](repeating: 0, count: m), target = source, link = source, reverse = source
        var latency = [Int64](repeating: 0, count: m)
        var bandwidth = [UInt64](repeating: 0, count: m)
        var forward = [Int32](repeating: -1, count: topology.links.count)
        for (l, a, b) in endpoints {
            let spec = topology.links[Int(l)]
            let ea = Int(fill[Int(a)]); fill[Int(a)] += 1
            let eb = Int(fill[Int(b)]); fill[Int(b)] += 1
            for (e, s, t) in [(ea, a, b), (eb, b, a)] {
                source[e] = s; target[e] = t; link[e] = l
                latency[e] = spec.latency.nanoseconds
                bandwidth[e] = spec.bandwidthBitsPerSecond
            }
            reverse[ea] = Int32(eb); reverse[eb] = Int32(ea)
            forward[Int(l)] = Int32(ea)
        }
        edgeStart = start
        edgeSource = source
        edgeTarget = target
        edgeLatency = latency
        edgeBandwidth = bandwidth
        edgeLink = link
        edgeReverse = reverse
        linkForwardEdge = forward
        nodeUp = Array(repeating: true, count: n)
        edgeUp = Array(repeating: true, count: m)

        var siteIndex: [String: Int32] = [:]
        for (i, site) in topology.sites.enumerated() where siteIndex[site.name] == nil { siteIndex[site.name] = Int32(i) }
        let sites = topology.nodes.map { siteIndex[$0.site] ?? -1 }
        nodeSite = sites
        nodeLatitude = sites.map { $0 < 0 ? 0 : topology.sites[Int($0)].latitude }
        nodeLongitude = sites.map { $0 < 0 ? 0 : topology.sites[Int($0)].longitude }
        nodeRegion = sites.map { $0 < 0 ? "" : topology.sites[Int($0)].region }
        let lat = nodeLatitude, lon = nodeLongitude
        edgeKilometers = (0..<m).map { e in
            let a = Int(source[e]), b = Int(target[e])
            return Geography.greatCircleKilometers(lat1: lat[a], lon1: lon[a], lat2: lat[b], lon2: lon[b])
        }
        maxEdgeLatency = max(1, latency.max() ?? 1)
        minEdgeBandwidth = max(1, bandwidth.min() ?? 1)
        maxEdgeKilometers = edgeKilometers.max() ?? 0
        edgeLoad = Array(repeating: 0, count: m)
    }

    /// Great-circle distance between the sites of two nodes.
    public func kilometers(from a: Int32, to b: Int32) -> Double {
        Geography.greatCircleKilometers(lat1: nodeLatitude[Int(a)], lon1: nodeLongitude[Int(a)],
                                        lat2: nodeLatitude[Int(b)], lon2: nodeLongitude[Int(b)])
    }

    /// Sets the measured utilisation of every edge (clamped to 0…1).
    public mutating func setLoads(_ loads: [Double]) {
        precondition(loads.count == edgeCount, "one load per edge")
        edgeLoad = loads.map { $0.isFinite ? min(max($0, 0), 1) : 0 }
    }

    public var nodeCount: Int { nodeNames.count }
    public var edgeCount: Int { edgeTarget.count }
    public var linkCount: Int { linkForwardEdge.count }

    public func index(ofNode name: String) -> Int32? { indexByName[name] }
    public func name(ofNode index: Int32) -> String { nodeNames[Int(index)] }

    @inline(__always)
    public func edges(from node: Int32) -> Range<Int> {
        Int(edgeStart[Int(node)])..<Int(edgeStart[Int(node) + 1])
    }

    /// An edge can carry traffic when its link and both endpoints are up.
    @inline(__always)
    public func isUsable(edge e: Int) -> Bool {
        edgeUp[e] && nodeUp[Int(edgeSource[e])] && nodeUp[Int(edgeTarget[e])]
    }

    /// "a>b", the name of one link direction (also its random stream's suffix).
    public func name(ofEdge e: Int) -> String {
        nodeNames[Int(edgeSource[e])] + ">" + nodeNames[Int(edgeTarget[e])]
    }

    /// The lowest-index edge from `a` to `b`, if they are adjacent.
    public func edge(from a: Int32, to b: Int32) -> Int? {
        edges(from: a).first { edgeTarget[$0] == b }
    }

    /// Every link joining `a` and `b`, in either direction, in topology order.
    public func links(between a: Int32, and b: Int32) -> [Int] {
        edges(from: a).filter { edgeTarget[$0] == b }.map { Int(edgeLink[$0]) }
    }

    /// Sets both directions of link `link`; returns false when it was already in that state.
    @discardableResult
    public mutating func setLinkState(link: Int, up: Bool) -> Bool {
        let e = Int(linkForwardEdge[link])
        guard e >= 0, edgeUp[e] != up else { return false }
        edgeUp[e] = up
        edgeUp[Int(edgeReverse[e])] = up
        return true
    }

    /// Returns false when the node was already in that state.
    @discardableResult
    public mutating func setNodeState(_ node: Int32, up: Bool) -> Bool {
        guard nodeUp[Int(node)] != up else { return false }
        nodeUp[Int(node)] = up
        return true
    }
}
