import XCTest
import StoqEngine
import StoqTestSupport

final class HandshakeTests: XCTestCase {
    func testHandshakeCompletesAtAboutOneRTTOnTheClient() throws {
        let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(10))
        let (c, s) = try XCTUnwrap(pair.establish())
        let clientTime = try XCTUnwrap(c.metrics.handshakeDuration)
        // One RTT is 20 ms; the client completes when the server's first flight arrives.
        XCTAssertGreaterThanOrEqual(clientTime, .milliseconds(20))
        XCTAssertLessThan(clientTime, .milliseconds(25), "client handshake took \(clientTime)")
        XCTAssertEqual(c.negotiatedALPN, "stoq")
        XCTAssertEqual(s.negotiatedALPN, "stoq")
        XCTAssertEqual(c.state, .established)
        XCTAssertNotNil(s.metrics.handshakeDuration)
    }
}
