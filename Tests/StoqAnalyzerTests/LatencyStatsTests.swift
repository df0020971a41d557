import Foundation
import Histogram
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
            XCTAssertTrue(s.histogram.valuesAreEquivalent(UInt64(approx), UInt64(exact)), "p\(p)")
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

    /// Values recorded a batch at a time give what recording them one by one gives.
    func testBatchesEqualOneByOne() {
        var rng = SplitMix64(state: 8)
        for total in [0, 3, 255, 256, 257, 1_000, 20_000] {
            let values = (0..<total).map { _ in rng.logUniform(1, 1e10) }
            var one = LatencyStats(significantDigits: .two), batched = LatencyStats(significantDigits: .two)
            for v in values { one.record(v) }
            var at = 0
            while at < total {
                let n = min(Int(rng.next() % 9), total - at)
                values[at..<(at + n)].withUnsafeBufferPointer { batched.record(contentsOf: $0) }
                at += n
            }
            XCTAssertEqual(batched.count, one.count)
            XCTAssertEqual(batched.sum, one.sum)
            XCTAssertEqual(batched.min, one.min)
            XCTAssertEqual(batched.max, one.max)
            XCTAssertEqual(batched.isExact, one.isExact)
            let ps = [0, 1, 25, 50, 90, 99, 99.9, 100.0]
            XCTAssertEqual(batched.percentiles(ps), one.percentiles(ps), "\(total) values")
        }
    }
}

final class LatencyHistogramTests: XCTestCase {
    func testPercentilesEqualHdrHistogram() {
        var rng = SplitMix64(state: 11)
        for digits in [SignificantDigits.two, .three] {
            for (low, high) in [(0.0, 100.0), (1e3, 3e8), (1.0, 4e12)] {
                var reference = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 2, numberOfSignificantValueDigits: digits)
                reference.autoResize = true
                var ours = LatencyHistogram(significantDigits: digits)
                var lo = UInt64.max, hi = UInt64(0)
                for _ in 0..<20_000 {
                    let v = UInt64(low == 0 ? Int64(rng.next() % 100) : rng.logUniform(low, high))
                    reference.record(v)
                    ours.record(v)
                    lo = min(lo, v); hi = max(hi, v)
                }
                let ps = RunSummary.cdfPercentiles + [0, 100]
                let expected = ps.map { p -> Int64 in
                    p <= 0 ? Int64(lo) : p >= 100 ? Int64(hi)
                        : min(max(Int64(reference.highestEquivalentForValue(reference.valueAtPercentile(p))), Int64(lo)), Int64(hi))
                }
                XCTAssertEqual(ours.percentiles(ps, min: Int64(lo), max: Int64(hi)), expected, "\(digits) \(low)…\(high)")
                XCTAssertEqual(ours.totalCount, reference.totalCount)
            }
        }
    }

    func testMergeEqualsOnePassAndCountsPast32Bits() {
        var a = LatencyHistogram(significantDigits: .two), b = a, one = a
        for v: UInt64 in [1, 5, 99, 1_000, 123_456, 7_000_000] { a.record(v); one.record(v) }
        for v: UInt64 in [3, 99, 88_888_888] { b.record(v); one.record(v) }
        a.add(b)
        XCTAssertEqual(a.percentiles([10, 50, 90, 99], min: 1, max: 88_888_888), one.percentiles([10, 50, 90, 99], min: 1, max: 88_888_888))

        // A bucket holding more than 2^32 values (by merging) keeps its whole count.
        var big = LatencyHistogram(significantDigits: .two)
        big.record(7)
        var many = big
        for _ in 0..<33 { many.add(many) }   // 2^33 sevens
        var mixed = many
        mixed.record(1_000)
        XCTAssertEqual(mixed.totalCount, (1 << 33) + 1)
        XCTAssertEqual(mixed.percentiles([50, 99.9999999], min: 7, max: 1_000), [7, 7])
        XCTAssertEqual(mixed.percentiles([100], min: 7, max: 1_000), [1_000])

        // A batch that carries a count past 2^32 (twice in one batch) counts it whole.
        var batched = LatencyHistogram(significantDigits: .two)
        batched.record(7)
        for _ in 0..<32 { batched.add(batched) }   // 2^32 sevens: the 32-bit count is 0, one carry
        var last = batched
        for _ in 0..<3 { last.record(7) }
        [Int64(7), 7, 7].withUnsafeBufferPointer { batched.record(contentsOf: $0) }
        XCTAssertEqual(batched.totalCount, (1 << 32) + 3)
        batched.record(1_000)
        last.record(1_000)
        // Had the carry been lost, 3 sevens and one 1,000 would put the median at 1,000.
        XCTAssertEqual(batched.percentiles([50, 99.9999999, 100], min: 7, max: 1_000), [7, 7, 1_000])
        XCTAssertEqual(batched.percentiles([50, 99.9999999, 100], min: 7, max: 1_000), last.percentiles([50, 99.9999999, 100], min: 7, max: 1_000))
    }
}
