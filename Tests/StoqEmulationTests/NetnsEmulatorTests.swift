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
        server.receiveEach { [unowned server] d in server.send(to: d.source, d.payload) }
        let client = try emulator.bind(node: "a", port: 0)
        let b = topology.node(named: "b")!.address
        var rtts: [SimDuration] = []
        client.receiveEach { d in
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

    /// With the senders on their own thread or on the engine's, the relay
    /// benchmark reports what the engine did: what the receivers got was
    /// written to TUN devices by the engine (give or take the windows in
    /// flight when the measurement started, and, with the senders on their own
    /// thread, a TUN read batch per sender before the engine hears of the
    /// start), lag and CPU time cover the measurement, and nothing is left behind.
    func testRelayBenchmarkReportsWhatTheEngineRelayed() throws {
        try requireNetns()
        for senders in NetnsBenchmarks.Senders.allCases {
            let r = try NetnsBenchmarks.run(namespaces: 6, pairs: 2, payload: 1200, seconds: 0.3, senders: senders)
            let inFlightAtStart = UInt64(2 * 64)
            XCTAssertGreaterThan(r.delivered, 0, "\(senders)")
            XCTAssertLessThanOrEqual(r.delivered, r.sent + inFlightAtStart, "\(senders)")
            let readBatches = senders == .thread ? UInt64(2 * 64) : 0
            XCTAssertLessThanOrEqual(r.delivered, r.engineRelayed + inFlightAtStart + readBatches, "\(senders)")
            XCTAssertEqual(r.deliveredIPv6Bytes, r.delivered * 1248)
            XCTAssertGreaterThan(r.measuredSeconds, 0, "\(senders)")
            XCTAssertGreaterThan(r.lag.count, 0, "\(senders)")
            XCTAssertGreaterThan(r.engineCPUSeconds, 0, "\(senders)")
            XCTAssertEqual(r.interruptedBy, 0)
            XCTAssertEqual(r.leftovers, [])
        }
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

    /// The cleanup removes what runs that are over left (their PID gone, or
    /// reused by a program that does not hold the namespaces) and kills what
    /// is still inside; it keeps the namespaces of live runs: this process's,
    /// and another program's that holds its namespace open.
    func testCleanupRemovesDeadRunsAndKeepsLiveOnes() throws {
        try requireNetns()
        let home = try HomeNamespace()
        var made: [String] = []
        var children: [Process] = []
        defer {
            for p in children where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            for name in made { Namespaces.remove(name) }
        }
        func make(_ name: String) throws {
            try Namespaces.create(name, home: home)
            made.append(name)
        }
        func start(_ script: String) throws -> (Process, Pipe) {
            let p = Process(), out = Pipe()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", script]
            p.standardOutput = out
            try p.run()
            children.append(p)
            return (p, out)
        }

        // Above the largest pid_max (2^22), so no process has it: a run killed with SIGKILL.
        // Random, so concurrent test runs on the machine do not collide.
        let deadPID = Int.random(in: 4_194_305 ... 9_999_999)
        let dead = ["stoq-\(deadPID)-1-0", "stoq-\(deadPID)-1-1"]
        for name in dead { try make(name) }
        // A program left inside a dead run's namespace, as an exec workload's would be.
        let (inside, insideOut) = try start("exec ip netns exec \(dead[0]) sh -c 'echo in; exec sleep 60'")
        XCTAssertEqual(String(decoding: insideOut.fileHandleForReading.availableData, as: UTF8.self), "in\n")
        // A PID that is alive but now another program's (sleep's), which does not hold the namespace.
        let (reused, _) = try start("exec sleep 60")
        let reusedName = "stoq-\(reused.processIdentifier)-1-0"
        try make(reusedName)
        // Live: this process's own run, and another program holding its namespace open (fd 3).
        let own = "stoq-\(getpid())-999-0"
        try make(own)
        let marker = try makeTemporaryDirectory() + "/made"
        defer { try? FileManager.default.removeItem(atPath: (marker as NSString).deletingLastPathComponent) }
        let (holder, holderOut) = try start(
            "while [ ! -e \(marker) ]; do sleep 0.01; done; exec 3< /run/netns/stoq-$$-1-0; echo held; exec sleep 60")
        let held = "stoq-\(holder.processIdentifier)-1-0"
        try make(held)
        XCTAssertTrue(FileManager.default.createFile(atPath: marker, contents: nil))
        XCTAssertEqual(String(decoding: holderOut.fileHandleForReading.availableData, as: UTF8.self), "held\n")

        let report = Namespaces.cleanupLeftovers()
        XCTAssertTrue(report.messages.contains(
            "removed 2 namespaces left by run PID \(deadPID), which is no longer running, and killed 1 process still inside"),
            "\(report.messages)")
        XCTAssertTrue(report.messages.contains(
            "removed 1 namespace left by run PID \(reused.processIdentifier), which is no longer running " +
            "(PID \(reused.processIdentifier) now belongs to sleep)"), "\(report.messages)")
        for name in dead + [reusedName] { XCTAssertEqual(Namespaces.list(prefix: name), [], name) }
        inside.waitUntilExit()
        XCTAssertEqual(inside.terminationReason, .uncaughtSignal, "the program inside was killed")
        XCTAssertTrue(reused.isRunning, "only programs inside the namespaces are killed")
        XCTAssertTrue(report.skippedLive.contains(own) && report.skippedLive.contains(held), "\(report.skippedLive)")
        XCTAssertEqual(Namespaces.list(prefix: own), [own])
        XCTAssertEqual(Namespaces.list(prefix: held), [held])
    }
}
