import Histogram

/// A latency distribution in bounded memory. The first `exactLimit` samples
/// are kept as they are (small groups, e.g. one pair's handful of probes, get
/// exact percentiles); past that they move into an HDR histogram with three
/// significant digits, whose size depends on the range of values, never on
/// their number. Count, sum, min and max stay exact either way.
public struct LatencyStats {
    public static let exactLimit = 256
    /// Per-group precision: three digits (0.1%) for the few workload and
    /// region groups; node pairs can number 10^4–10^5, and at three digits each
    /// histogram is ~160 KiB over a 1 µs–300 ms range, so they use two (1%, ~23 KiB).
    public let significantDigits: SignificantDigits

    public private(set) var count = 0
    public private(set) var sum: Int64 = 0
    public private(set) var min = Int64.max
    public private(set) var max = Int64.min
    private var samples: [Int64] = []
    public private(set) var histogram: Histogram<UInt64>?

    public init(significantDigits: SignificantDigits = .three) {
        self.significantDigits = significantDigits
    }

    public var isEmpty: Bool { count == 0 }
    /// True while percentiles are exact (no histogram yet).
    public var isExact: Bool { histogram == nil }
    public var mean: Double { count > 0 ? Double(sum) / Double(count) : 0 }

    /// Records one value in nanoseconds (negative values count as 0).
    public mutating func record(_ value: Int64) {
        let v = Swift.max(value, 0)
        count += 1
        sum &+= v
        min = Swift.min(min, v)
        max = Swift.max(max, v)
        if histogram != nil {
            histogram!.record(UInt64(v))
        } else if samples.count < Self.exactLimit {
            samples.append(v)
        } else {
            var h = makeHistogram()
            for s in samples { h.record(UInt64(s)) }
            h.record(UInt64(v))
            histogram = h
            samples = []
        }
    }

    /// Adds everything `other` recorded, as if its values had been recorded
    /// here: the exact samples give way to a histogram past `exactLimit` values
    /// in total, and histograms merge bucket by bucket, so percentiles come out
    /// the same as from one pass (what the parallel analysis relies on).
    public mutating func merge(_ other: LatencyStats) {
        precondition(significantDigits == other.significantDigits, "merging latency statistics of different precision")
        guard other.count > 0 else { return }
        count += other.count
        sum &+= other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
        if histogram == nil, other.histogram == nil, samples.count + other.samples.count <= Self.exactLimit {
            samples += other.samples
            return
        }
        if histogram == nil {
            var h = makeHistogram()
            for s in samples { h.record(UInt64(s)) }
            histogram = h
            samples = []
        }
        if let o = other.histogram { histogram!.add(o) } else { for s in other.samples { histogram!.record(UInt64(s)) } }
    }

    /// A histogram sized for the values seen so far: growing one from the
    /// smallest size value by value resized it again and again, which took a
    /// fifth of a big analysis. The bucket layout depends only on the lowest
    /// value (1) and the digits, so the percentiles are the same either way.
    private func makeHistogram() -> Histogram<UInt64> {
        var h = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: Swift.max(2, UInt64(Swift.max(max, 0))),
                                  numberOfSignificantValueDigits: significantDigits)
        h.autoResize = true
        return h
    }

    /// Values at the given percentiles (0…100), nearest-rank: exact for small
    /// samples, else within the histogram's precision (0.1%) of exact.
    public func percentiles(_ ps: [Double]) -> [Int64] {
        guard count > 0 else { return ps.map { _ in 0 } }
        if let histogram { return Self.percentiles(ps, of: histogram, min: min, max: max) }
        let sorted = samples.sorted()
        return ps.map { Distribution.nearestRank($0, sorted: sorted) }
    }

    /// All percentiles in one pass over the recorded buckets, with
    /// `valueAtPercentile`'s definition (rank ⌈(p − 1 ulp) · n⌉, the bucket's
    /// highest equivalent value, clamped to the exact min and max). Calling
    /// `valueAtPercentile` per percentile scans the whole counts array each
    /// time, which made CDFs the analysis' bottleneck.
    static func percentiles(_ ps: [Double], of h: Histogram<UInt64>, min: Int64, max: Int64) -> [Int64] {
        let total = Double(h.totalCount)
        let targets = ps.enumerated().map { i, p -> (rank: UInt64, index: Int) in
            (p <= 0 ? 1 : Swift.max(1, UInt64((Swift.min(p.nextDown, 100) * total / 100).rounded(.up))), i)
        }.sorted { $0.rank < $1.rank }
        var out = ps.map { $0 <= 0 ? min : max }
        var next = 0
        var seen: UInt64 = 0
        for v in h.recordedValues() where next < targets.count {
            seen += v.count
            while next < targets.count, targets[next].rank <= seen {
                let p = ps[targets[next].index]
                if p > 0, p < 100 {
                    out[targets[next].index] = Swift.min(Swift.max(Int64(h.highestEquivalentForValue(v.value)), min), max)
                }
                next += 1
            }
        }
        return out
    }

    /// Bytes this value holds on the heap (for the bounded-memory test and
    /// for sizing big analyses).
    public var footprintBytes: Int {
        histogram?.estimatedFootprintInBytes ?? samples.capacity * MemoryLayout<Int64>.stride
    }
}
