import Foundation

extension TraceRecord {
    /// The route a workload's pair starts on (written once per pair at the start).
    public struct RouteInfo: Equatable, TraceRecordFields {
        public var from: String = ""
        public var to: String = ""
        public var hops: Int = 0
        /// One-way propagation along the route.
        public var latencyNs: Int64 = 0
        /// Great-circle distance at fibre speed: no route can be faster; 0 within a site.
        public var lowerBoundNs: Int64 = 0
        public init(from: String, to: String, hops: Int, latencyNs: Int64, lowerBoundNs: Int64) {
            self.from = from; self.to = to; self.hops = hops; self.latencyNs = latencyNs; self.lowerBoundNs = lowerBoundNs
        }
        /// Route latency over the lower bound; nil within a site.
        public var stretch: Double? { lowerBoundNs > 0 ? Double(latencyNs) / Double(lowerBoundNs) : nil }

        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.type("route"); try c.field("from", &from); try c.field("to", &to); try c.field("hops", &hops)
            try c.field("latency_ns", &latencyNs); try c.field("lower_bound_ns", &lowerBoundNs)
        }
    }
}

/// Routing figures of the pairs workloads used: stretch and hops.
public struct RouteSummary: Codable, Equatable {
    public struct Pair: Codable, Equatable {
        public var from: String
        public var to: String
        public var hops: Int
        public var latencyNs: Int64
        public var stretch: Double
    }
    public var pairs: Int
    public var meanHops: Double
    public var maxHops: Int
    /// Over pairs in different sites (stretch is undefined within one).
    public var meanStretch: Double?
    public var medianStretch: Double?
    public var maxStretch: Double?
    /// The most stretched pairs, worst first.
    public var mostStretched: [Pair]
}

public final class RouteAccumulator: TraceAccumulator {
    private var count = 0, hopSum = 0, maxHops = 0
    private var stretches: [Double] = []
    private var worst: [RouteSummary.Pair] = []
    static let kept = 20

    public init() {}

    public var recordKinds: TraceRecord.Kinds { .route }

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        guard case .route(let r) = record else { return }
        count += 1
        hopSum += r.hops
        maxHops = max(maxHops, r.hops)
        guard let s = r.stretch else { return }
        stretches.append(s)
        worst.append(.init(from: r.from, to: r.to, hops: r.hops, latencyNs: r.latencyNs, stretch: s))
        if worst.count > 4 * Self.kept { trimWorst() }
    }

    private func trimWorst() {
        worst = Array(worst.enumerated().sorted { ($0.element.stretch, -$0.offset) > ($1.element.stretch, -$1.offset) }
            .prefix(Self.kept).map(\.element))
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        guard count > 0 else { return }
        trimWorst()
        let sorted = stretches.sorted()
        summary.routes = RouteSummary(pairs: count, meanHops: Double(hopSum) / Double(count), maxHops: maxHops,
                                      meanStretch: sorted.isEmpty ? nil : sorted.reduce(0, +) / Double(sorted.count),
                                      medianStretch: sorted.isEmpty ? nil : sorted[(sorted.count - 1) / 2],
                                      maxStretch: sorted.last, mostStretched: worst)
    }
}

extension RunReport {
    static func routeOverview(_ r: RouteSummary) -> Table {
        func f(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "-" }
        return Table(header: ["", ""], rows: [
            ["pairs routed", "\(r.pairs)"], ["hops", String(format: "mean %.1f, max %d", r.meanHops, r.maxHops)],
            ["stretch (route latency / great-circle bound)", "mean \(f(r.meanStretch)), median \(f(r.medianStretch)), max \(f(r.maxStretch))"],
        ])
    }

    static func stretchTable(_ r: RouteSummary) -> Table {
        Table(header: ["pair", "hops", "one-way latency", "stretch"], rows: r.mostStretched.map {
            ["\($0.from) → \($0.to)", "\($0.hops)", SummaryText.formatNs($0.latencyNs), String(format: "%.2f", $0.stretch)]
        })
    }

    static let routeNote = "Routes the workloads' pairs started on; stretch compares the route's propagation delay with " +
        "the great-circle distance at fibre speed (5 µs/km), so 1.0 is a straight fibre."
}
