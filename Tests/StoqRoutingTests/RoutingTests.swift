import StoqEngine
import StoqRouting
import StoqTopology
import XCTest

/// A topology with nodes `names` (addresses fd00::1, fd00::2, …) and links
/// given as (a, b, one-way latency in ms, bandwidth in Mbps).
private func topology(_ names: [String], _ links: [(String, String, Int64, UInt64)]) -> Topology {
    let here = SourceLocation(file: "test", line: 1, column: 1)
    let site = Site(name: "s", latitude: 0, longitude: 0, region: "r",
                    prefix: IPv6Prefix(address: IPv6Address(high: 0xfd00 << 48, low: 0), length: 48), location: here)
    let nodes = names.enumerated().map { i, name in
        NodeSpec(name: name, site: "s", role: .edge, address: site.prefix.host(UInt64(i + 1)), location: here)
    }
    let specs = links.map { a, b, ms, mbps in
        LinkSpec(from: a, to: b, bandwidthBitsPerSecond: mbps * 1_000_000, latency: .milliseconds(ms),
                 latencyIsAuto: false, lossRate: 0, queueBytes: 100_000, location: here)
    }
    return Topology(name: "t", sourceFile: "test", seed: 1, duration: .seconds(1), routeInflation: 1,
                    sites: [site], nodes: nodes, links: specs, faults: [], workloads: [],
                    routing: RoutingConfig(), warnings: [])
}

/// Deterministic test randomness without depending on the engine's generator.
private struct LCG {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int((state >> 33) % UInt64(bound))
    }
}

/// A random graph with `n` nodes named "n0"…; some link pairs repeat (parallel
/// links) and latencies come from a small range so equal-cost ties are common.
private func randomTopology(_ rng: inout LCG, nodes n: Int, links m: Int) -> Topology {
    let names = (0..<n).map { "n\($0)" }
    var links: [(String, String, Int64, UInt64)] = []
    for _ in 0..<m {
        let a = rng.next(n), b = rng.next(n)
        if a == b { continue }
        links.append((names[a], names[b], Int64(1 + rng.next(6)), UInt64(10 * (1 + rng.next(10)))))
    }
    return topology(names, links)
}

/// Minimum latency over every simple path, found by exhaustive search.
private func bruteForceLatency(_ g: RoutingGraph, from s: Int32, to d: Int32) -> Int64? {
    if s == d { return g.nodeUp[Int(s)] ? 0 : nil }
    var best: Int64?
    var visited = [Bool](repeating: false, count: g.nodeCount)
    func walk(_ u: Int32, _ cost: Int64) {
        if u == d { best = min(best ?? .max, cost); return }
        visited[Int(u)] = true
        for e in g.edges(from: u) where g.isUsable(edge: e) && !visited[Int(g.edgeTarget[e])] {
            walk(g.edgeTarget[e], cost + g.edgeLatency[e])
        }
        visited[Int(u)] = false
    }
    if g.nodeUp[Int(s)] { walk(s, 0) }
    return best
}

final class RoutingGraphTests: XCTestCase {
    func testCSRLayoutAndReverseEdges() {
        let g = RoutingGraph(topology: topology(["a", "b", "c"], [("a", "b", 1, 100), ("b", "c", 2, 1000), ("a", "b", 3, 10)]))
        XCTAssertEqual(g.nodeCount, 3)
        XCTAssertEqual(g.edgeCount, 6)
        XCTAssertEqual(g.index(ofNode: "c"), 2)
        XCTAssertNil(g.index(ofNode: "zz"))
        XCTAssertEqual(g.edges(from: 0).count, 2)
        XCTAssertEqual(g.edges(from: 1).count, 3)
        XCTAssertEqual(g.links(between: 0, and: 1), [0, 2])
        XCTAssertEqual(g.links(between: 1, and: 0), [0, 2])
        for e in 0..<g.edgeCount {
            let r = Int(g.edgeReverse[e])
            XCTAssertEqual(g.edgeSource[e], g.edgeTarget[r])
            XCTAssertEqual(g.edgeTarget[e], g.edgeSource[r])
            XCTAssertEqual(g.edgeLink[e], g.edgeLink[r])
            XCTAssertTrue(g.edges(from: g.edgeSource[e]).contains(e))
        }
        let bc = g.edge(from: 1, to: 2)!
        XCTAssertEqual(g.edgeLatency[bc], 2_000_000)
        XCTAssertEqual(g.edgeBandwidth[bc], 1_000_000_000)
        XCTAssertEqual(g.name(ofEdge: bc), "b>c")
        XCTAssertEqual(g.edgeSource[Int(g.linkForwardEdge[1])], 1, "forward edge follows the written direction")
    }

    func testLinkAndNodeStateChanges() {
        var g = RoutingGraph(topology: topology(["a", "b"], [("a", "b", 1, 100)]))
        XCTAssertTrue(g.setLinkState(link: 0, up: false))
        XCTAssertFalse(g.setLinkState(link: 0, up: false), "no change reported twice")
        XCTAssertEqual(g.edgeUp, [false, false])
        g.setLinkState(link: 0, up: true)
        g.setNodeState(1, up: false)
        XCTAssertFalse(g.isUsable(edge: 0))
        XCTAssertFalse(g.isUsable(edge: 1))
    }
}

final class RoutingStrategyTests: XCTestCase {
    // a-b-d costs 2 ms, a-c-d 6 ms, a-d direct 10 ms.
    private let diamond = topology(["a", "b", "c", "d"], [
        ("a", "b", 1, 100), ("b", "d", 1, 1000), ("a", "c", 1, 1000), ("c", "d", 5, 1000), ("a", "d", 10, 1000),
    ])

    func testDijkstraTreeOnHandComputedGraph() {
        let g = RoutingGraph(topology: diamond)
        let tree = LatencyStrategy().shortestPathTree(from: 0, in: g)
        XCTAssertEqual(tree.cost, [0, 1_000_000, 1_000_000, 2_000_000])
        XCTAssertEqual(tree.path(to: 3, in: g), [0, 1, 3])
        XCTAssertEqual(tree.parentEdge[0], -1)
    }

    func testForwardingOnHandComputedGraph() {
        let t = ForwardingTables(graph: RoutingGraph(topology: diamond), strategy: LatencyStrategy())
        XCTAssertEqual(t.path(from: 0, to: 3), [0, 1, 3])
        XCTAssertEqual(t.path(from: 3, to: 0), [3, 1, 0])
        XCTAssertEqual(t.path(from: 2, to: 3), [2, 0, 1, 3], "c reaches d faster through a (3 ms) than directly (5 ms)")
        XCTAssertEqual(t.latency(from: 0, to: 3), .milliseconds(2))
        XCTAssertEqual(t.hopCount(from: 0, to: 3), 2)
        XCTAssertEqual(t.bottleneckBandwidth(from: 0, to: 3), 100_000_000)
        XCTAssertEqual(t.nextHop(from: 0, to: 3)?.neighbor, 1)
        XCTAssertEqual(t.path(from: 2, to: 2), [2])
        XCTAssertEqual(t.hopCount(from: 2, to: 2), 0)
        XCTAssertNil(t.nextHop(from: 2, to: 2))
    }

    func testEqualCostTieBreaksByNodeIndex() {
        // Both a-b-d and a-c-d cost 2 ms; b has the lower index.
        let square = topology(["a", "c", "b", "d"], [("a", "c", 1, 100), ("c", "d", 1, 100), ("a", "b", 1, 100), ("b", "d", 1, 100)])
        for _ in 0..<3 {
            let t = ForwardingTables(graph: RoutingGraph(topology: square), strategy: LatencyStrategy())
            XCTAssertEqual(t.path(from: 0, to: 3), [0, 1, 3])
            XCTAssertEqual(t.path(from: 3, to: 0), [3, 1, 0])
        }
    }

    func testDownLinkIsAvoided() {
        var g = RoutingGraph(topology: diamond)
        g.setLinkState(link: 1, up: false) // b-d
        let t = ForwardingTables(graph: g, strategy: LatencyStrategy())
        XCTAssertEqual(t.path(from: 0, to: 3), [0, 2, 3])
        XCTAssertEqual(t.latency(from: 0, to: 3), .milliseconds(6))
    }

    func testDownNodeIsAvoidedAndUnreachable() {
        var g = RoutingGraph(topology: diamond)
        g.setNodeState(1, up: false)
        let t = ForwardingTables(graph: g, strategy: LatencyStrategy())
        XCTAssertEqual(t.path(from: 0, to: 3), [0, 2, 3])
        XCTAssertNil(t.path(from: 0, to: 1))
        XCTAssertNil(t.path(from: 1, to: 0))
        XCTAssertNil(t.path(from: 1, to: 1))
    }

    func testDisconnectedDestinationIsUnreachable() {
        let t = ForwardingTables(graph: RoutingGraph(topology: topology(["a", "b", "c", "d"], [("a", "b", 1, 100), ("c", "d", 1, 100)])),
                                 strategy: LatencyStrategy())
        XCTAssertNil(t.path(from: 0, to: 2))
        XCTAssertNil(t.latency(from: 0, to: 3))
        XCTAssertNil(t.nextHop(from: 1, to: 3))
        XCTAssertNil(t.bottleneckBandwidth(from: 3, to: 0))
        XCTAssertEqual(t.path(from: 3, to: 2), [3, 2])
    }

    func testMatchesBruteForceOnRandomGraphs() {
        var rng = LCG(state: 42)
        for round in 0..<40 {
            let n = 4 + rng.next(5)
            var g = RoutingGraph(topology: randomTopology(&rng, nodes: n, links: n + rng.next(2 * n)))
            for l in 0..<g.linkCount where rng.next(6) == 0 { g.setLinkState(link: l, up: false) }
            if rng.next(4) == 0 { g.setNodeState(Int32(rng.next(n)), up: false) }
            let t = ForwardingTables(graph: g, strategy: LatencyStrategy())
            for s in 0..<Int32(n) {
                let tree = LatencyStrategy().shortestPathTree(from: s, in: g)
                for d in 0..<Int32(n) {
                    let expected = bruteForceLatency(g, from: s, to: d)
                    XCTAssertEqual(t.latency(from: s, to: d)?.nanoseconds, expected, "round \(round) \(s)->\(d)")
                    if s != d || g.nodeUp[Int(s)] {
                        XCTAssertEqual(tree.isReachable(d) ? tree.cost[Int(d)] : nil, expected, "tree, round \(round) \(s)->\(d)")
                    }
                    // Every hop of the forwarding path must be usable.
                    for e in t.edges(from: s, to: d) ?? [] { XCTAssertTrue(g.isUsable(edge: Int(e))) }
                }
            }
        }
    }

    func testParallelTablesEqualSerial() {
        var rng = LCG(state: 7)
        var g = RoutingGraph(topology: randomTopology(&rng, nodes: 300, links: 900))
        for l in stride(from: 0, to: g.linkCount, by: 17) { g.setLinkState(link: l, up: false) }
        let serial = ForwardingTables(graph: g, strategy: LatencyStrategy(), parallel: false)
        let parallel = ForwardingTables(graph: g, strategy: LatencyStrategy(), parallel: true)
        for s in 0..<Int32(300) {
            for d in 0..<Int32(300) {
                XCTAssertEqual(serial.nextEdge(from: s, to: d), parallel.nextEdge(from: s, to: d))
            }
        }
    }

    func testRegistry() {
        XCTAssertEqual(RoutingStrategies.named("latency")?.name, "latency")
        XCTAssertNil(RoutingStrategies.named("nope"))
        XCTAssertTrue(RoutingStrategies.names.contains("latency"))
    }
}
