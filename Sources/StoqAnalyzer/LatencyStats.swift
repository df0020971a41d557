import Foundation
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
    /// histogram is ~80 KiB over a 1 µs–300 ms range, so they use two (1%, ~12 KiB).
    public let significantDigits: SignificantDigits

    public private(set) var count = 0
    public private(set) var sum: Int64 = 0
    public private(set) var min = Int64.max
    public private(set) var max = Int64.min
    private var samples: [Int64] = []
    /// True while percentiles are exact (the histogram is not used yet).
    public private(set) var isExact = true
    /// Empty while exact. Not an optional: testing and unwrapping one copied
    /// the histogram (a retain and release) per record.
    private(set) var histogram: LatencyHistogram

    public init(significantDigits: SignificantDigits = .three) {
        self.significantDigits = significantDigits
        histogram = LatencyHistogram(significantDigits: significantDigits)
    }

    public var isEmpty: Bool { count == 0 }
    public var mean: Double { count > 0 ? Double(sum) / Double(count) : 0 }

    /// Records one value in nanoseconds (negative values count as 0).
    @inline(__always)
    public mutating func record(_ value: Int64) {
        let v = Swift.max(value, 0)
        count += 1
        sum &+= v
        min = Swift.min(min, v)
        max = Swift.max(max, v)
        if isExact {
            recordExact(v)
        } else {
            histogram.record(UInt64(v))
        }
    }

    /// Records each of `values` (non-negative nanoseconds: the caller clamps,
    /// as `record` does), as `record` one by one would; past the exact samples
    /// the histogram takes them in one visit.
    mutating func record(contentsOf values: UnsafeBufferPointer<Int64>) {
        var rest = values[...]
        while isExact, let v = rest.first {
            record(v)
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return }
        for v in rest {
            count += 1
            sum &+= v
            min = Swift.min(min, v)
            max = Swift.max(max, v)
        }
        histogram.record(contentsOf: UnsafeBufferPointer(rebasing: rest))
    }

    /// Keeps the sample, or moves all of them into a histogram past `exactLimit`.
    private mutating func recordExact(_ v: Int64) {
        if samples.count < Self.exactLimit {
            samples.append(v)
        } else {
            moveSamplesToHistogram()
            histogram.record(UInt64(v))
        }
    }

    /// Past `exactLimit`: a histogram sized for the values seen so far
    /// (growing one value by value resized it again and again).
    private mutating func moveSamplesToHistogram() {
        histogram.grow(toCover: UInt64(Swift.max(max, 0)))
        for s in samples { histogram.record(UInt64(s)) }
        samples = []
        isExact = false
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
        if isExact, other.isExact, samples.count + other.samples.count <= Self.exactLimit {
            samples += other.samples
            return
        }
        if isExact { moveSamplesToHistogram() }
        if other.isExact { for s in other.samples { histogram.record(UInt64(s)) } } else { histogram.add(other.histogram) }
    }

    /// Values at the given percentiles (0…100), nearest-rank: exact for small
    /// samples, else within the histogram's precision (0.1%) of exact.
    public func percentiles(_ ps: [Double]) -> [Int64] {
        guard count > 0 else { return ps.map { _ in 0 } }
        if !isExact { return histogram.percentiles(ps, min: min, max: max) }
        let sorted = samples.sorted()
        return ps.map { Distribution.nearestRank($0, sorted: sorted) }
    }

    /// Bytes this value holds on the heap (for the bounded-memory test and
    /// for sizing big analyses).
    public var footprintBytes: Int {
        isExact ? samples.capacity * MemoryLayout<Int64>.stride : histogram.footprintBytes
    }
}

/// An HDR histogram of non-negative integers (lowest discernible value 1)
/// with HdrHistogram's bucket layout, so its percentiles are the library's
/// `Histogram<UInt64>`'s to the last digit (a test compares them). It lives
/// in this module because the analysis records every probe into one: the
/// library's generic code is not specialised across the module boundary and
/// copied its struct out of an optional per record (a seventh of an
/// analysis). Counts are 32-bit, half the memory (and cache) per pair; a
/// count passing 2^32 carries into `carries`, so nothing is lost.
struct LatencyHistogram {
    /// log2 of half the sub-buckets per bucket (7 at two digits, 10 at three).
    private let halfMagnitude: Int
    private let subBucketMask: UInt64
    private let leadingZeroCountBase: Int
    private(set) var counts: [UInt32]
    /// Multiples of 2^32 per counts index, for counts that wrapped.
    private var carries: [Int: UInt64] = [:]
    private(set) var totalCount: UInt64 = 0

    /// Empty until the first value (or `grow`) sizes it.
    init(significantDigits: SignificantDigits) {
        // Single-unit resolution up to 2 × 10^digits, in a power-of-two number of sub-buckets (as HdrHistogram).
        let singleUnitLimit = 2 * Foundation.pow(10.0, Double(significantDigits.rawValue))
        let magnitude = Int(Foundation.log2(singleUnitLimit).rounded(.up))
        halfMagnitude = Swift.max(magnitude, 1) - 1
        subBucketMask = UInt64(1 << magnitude) - 1
        leadingZeroCountBase = 64 - magnitude
        counts = []
    }

    private var halfCount: Int { 1 << halfMagnitude }

    @inline(__always)
    private func bucket(of value: UInt64) -> Int { leadingZeroCountBase - (value | subBucketMask).leadingZeroBitCount }

    @inline(__always)
    private func index(of value: UInt64) -> Int {
        Self.index(of: value, halfMagnitude: halfMagnitude, subBucketMask: subBucketMask, leadingZeroCountBase: leadingZeroCountBase)
    }

    @inline(__always)
    private static func index(of value: UInt64, halfMagnitude: Int, subBucketMask: UInt64, leadingZeroCountBase: Int) -> Int {
        let b = leadingZeroCountBase - (value | subBucketMask).leadingZeroBitCount
        return ((b + 1) << halfMagnitude) + Int(truncatingIfNeeded: value >> UInt64(b)) - (1 << halfMagnitude)
    }

    /// Counts long enough for `value`'s bucket (HdrHistogram's auto-resize, whole buckets at a time).
    mutating func grow(toCover value: UInt64) {
        let length = (bucket(of: value) + 2) << halfMagnitude
        if length > counts.count { counts += repeatElement(0, count: length - counts.count) }
    }

    @inline(__always)
    mutating func record(_ value: UInt64) {
        let i = index(of: value)
        if i >= counts.count { grow(toCover: value) }
        add(1, at: i)
        totalCount += 1
    }

    /// Records each of `values` (non-negative) with one access to the counts.
    mutating func record(contentsOf values: UnsafeBufferPointer<Int64>) {
        guard let largest = values.max() else { return }
        if index(of: UInt64(largest)) >= counts.count { grow(toCover: UInt64(largest)) }
        // The bucket layout in locals: the closure writes the counts and may not read `self`.
        let half = halfMagnitude, mask = subBucketMask, base = leadingZeroCountBase
        var wrapped: [Int] = []
        counts.withUnsafeMutableBufferPointer { c in
            for v in values {
                let i = Self.index(of: UInt64(v), halfMagnitude: half, subBucketMask: mask, leadingZeroCountBase: base)
                c[i] &+= 1
                if c[i] == 0 { wrapped.append(i) }   // passed 2^32
            }
        }
        for i in wrapped { carries[i, default: 0] += 1 << 32 }
        totalCount += UInt64(values.count)
    }

    @inline(__always)
    private mutating func add(_ n: UInt64, at i: Int) {
        let sum = UInt64(counts[i]) + n
        counts[i] = UInt32(truncatingIfNeeded: sum)
        if sum > UInt64(UInt32.max) { carries[i, default: 0] += sum & ~UInt64(UInt32.max) }
    }

    private func count(at i: Int) -> UInt64 { UInt64(counts[i]) + (carries.isEmpty ? 0 : carries[i] ?? 0) }

    /// Adds every count of `other` (same precision), as if its values had been recorded here.
    mutating func add(_ other: LatencyHistogram) {
        precondition(halfMagnitude == other.halfMagnitude, "adding histograms of different precision")
        if other.counts.count > counts.count { counts += repeatElement(0, count: other.counts.count - counts.count) }
        for i in other.counts.indices where other.counts[i] != 0 { add(UInt64(other.counts[i]), at: i) }
        for (i, c) in other.carries { carries[i, default: 0] += c }
        totalCount += other.totalCount
    }

    /// The smallest value in index `i`'s bucket (HdrHistogram's `valueFromIndex`).
    private func lowestValue(at i: Int) -> UInt64 {
        let b = (i >> halfMagnitude) - 1
        let sub = (i & (halfCount - 1)) + halfCount
        return b < 0 ? UInt64(sub - halfCount) : UInt64(sub) << UInt64(b)
    }

    /// The highest value equivalent to index `i`'s (its bucket's top).
    private func highestValue(at i: Int) -> UInt64 {
        let b = Swift.max((i >> halfMagnitude) - 1, 0)
        return lowestValue(at: i) + (UInt64(1) << UInt64(b)) - 1
    }

    func valuesAreEquivalent(_ a: UInt64, _ b: UInt64) -> Bool { lowestValue(at: index(of: a)) == lowestValue(at: index(of: b)) }

    /// All percentiles in one pass over the counts, with HdrHistogram's
    /// `valueAtPercentile` definition (rank ⌈(p − 1 ulp) · n⌉, the bucket's
    /// highest equivalent value, clamped to the exact min and max).
    func percentiles(_ ps: [Double], min: Int64, max: Int64) -> [Int64] {
        let total = Double(totalCount)
        let targets = ps.enumerated().map { i, p -> (rank: UInt64, index: Int) in
            (p <= 0 ? 1 : Swift.max(1, UInt64((Swift.min(p.nextDown, 100) * total / 100).rounded(.up))), i)
        }.sorted { $0.rank < $1.rank }
        var out = ps.map { $0 <= 0 ? min : max }
        var next = 0
        var seen: UInt64 = 0
        for i in counts.indices where next < targets.count {
            let c = count(at: i)
            guard c != 0 else { continue }
            seen += c
            while next < targets.count, targets[next].rank <= seen {
                let p = ps[targets[next].index]
                if p > 0, p < 100 {
                    out[targets[next].index] = Swift.min(Swift.max(Int64(highestValue(at: i)), min), max)
                }
                next += 1
            }
        }
        return out
    }

    /// HdrHistogram's estimate (a fixed 512 bytes besides the counts).
    var footprintBytes: Int { 512 + counts.capacity * MemoryLayout<UInt32>.stride + carries.count * 32 }
}
