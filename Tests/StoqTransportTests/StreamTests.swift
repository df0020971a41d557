import XCTest
import StoqEngine
import StoqTestSupport

final class StreamTests: XCTestCase {
    /// Client sends `payload` on a new stream with FIN; returns what the server read and the connections.
    private func transfer(_ payload: [UInt8], bidirectional: Bool = true, pair: InMemoryPair? = nil)
        throws -> (received: StreamSink, stream: Int64, client: QuicConnection, server: QuicConnection, pair: InMemoryPair) {
        let pair = try pair ?? InMemoryPair.verified(oneWayDelay: .milliseconds(5))
        let (c, s) = try XCTUnwrap(pair.establish(), "handshake failed")
        let sink = StreamSink(s)
        sink.countOnly = payload.count > 4 << 20
        let id = try c.openStream(bidirectional: bidirectional)
        try c.write(stream: id, payload, fin: true)
        XCTAssertTrue(pair.run(until: { sink.finished.contains(id) }),
                      "transfer of \(payload.count) bytes did not finish: got \(sink.counts[id] ?? 0), client \(c.state), \(c.metrics), server \(s.state)")
        return (sink, id, c, s, pair)
    }

    func testEmptyStreamDeliversOnlyFin() throws {
        let r = try transfer([])
        XCTAssertEqual(r.received.counts[r.stream] ?? 0, 0)
        XCTAssertTrue(r.received.finished.contains(r.stream))
        XCTAssertEqual(r.received.opened, [r.stream])
    }

    func testOneByte() throws {
        let r = try transfer([42])
        XCTAssertEqual(r.received.data[r.stream], [42])
    }

    func testOneMebibyteArrivesIntact() throws {
        let payload = testPayload(count: 1 << 20)
        let r = try transfer(payload)
        assertSameBytes(r.received.data[r.stream], payload)
    }

    func testFiftyMebibytesArriveIntact() throws {
        let payload = testPayload(count: 50 << 20, seed: 99)
        var expected = FNV1a()
        expected.update(payload)
        let r = try transfer(payload)
        XCTAssertEqual(r.received.counts[r.stream], payload.count)
        XCTAssertEqual(r.received.hashes[r.stream], expected)
        XCTAssertEqual(r.client.metrics.streamBytesWritten, UInt64(payload.count))
        XCTAssertEqual(r.server.metrics.streamBytesRead, UInt64(payload.count))
    }

    func testUnidirectionalStream() throws {
        let payload = testPayload(count: 100_000)
        let r = try transfer(payload, bidirectional: false)
        XCTAssertEqual(r.stream & 0x3, 0x2, "client-initiated unidirectional stream IDs end in binary 10")
        assertSameBytes(r.received.data[r.stream], payload)
    }

    func testBidirectionalRequestResponse() throws {
        let pair = try InMemoryPair.verified()
        let (c, s) = try XCTUnwrap(pair.establish())
        let response = testPayload(count: 300_000, seed: 3)
        let serverSink = StreamSink(s)
        s.onEvent = { [unowned s] event in
            if case let .streamReadable(id) = event {
                let (bytes, fin) = s.read(stream: id)
                XCTAssertEqual(bytes, Array("GET /x\r\n".utf8))
                if fin { try! s.write(stream: id, response, fin: true) }
            }
        }
        _ = serverSink
        let clientSink = StreamSink(c)
        let id = try c.openStream()
        try c.write(stream: id, Array("GET /x\r\n".utf8), fin: true)
        XCTAssertTrue(pair.run(until: { clientSink.finished.contains(id) }))
        assertSameBytes(clientSink.data[id], response)
    }

    func testManyConcurrentStreams() throws {
        var config = TransportConfiguration()
        config.maxBidirectionalStreams = 50
        let pair = try InMemoryPair.verified(configuration: config)
        let (c, s) = try XCTUnwrap(pair.establish())
        let sink = StreamSink(s)
        var expected: [Int64: [UInt8]] = [:]
        // 200 streams with a limit of 50 at a time: the rest wait for .streamsAvailable.
        var remaining = 200
        func openMore() {
            while remaining > 0 {
                guard let id = try? c.openStream() else { return }
                let payload = testPayload(count: 1000 + remaining * 37, seed: UInt64(remaining))
                expected[id] = payload
                try! c.write(stream: id, payload, fin: true)
                remaining -= 1
            }
        }
        c.onEvent = { if case .streamsAvailable(bidirectional: true) = $0 { openMore() } }
        openMore()
        XCTAssertEqual(expected.count, 50, "the peer's stream limit should hold the rest back")
        XCTAssertTrue(pair.run(until: { sink.finished.count == 200 }), "\(sink.finished.count) of 200 finished, \(remaining) not opened; client \(c.state) server \(s.state)")
        for (id, payload) in expected { assertSameBytes(sink.data[id], payload, "stream \(id)") }
    }

    func testStalledReaderStallsSenderAndResumingFinishes() throws {
        var config = TransportConfiguration()
        config.initialStreamWindow = 64 << 10
        config.initialConnectionWindow = 128 << 10
        config.maxStreamWindow = 64 << 10
        config.maxConnectionWindow = 128 << 10
        let pair = try InMemoryPair.verified(configuration: config)
        let (c, s) = try XCTUnwrap(pair.establish())
        let sink = StreamSink(s)
        sink.reading = false
        let payload = testPayload(count: 1 << 20)
        let id = try c.openStream()
        try c.write(stream: id, payload, fin: true)
        pair.run(for: .seconds(5))
        // Without reads, no credit flows back: at most one window arrives and the sender sits blocked.
        let buffered = s.metrics.bytesReceived
        XCTAssertLessThan(buffered, UInt64(payload.count / 4), "sender ignored flow control")
        XCTAssertTrue(sink.finished.isEmpty)
        pair.run(for: .seconds(5))
        XCTAssertEqual(s.metrics.bytesReceived, buffered, "data kept flowing without credit")
        XCTAssertFalse(c.isClosed)
        sink.reading = true
        sink.drainAll()
        XCTAssertTrue(pair.run(until: { sink.finished.contains(id) }))
        assertSameBytes(sink.data[id], payload)
    }

    func testLossIsRecoveredWithRetransmissions() throws {
        for (seed, loss) in [(UInt64(11), 0.01), (12, 0.03), (13, 0.05)] {
            var counting = TransportConfiguration()
            counting.countLostPackets = true
            let pair = try InMemoryPair.verified(seed: seed, oneWayDelay: .milliseconds(10), lossRate: loss, configuration: counting)
            let payload = testPayload(count: 2 << 20, seed: seed)
            let r = try transfer(payload, pair: pair)
            assertSameBytes(r.received.data[r.stream], payload, "loss \(loss)")
            XCTAssertGreaterThan(pair.datagramsDropped, 0)
            let m = r.client.metrics
            XCTAssertGreaterThan(m.streamPacketsRetransmitted, 0, "loss \(loss): \(m)")
            XCTAssertGreaterThan(m.packetsLost ?? 0, 0, "loss \(loss): \(m)")
        }
    }

    func testLostPacketsAreCountedOnlyWhenAsked() throws {
        let pair = try InMemoryPair.verified(seed: 12, oneWayDelay: .milliseconds(10), lossRate: 0.03)
        let r = try transfer(testPayload(count: 1 << 20, seed: 12), pair: pair)
        XCTAssertNil(r.client.metrics.packetsLost, "no qlog formatting unless countLostPackets is on")
        XCTAssertGreaterThan(r.client.metrics.streamPacketsRetransmitted, 0, "retransmissions are counted anyway")
    }
}

/// Compares byte arrays without printing megabytes when they differ.
func assertSameBytes(_ got: [UInt8]?, _ expected: [UInt8], _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard let got else { return XCTFail("no bytes received \(message)", file: file, line: line) }
    if got != expected {
        let firstDiff = (0..<min(got.count, expected.count)).first { got[$0] != expected[$0] } ?? min(got.count, expected.count)
        XCTFail("received \(got.count) bytes, expected \(expected.count); first difference at \(firstDiff) \(message)", file: file, line: line)
    }
}
