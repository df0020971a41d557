import StoqAnalyzer
import StoqEngine
import StoqNetwork
@testable import StoqScenario
import StoqTopology
import StoqTransport
import XCTest

/// A transfer's payload streams under flow control, its end travels over the
/// network, and nothing it kept outlives it. Runs a scenario by hand (as
/// `SimulationRun` does) so the run's state can be looked at while it goes.
final class TransferStreamingTests: XCTestCase {
    final class Harness {
        let scheduler = Scheduler()
        let network: Network
        let context: ScenarioContext
        let workloads: [Workload]
        var transfers: [(at: SimTime, record: TraceRecord.TransferResult)] = []
        var fetches: [TraceRecord.FetchResult] = []

        init(_ yaml: String) throws {
            let topology = try TopologyParser.parse(yaml: yaml, file: "streaming.yaml")
            network = Network(topology: topology, scheduler: scheduler, seed: topology.seed)
            var recorded: (TraceRecord) -> Void = { _ in }
            context = ScenarioContext(topology: topology, scheduler: scheduler, network: network, seed: topology.seed,
                                      trace: { recorded($0) })
            let made = WorkloadRegistry.makeAll(for: topology, backend: "sim")
            XCTAssertEqual(made.errors.count, 0)
            workloads = made.workloads
            recorded = { [unowned self] in
                if case .transfer(let t) = $0 { self.transfers.append((self.scheduler.now, t)) }
                if case .fetch(let f) = $0 { self.fetches.append(f) }
            }
            for w in workloads { try w.start(in: context) }
        }

        var transfer: TransferWorkload { workloads.first { $0 is TransferWorkload } as! TransferWorkload }
        var sink: TransferSink { context.transferSink }

        /// Runs in steps of `step`, calling `sample` after each, until `done` or `limit`.
        func run(step: SimDuration = .milliseconds(1), limit: SimDuration, sample: () -> Void = {}, until done: () -> Bool) -> Bool {
            let end = scheduler.now + limit
            while scheduler.now < end {
                _ = scheduler.run(until: scheduler.now + step)
                sample()
                if done() { return true }
            }
            return false
        }
    }

    static func yaml(size: String, timeout: String = "10s", count: Int = 1) -> String {
        transferPairYAML(seed: 4, duration: "1s", workload: "size: \(size), timeout: \(timeout), count: \(count), interval: 50ms")
    }

    /// 100 MB cross while the sending connection holds no more than its send
    /// buffer, what is in flight (at most a congestion window) and what
    /// arrived but whose ACK is still on its way back (about one more):
    /// memory follows the windows, not the transfer's size.
    func testLargeTransferHoldsAboutItsWindows() throws {
        let h = try Harness(Self.yaml(size: "100MB"))
        var peakHeld = 0, peakWindow: UInt64 = 0
        let sender = try h.context.stoq.endpoint(on: "a").endpoint
        XCTAssertTrue(h.run(limit: .seconds(10), sample: {
            for c in sender.connections {
                peakHeld = max(peakHeld, c.bufferedSendBytes)
                peakWindow = max(peakWindow, c.metrics.congestionWindow)
            }
        }, until: { !h.transfers.isEmpty }))
        let record = try XCTUnwrap(h.transfers.first?.record)
        XCTAssertEqual(record.bytesReceived, 100_000_000)
        XCTAssertNotNil(record.durationNs)
        let bufferSize = 1 << 20
        XCTAssertGreaterThan(peakHeld, bufferSize / 2, "the gauge saw the stream's buffer in use")
        XCTAssertLessThanOrEqual(peakHeld, bufferSize + 2 * Int(peakWindow) + (64 << 10),
                                 "held \(peakHeld) bytes with a congestion window of at most \(peakWindow)")
        XCTAssertLessThan(peakHeld, 10_000_000, "a tenth of the payload at most")
    }

    /// The receiver's last byte completes the transfer (its record), but the
    /// sender closes only when the receiver's answer (FIN) has crossed the
    /// link, and the receiver's connection ends by the CONNECTION_CLOSE that
    /// follows: no endpoint ends the other's connection directly.
    func testEndTravelsOverTheNetwork() throws {
        let h = try Harness(Self.yaml(size: "2MB"))
        let receiver = try h.context.stoq.endpoint(on: "b").endpoint
        var closedAt: SimTime?
        XCTAssertTrue(h.run(step: .microseconds(100), limit: .seconds(5), sample: {
            if closedAt == nil, !h.transfers.isEmpty, !h.transfer.hasOutstandingWork { closedAt = h.scheduler.now }
        }, until: { closedAt != nil && receiver.connections.isEmpty }))
        let (recordedAt, record) = try XCTUnwrap(h.transfers.first)
        XCTAssertEqual(record.bytesReceived, 2_000_000)
        XCTAssertNotNil(record.durationNs)
        let senderClosed = try XCTUnwrap(closedAt)
        // The answer crosses the 5 ms link before the sender lets go.
        XCTAssertGreaterThanOrEqual(senderClosed - recordedAt, .milliseconds(5))
        XCTAssertLessThan(senderClosed - recordedAt, .milliseconds(40))
        XCTAssertEqual(h.sink.entries.transfers, 0)
        XCTAssertEqual(h.sink.entries.connections, 0)
        XCTAssertEqual(h.context.stoq.connectionsWithStreams, 0)
    }

    /// A transfer that times out closes its connection (over the network) and
    /// leaves nothing in the sink or the node's services, though both had
    /// entries for it while it ran.
    func testTimedOutTransferLeavesNothingBehind() throws {
        let h = try Harness(Self.yaml(size: "100MB", timeout: "100ms"))
        var sawEntries = false
        XCTAssertTrue(h.run(limit: .seconds(2), sample: {
            if h.sink.entries == (1, 1) && h.context.stoq.connectionsWithStreams == 1 { sawEntries = true }
        }, until: { !h.transfer.hasOutstandingWork }))
        XCTAssertTrue(sawEntries, "the sink and the services kept the running transfer")
        let record = try XCTUnwrap(h.transfers.first?.record)
        XCTAssertNil(record.durationNs)
        XCTAssertLessThan(record.bytesReceived, 100_000_000)
        XCTAssertGreaterThan(record.bytesReceived, 0, "what arrived before the timeout")
        XCTAssertEqual(record.failure, "timed out after 100ms")
        _ = h.scheduler.run(until: h.scheduler.now + .milliseconds(50))   // the CONNECTION_CLOSE crosses
        XCTAssertEqual(h.sink.entries.transfers, 0)
        XCTAssertEqual(h.sink.entries.connections, 0, "the closed connection's streams are forgotten")
        XCTAssertEqual(h.context.stoq.connectionsWithStreams, 0)
        XCTAssertTrue(try h.context.stoq.endpoint(on: "b").endpoint.connections.isEmpty)
    }

    /// Many connections one after another (freed identities get reused): each
    /// completes, and none leaves bookkeeping behind.
    func testSequentialTransfersLeaveNoBookkeeping() throws {
        let h = try Harness(Self.yaml(size: "200KB", count: 12))
        XCTAssertTrue(h.run(limit: .seconds(3), until: { h.transfers.count == 12 && !h.transfer.hasOutstandingWork }))
        XCTAssertEqual(h.transfers.filter { $0.record.durationNs != nil }.count, 12)
        _ = h.scheduler.run(until: h.scheduler.now + .milliseconds(50))
        XCTAssertEqual(h.sink.entries.transfers, 0)
        XCTAssertEqual(h.sink.entries.connections, 0)
        XCTAssertEqual(h.context.stoq.connectionsWithStreams, 0)
    }

    /// More streams than the peer allows at once: the rest open as streams close.
    func testMoreStreamsThanThePeerAllowsAtOnce() throws {
        let h = try Harness(transferPairYAML(seed: 4, duration: "1s", workload: "size: 3MB, streams: 250"))
        XCTAssertTrue(h.run(limit: .seconds(5), until: { !h.transfers.isEmpty }))
        let record = try XCTUnwrap(h.transfers.first?.record)
        XCTAssertEqual(record.streams, 250)
        XCTAssertEqual(record.bytesReceived, 3_000_000)
        XCTAssertNotNil(record.durationNs)
    }

    /// Content exchanges (another service on the same nodes) leave no server
    /// sessions or stream owners once their connections have closed.
    func testContentExchangesLeaveNoServerSessions() throws {
        let h = try Harness("""
            name: content-bookkeeping
            seed: 2
            duration: 3s
            sites:
              - {name: fra, city: Frankfurt}
            nodes:
              - {name: origin, site: fra, role: core}
              - {name: edge, site: fra, role: edge, uplink: {to: origin, tier: 1gbps}}
              - {name: client, site: fra, role: client, uplink: {to: edge, tier: 100mbps}}
            workloads:
              - {name: data, kind: publish, origin: origin, replication: 1, chunking: small, content: {generate: versions, size: 256KiB}}
              - {kind: fetch, of: data, clients: client, start: 500ms, interval: 500ms, count: 3}
            """)
        XCTAssertTrue(h.run(limit: .seconds(5), until: {
            h.fetches.count == 3 && !h.workloads.contains { $0.hasOutstandingWork }
        }), "\(h.fetches.count) fetches")
        XCTAssertTrue(h.fetches.allSatisfy { $0.error == nil }, "\(h.fetches)")
        _ = h.scheduler.run(until: h.scheduler.now + .milliseconds(100))   // the last CONNECTION_CLOSE crosses
        XCTAssertEqual(h.context.content.connectionsWithSessions, 0)
        XCTAssertEqual(h.context.stoq.connectionsWithStreams, 0)
    }
}
