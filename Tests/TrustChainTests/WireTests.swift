import StoqEngine
import XCTest
@testable import TrustChain

final class WireTests: XCTestCase {
    func testRequestsAndResponsesRoundTrip() {
        let r = TrustChainRequest(method: "POST", path: "/ca/certificate", body: Array("{\"a\":1}\n".utf8))
        XCTAssertEqual(TrustChainWire.decodeRequest(TrustChainWire.encode(r)), r)
        let a = TrustChainResponse(status: 403, body: Array("{}".utf8))
        XCTAssertEqual(TrustChainWire.decodeResponse(TrustChainWire.encode(a)), a)
        XCTAssertNil(TrustChainWire.decodeRequest(Array("GET\n".utf8)))
        XCTAssertNil(TrustChainWire.decodeRequest(Array("GET /ct/sth".utf8)))
        XCTAssertNil(TrustChainWire.decodeResponse(Array("abc\n{}".utf8)))
    }

    func testStreamHandlerAnswersAtTheEndOfTheStream() throws {
        let f = try Fixture()
        let handler = TrustChainStreamHandler(api: f.api)
        let bytes = TrustChainWire.encode(TrustChainRequest(method: "GET", path: "/ct/sth"))
        XCTAssertNil(handler.receive(Array(bytes.prefix(5)), fin: false, now: .zero))
        let answer = try XCTUnwrap(handler.receive(Array(bytes.dropFirst(5)), fin: true, now: .zero))
        XCTAssertEqual(TrustChainWire.decodeResponse(answer), f.api.handle(method: "GET", path: "/ct/sth", body: [], now: .zero))
        XCTAssertEqual(TrustChainWire.decodeResponse(TrustChainStreamHandler(api: f.api).receive(Array("junk".utf8), fin: true, now: .zero)!)?.status, 400)
    }
}
