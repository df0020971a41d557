/// Exact order statistics of a sample (nearest-rank definition: the p-th
/// percentile is the smallest value with at least p% of the sample at or below it).
public struct Distribution: Codable, Equatable, Sendable {
    public var count: Int
    public var min: Int64
    public var mean: Double
    public var p50: Int64
    public var p90: Int64
    public var p99: Int64
    public var p999: Int64
    public var max: Int64

    /// nil for an empty sample.
    public init?(_ sample: [Int64]) {
        guard !sample.isEmpty else { return nil }
        let sorted = sample.sorted()
        func rank(_ p: Double) -> Int64 {
            let r = Int((p / 100 * Double(sorted.count)).rounded(.up))
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, r - 1))]
        }
        count = sorted.count
        min = sorted.first!
        max = sorted.last!
        mean = Double(sorted.reduce(0, &+)) / Double(sorted.count)
        p50 = rank(50); p90 = rank(90); p99 = rank(99); p999 = rank(99.9)
    }
}
