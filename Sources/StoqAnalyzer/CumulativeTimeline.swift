/// Counts over simulated time in bounded memory: `series` running totals
/// kept per 1/100 of the run (plus one bucket for the drain past its end),
/// then turned into cumulative points for an over-time chart.
struct CumulativeTimeline {
    static let buckets = 100
    private var sums: [[Int]]

    init(series: Int) {
        sums = Array(repeating: Array(repeating: 0, count: Self.buckets + 1), count: series)
    }

    mutating func add(at t: Int64, _ values: [Int], context: AnalysisContext) {
        let span = max(context.header?.durationNs ?? 1, 1)
        let b = min(Self.buckets, Int(max(0, t) * Int64(Self.buckets) / span))
        for (i, v) in values.enumerated() { sums[i][b] += v }
    }

    /// (end of bucket, running totals per series) for each bucket that saw anything.
    func points(context: AnalysisContext) -> [(tNs: Int64, totals: [Int])] {
        let span = max(context.header?.durationNs ?? 1, 1)
        var running = Array(repeating: 0, count: sums.count)
        var out: [(tNs: Int64, totals: [Int])] = []
        for b in 0...Self.buckets where sums.contains(where: { $0[b] != 0 }) {
            for i in running.indices { running[i] += sums[i][b] }
            out.append((b == Self.buckets ? context.measuredNs : span * Int64(b + 1) / Int64(Self.buckets), running))
        }
        return out
    }
}
