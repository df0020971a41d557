import XCTest
import StoqEngine
import StoqTestSupport

/// `TransportConfiguration.keepAlive`: a client's PINGs keep an unused
/// connection open past the idle timeout (what held connections rely on).
final class KeepAliveTests: XCTestCase {
    func testKeepAliveHoldsAnIdleConnectionPastTheIdleTimeout() throws {
        var config = TransportConfiguration()
        config.idleTimeout = .seconds(3)
        config.keepAlive = .seconds(1)
        let pair = try InMemoryPair.verified(configuration: config)
        let (c, s) = try XCTUnwrap(pair.establish())
        let sentBefore = c.metrics.datagramsSent
        pair.run(for: .seconds(20))
        XCTAssertFalse(c.isClosed, "\(c.state)")
        XCTAssertFalse(s.isClosed, "\(s.state)")
        // About one PING a second (each ACKed), not a flood.
        let pings = c.metrics.datagramsSent - sentBefore
        XCTAssertGreaterThanOrEqual(pings, 15)
        XCTAssertLessThanOrEqual(pings, 30)
    }

    func testWithoutKeepAliveTheSameConnectionTimesOut() throws {
        var config = TransportConfiguration()
        config.idleTimeout = .seconds(3)
        let pair = try InMemoryPair.verified(configuration: config)
        let (c, _) = try XCTUnwrap(pair.establish())
        pair.run(for: .seconds(20))
        XCTAssertEqual(c.state, .closed(.idleTimeout))
    }
}
