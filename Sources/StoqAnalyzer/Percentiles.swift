/// Order statistics of a sample (nearest-rank definition: the p-th percentile
/// is the smallest value with at least p% of the sample at or below it).
/// Built exactly from an array (tests, small samples) or from `LatencyStats`
/// (analysis, bounded memory).
public struct Distribution: Codable, Equatable, Sendable {
    public var count: Int
    public var min: Int64
    public var mean: Double
    public var p50: Int64
    public var p90: Int64
    public var p99: Int64
    public var p999: Int64
    public var max: Int64

    public static let reportedPercentiles: [Double] = [50, 90, 99, 99.9]

    /// Exact; nil for an empty sample.
    public init?(_ sample: [Int64]) {
        guard !sample.isEmpty else { return nil }
        let sorted = sample.sorted()
        let p = Distribution.reportedPercentiles.map { Distribution.nearestRank($0, sorted: sorted) }
        self.init(count: sorted.count, min: sorted.first!, mean: Double(sorted.reduce(0, &+)) / Double(sorted.count),
                  percentiles: p, max: sorted.last!)
    }

    /// From streamed statistics; nil when nothing was recorded.
    public init?(_ stats: LatencyStats) {
        guard !stats.isEmpty else { return nil }
        self.init(count: stats.count, min: stats.min, mean: stats.mean,
                  percentiles: stats.percentiles(Distribution.reportedPercentiles), max: stats.max)
    }

    private init(count: Int, min: Int64, mean: Double, percentiles p: [Int64], max: Int64) {
        self.count = count; self.min = min; self.mean = mean; self.max = max
        p50 = p[0]; p90 = p[1]; p99 = p[2]; p999 = p[3]
    }

    static func nearestRank(_ p: Double, sorted: [Int64]) -> Int64 {
        // One ulp below p, as HdrHistogram does, so 99.9% of 1000 is rank 999, not 1000.
        let r = Int((p.nextDown / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, r - 1))]
    }
}
