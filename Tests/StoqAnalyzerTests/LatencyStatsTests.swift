import Foundation
@testable import StoqAnalyzer
import XCTest

final class LatencyStatsTests: XCTestCase {
    func testSmallSamplesAreExact() {
        var s = LatencyStats()
        let values: [Int64] = [5, 1, 9, 3, 7, 2, 8, 4, 6, 10]
        for v in values { s.record(v) }
        XCTAssertTrue(s.isExact)
        XCTAssertEqual(Distribution(s), Distribution(values))
        XCTAssertEqual(Distribution(values)?.p50, 5)
        XCTAssertEqual(Distribution(values)?.p90, 9)
        XCTAssertEqual(Distribution(values)?.p99, 10)
        XCTAssertNil(Distribution(LatencyStats()))
    }

    func testNearestRankAtTheTails() {
        let thousand = (1...1000).map(Int64.init)
        XCTAssertEqual(Distribution(thousand)?.p999, 999)
        XCTAssertEqual(Distribution(thousand)?.p99, 990)
        XCTAssertEqual(Distribution(thousand)?.p50, 500)
    }

    /// 200,000 latencies from 1 µs to 2 s: every HDR percentile is within the
    /// histogram's precision (three significant digits) of the exact one.
    func testHistogramPercentilesMatchExactWithinPrecision() {
        var rng = SplitMix64(state: 42)
        var s = LatencyStats()
        var all: [Int64] = []
        for _ in 0..<200_000 {
            let v = rng.logUniform(1_000, 2_000_000_000)
            s.record(v)
            all.append(v)
        }
        XCTAssertFalse(s.isExact)
        let sorted = all.sorted()
        for p in RunSummary.cdfPercentiles {
            let exact = Distribution.nearestRank(p, sorted: sorted)
            let approx = s.percentiles([p])[0]
            XCTAssertLessThanOrEqual(abs(approx - exact), max(exact / 1000, 1), "p\(p): hdr \(approx) exact \(exact)")
            XCTAssertTrue(s.histogram!.valuesAreEquivalent(UInt64(approx), UInt64(exact)), "p\(p)")
        }
        let d = Distribution(s)!, e = Distribution(all)!
        XCTAssertEqual(d.count, e.count)
        XCTAssertEqual(d.min, e.min)
        XCTAssertEqual(d.max, e.max)
        XCTAssertEqual(d.mean, e.mean, accuracy: e.mean * 1e-12)
    }

    /// The structure's size depends on the value range, not on the count.
    func testMemoryIsBoundedByRangeNotCount() {
        var rng = SplitMix64(state: 7)
        var s = LatencyStats()
        s.record(1_000)
        s.record(3_000_000_000)   // the whole range up front
        for _ in 0..<10_000 { s.record(rng.logUniform(1_000, 3_000_000_000)) }
        let after10k = s.footprintBytes
        for _ in 0..<1_000_000 { s.record(rng.logUniform(1_000, 3_000_000_000)) }
        XCTAssertEqual(s.footprintBytes, after10k)
        XCTAssertLessThan(after10k, 512 << 10)
        XCTAssertEqual(s.count, 1_010_002)
    }

    func testNegativeValuesCountAsZero() {
        var s = LatencyStats()
        s.record(-5)
        XCTAssertEqual(Distribution(s)?.min, 0)
    }
}
