import Foundation
import StoqEngine
import StoqRouting
import StoqTopology
import XCTest

/// A node for `geoTopology`: its own site at (lat, lon) in `region`.
struct GeoNode {
    var name: String
    var lat: Double
    var lon: Double
    var region = "europe"
    /// Nodes naming the same `site` share it (and its coordinates).
    var site: String?
}

/// A topology from nodes with coordinates and links (a, b, latency µs, bandwidth Mbps).
func geoTopology(_ nodes: [GeoNode], _ links: [(String, String, Int64, UInt64)], routing: RoutingConfig = RoutingConfig()) -> Topology {
    let here = SourceLocation(file: "test", line: 1, column: 1)
    var sites: [Site] = []
    var specs: [NodeSpec] = []
    for (i, n) in nodes.enumerated() {
        let siteName = n.site ?? "site-\(n.name)"
        if !sites.contains(where: { $0.name == siteName }) {
            sites.append(Site(name: siteName, latitude: n.lat, longitude: n.lon, region: n.region,
                              prefix: IPv6Prefix(address: IPv6Address(high: 0xfd00 << 48 | UInt64(sites.count) << 16, low: 0), length: 48),
                              location: here))
        }
        let site = sites.first { $0.name == siteName }!
        specs.append(NodeSpec(name: n.name, site: siteName, role: .edge, address: site.prefix.host(UInt64(i + 1)), location: here))
    }
    let linkSpecs = links.map { a, b, us, mbps in
        LinkSpec(from: a, to: b, bandwidthBitsPerSecond: mbps * 1_000_000, latency: .nanoseconds(us * 1000),
                 latencyIsAuto: false, lossRate: 0, queueBytes: 100_000, location: here)
    }
    return Topology(name: "t", sourceFile: "test", seed: 1, duration: .seconds(1), routeInflation: 1,
                    sites: sites, nodes: specs, links: linkSpecs, faults: [], workloads: [], routing: routing, warnings: [])
}

/// Nodes all at one place, for strategies that ignore geography.
func flat(_ names: [String]) -> [GeoNode] { names.map { GeoNode(name: $0, lat: 0, lon: 0, site: "s") } }

/// Every simple path from `s` to `d` as edge lists (parallel links are distinct paths).
func simplePaths(_ g: RoutingGraph, from s: Int32, to d: Int32) -> [[Int32]] {
    var result: [[Int32]] = []
    var visited = [Bool](repeating: false, count: g.nodeCount)
    var path: [Int32] = []
    func walk(_ u: Int32) {
        if u == d { result.append(path); return }
        visited[Int(u)] = true
        for e in g.edges(from: u) where g.isUsable(edge: e) && !visited[Int(g.edgeTarget[e])] {
            path.append(Int32(e)); walk(g.edgeTarget[e]); path.removeLast()
        }
        visited[Int(u)] = false
    }
    if s != d && g.nodeUp[Int(s)] { walk(s) }
    return result
}

struct Rng {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }
}

func randomGraph(_ rng: inout Rng, nodes n: Int, links m: Int) -> RoutingGraph {
    let names = (0..<n).map { "n\($0)" }
    var links: [(String, String, Int64, UInt64)] = []
    for _ in 0..<m {
        let a = rng.next(n), b = rng.next(n)
        if a == b { continue }
        links.append((names[a], names[b], Int64(1 + rng.next(6)) * 1000, UInt64(10 * (1 + rng.next(4)))))
    }
    var g = RoutingGraph(topology: geoTopology(flat(names), links))
    for l in 0..<g.linkCount where rng.next(7) == 0 { g.setLinkState(link: l, up: false) }
    return g
}

func latency(_ g: RoutingGraph, _ edges: [Int32]) -> Int64 { edges.reduce(0) { $0 + g.edgeLatency[Int($1)] } }
func width(_ g: RoutingGraph, _ edges: [Int32]) -> UInt64 { edges.reduce(UInt64.max) { min($0, g.edgeBandwidth[Int($1)]) } }

final class StrategyTests: XCTestCase {
    // a-b-d 2 ms (b-d narrow), a-c-d 6 ms, a-d direct 10 ms.
    private let diamond = RoutingGraph(topology: geoTopology(flat(["a", "b", "c", "d"]), [
        ("a", "b", 1000, 1000), ("b", "d", 1000, 100), ("a", "c", 1000, 1000), ("c", "d", 5000, 1000), ("a", "d", 10000, 1000),
    ]))

    private func path(_ s: RoutingStrategy, _ g: RoutingGraph, _ a: Int32, _ b: Int32) -> [Int32]? {
        ForwardingTables(graph: g, strategy: s).path(from: a, to: b)
    }

    func testHopsPrefersFewestHopsThenLatency() {
        XCTAssertEqual(path(HopsStrategy(), diamond, 0, 3), [0, 3])
        XCTAssertEqual(path(HopsStrategy(), diamond, 1, 2), [1, 0, 2], "b-a-c and b-d-c both 2 hops; b-a-c is 2 ms, b-d-c 6 ms")
        XCTAssertEqual(HopsStrategy().route(from: 1, to: 2, in: diamond)?.nodes, [1, 0, 2])
    }

    func testWidestPrefersBottleneckThenLatency() {
        XCTAssertEqual(path(WidestStrategy(), diamond, 0, 3), [0, 2, 3], "a-c-d and a-d are 1 Gbps wide; a-c-d is faster")
        XCTAssertEqual(path(WidestStrategy(), diamond, 1, 3), [1, 0, 2, 3], "b-d directly is only 100 Mbps")
        let r = ForwardingTables(graph: diamond, strategy: WidestStrategy()).route(from: 1, to: 3)!
        XCTAssertEqual(r.bottleneck, 1_000_000_000)
        XCTAssertEqual(r.latency, 7_000_000)
        XCTAssertEqual(r.hops, 3)
    }

    func testHopsAndWidestMatchBruteForceOnRandomGraphs() {
        var rng = Rng(state: 99)
        for round in 0..<40 {
            let n = 4 + rng.next(5)
            let g = randomGraph(&rng, nodes: n, links: n + rng.next(2 * n))
            let hops = ForwardingTables(graph: g, strategy: HopsStrategy())
            let widest = ForwardingTables(graph: g, strategy: WidestStrategy())
            for s in 0..<Int32(n) {
                for d in 0..<Int32(n) where s != d {
                    let all = simplePaths(g, from: s, to: d)
                    let bestHops = all.map { ($0.count, latency(g, $0)) }.min { $0 < $1 }
                    let h = hops.edges(from: s, to: d)
                    XCTAssertEqual(h.map { $0.count }, bestHops?.0, "hops round \(round) \(s)->\(d)")
                    XCTAssertEqual(h.map { latency(g, $0) }, bestHops?.1, "hops tie by latency, round \(round) \(s)->\(d)")
                    let bestWidth = all.map { width(g, $0) }.max()
                    let w = widest.edges(from: s, to: d)
                    XCTAssertEqual(w.map { width(g, $0) }, bestWidth, "widest round \(round) \(s)->\(d)")
                    for e in h ?? [] { XCTAssertTrue(g.isUsable(edge: Int(e))) }
                    for e in w ?? [] { XCTAssertTrue(g.isUsable(edge: Int(e))) }
                }
            }
        }
    }

    func testYenMatchesBruteForceEnumeration() {
        var rng = Rng(state: 5)
        for round in 0..<40 {
            let n = 4 + rng.next(4)
            let g = randomGraph(&rng, nodes: n, links: n + rng.next(2 * n))
            let k = 1 + rng.next(6)
            for s in 0..<Int32(n) {
                for d in 0..<Int32(n) where s != d {
                    let expected = simplePaths(g, from: s, to: d).map { latency(g, $0) }.sorted().prefix(k)
                    let found = KShortestStrategy(k: k).paths(from: s, to: d, in: g)
                    XCTAssertEqual(found.map(\.latency), Array(expected), "round \(round) \(s)->\(d) k=\(k)")
                    XCTAssertEqual(Set(found.map(\.edges)).count, found.count, "paths are distinct")
                    for r in found {
                        XCTAssertEqual(Set(r.nodes).count, r.nodes.count, "loop-free")
                        XCTAssertEqual(r.nodes.first, s)
                        XCTAssertEqual(r.nodes.last, d)
                    }
                }
            }
        }
    }

    func testKShortestForwardsOnTheFirstPath() {
        let t = ForwardingTables(graph: diamond, strategy: KShortestStrategy(k: 3))
        XCTAssertEqual(t.path(from: 0, to: 3), [0, 1, 3])
        XCTAssertEqual(KShortestStrategy(k: 3).paths(from: 0, to: 3, in: diamond).map(\.nodes), [[0, 1, 3], [0, 2, 3], [0, 3]])
    }

    // a-b-d and a-c-d cost 2 ms each.
    private let square = RoutingGraph(topology: geoTopology(flat(["a", "b", "c", "d"]), [
        ("a", "b", 1000, 100), ("b", "d", 1000, 100), ("a", "c", 1000, 100), ("c", "d", 1000, 100),
    ]))

    func testECMPSpreadsFlowsAndKeepsEachFlowOnOnePath() {
        let t = ForwardingTables(graph: square, strategy: ECMPStrategy())
        XCTAssertTrue(t.needsFlowLookup)
        XCTAssertEqual(t.nextEdges(from: 0, to: 3, source: 0).count, 2)
        XCTAssertEqual(t.nextEdges(from: 1, to: 3, source: 0).count, 1)
        var used: [[Int32]: Int] = [:]
        for port in 0..<UInt16(200) {
            let flow = FlowHash.hash(source: square.nodeAddresses[0], sourcePort: 40000 + port,
                                     destination: square.nodeAddresses[3], destinationPort: 443)
            let p = t.route(from: 0, to: 3, flow: flow)!.nodes
            XCTAssertEqual(p.count, 3)
            for _ in 0..<3 { XCTAssertEqual(t.route(from: 0, to: 3, flow: flow)?.nodes, p, "one flow, one path") }
            used[p, default: 0] += 1
        }
        XCTAssertEqual(Set(used.keys), [[0, 1, 3], [0, 2, 3]])
        XCTAssertGreaterThan(used.values.min()!, 60, "roughly even split: \(used)")
    }

    func testECMPHopsMetricSplitsUnequalLatencies() {
        let g = RoutingGraph(topology: geoTopology(flat(["a", "b", "c", "d"]), [
            ("a", "b", 1000, 100), ("b", "d", 1000, 100), ("a", "c", 3000, 100), ("c", "d", 1000, 100),
        ]))
        XCTAssertEqual(ForwardingTables(graph: g, strategy: ECMPStrategy()).nextEdges(from: 0, to: 3, source: 0).count, 1)
        var config = RoutingConfig(strategy: "ecmp")
        config.ecmpMetric = "hops"
        let hops = RoutingStrategies.named("ecmp", config: config)!
        XCTAssertEqual(ForwardingTables(graph: g, strategy: hops).nextEdges(from: 0, to: 3, source: 0).count, 2)
    }

    func testFlowHashIsDeterministicAndSensitiveToEveryField() {
        let a = IPv6Address(high: 1, low: 2), b = IPv6Address(high: 3, low: 4)
        let h = FlowHash.hash(source: a, sourcePort: 1, destination: b, destinationPort: 2)
        XCTAssertEqual(h, FlowHash.hash(source: a, sourcePort: 1, destination: b, destinationPort: 2))
        XCTAssertEqual(Set([h, FlowHash.hash(source: b, sourcePort: 1, destination: a, destinationPort: 2),
                            FlowHash.hash(source: a, sourcePort: 2, destination: b, destinationPort: 2),
                            FlowHash.hash(source: a, sourcePort: 1, destination: b, destinationPort: 3)]).count, 4)
    }

    /// s greedily heads for the pocket a (closer to d), which has no closer
    /// neighbour; the way round is s-b-c-d.
    private let pocket = RoutingGraph(topology: geoTopology([
        GeoNode(name: "s", lat: 0, lon: 0), GeoNode(name: "a", lat: 0, lon: 6), GeoNode(name: "b", lat: -5, lon: 0),
        GeoNode(name: "c", lat: -5, lon: 10), GeoNode(name: "d", lat: 0, lon: 10), GeoNode(name: "e", lat: 0, lon: 14),
    ], [("s", "a", 1000, 100), ("s", "b", 1000, 100), ("b", "c", 1000, 100), ("c", "d", 1000, 100), ("d", "e", 1000, 100)]))

    func testGeographicGreedyAndRecoveryAtADeadEnd() {
        let t = ForwardingTables(graph: pocket, strategy: GeographicStrategy())
        XCTAssertEqual(t.path(from: 5, to: 4), [5, 4], "e → d is greedy")
        XCTAssertFalse(t.needsRecovery(from: 5, to: 4))
        XCTAssertEqual(t.path(from: 2, to: 4), [2, 3, 4])
        XCTAssertTrue(t.needsRecovery(from: 2, to: 4), "b is on a's recovery path: the tables cannot tell the packets apart")
        XCTAssertEqual(t.path(from: 1, to: 4), [1, 0, 2, 3, 4], "a is a dead end: recovery along the shortest path")
        XCTAssertTrue(t.needsRecovery(from: 1, to: 4))
        XCTAssertEqual(t.path(from: 0, to: 4), [0, 2, 3, 4], "s lies on a's recovery path, so it forwards on it too")
        XCTAssertTrue(t.needsRecovery(from: 0, to: 4))
        // Every pair is delivered, none loops.
        for s in 0..<Int32(6) { for d in 0..<Int32(6) { XCTAssertNotNil(t.path(from: s, to: d)) } }
        XCTAssertGreaterThanOrEqual(t.recoveryPairs, 2)
        let line = RoutingGraph(topology: geoTopology([GeoNode(name: "x", lat: 0, lon: 0), GeoNode(name: "y", lat: 0, lon: 1),
                                                       GeoNode(name: "z", lat: 0, lon: 2)], [("x", "y", 1000, 100), ("y", "z", 1000, 100)]))
        XCTAssertEqual(ForwardingTables(graph: line, strategy: GeographicStrategy()).recoveryPairs, 0, "a straight line never needs recovery")
    }

    func testGeographicOrdersNodesOfOneSiteByLatency() {
        // client-x → edge-x → core-x → core-y → client-y, x's nodes all at one spot.
        let g = RoutingGraph(topology: geoTopology([
            GeoNode(name: "cx", lat: 0, lon: 0, site: "x"), GeoNode(name: "ex", lat: 0, lon: 0, site: "x"),
            GeoNode(name: "kx", lat: 0, lon: 0, site: "x"), GeoNode(name: "ky", lat: 0, lon: 5, site: "y"),
            GeoNode(name: "cy", lat: 0, lon: 5, site: "y"),
        ], [("cx", "ex", 100, 100), ("ex", "kx", 100, 1000), ("kx", "ky", 5000, 2500), ("ky", "cy", 100, 100)]))
        let t = ForwardingTables(graph: g, strategy: GeographicStrategy())
        XCTAssertEqual(t.path(from: 0, to: 4), [0, 1, 2, 3, 4])
        XCTAssertEqual(t.recoveryPairs, 0)
    }

    func testWeightedAvoidsALoadedLink() {
        var g = square
        let before = ForwardingTables(graph: g, strategy: WeightedStrategy())
        XCTAssertEqual(before.path(from: 0, to: 3), [0, 1, 3])
        var loads = [Double](repeating: 0, count: g.edgeCount)
        loads[g.edge(from: 0, to: 1)!] = 0.9   // a→b busy; b→a idle
        g.setLoads(loads)
        let after = ForwardingTables(graph: g, strategy: WeightedStrategy())
        XCTAssertEqual(after.path(from: 0, to: 3), [0, 2, 3], "a→b is loaded")
        XCTAssertEqual(after.path(from: 3, to: 0), [3, 1, 0], "the reverse direction is not")
        XCTAssertEqual(WeightedStrategy().route(from: 0, to: 3, in: g)?.nodes, [0, 2, 3])
        let noLoad = WeightedStrategy(weights: RoutingWeights(latency: 1, bandwidth: 0, load: 0, geography: 0))
        XCTAssertFalse(noLoad.usesLoad)
        XCTAssertEqual(ForwardingTables(graph: g, strategy: noLoad).path(from: 0, to: 3), [0, 1, 3])
    }

    func testWeightedCostFormula() {
        // One 10 ms 100 Mbps link and one 5 ms 1 Gbps link 0 km long: scales are 10 ms and 100 Mbps.
        let g = RoutingGraph(topology: geoTopology(flat(["a", "b", "c"]), [("a", "b", 10000, 100), ("b", "c", 5000, 1000)]))
        let s = WeightedStrategy()
        XCTAssertEqual(s.cost(ofEdge: 0, loadOf: 0, in: g), Int64((0.4 * 1 + 0.3 * 1) * 1e6))
        let fast = g.edge(from: 1, to: 2)!
        XCTAssertEqual(s.cost(ofEdge: fast, loadOf: fast, in: g), Int64((0.4 * 0.5 + 0.3 * 0.1) * 1e6))
    }

    func testPerRegionStrategyFollowsTheSourceRegion() throws {
        // e1 (europe) and a1 (asia) both reach d over x (2 hops, 2 ms) or directly (1 hop, 10 ms).
        var config = RoutingConfig(strategy: "latency")
        config.regions = ["asia": "hops"]
        let topo = geoTopology([
            GeoNode(name: "e1", lat: 50, lon: 8, region: "europe", site: "eu"), GeoNode(name: "a1", lat: 35, lon: 139, region: "asia", site: "as"),
            GeoNode(name: "x", lat: 50, lon: 8, region: "europe", site: "eu"), GeoNode(name: "d", lat: 50, lon: 8, region: "europe", site: "eu"),
        ], [("e1", "x", 1000, 100), ("e1", "d", 10000, 100), ("a1", "e1", 1000, 100)], routing: config)
        let g = RoutingGraph(topology: topo)
        let policy = try RoutingPolicy(config: config, graph: g)
        XCTAssertEqual(policy.strategies.map(\.name), ["latency", "hops"])
        let t = ForwardingTables(graph: g, policy: policy)
        XCTAssertEqual(t.path(from: 0, to: 2), [0, 2], "europe: latency")
        // Add x-d so both planes differ: latency e1-x-d (2 ms) vs hops e1-d (1 hop).
        var topo2 = topo
        topo2.links.append(LinkSpec(from: "x", to: "d", bandwidthBitsPerSecond: 100_000_000, latency: .milliseconds(1),
                                    latencyIsAuto: false, lossRate: 0, queueBytes: 100_000, location: topo.links[0].location))
        let g2 = RoutingGraph(topology: topo2)
        let t2 = ForwardingTables(graph: g2, policy: try RoutingPolicy(config: config, graph: g2))
        XCTAssertEqual(t2.path(from: 0, to: 3), [0, 2, 3], "a europe source routes by latency")
        XCTAssertEqual(t2.path(from: 1, to: 3), [1, 0, 3], "an asia source routes by hops, also across europe")
        XCTAssertEqual(try RoutingPolicy(config: config, graph: g2).route(from: 1, to: 3, in: g2)?.nodes, [1, 0, 3])
        XCTAssertEqual(RoutingMatrix(tables: t2).hops[1 * 4 + 3], 2)
        XCTAssertEqual(RoutingMatrix(tables: t2).hops[0 * 4 + 3], 2)
        XCTAssertEqual(RoutingMatrix(tables: t2).latency[0 * 4 + 3], 2_000_000)

        config.regions = ["mars": "hops"]
        XCTAssertThrowsError(try RoutingPolicy(config: config, graph: g2))
        config.regions = ["asia": "teleport"]
        XCTAssertThrowsError(try RoutingPolicy(config: config, graph: g2)) { e in
            XCTAssertEqual(e as? RoutingError, .unknownStrategy("teleport", at: nil))
        }
    }

    func testMatrixStretchOnKnownGeometry() {
        // p and q one degree of longitude apart on the equator; the p-q link is
        // twice the great-circle delay. p2 shares p's site.
        let km = Geography.greatCircleKilometers(lat1: 0, lon1: 0, lat2: 0, lon2: 1)
        let bound = Int64((km * 5000).rounded())
        let topo = geoTopology([GeoNode(name: "p", lat: 0, lon: 0, site: "P"), GeoNode(name: "q", lat: 0, lon: 1, site: "Q"),
                                GeoNode(name: "p2", lat: 0, lon: 0, site: "P")],
                               [("p", "q", 2 * bound / 1000, 1000), ("p", "p2", 10, 100)])
        let g = RoutingGraph(topology: topo)
        let m = RoutingMatrix(tables: ForwardingTables(graph: g, strategy: LatencyStrategy()))
        XCTAssertEqual(m.lowerBound(from: 0, to: 1), bound)
        XCTAssertEqual(m.stretch(from: 0, to: 1)!, 2, accuracy: 0.01)
        XCTAssertNil(m.stretch(from: 0, to: 2), "same site: no stretch")
        XCTAssertEqual(m.stretch(from: 2, to: 1)!, Double(2 * bound / 1000 * 1000 + 10_000) / Double(bound), accuracy: 1e-9)
        let sum = m.summary()
        XCTAssertEqual(sum.pairs, 6)
        XCTAssertEqual(sum.unreachablePairs, 0)
        XCTAssertEqual(sum.stretchPairs, 4)
        XCTAssertEqual(sum.diameterHops, 2)
        XCTAssertEqual(sum.stretchMax!, m.stretch(from: 2, to: 1)!)
        XCTAssertEqual(sum.stretchP50!, 2, accuracy: 0.01)
    }

    func testMatrixSerialEqualsParallelForEveryStrategy() {
        var rng = Rng(state: 11)
        let g = randomGraph(&rng, nodes: 200, links: 600)
        for name in RoutingStrategies.names {
            let s = RoutingStrategies.named(name)!
            let a = RoutingMatrix(tables: ForwardingTables(graph: g, strategy: s, parallel: false), parallel: false)
            let b = RoutingMatrix(tables: ForwardingTables(graph: g, strategy: s, parallel: true), parallel: true)
            XCTAssertEqual(a.latency, b.latency, name)
            XCTAssertEqual(a.hops, b.hops, name)
            XCTAssertEqual(a.bottleneck, b.bottleneck, name)
            XCTAssertEqual(a.summary(), b.summary(), name)
            // The matrix agrees with walking the tables.
            for _ in 0..<200 {
                let s = Int32(rng.next(200)), d = Int32(rng.next(200))
                let r = a.tables.route(from: s, to: d)
                XCTAssertEqual(a.isReachable(from: s, to: d), r != nil)
                if let r, s != d {
                    XCTAssertEqual(a.latency[Int(s) * 200 + Int(d)], r.latency)
                    XCTAssertEqual(Int(a.hops[Int(s) * 200 + Int(d)]), r.hops)
                    XCTAssertEqual(a.bottleneck[Int(s) * 200 + Int(d)], r.bottleneck)
                }
            }
        }
    }

    func testRegistryKnowsEveryStrategyAndAppliesParameters() {
        XCTAssertEqual(RoutingStrategies.names, ["latency", "hops", "widest", "weighted", "geographic", "ecmp", "k-shortest"])
        for name in RoutingStrategies.names { XCTAssertEqual(RoutingStrategies.named(name)?.name, name) }
        var config = RoutingConfig(strategy: "weighted")
        config.weights = RoutingWeights(latency: 1, bandwidth: 0, load: 0, geography: 0)
        config.k = 5
        XCTAssertEqual((RoutingStrategies.named("weighted", config: config) as? WeightedStrategy)?.weights, config.weights)
        XCTAssertEqual((RoutingStrategies.named("k-shortest", config: config) as? KShortestStrategy)?.k, 5)
    }
}

final class RoutingConfigParsingTests: XCTestCase {
    private func parse(_ routing: String) throws -> Topology {
        try TopologyParser.parse(yaml: """
        sites:
          - {name: fra, city: Frankfurt}
          - {name: sin, city: Singapore}
        nodes:
          - {name: a, site: fra, role: core}
          - {name: b, site: sin, role: core}
        links:
          - {from: a, to: b, tier: 1gbps}
        \(routing)
        """, file: "t.yaml")
    }

    func testFullRoutingSection() throws {
        let t = try parse("routing: {strategy: weighted, regions: {asia: hops}, detection_delay: 500ms, load_interval: 250ms, k: 4, ecmp_metric: hops, weights: {latency: 1, load: 2}}")
        let r = t.routing
        XCTAssertEqual(r.strategy, "weighted")
        XCTAssertEqual(r.regions, ["asia": "hops"])
        XCTAssertEqual(r.detectionDelay, .milliseconds(500))
        XCTAssertEqual(r.loadInterval, .milliseconds(250))
        XCTAssertEqual(r.k, 4)
        XCTAssertEqual(r.ecmpMetric, "hops")
        XCTAssertEqual(r.weights, RoutingWeights(latency: 1, bandwidth: 0.3, load: 2, geography: 0.1))
        XCTAssertTrue(RoutingPolicy.check(t).isEmpty)
    }

    func testDefaults() throws {
        let r = try parse("").routing
        XCTAssertEqual(r.strategy, "latency")
        XCTAssertNil(r.detectionDelay)
        XCTAssertTrue(r.regions.isEmpty)
    }

    func testBadValuesAreLocatedErrors() {
        for (yaml, fragment) in [("routing: {detection_delay: soon}", "detection_delay"), ("routing: {k: 0}", "'k'"),
                                 ("routing: {weights: {latency: -1}}", "latency"), ("routing: {ecmp_metric: cost}", "ecmp_metric"),
                                 ("routing: {strategie: hops}", "strategie")] {
            XCTAssertThrowsError(try parse(yaml), yaml) { e in
                XCTAssertTrue("\(e)".contains(fragment), "\(e)")
                XCTAssertTrue("\(e)".contains("t.yaml:"), "\(e)")
            }
        }
    }

    func testRoutingCheckLocatesUnknownNames() throws {
        let t = try parse("routing:\n  strategy: latency\n  regions: {asia: warp}")
        let d = RoutingPolicy.check(t)
        XCTAssertEqual(d.count, 1)
        XCTAssertEqual(d.first?.location.line, 11)
        XCTAssertTrue(d.first!.message.contains("warp"))
        XCTAssertFalse(RoutingPolicy.check(try parse("routing: {regions: {mars: hops}}")).isEmpty)
    }
}

final class BundledTopologyRoutingTests: XCTestCase {
    /// The strategies study (topologies/strategies-study.yaml) only means
    /// something if the three strategies it compares route Madrid–Warsaw three ways.
    func testStrategiesStudyRoutesEachStrategyItsOwnWay() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let topology = try TopologyParser.load(path: root.appendingPathComponent("topologies/strategies-study.yaml").path)
        let g = RoutingGraph(topology: topology)
        let from = try XCTUnwrap(g.index(ofNode: "client-mad-1")), to = try XCTUnwrap(g.index(ofNode: "client-war-1"))
        var via: [String: [String]] = [:]
        for name in ["latency", "hops", "weighted"] {
            let tables = ForwardingTables(graph: g, strategy: try XCTUnwrap(RoutingStrategies.named(name, config: topology.routing)))
            via[name] = try XCTUnwrap(tables.path(from: from, to: to)).map { topology.nodes[Int($0)].name }
        }
        XCTAssertEqual(via["latency"]?.dropFirst(2).first, "core-bcn", "\(via)")
        XCTAssertEqual(via["hops"]?.dropFirst(2).first, "core-sto", "\(via)")
        XCTAssertEqual(via["weighted"]?.dropFirst(2).first, "core-lon", "\(via)")
    }

    /// Every strategy's forwarding tables reach every pair of the bundled
    /// 1,000-node topology; the full matrix (paths, stretch) is checked once,
    /// for the default strategy, since computing it per strategy in a debug
    /// build takes minutes (`stoqsim bench routing` covers all of them).
    func testEdge1000RoutesEveryPairUnderEveryStrategy() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let topology = try TopologyParser.load(path: root.appendingPathComponent("topologies/edge-1000.yaml").path)
        let g = RoutingGraph(topology: topology)
        XCTAssertEqual(g.nodeCount, 1000)
        for name in RoutingStrategies.names {
            let tables = ForwardingTables(graph: g, strategy: RoutingStrategies.named(name)!)
            var unreachable = 0
            for s in 0..<Int32(g.nodeCount) {
                for d in 0..<Int32(g.nodeCount) where s != d && tables.nextEdge(from: s, to: d) < 0 { unreachable += 1 }
            }
            XCTAssertEqual(unreachable, 0, name)
        }
        let s = RoutingMatrix(tables: ForwardingTables(graph: g, strategy: LatencyStrategy())).summary()
        XCTAssertEqual(s.unreachablePairs, 0)
        XCTAssertEqual(s.pairs, 999_000)
        XCTAssertGreaterThanOrEqual(s.stretchP50 ?? 0, 1, "no route beats the great circle")
    }
}
