extension RunSummary {
    /// One link direction over time (a `link_series` record, as the reports draw it).
    public struct LinkSeries: Codable, Equatable {
        public var link: String
        public var binNs: Int64
        /// The short window whose peak utilisation each bin keeps (10 ms).
        public var windowNs: Int64
        /// Serializer busy time over the run (bins and tail) / the run's measured duration.
        public var meanUtilisation: Double
        /// The busiest window of the run: its busy time / `windowNs`.
        public var peakWindowUtilisation: Double
        /// Per bin: busy time / bin width, and the bin's busiest window's busy time / `windowNs`.
        public var utilisation: [Double]
        public var peakUtilisation: [Double]
        public var maxQueuedBytes: [Int64]
        public var drops: [Int64]
        public var bytes: [Int64]
        /// Drops after the last bin (while transfers drained).
        public var tailDrops: Int64

        public var totalDrops: Int64 { drops.reduce(0, +) + tailDrops }
    }

    /// A sampled transfer's sender over time (a `transfer_series` record).
    public struct TransferSeries: Codable, Equatable {
        public var workload: String
        public var from: String
        public var to: String
        public var startNs: Int64
        /// Since `startNs`.
        public var offsetNs: [Int64]
        public var cwnd: [Int64]
        public var srttNs: [Int64]
        public var inFlight: [Int64]
    }
}

/// `link_series` and `transfer_series` records into the summary, in trace order.
public final class TimeSeriesAccumulator: TraceAccumulator {
    private var links: [TraceRecord.LinkSeries] = []
    private var transfers: [RunSummary.TransferSeries] = []

    public init() {}

    public var recordKinds: TraceRecord.Kinds { [.linkSeries, .transferSeries] }

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        switch record {
        case .linkSeries(let l): links.append(l)
        case .transferSeries(let x):
            transfers.append(.init(workload: x.workload, from: x.from, to: x.to, startNs: x.startNs, offsetNs: x.offsetNs,
                                   cwnd: x.cwnd, srttNs: x.srttNs, inFlight: x.inFlight))
        default: break
        }
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        if !links.isEmpty {
            let measured = Double(max(summary.measuredNs, 1))
            summary.linkSeries = links.map { l in
                let bin = Double(max(l.binNs, 1)), window = Double(max(l.windowNs, 1))
                let peaks = l.maxWindowBusyNs.map { Double($0) / window }
                return .init(link: l.link, binNs: l.binNs, windowNs: l.windowNs,
                             meanUtilisation: Double(l.busyNs.reduce(0, +) + l.tailBusyNs) / measured,
                             peakWindowUtilisation: peaks.max() ?? 0, utilisation: l.busyNs.map { Double($0) / bin },
                             peakUtilisation: peaks, maxQueuedBytes: l.maxQueuedBytes, drops: l.drops, bytes: l.bytes,
                             tailDrops: l.tailDrops)
            }
        }
        if !transfers.isEmpty { summary.transferSeries = transfers }
    }
}
