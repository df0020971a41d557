import XCTest
import StoqEngine
import StoqTestSupport

/// Determinism is defined over what a trace records — datagram times and
/// sizes — not over ciphertext: GnuTLS draws its own randomness inside TLS and
/// offers no hook to seed it. With Ed25519 certificates and X25519 key shares
/// those draws never change a size, and connection IDs come from the seed.
final class DeterminismTests: XCTestCase {
    private static let bundle = try! TestTLS.authority.issueLeaf(names: TestTLS.defaultNames)

    private func run(seed: UInt64) throws -> [InMemoryPair.TraceEntry] {
        let server = ServerTLSConfiguration(credentials: try .server(Self.bundle))
        let pair = try InMemoryPair(seed: seed, oneWayDelay: .milliseconds(7), bitsPerSecond: 100e6, lossRate: 0.02,
                                    clientTLS: try TestTLS.client(), serverTLS: server)
        pair.recordsTrace = true
        let (c, s) = try XCTUnwrap(pair.establish())
        let sink = StreamSink(s)
        sink.countOnly = true
        let id = try c.openStream()
        try c.write(stream: id, testPayload(count: 1 << 20), fin: true)
        XCTAssertTrue(pair.run(until: { sink.finished.contains(id) }))
        c.close(errorCode: 1)
        pair.run(until: { s.isClosed })
        return pair.trace
    }

    func testSameSeedGivesSameTimesAndSizes() throws {
        let a = try run(seed: 5), b = try run(seed: 5)
        XCTAssertGreaterThan(a.count, 700)
        XCTAssertTrue(a == b, "traces differ at entry \(zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count))")
        let c = try run(seed: 6)
        XCTAssertFalse(a == c, "a different seed should lose different datagrams")
    }
}
