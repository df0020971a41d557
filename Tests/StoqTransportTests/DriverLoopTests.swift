import XCTest
import StoqEngine
import StoqTestSupport

/// The transport is pull-based: protocol calls never call the application,
/// and `EndpointDriver` is the one loop that dispatches events and transmits.
final class DriverLoopTests: XCTestCase {
    /// Two endpoints wired by hand, no driver: datagrams in, datagrams out,
    /// and no handler or hook ever runs; the events wait to be polled.
    func testWithoutADriverNoHandlerRunsAndEventsWaitForPoll() throws {
        let client = try QuicEndpoint(localAddress: InMemoryPair.defaultClientAddress, client: try TestTLS.client(),
                                      random: RandomStream(seed: 1, stream: "client"))
        let server = try QuicEndpoint(localAddress: InMemoryPair.defaultServerAddress, server: try TestTLS.server(),
                                      random: RandomStream(seed: 1, stream: "server"))
        var applicationCalls = 0
        server.onNewConnection = { _ in applicationCalls += 1 }
        server.onHandshakeCompleted = { _ in applicationCalls += 1 }
        client.onHandshakeCompleted = { _ in applicationCalls += 1 }
        var now = SimTime.zero
        let c = try client.connect(to: server.localAddress, serverName: "localhost", at: now)
        c.onEvent = { _ in applicationCalls += 1 }

        var accepted: [QuicConnection] = []
        var clientEvents: [ConnectionEvent] = [], serverEvents: [ConnectionEvent] = []
        for _ in 0..<20 {
            now += .milliseconds(5)
            for e in [client, server] where e.pollTimeout().map({ $0 <= now }) == true { e.handleDeadlines(at: now) }
            Self.deliver(from: client, to: server, at: now)
            while let s = server.pollAccepted() { accepted.append(s) }
            while let s = server.pollConnectionWithEvents() { while let e = s.poll() { serverEvents.append(e) } }
            Self.deliver(from: server, to: client, at: now)
            while let x = client.pollConnectionWithEvents() { while let e = x.poll() { clientEvents.append(e) } }
        }
        XCTAssertEqual(applicationCalls, 0, "a protocol call reached the application")
        XCTAssertTrue(c.isHandshakeComplete)
        XCTAssertEqual(accepted.count, 1)
        XCTAssertTrue(accepted.first?.isHandshakeComplete == true)
        XCTAssertTrue(clientEvents.contains(.handshakeCompleted), "\(clientEvents)")
        XCTAssertTrue(serverEvents.contains(.handshakeCompleted), "\(serverEvents)")
        XCTAssertNotNil(client.pollTimeout(), "an open connection has a timer (idle, ACK, loss)")
    }

    /// A handler's writes leave in the loop's transmit, with no flush: the
    /// client's stream data rides with its handshake Finished, so the server
    /// hears of the handshake and the stream in one batch. A handler that
    /// installs a successor gets no more events: the driver looks the handler
    /// up per event (what a STOQ node does when HTTP/3 takes a connection over).
    func testHandlerWritesLeaveWithoutAFlushAndAReplacedHandlerGetsTheRest() throws {
        let pair = try InMemoryPair.verified()
        var first: [ConnectionEvent] = [], second: [ConnectionEvent] = []
        var completedAt: SimTime?, streamAt: SimTime?
        pair.server.onNewConnection = { s in
            s.onEvent = { [unowned s] event in
                first.append(event)
                guard case .handshakeCompleted = event else { return }
                completedAt = pair.now
                s.onEvent = { event in
                    second.append(event)
                    if case .streamReadable = event, streamAt == nil { streamAt = pair.now }
                }
            }
        }
        let c = try pair.connect()
        c.onEvent = { [unowned c] event in
            guard case .handshakeCompleted = event, let id = try? c.openStream() else { return }
            try? c.write(stream: id, Array("hello".utf8), fin: true)   // no flush
        }
        XCTAssertTrue(pair.run(until: { streamAt != nil }))
        XCTAssertEqual(first, [.handshakeCompleted], "the first handler saw events after it replaced itself")
        XCTAssertTrue(second.contains(.streamOpened(0)) && second.contains(.streamReadable(0)), "\(second)")
        XCTAssertEqual(streamAt, completedAt, "the stream data did not leave with the handshake's last flight")
    }

    /// Sends every datagram `from` has ready into `to` at `now`.
    private static func deliver(from: QuicEndpoint, to: QuicEndpoint, at now: SimTime) {
        var datagrams: [[UInt8]] = []
        while from.pollTransmit(at: now, { _, bytes in datagrams.append(Array(bytes)) }) != nil {}
        for d in datagrams { d.withUnsafeBytes { to.receive($0, from: from.localAddress, at: now) } }
    }
}
