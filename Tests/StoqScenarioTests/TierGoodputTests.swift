import StoqBenchmarks
import StoqTopology
import XCTest

/// One QUIC connection fills a link after slow start (issue #3), in virtual
/// time: these assert simulated goodput, which the seed fixes, never speed.
/// `stoqsim bench tiers` runs the same transfers, larger, on all three tiers.
final class TierGoodputTests: XCTestCase {
    func assertFillsLink(_ tier: LinkTier, bytes: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try TierBenchmarks.run(tier: tier, bytes: bytes, seed: 1)
        let link = Double(tier.bitsPerSecond)
        let afterSlowStart = try XCTUnwrap(r.secondHalfGoodputBps, "transfer incomplete: \(r)", file: file, line: line)
        let whole = try XCTUnwrap(r.goodputBps, file: file, line: line)
        XCTAssertGreaterThanOrEqual(afterSlowStart, TierBenchmarks.requiredShare * link, "\(r)", file: file, line: line)
        // Payload cannot outrun the link, and slow start costs the whole transfer something.
        XCTAssertLessThan(afterSlowStart, link, "\(r)", file: file, line: line)
        XCTAssertLessThan(whole, afterSlowStart, "\(r)", file: file, line: line)
        XCTAssertTrue(r.verified, "\(r)", file: file, line: line)
    }

    func testOneConnectionFills100Mbps() throws {
        try assertFillsLink(.mbps100, bytes: 10_000_000)
    }

    func testOneConnectionFills1Gbps() throws {
        try assertFillsLink(.gbps1, bytes: 50_000_000)
    }
}
