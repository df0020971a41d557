import XCTest
import StoqEngine
import StoqTestSupport

/// Session resumption, 0-RTT, scheduled key updates and the pacing switch
/// (`TransportConfiguration.resumption`, `.keyUpdateInterval`, `.pacing`).
final class ResumptionTests: XCTestCase {
    private func resuming() -> TransportConfiguration {
        var c = TransportConfiguration()
        c.resumption = true
        return c
    }

    /// Opens a stream as soon as the connection allows one (at once when
    /// resuming, at handshake completion otherwise), writes `payload` with
    /// FIN, and returns when the server has read it all: the connection, and
    /// the times of connect and of the first byte's arrival at the server.
    private func sendRequest(_ pair: InMemoryPair, _ payload: [UInt8]) throws -> (client: QuicConnection, server: QuicConnection, connectedAt: SimTime, firstByteAt: SimTime) {
        var accepted: QuicConnection?
        var firstByteAt: SimTime?
        var received: [UInt8] = []
        var finished = false
        pair.server.onNewConnection = { s in
            accepted = s
            s.onEvent = { event in
                guard case let .streamReadable(id) = event else { return }
                let (bytes, fin) = s.read(stream: id)
                if firstByteAt == nil && !bytes.isEmpty { firstByteAt = pair.now }
                received += bytes
                if fin { finished = true }
            }
        }
        let connectedAt = pair.now
        let c = try pair.connect()
        var wrote = false
        func writeIfPossible() {
            guard !wrote, let id = try? c.openStream() else { return }
            try? c.write(stream: id, payload, fin: true)
            wrote = true
        }
        writeIfPossible()
        c.onEvent = { event in if event == .handshakeCompleted { writeIfPossible() } }
        XCTAssertTrue(pair.run(until: { finished && c.isHandshakeComplete && accepted?.isHandshakeComplete == true || c.isClosed }))
        XCTAssertEqual(received, payload, "the server read exactly what was sent")
        return (c, try XCTUnwrap(accepted), connectedAt, try XCTUnwrap(firstByteAt))
    }

    func testSecondConnectionResumesAndItsFirstByteArrivesOneRoundTripEarlier() throws {
        let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(10), configuration: resuming())
        let request = testPayload(count: 600)

        let first = try sendRequest(pair, request)
        XCTAssertFalse(first.client.isResumed)
        XCTAssertNil(first.client.earlyDataAccepted, "nothing was offered the first time")
        pair.run(for: .milliseconds(50))   // the ticket arrives after the handshake
        let second = try sendRequest(pair, request)

        XCTAssertTrue(second.client.isResumed, "the second handshake resumed with the ticket")
        XCTAssertTrue(second.server.isResumed)
        XCTAssertEqual(second.client.earlyDataAccepted, true)
        XCTAssertEqual(second.server.earlyDataAccepted, true)
        let full = first.firstByteAt - first.connectedAt
        let zeroRTT = second.firstByteAt - second.connectedAt
        // Full handshake: the request leaves after one RTT (20 ms) and takes half
        // a round trip; 0-RTT: it leaves with the ClientHello.
        XCTAssertEqual(zeroRTT.nanoseconds, SimDuration.milliseconds(10).nanoseconds, accuracy: 2_000_000, "0-RTT first byte after \(zeroRTT)")
        XCTAssertEqual((full - zeroRTT).nanoseconds, SimDuration.milliseconds(20).nanoseconds, accuracy: 3_000_000,
                       "full handshake \(full), 0-RTT \(zeroRTT): one RTT apart")
    }

    func testRefusedEarlyDataIsSentAgainAfterTheHandshake() throws {
        let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(10), configuration: resuming())
        let request = testPayload(count: 3000, seed: 11)
        _ = try sendRequest(pair, request)
        pair.run(for: .milliseconds(50))
        // The server can no longer open the ticket: a full handshake, 0-RTT refused.
        pair.server.rotateSessionTicketKey()
        let second = try sendRequest(pair, request)
        XCTAssertFalse(second.client.isResumed)
        XCTAssertEqual(second.client.earlyDataAccepted, false)
        XCTAssertEqual(second.server.earlyDataAccepted, false)
        // sendRequest checked that every byte arrived anyway; and no sooner than a full handshake allows.
        XCTAssertGreaterThanOrEqual(second.firstByteAt - second.connectedAt, .milliseconds(29))
    }

    func testWithoutResumptionNoTicketIsSentAndNothingIsResumed() throws {
        let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(10))
        let request = testPayload(count: 600)
        _ = try sendRequest(pair, request)
        pair.run(for: .milliseconds(50))
        let second = try sendRequest(pair, request)
        XCTAssertFalse(second.client.isResumed)
        XCTAssertNil(second.client.earlyDataAccepted)
    }

    func testKeyUpdatesHappenOnSchedule() throws {
        var config = TransportConfiguration()
        config.keyUpdateInterval = .milliseconds(200)
        let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(5), configuration: config)
        let (c, s) = try XCTUnwrap(pair.establish())
        let before = c.metrics.keyUpdates
        // Keep packets flowing so each update completes (it needs the peer's ACK).
        let id = try c.openStream()
        let sink = StreamSink(s)
        sink.countOnly = true
        for _ in 0..<100 {
            try c.write(stream: id, testPayload(count: 1000))
            pair.run(for: .milliseconds(20))
        }
        let updates = c.metrics.keyUpdates - before
        // 2 s of traffic at one update per 200 ms from each side (each side also
        // follows the other's): about ten, bounded by the schedule.
        XCTAssertGreaterThanOrEqual(updates, 6, "key updates: \(updates)")
        XCTAssertLessThanOrEqual(updates, 22, "key updates: \(updates)")
        XCTAssertEqual(sink.counts[id], 100_000, "data flows across the updates")
        XCTAssertFalse(c.isClosed)
    }

    func testUnpacedSenderBurstsWhatThePacerSpreads() throws {
        /// The most client datagrams put on the path within one millisecond
        /// while a warmed-up connection (large window) sends 4 MB.
        func largestBurst(pacing: Bool) throws -> Int {
            var config = TransportConfiguration()
            config.pacing = pacing
            config.countLostPackets = false
            let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(20), bitsPerSecond: 1e9, configuration: config)
            let (c, s) = try XCTUnwrap(pair.establish())
            let sink = StreamSink(s)
            sink.countOnly = true
            let id = try c.openStream()
            try c.write(stream: id, testPayload(count: 4_000_000))
            XCTAssertTrue(pair.run(until: { sink.counts[id] == 4_000_000 }))
            pair.recordsTrace = true
            try c.write(stream: id, testPayload(count: 4_000_000), fin: true)
            XCTAssertTrue(pair.run(until: { sink.finished.contains(id) }))
            var perMillisecond: [Int64: Int] = [:]
            for e in pair.trace where e.from == .client { perMillisecond[e.time.nanosecondsSinceStart / 1_000_000, default: 0] += 1 }
            return perMillisecond.values.max() ?? 0
        }
        let paced = try largestBurst(pacing: true)
        let unpaced = try largestBurst(pacing: false)
        // Measured: about 770 (paced) and 1,800 (unpaced) per ms; the link itself carries ~85.
        XCTAssertGreaterThan(unpaced, paced * 2, "largest burst per ms: unpaced \(unpaced), paced \(paced)")
    }
}
