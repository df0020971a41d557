import StoqEngine
import StoqNetwork
import StoqRouting
import StoqTopology
import XCTest

private let here = SourceLocation(file: "test", line: 1, column: 1)

func link(_ a: String, _ b: String, mbps: UInt64 = 100, latency: SimDuration = .milliseconds(10),
          loss: Double = 0, queueBytes: Int = 1_000_000, models: LinkModels = LinkModels()) -> LinkSpec {
    LinkSpec(from: a, to: b, bandwidthBitsPerSecond: mbps * 1_000_000, latency: latency, latencyIsAuto: false,
             lossRate: loss, queueBytes: queueBytes, location: here, models: models)
}

/// Nodes get fd00::1, fd00::2, … in the order given.
func topology(_ names: [String], _ links: [LinkSpec], faults: [FaultSpec] = []) -> Topology {
    let site = Site(name: "s", latitude: 0, longitude: 0, region: "r",
                    prefix: IPv6Prefix(address: IPv6Address(high: 0xfd00 << 48, low: 0), length: 48), location: here)
    let nodes = names.enumerated().map { i, name in
        NodeSpec(name: name, site: "s", role: .edge, address: site.prefix.host(UInt64(i + 1)), location: here)
    }
    return Topology(name: "t", sourceFile: "test", seed: 1, duration: .seconds(1), routeInflation: 1,
                    sites: [site], nodes: nodes, links: links, faults: faults, workloads: [],
                    routing: RoutingConfig(), warnings: [])
}

/// Serialization time of a `payload`-byte datagram at `mbps`, in ns.
func serialization(_ payload: Int, mbps: UInt64 = 100) -> Int64 {
    Network.serializationTime(bytes: payload + Datagram.headerBytes, bitsPerSecond: mbps * 1_000_000)
}

final class Recorder: NetworkObserver {
    var sent = 0, hops = 0, delivered = 0
    var drops: [(id: UInt64, reason: DropReason, location: DropLocation, time: SimTime)] = []
    var linkChanges: [(Int, Bool, SimTime)] = []
    var nodeChanges: [(Int32, Bool, SimTime)] = []
    var recomputes: [SimTime] = []

    func packetSent(_ packet: Packet, time: SimTime) { sent += 1 }
    func packetHop(_ packet: Packet, edge: Int32, time: SimTime) { hops += 1 }
    func packetDelivered(_ packet: Packet, time: SimTime) { delivered += 1 }
    func packetDropped(_ packet: Packet, reason: DropReason, location: DropLocation, time: SimTime) {
        drops.append((packet.id, reason, location, time))
    }
    func linkStateChanged(link: Int, up: Bool, time: SimTime) { linkChanges.append((link, up, time)) }
    func nodeStateChanged(node: Int32, up: Bool, time: SimTime) { nodeChanges.append((node, up, time)) }
    func routesRecomputed(time: SimTime) { recomputes.append(time) }
}

/// A network on a fresh scheduler, with sockets that record what they receive.
final class Harness {
    let scheduler = Scheduler()
    let network: Network
    let recorder = Recorder()
    var received: [(node: String, port: UInt16, time: SimTime, datagram: Datagram)] = []
    private var sockets: [String: NetworkSocket] = [:]

    init(_ topology: Topology, seed: UInt64 = 1, routeDetectionDelay: SimDuration = .zero) {
        network = Network(topology: topology, scheduler: scheduler, seed: seed, routeDetectionDelay: routeDetectionDelay)
        network.observer = recorder
    }

    func address(_ node: String, _ port: UInt16 = 9) -> SocketAddress {
        SocketAddress(address: network.topology.node(named: node)!.address, port: port)
    }

    /// The recording socket bound on `node`:`port` (bound on first use).
    @discardableResult
    func socket(_ node: String, _ port: UInt16 = 9) -> NetworkSocket {
        if let s = sockets["\(node):\(port)"] { return s }
        let s = try! network.bind(node: node, port: port)
        s.receiveEach { [unowned self] d in self.received.append((node, port, self.scheduler.now, d.owned)) }
        sockets["\(node):\(port)"] = s
        return s
    }

    /// Sends `payload` bytes from `from` to `to`:`port` at `time`.
    func send(from: String, to: String, port: UInt16 = 9, payload: Int = 1200, at time: SimTime = .zero) {
        let s = socket(from)
        let destination = address(to, port)
        scheduler.schedule(at: time) {
            s.send(Datagram(source: destination, destination: destination, payload: [UInt8](repeating: 7, count: payload)))
        }
    }

    var arrivalTimes: [Int64] { received.map(\.time.nanosecondsSinceStart) }

    func run() { scheduler.runUntilIdle() }
}

final class LinkModelTests: XCTestCase {
    func testSingleHopArrivesAfterPropagationPlusSerialization() {
        let h = Harness(topology(["a", "b"], [link("a", "b")]))
        h.socket("b")
        h.send(from: "a", to: "b")
        h.run()
        XCTAssertEqual(serialization(1200), 99_840, "1248 bytes * 8 / 100 Mbps")
        XCTAssertEqual(h.arrivalTimes, [10_000_000 + 99_840])
        XCTAssertEqual(h.received.first?.datagram.payload.count, 1200)
    }

    func testBackToBackPacketsQueue() {
        let h = Harness(topology(["a", "b"], [link("a", "b")]))
        h.socket("b")
        h.send(from: "a", to: "b")
        h.send(from: "a", to: "b")
        h.run()
        XCTAssertEqual(h.arrivalTimes, [10_099_840, 10_199_680])
        let c = h.network.counters(from: "a", to: "b")!
        XCTAssertEqual(c.maxQueuedBytes, 2 * 1248)
        XCTAssertEqual(c.busyTime, .nanoseconds(2 * 99_840))
        XCTAssertEqual(c.packetsSent, 2)
        XCTAssertEqual(c.bytesDelivered, 2 * 1248)
        XCTAssertEqual(h.network.counters(from: "b", to: "a")!.packetsSent, 0, "directions are counted apart")
    }

    func testDropTailWhenQueueIsFull() {
        let h = Harness(topology(["a", "b"], [link("a", "b", queueBytes: 3 * 1248)]))
        h.socket("b")
        for _ in 0..<5 { h.send(from: "a", to: "b") }
        // After one serialization time the first packet has left the queue: room for one more.
        h.send(from: "a", to: "b", at: SimTime(nanosecondsSinceStart: 99_840))
        h.run()
        XCTAssertEqual(h.received.count, 4)
        let c = h.network.counters(from: "a", to: "b")!
        XCTAssertEqual(c.dropped[.queueFull], 2)
        XCTAssertEqual(c.bytesDropped, 2 * 1248)
        XCTAssertEqual(c.maxQueuedBytes, 3 * 1248)
        XCTAssertEqual(h.recorder.drops.map(\.reason), [.queueFull, .queueFull])
        XCTAssertEqual(h.recorder.drops.first?.location, .link(edge: Int32(h.network.graph.edge(from: 0, to: 1)!)))
    }

    func testPacketBeingSerializedCountsAgainstTheQueue() {
        let h = Harness(topology(["a", "b"], [link("a", "b", queueBytes: 1248)]))
        h.socket("b")
        h.send(from: "a", to: "b")
        h.send(from: "a", to: "b", at: SimTime(nanosecondsSinceStart: 99_839))
        h.send(from: "a", to: "b", at: SimTime(nanosecondsSinceStart: 99_840))
        h.run()
        XCTAssertEqual(h.arrivalTimes, [10_099_840, 10_199_680])
        XCTAssertEqual(h.network.counters.dropped[.queueFull], 1)
    }

    /// Sends `count` packets spaced wider than their serialization time, so no
    /// queueing interferes, and returns the ids of those lost.
    private func lostPackets(seed: UInt64, loss: Double, count: Int) -> (Harness, [UInt64]) {
        let h = Harness(topology(["a", "b"], [link("a", "b", loss: loss)]), seed: seed)
        h.socket("b")
        for i in 0..<count { h.send(from: "a", to: "b", payload: 100, at: SimTime(nanosecondsSinceStart: Int64(i) * 20_000)) }
        h.run()
        return (h, h.recorder.drops.filter { $0.reason == .loss }.map(\.id))
    }

    func testLossRateMatchesConfiguredProbability() {
        let (h, lost) = lostPackets(seed: 11, loss: 0.1, count: 10_000)
        XCTAssertEqual(Double(lost.count) / 10_000, 0.1, accuracy: 0.015)
        XCTAssertEqual(h.received.count + lost.count, 10_000)
        XCTAssertEqual(h.network.counters(from: "a", to: "b")!.dropped[.loss], UInt64(lost.count))
    }

    func testSameSeedGivesSameDrops() {
        let (_, first) = lostPackets(seed: 5, loss: 0.2, count: 2_000)
        let (_, second) = lostPackets(seed: 5, loss: 0.2, count: 2_000)
        let (_, other) = lostPackets(seed: 6, loss: 0.2, count: 2_000)
        XCTAssertEqual(first, second)
        XCTAssertNotEqual(first, other)
    }

    func testZeroLossLosesNothing() {
        let (h, lost) = lostPackets(seed: 3, loss: 0, count: 1_000)
        XCTAssertTrue(lost.isEmpty)
        XCTAssertEqual(h.received.count, 1_000)
    }
}

final class ForwardingTests: XCTestCase {
    func testMultiHopDelayIsTheSumOfHops() {
        let h = Harness(topology(["a", "b", "c"], [
            link("a", "b", mbps: 100, latency: .milliseconds(3)),
            link("b", "c", mbps: 1000, latency: .microseconds(500)),
        ]))
        h.socket("c")
        h.send(from: "a", to: "c", payload: 500)
        h.run()
        let expected = (3_000_000 + serialization(500, mbps: 100)) + (500_000 + serialization(500, mbps: 1000))
        XCTAssertEqual(h.arrivalTimes, [expected])
        XCTAssertEqual(h.recorder.hops, 2)
        XCTAssertEqual(h.network.counters(from: "b", to: "c")!.packetsDelivered, 1)
    }

    func testSourceAddressIsStampedAndRepliesFindTheSender() {
        let h = Harness(topology(["a", "b"], [link("a", "b")]))
        let server = try! h.network.bind(node: "b", port: 443)
        server.receiveEach { [unowned server] d in server.send(to: d.source, d.payload) }
        let client = h.socket("a", 5000)
        h.scheduler.schedule(at: .zero) {
            client.send(Datagram(source: SocketAddress(address: IPv6Address(high: 1, low: 1), port: 1),
                                 destination: h.address("b", 443), payload: [1, 2, 3]))
        }
        h.run()
        XCTAssertEqual(h.received.count, 1)
        XCTAssertEqual(h.received.first?.datagram.source, h.address("b", 443))
        XCTAssertEqual(h.received.first?.datagram.destination, h.address("a", 5000))
        XCTAssertEqual(h.arrivalTimes, [2 * (10_000_000 + serialization(3))])
    }

    func testPortDemultiplexing() throws {
        let h = Harness(topology(["a", "b"], [link("a", "b")]))
        h.socket("b", 1)
        h.socket("b", 2)
        h.send(from: "a", to: "b", port: 2, payload: 20)
        h.send(from: "a", to: "b", port: 1, payload: 10)
        h.send(from: "a", to: "b", port: 3, payload: 30)
        h.run()
        XCTAssertEqual(h.received.map(\.port), [2, 1])
        XCTAssertEqual(h.received.map(\.datagram.payload.count), [20, 10])
        XCTAssertEqual(h.recorder.drops.map(\.reason), [.portUnreachable])
        XCTAssertEqual(h.recorder.drops.first?.location, .node(1))

        XCTAssertThrowsError(try h.network.bind(node: "b", port: 1)) {
            XCTAssertEqual($0 as? NetworkError, .portInUse(node: "b", port: 1))
        }
        XCTAssertThrowsError(try h.network.bind(node: "zz", port: 1))
        let e1 = try h.network.bind(node: "b", port: 0)
        let e2 = try h.network.bind(node: "b", port: 0)
        XCTAssertEqual([e1.localPort, e2.localPort], [49152, 49153])
        e1.close()
        XCTAssertEqual(try h.network.bind(node: "b", port: 0).localPort, 49152, "a closed port is free again")
    }

    func testLoopbackDeliversAtTheSameInstant() {
        let h = Harness(topology(["a", "b"], [link("a", "b")]))
        h.socket("a", 9)
        h.send(from: "a", to: "a", at: SimTime(nanosecondsSinceStart: 42))
        h.run()
        XCTAssertEqual(h.arrivalTimes, [42])
        XCTAssertEqual(h.recorder.hops, 0)
    }

    func testUnknownDestinationAndUnreachableNodeAreDropped() {
        let h = Harness(topology(["a", "b", "c"], [link("a", "b")]))
        let s = h.socket("a")
        h.socket("c")
        h.scheduler.schedule(at: .zero) {
            s.send(Datagram(source: h.address("a"), destination: SocketAddress(address: IPv6Address(high: 0xfd99 << 48, low: 1), port: 9),
                            payload: [0]))
        }
        h.send(from: "a", to: "c")
        h.run()
        XCTAssertTrue(h.received.isEmpty)
        XCTAssertEqual(h.recorder.drops.map(\.reason), [.unknownDestination, .noRoute])
        XCTAssertEqual(h.recorder.drops.map(\.location), [.node(0), .node(0)])
        XCTAssertEqual(h.network.counters.dropped.total, 2)
        XCTAssertEqual(h.network.counters.packetsSent, 2)
    }
}

final class FaultTests: XCTestCase {
    /// a-b direct (10 ms) or a-c-b (20 ms per hop).
    private func triangle() -> Topology {
        topology(["a", "b", "c"], [
            link("a", "b", latency: .milliseconds(10)),
            link("a", "c", latency: .milliseconds(20)),
            link("c", "b", latency: .milliseconds(20)),
        ])
    }

    private func ms(_ v: Int64) -> SimTime { SimTime(nanosecondsSinceStart: v * 1_000_000) }

    func testLinkDownDropsInFlightPacketsAndReroutesAfterDetectionDelay() throws {
        let h = Harness(triangle(), routeDetectionDelay: .milliseconds(50))
        h.socket("b")
        h.send(from: "a", to: "b", at: ms(0))    // in flight when the link fails at 5 ms
        h.send(from: "a", to: "b", at: ms(20))   // before detection: still routed onto the dead link
        h.send(from: "a", to: "b", at: ms(60))   // after detection: via c
        h.send(from: "a", to: "b", at: ms(200))  // the link is back (and detected) by then
        try h.network.setLinkState("a", "b", up: false, at: ms(5))
        try h.network.setLinkState("b", "a", up: true, at: ms(100))
        h.run()

        XCTAssertEqual(h.recorder.drops.map(\.reason), [.linkDown, .linkDown])
        XCTAssertEqual(h.recorder.drops.map(\.time), [ms(5), ms(20)], "in-flight loss is reported when the link fails")
        let viaC = ms(60).nanosecondsSinceStart + 2 * (20_000_000 + serialization(1200))
        let direct = ms(200).nanosecondsSinceStart + 10_000_000 + serialization(1200)
        XCTAssertEqual(h.arrivalTimes, [viaC, direct])
        XCTAssertEqual(h.recorder.linkChanges.map(\.1), [false, true])
        XCTAssertEqual(h.recorder.recomputes, [ms(55), ms(150)])
        XCTAssertEqual(h.network.counters(from: "a", to: "b")!.dropped[.linkDown], 2)
        XCTAssertEqual(h.network.counters(from: "a", to: "b")!.busyTime, .nanoseconds(2 * serialization(1200)),
                       "only serialization that happened is busy time")
    }

    func testZeroDetectionDelayReroutesImmediately() throws {
        let h = Harness(triangle())
        h.socket("b")
        try h.network.setLinkState("a", "b", up: false, at: ms(1))
        h.send(from: "a", to: "b", at: ms(1))
        h.run()
        XCTAssertEqual(h.arrivalTimes, [ms(1).nanosecondsSinceStart + 2 * (20_000_000 + serialization(1200))])
        XCTAssertEqual(h.network.tables.path(from: 0, to: 1), [0, 2, 1])
        XCTAssertThrowsError(try h.network.setLinkState("b", "zz", up: false, at: ms(1)))
        XCTAssertThrowsError(try h.network.setLinkState("a", "a", up: false, at: ms(1))) {
            XCTAssertEqual($0 as? NetworkError, .unknownLink("a", "a"))
        }
    }

    func testNodeDownDropsItsTrafficAndRoutesAroundIt() throws {
        // a reaches b directly (10 ms) or through c; c is the only way to d.
        let h = Harness(topology(["a", "b", "c", "d"], [
            link("a", "b", latency: .milliseconds(10)),
            link("a", "c", latency: .milliseconds(1)),
            link("c", "b", latency: .milliseconds(1)),
            link("c", "d", latency: .milliseconds(1)),
        ]))
        h.socket("b")
        h.socket("d")
        h.socket("c")
        h.send(from: "a", to: "b", at: ms(0))   // via c, on the a>c link when c fails
        h.send(from: "a", to: "d", at: ms(5))   // no route while c is down
        h.send(from: "a", to: "b", at: ms(5))   // around c: direct
        h.send(from: "c", to: "b", at: ms(5))   // c cannot send while down
        h.send(from: "a", to: "d", at: ms(20))  // c is back
        try h.network.setNodeState("c", up: false, at: SimTime(nanosecondsSinceStart: 500_000))
        try h.network.setNodeState("c", up: true, at: ms(10))
        h.run()

        XCTAssertEqual(h.recorder.drops.map(\.reason), [.nodeDown, .noRoute, .nodeDown])
        XCTAssertEqual(h.recorder.drops.map(\.location), [.link(edge: Int32(h.network.graph.edge(from: 0, to: 2)!)), .node(0), .node(2)])
        XCTAssertEqual(h.received.map(\.node), ["b", "d"])
        XCTAssertEqual(h.arrivalTimes[0], ms(5).nanosecondsSinceStart + 10_000_000 + serialization(1200))
        XCTAssertEqual(h.recorder.nodeChanges.map(\.1), [false, true])
    }

    func testPacketsReachingADownNodeBeforeDetectionAreDropped() throws {
        let h = Harness(topology(["a", "b", "c"], [link("a", "b"), link("b", "c")]), routeDetectionDelay: .seconds(1))
        h.socket("c")
        try h.network.setNodeState("c", up: false, at: ms(1))
        h.send(from: "a", to: "c", at: ms(2))
        h.run()
        XCTAssertEqual(h.recorder.drops.map(\.reason), [.nodeDown])
        XCTAssertEqual(h.recorder.drops.first?.location, .node(2))
        XCTAssertEqual(h.recorder.hops, 2)
    }

    func testScheduleFaultsAppliesTheTopologyFaults() throws {
        var t = triangle()
        t.faults = [
            FaultSpec(target: .link("a", "b"), downAt: .milliseconds(1), upAt: .milliseconds(3), location: here),
            FaultSpec(target: .node("c"), downAt: .milliseconds(2), upAt: nil, location: here),
        ]
        let h = Harness(t)
        try h.network.scheduleFaults()
        h.run()
        XCTAssertEqual(h.recorder.linkChanges.map { [$0.2, $0.1 ? ms(100) : .zero] }, [[ms(1), .zero], [ms(3), ms(100)]])
        XCTAssertEqual(h.recorder.nodeChanges.map(\.2), [ms(2)])
        XCTAssertFalse(h.network.graph.nodeUp[2])
        XCTAssertTrue(h.network.graph.edgeUp.allSatisfy { $0 })

        var bad = triangle()
        bad.faults = [FaultSpec(target: .node("zz"), downAt: .zero, upAt: nil, location: here)]
        XCTAssertThrowsError(try Harness(bad).network.scheduleFaults()) {
            XCTAssertEqual($0 as? NetworkError, .unknownNode("zz"))
        }
    }

    func testEveryPacketIsDeliveredOrDroppedExactlyOnce() throws {
        let h = Harness(topology(["a", "b", "c", "d"], [
            link("a", "b", mbps: 10, loss: 0.05, queueBytes: 6_000),
            link("b", "c", mbps: 100, latency: .milliseconds(1), loss: 0.05),
            link("a", "c", mbps: 10, latency: .milliseconds(30)),
            link("c", "d", mbps: 10, queueBytes: 4_000),
        ]), seed: 9, routeDetectionDelay: .milliseconds(3))
        for n in ["a", "b", "c", "d"] { h.socket(n) }
        var rng = RandomStream(seed: 1)
        let names = ["a", "b", "c", "d", "a"]
        for i in 0..<3_000 {
            let from = names[Int(rng.next() % 4)], to = names[Int(rng.next() % 5)]
            h.send(from: from, to: to, payload: 100 + Int(rng.next() % 1300), at: SimTime(nanosecondsSinceStart: Int64(i) * 50_000))
        }
        try h.network.setLinkState("a", "b", up: false, at: ms(40))
        try h.network.setNodeState("c", up: false, at: ms(80))
        try h.network.setNodeState("c", up: true, at: ms(90))
        try h.network.setLinkState("a", "b", up: true, at: ms(100))
        h.run()

        let c = h.network.counters
        XCTAssertEqual(c.packetsSent, 3_000)
        XCTAssertEqual(c.packetsDelivered + c.dropped.total, 3_000)
        XCTAssertEqual(Int(c.packetsDelivered), h.received.count)
        XCTAssertEqual(h.recorder.sent, 3_000)
        XCTAssertEqual(h.recorder.delivered + h.recorder.drops.count, 3_000)
        XCTAssertEqual(Set(h.recorder.drops.map(\.id)).count, h.recorder.drops.count, "no packet dropped twice")
        for e in 0..<h.network.graph.edgeCount {
            let l = h.network.counters(edge: e)
            XCTAssertEqual(l.packetsSent, l.packetsDelivered + l.packetsDropped, "edge \(e)")
            XCTAssertEqual(h.network.packetsInFlight(edge: e), 0)
            XCTAssertEqual(h.network.queuedBytes(edge: e), 0)
        }
        for reason in [DropReason.queueFull, .loss, .linkDown, .nodeDown] { XCTAssertGreaterThan(c.dropped[reason], 0, "\(reason)") }
    }
}
