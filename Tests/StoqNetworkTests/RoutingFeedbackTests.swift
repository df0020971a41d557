import StoqEngine
import StoqNetwork
import StoqRouting
import StoqTopology
import XCTest

private let here = SourceLocation(file: "test", line: 1, column: 1)

/// a-b-d and a-c-d, every link 100 Mbps and 1 ms: two equal paths from a to d.
private func square(routing: RoutingConfig = RoutingConfig(), duration: SimDuration = .seconds(1)) -> Topology {
    let site = Site(name: "s", latitude: 0, longitude: 0, region: "r",
                    prefix: IPv6Prefix(address: IPv6Address(high: 0xfd00 << 48, low: 0), length: 48), location: here)
    let nodes = ["a", "b", "c", "d"].enumerated().map { i, name in
        NodeSpec(name: name, site: "s", role: .edge, address: site.prefix.host(UInt64(i + 1)), location: here)
    }
    let links = [("a", "b"), ("b", "d"), ("a", "c"), ("c", "d")].map { a, b in
        LinkSpec(from: a, to: b, bandwidthBitsPerSecond: 100_000_000, latency: .milliseconds(1), latencyIsAuto: false,
                 lossRate: 0, queueBytes: 10_000_000, location: here)
    }
    return Topology(name: "sq", sourceFile: "test", seed: 1, duration: duration, routeInflation: 1, sites: [site],
                    nodes: nodes, links: links, faults: [], workloads: [], routing: routing, warnings: [])
}

private func ms(_ v: Int64) -> SimTime { SimTime(nanosecondsSinceStart: v * 1_000_000) }

private final class FailoverRecorder: NetworkObserver {
    var recomputes: [SimTime] = []
    var outages: [OutageReport] = []
    func routesRecomputed(time: SimTime) { recomputes.append(time) }
    func routesReconverged(_ outage: OutageReport) { outages.append(outage) }
}

final class RoutingFeedbackTests: XCTestCase {
    private func send(_ net: Network, _ scheduler: Scheduler, from: String, to: String, sourcePort: UInt16,
                      count: Int, every: SimDuration = .microseconds(200), start: SimTime = .zero) throws {
        let socket = try net.bind(node: from, port: sourcePort)
        let destination = SocketAddress(address: net.topology.node(named: to)!.address, port: 9)
        for i in 0..<count {
            scheduler.schedule(at: start + SimDuration(nanoseconds: every.nanoseconds * Int64(i))) {
                socket.send(Datagram(source: destination, destination: destination, payload: [UInt8](repeating: 0, count: 1000)))
            }
        }
    }

    private func sent(_ net: Network, _ a: String, _ b: String) -> UInt64 { net.counters(from: a, to: b)!.packetsSent }

    func testECMPHashesFlowsOntoBothPathsAndKeepsEachFlowOnOne() throws {
        let scheduler = Scheduler()
        let net = Network(topology: square(), scheduler: scheduler, seed: 1, strategy: ECMPStrategy())
        _ = try net.bind(node: "d", port: 9)
        var perFlow: [(UInt64, UInt64)] = []
        for port in UInt16(1000)..<1040 {
            let before = (sent(net, "a", "b"), sent(net, "a", "c"))
            try send(net, scheduler, from: "a", to: "d", sourcePort: port, count: 5, start: scheduler.now)
            scheduler.runUntilIdle()
            perFlow.append((sent(net, "a", "b") - before.0, sent(net, "a", "c") - before.1))
        }
        for (viaB, viaC) in perFlow { XCTAssertTrue((viaB, viaC) == (5, 0) || (viaB, viaC) == (0, 5), "one flow, one path") }
        XCTAssertGreaterThan(perFlow.filter { $0.0 == 5 }.count, 5)
        XCTAssertGreaterThan(perFlow.filter { $0.1 == 5 }.count, 5)
        XCTAssertEqual(net.counters.packetsDelivered, 200)
    }

    func testWeightedAvoidsALoadedLinkAfterTheNextSample() throws {
        var routing = RoutingConfig(strategy: "weighted")
        routing.loadInterval = .milliseconds(100)
        let scheduler = Scheduler()
        let recorder = FailoverRecorder()
        let net = Network(topology: square(routing: routing, duration: .milliseconds(500)), scheduler: scheduler, seed: 1,
                          strategy: RoutingStrategies.named("weighted")!)
        net.observer = recorder
        _ = try net.bind(node: "d", port: 9)
        XCTAssertEqual(net.tables.path(from: 0, to: 3), [0, 1, 3], "unloaded, the tie goes to b")
        // b→d carries heavy b-originated traffic during the first interval…
        try send(net, scheduler, from: "b", to: "d", sourcePort: 7, count: 1000, every: .microseconds(90))
        scheduler.run(until: ms(99))
        XCTAssertEqual(net.tables.path(from: 0, to: 3), [0, 1, 3], "no sample yet")
        scheduler.run(until: ms(101))
        XCTAssertEqual(recorder.recomputes, [ms(100)])
        XCTAssertGreaterThan(net.graph.edgeLoad[net.graph.edge(from: 1, to: 3)!], 0.5)
        XCTAssertEqual(net.tables.path(from: 0, to: 3), [0, 2, 3], "after the sample a→d avoids the loaded b→d")
        let viaCBefore = sent(net, "a", "c")
        try send(net, scheduler, from: "a", to: "d", sourcePort: 8, count: 3, start: ms(102))
        scheduler.run(until: ms(150))
        XCTAssertEqual(sent(net, "a", "c") - viaCBefore, 3)
        scheduler.runUntilIdle()
        XCTAssertEqual(recorder.recomputes.count, 5, "one sample per interval until the 500 ms duration")
        XCTAssertEqual(net.tables.path(from: 0, to: 3), [0, 1, 3], "idle again, the tie goes back to b")
    }

    func testLatencyStrategyDoesNotSampleLoad() {
        let scheduler = Scheduler()
        let net = Network(topology: square(), scheduler: scheduler, seed: 1)
        scheduler.runUntilIdle()
        XCTAssertEqual(scheduler.now, .zero, "nothing scheduled")
        XCTAssertEqual(net.graph.edgeLoad.max(), 0)
    }

    func testDetectionDelayFromTheFileAndTheOutageReport() throws {
        var routing = RoutingConfig()
        routing.detectionDelay = .milliseconds(500)
        let scheduler = Scheduler()
        let recorder = FailoverRecorder()
        let net = Network(topology: square(routing: routing, duration: .seconds(2)), scheduler: scheduler, seed: 1)
        net.observer = recorder
        XCTAssertEqual(net.routeDetectionDelay, .milliseconds(500))
        XCTAssertEqual(Network(topology: square(routing: routing), scheduler: Scheduler(), seed: 1, routeDetectionDelay: .zero).routeDetectionDelay,
                       .zero, "an explicit delay wins")
        _ = try net.bind(node: "d", port: 9)
        // One packet every 10 ms from 0 to 990 ms; b-d fails at 100 ms.
        try send(net, scheduler, from: "a", to: "d", sourcePort: 5, count: 100, every: .milliseconds(10))
        try net.setLinkState("b", "d", up: false, at: ms(100) + .microseconds(500))
        scheduler.runUntilIdle()
        XCTAssertEqual(recorder.recomputes, [ms(600) + .microseconds(500)])
        XCTAssertEqual(recorder.outages.count, 1)
        let o = recorder.outages[0]
        XCTAssertEqual(o.target, .link(1))
        XCTAssertEqual(o.failedAt, ms(100) + .microseconds(500))
        XCTAssertEqual(o.reconvergence, .milliseconds(500))
        // Packets sent at 100…590 ms reach b→d dead (50); the one of 600 ms meets the new tables at b.
        XCTAssertEqual(o.packetsLost, 50)
        XCTAssertEqual(net.counters.dropped[.linkDown], 50)
        XCTAssertEqual(net.counters.packetsDelivered, 50)
    }

    func testNodeOutageCountsWhatDiesAtTheNode() throws {
        var routing = RoutingConfig()
        routing.detectionDelay = .milliseconds(50)
        let scheduler = Scheduler()
        let recorder = FailoverRecorder()
        let net = Network(topology: square(routing: routing), scheduler: scheduler, seed: 1)
        net.observer = recorder
        _ = try net.bind(node: "d", port: 9)
        try send(net, scheduler, from: "a", to: "d", sourcePort: 5, count: 20, every: .milliseconds(5))
        try net.setNodeState("b", up: false, at: ms(20) + .microseconds(100))
        scheduler.runUntilIdle()
        XCTAssertEqual(recorder.outages.map(\.target), [.node(1)])
        XCTAssertEqual(recorder.outages[0].reconvergence, .milliseconds(50))
        // Sent at 20…65 ms: dead on arrival at b before the recompute at 70.1 ms.
        XCTAssertEqual(recorder.outages[0].packetsLost, 10)
        // The one of 70 ms left a on the old tables and dies at b after the
        // recompute: a drop, but no longer charged to the closed report.
        XCTAssertEqual(net.counters.dropped[.nodeDown] + net.counters.dropped[.linkDown], 11)
        XCTAssertEqual(net.counters.packetsDelivered, 9)
    }

    func testPacketsFollowTheirSourceRegionsStrategy() throws {
        // e (europe) reaches d over x in 2 ms / 2 hops or directly in 10 ms / 1 hop; a (asia) hangs off e.
        let sites = [("eu", "europe", 50.0), ("as", "asia", 35.0)].enumerated().map { i, s in
            Site(name: s.0, latitude: s.2, longitude: 8, region: s.1,
                 prefix: IPv6Prefix(address: IPv6Address(high: 0xfd00 << 48 | UInt64(i) << 16, low: 0), length: 48), location: here)
        }
        let nodes = [("e", 0), ("a", 1), ("x", 0), ("d", 0)].enumerated().map { i, n in
            NodeSpec(name: n.0, site: sites[n.1].name, role: .edge, address: sites[n.1].prefix.host(UInt64(i + 1)), location: here)
        }
        let links = [("e", "x", 1), ("x", "d", 1), ("e", "d", 10), ("a", "e", 1)].map { a, b, ms in
            LinkSpec(from: a, to: b, bandwidthBitsPerSecond: 100_000_000, latency: .milliseconds(Int64(ms)), latencyIsAuto: false,
                     lossRate: 0, queueBytes: 100_000, location: here)
        }
        var routing = RoutingConfig(strategy: "latency")
        routing.regions = ["asia": "hops"]
        let topology = Topology(name: "regions", sourceFile: "test", seed: 1, duration: .seconds(1), routeInflation: 1, sites: sites,
                                nodes: nodes, links: links, faults: [], workloads: [], routing: routing, warnings: [])
        let scheduler = Scheduler()
        let net = Network(topology: topology, scheduler: scheduler, seed: 1)
        XCTAssertEqual(net.policy.strategies.map(\.name), ["latency", "hops"])
        _ = try net.bind(node: "d", port: 9)
        try send(net, scheduler, from: "e", to: "d", sourcePort: 5, count: 3)
        try send(net, scheduler, from: "a", to: "d", sourcePort: 5, count: 2)
        scheduler.runUntilIdle()
        XCTAssertEqual(net.counters.packetsDelivered, 5)
        XCTAssertEqual(sent(net, "e", "x"), 3, "europe's packets: latency")
        XCTAssertEqual(sent(net, "e", "d"), 2, "asia's packets keep to hops through europe")
    }

    func testGeographicRecoveryPacketsAreCounted() throws {
        // x greedily heads for the pocket p; the route round is x-y-z.
        let sites = [("X", 0.0, 0.0), ("P", 0.0, 6.0), ("Y", -5.0, 0.0), ("Z", 0.0, 10.0)].enumerated().map { i, s in
            Site(name: s.0, latitude: s.1, longitude: s.2, region: "r",
                 prefix: IPv6Prefix(address: IPv6Address(high: 0xfd00 << 48 | UInt64(i) << 16, low: 0), length: 48), location: here)
        }
        let nodes = sites.enumerated().map { i, s in
            NodeSpec(name: s.name.lowercased(), site: s.name, role: .edge, address: s.prefix.host(UInt64(i + 1)), location: here)
        }
        let links = [("x", "p"), ("x", "y"), ("y", "z")].map { a, b in
            LinkSpec(from: a, to: b, bandwidthBitsPerSecond: 100_000_000, latency: .milliseconds(1), latencyIsAuto: false,
                     lossRate: 0, queueBytes: 100_000, location: here)
        }
        let topology = Topology(name: "geo", sourceFile: "test", seed: 1, duration: .seconds(1), routeInflation: 1, sites: sites,
                                nodes: nodes, links: links, faults: [], workloads: [], routing: RoutingConfig(), warnings: [])
        let scheduler = Scheduler()
        let net = Network(topology: topology, scheduler: scheduler, seed: 1, strategy: GeographicStrategy())
        _ = try net.bind(node: "z", port: 9)
        _ = try net.bind(node: "x", port: 9)
        try send(net, scheduler, from: "x", to: "z", sourcePort: 5, count: 3)
        try send(net, scheduler, from: "y", to: "z", sourcePort: 5, count: 2)
        try send(net, scheduler, from: "z", to: "x", sourcePort: 6, count: 4)
        scheduler.runUntilIdle()
        XCTAssertEqual(net.counters.packetsDelivered, 9)
        XCTAssertEqual(net.counters.recoveryPackets, 5, "x→z and y→z go round the pocket; z→x is greedy")
    }
}
