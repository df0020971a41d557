import XCTest
import StoqEngine
import StoqTestSupport

final class ConnectionLifecycleTests: XCTestCase {
    func testExplicitCloseCodeIsSeenByThePeer() throws {
        let pair = try InMemoryPair.verified()
        let (c, s) = try XCTUnwrap(pair.establish())
        c.close(errorCode: 0x42, reason: "done here")
        XCTAssertTrue(pair.run(until: { s.isClosed }))
        XCTAssertEqual(c.state, .closed(.application(code: 0x42, reason: "done here", byPeer: false)))
        XCTAssertEqual(s.state, .closed(.application(code: 0x42, reason: "done here", byPeer: true)))
        XCTAssertTrue(pair.client.connections.isEmpty)
        XCTAssertTrue(pair.server.connections.isEmpty)
    }

    func testServerCloseReachesClient() throws {
        let pair = try InMemoryPair.verified()
        let (c, s) = try XCTUnwrap(pair.establish())
        s.close(errorCode: 7)
        XCTAssertTrue(pair.run(until: { c.isClosed }))
        XCTAssertEqual(c.state, .closed(.application(code: 7, reason: "", byPeer: true)))
    }

    func testIdleTimeoutClosesBothSides() throws {
        var config = TransportConfiguration()
        config.idleTimeout = .seconds(3)
        let pair = try InMemoryPair.verified(configuration: config)
        let (c, s) = try XCTUnwrap(pair.establish())
        let start = pair.now
        XCTAssertTrue(pair.run(until: { c.isClosed && s.isClosed }, timeLimit: .seconds(60)))
        XCTAssertEqual(c.state, .closed(.idleTimeout))
        XCTAssertEqual(s.state, .closed(.idleTimeout))
        // RFC 9000 §10.1: at least the timeout, and at least 3 PTO.
        let idle = pair.now - start
        XCTAssertGreaterThanOrEqual(idle, .seconds(3))
        XCTAssertLessThan(idle, .seconds(5))
        XCTAssertNil(pair.client.pollTimeout())
        XCTAssertNil(pair.server.pollTimeout())
    }

    func testKeyUpdateKeepsDataFlowing() throws {
        let pair = try InMemoryPair.verified()
        let (c, s) = try XCTUnwrap(pair.establish())
        let sink = StreamSink(s)
        XCTAssertTrue(pair.run(until: { c.handshakeConfirmed && s.handshakeConfirmed }))
        pair.run(for: .milliseconds(100))
        let clientBefore = c.metrics.keyUpdates, serverBefore = s.metrics.keyUpdates
        try c.initiateKeyUpdate(at: pair.now)
        let payload = testPayload(count: 200_000)
        let id = try c.openStream()
        try c.write(stream: id, payload, fin: true)
        XCTAssertTrue(pair.run(until: { sink.finished.contains(id) }))
        assertSameBytes(sink.data[id], payload)
        XCTAssertGreaterThan(s.metrics.keyUpdates, serverBefore, "server never followed the key phase")
        // The initiator derives its next keys once the update is confirmed and the old keys are dropped (3 PTO).
        pair.run(for: .seconds(1))
        XCTAssertGreaterThan(c.metrics.keyUpdates, clientBefore, "client derived no new keys")
        // A second update after the first completed works as well (ngtcp2 refuses one while the first is pending).
        try c.initiateKeyUpdate(at: pair.now)
        let id2 = try c.openStream()
        try c.write(stream: id2, [1, 2, 3], fin: true)
        XCTAssertTrue(pair.run(until: { sink.finished.contains(id2) }))
        // ngtcp2 derives the following keys lazily, on the first packet after the old keys expire.
        pair.run(for: .seconds(1))
        let id3 = try c.openStream()
        try c.write(stream: id3, [4], fin: true)
        XCTAssertTrue(pair.run(until: { sink.finished.contains(id3) }))
        XCTAssertEqual(c.metrics.keyUpdates, clientBefore + 2)
        XCTAssertEqual(s.metrics.keyUpdates, serverBefore + 2)
        XCTAssertFalse(c.isClosed || s.isClosed)
    }

    func testKeyUpdateBeforeConfirmationIsRefused() throws {
        let pair = try InMemoryPair.verified()
        let c = try pair.connect()
        XCTAssertThrowsError(try c.initiateKeyUpdate(at: pair.now))
    }

    func testEverythingIsFreedAfterTeardown() throws {
        weak var weakClient: QuicConnection?
        weak var weakServer: QuicConnection?
        weak var weakPair: InMemoryPair?
        weak var weakEndpoint: QuicEndpoint?
        try autoreleasepool(invoking: {
            let pair = try InMemoryPair.verified()
            let (c, s) = try XCTUnwrap(pair.establish())
            let sink = StreamSink(s)
            let id = try c.openStream()
            try c.write(stream: id, testPayload(count: 50_000), fin: true)
            XCTAssertTrue(pair.run(until: { sink.finished.contains(id) }))
            weakClient = c; weakServer = s; weakPair = pair; weakEndpoint = pair.server
        })
        XCTAssertNil(weakPair)
        XCTAssertNil(weakEndpoint)
        XCTAssertNil(weakClient)
        XCTAssertNil(weakServer)
    }

    /// Connections hold their endpoint unowned(unsafe); the endpoint lets go of
    /// them on close and in its deinit, so one that outlives it is inert, not dangling.
    func testAConnectionThatOutlivesItsEndpointIsInert() throws {
        var open: QuicConnection?
        var closed: QuicConnection?
        try autoreleasepool(invoking: {
            let pair = try InMemoryPair.verified()
            let (c, _) = try XCTUnwrap(pair.establish())
            let (d, t) = try XCTUnwrap(pair.establish())
            d.close()
            XCTAssertTrue(pair.run(until: { t.isClosed }))
            XCTAssertTrue(d.isClosed)
            open = c
            closed = d
        })
        let c = try XCTUnwrap(open)
        XCTAssertTrue(c.isHandshakeComplete)
        let id = try c.openStream()
        try c.write(stream: id, [1, 2, 3], fin: true)
        c.close(errorCode: 1)
        XCTAssertGreaterThan(c.metrics.bytesSent, 0)
        XCTAssertThrowsError(try XCTUnwrap(closed).openStream())
    }

    func testClosedConnectionsLeaveTheEndpoint() throws {
        weak var weakClient: QuicConnection?
        let pair = try InMemoryPair.verified()
        try autoreleasepool(invoking: {
            let (c, s) = try XCTUnwrap(pair.establish())
            c.close()
            XCTAssertTrue(pair.run(until: { s.isClosed }))
            weakClient = c
        })
        // The endpoint dropped its reference once the connection closed.
        XCTAssertNil(weakClient)
    }
}

#if !canImport(ObjectiveC)
func autoreleasepool<R>(invoking body: () throws -> R) rethrows -> R { try body() }
#endif
