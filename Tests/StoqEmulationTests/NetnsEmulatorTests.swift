import Foundation
import StoqEngine
import StoqNetwork
import StoqTopology
import XCTest
@testable import StoqEmulation

final class NetnsEmulatorTests: XCTestCase {
    override func tearDown() {
        removeLeftovers()
        XCTAssertEqual(leftovers(), [], "namespaces or TUN devices left behind")
    }

    /// Datagrams from a real socket in a's namespace cross the model (two
    /// hops, 5 ms one way) to a real socket in b's, and the replies come back:
    /// never sooner than the model allows.
    func testEchoThroughTheModel() throws {
        try requireNetns()
        let topology = try TopologyParser.parse(yaml: lineYAML, file: "line.yaml")
        let scheduler = Scheduler()
        let network = Network(topology: topology, scheduler: scheduler, seed: 1)
        let driver = try RealTimeDriver(scheduler: scheduler)
        let emulator = try NetnsEmulator(network: network, driver: driver)
        defer { emulator.shutdown() }
        XCTAssertEqual(Namespaces.list(prefix: emulator.prefix + "-").count, 3)

        let server = try emulator.bind(node: "b", port: 7)
        server.receiveHandler = { [unowned server] d in
            server.send(Datagram(source: d.destination, destination: d.source, payload: d.payload))
        }
        let client = try emulator.bind(node: "a", port: 0)
        let b = topology.node(named: "b")!.address
        var rtts: [SimDuration] = []
        client.receiveHandler = { d in
            XCTAssertEqual(d.source, SocketAddress(address: b, port: 7))
            let sent = SimTime(nanosecondsSinceStart: Int64(d.payload[0]) * 30_000_000 + 10_000_000)
            rtts.append(scheduler.now - sent)
            if rtts.count == 4 { driver.stop() }
        }
        for k in 0..<4 {
            scheduler.schedule(at: .zero + .milliseconds(10 + 30 * Int64(k))) {
                client.send(Datagram(source: SocketAddress(address: client.localAddress, port: client.localPort),
                                     destination: SocketAddress(address: b, port: 7), payload: [UInt8(k), 1, 2, 3]))
            }
        }
        withExtendedLifetime((network, emulator)) { _ = driver.run(for: .seconds(3)) }
        XCTAssertEqual(rtts.count, 4, "replies missing")
        for rtt in rtts { XCTAssertGreaterThanOrEqual(rtt, .milliseconds(10)) }
        XCTAssertEqual(emulator.stats.packetsIn, 8)
        XCTAssertEqual(emulator.stats.packetsOut, 8)
        XCTAssertEqual(network.counters.packetsDelivered, 8)
        emulator.shutdown()
        XCTAssertEqual(Namespaces.list(prefix: emulator.prefix + "-"), [])
    }

    /// A failure halfway through set-up (here: an interrupt after the first
    /// node) removes every namespace already created.
    func testInterruptedSetupLeavesNothing() throws {
        try requireNetns()
        let topology = try TopologyParser.parse(yaml: lineYAML, file: "line.yaml")
        let scheduler = Scheduler()
        let network = Network(topology: topology, scheduler: scheduler, seed: 1)
        let driver = try RealTimeDriver(scheduler: scheduler)
        var polls = 0
        let prefix = Namespaces.makeRunPrefix()
        var options = NetnsEmulator.Options()
        options.prefix = prefix
        XCTAssertThrowsError(try NetnsEmulator(network: network, driver: driver, options: options,
                                               interrupted: { polls += 1; return polls > 1 ? 15 : 0 })) {
            guard case EmulationError.interrupted(15) = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(Namespaces.list(prefix: prefix), [])
    }

    /// Leftovers of a "crashed" run (a namespace whose owner pid is gone) are
    /// removed by the cleanup, together with a process still inside.
    func testCleanupRemovesLeftoversOfDeadRuns() throws {
        try requireNetns()
        let home = try HomeNamespace()
        // pid 2^22+1 is above pid_max's default range, so no live process owns it.
        let name = "stoq-4194305-1-0"
        try Namespaces.create(name, home: home)
        defer { Namespaces.remove(name) }
        XCTAssertEqual(Namespaces.list(prefix: name), [name])
        let report = Namespaces.cleanupLeftovers()
        XCTAssertTrue(report.removed.contains(name))
        XCTAssertEqual(Namespaces.list(prefix: name), [])
    }
}
