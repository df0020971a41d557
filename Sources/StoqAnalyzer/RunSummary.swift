import Foundation

/// What one run measured, computed from its trace alone (so `analyze` can
/// recompute it later). Written as summary.json; the reports are drawn from
/// it alone, and `compare` reads it back.
public struct RunSummary: Codable, Equatable {
    /// A latency group: one pair of one workload, a whole workload (`from`
    /// and `to` are `*`), or a region pair of a workload (`from`, `to` are regions).
    public struct ProbeGroup: Codable, Equatable {
        public var workload: String
        public var from: String
        public var to: String
        /// UDP payload bytes; -1 when the group mixes sizes.
        public var size: Int
        public var sent: Int
        public var lost: Int
        /// Round-trip times in nanoseconds.
        public var rttNs: Distribution?
        /// RTTs at `RunSummary.cdfPercentiles` (workload and region groups only).
        public var cdfNs: [Int64]?

        public var lossRate: Double { sent > 0 ? Double(lost) / Double(sent) : 0 }
    }

    public struct TierUsage: Codable, Equatable {
        public var tier: String
        public var linkDirections: Int
        /// Sum of the tier's link-direction bandwidths.
        public var capacityBps: Double
        public var bytesDelivered: UInt64
        public var packetsDelivered: UInt64
        /// Mean throughput over the run (wire bytes, IPv6 and UDP headers
        /// included), bits per second, summed over the tier's link directions.
        public var throughputBps: Double
        /// Like `throughputBps` but payload bytes only (headers taken off).
        public var goodputBps: Double
        /// Mean over the tier's link directions of busy time / run duration.
        public var meanUtilisation: Double
        /// Busiest link direction of the tier: busy time / run duration.
        public var maxUtilisation: Double
        public var packetsDropped: UInt64
    }

    /// One link direction at the end of the run.
    public struct LinkUsage: Codable, Equatable {
        public var link: String
        public var from: String
        public var to: String
        public var tier: String
        public var bandwidthBps: UInt64
        public var latencyNs: Int64
        public var packetsDelivered: UInt64
        public var bytesDelivered: UInt64
        public var throughputBps: Double
        public var utilisation: Double
        public var packetsDropped: UInt64
        public var maxQueuedBytes: Int
        /// What the link models did, on links that have any (nil otherwise).
        public var models: LinkModelCounts?
    }

    /// Counts of the link models on one link direction (nil: model not configured).
    public struct LinkModelCounts: Codable, Equatable {
        public var lost: UInt64
        public var droppedMTU: UInt64?
        public var corrupted: UInt64?
        public var duplicated: UInt64?
        public var reordered: UInt64?

        /// "lost 3, corrupted 2, …" for the models present.
        public var text: String {
            [("lost", lost), ("mtu", droppedMTU), ("corrupted", corrupted), ("duplicated", duplicated), ("reordered", reordered)]
                .compactMap { name, n in n.map { "\(name) \($0)" } }.joined(separator: ", ")
        }
    }

    public struct SiteInfo: Codable, Equatable {
        public var name: String
        public var region: String
        public var latitude: Double
        public var longitude: Double
        public var nodes: Int
    }

    /// Links between two different sites, both directions and parallel links
    /// folded together (what the report's map draws).
    public struct SiteLink: Codable, Equatable {
        public var from: String
        public var to: String
        /// The fastest tier among the folded links.
        public var tier: String
        public var linkDirections: Int
        public var bytesDelivered: UInt64
        public var maxUtilisation: Double
    }

    /// Transfers of one workload between one pair of nodes.
    public struct TransferGroup: Codable, Equatable {
        public var workload: String
        public var from: String
        public var to: String
        public var bytes: Int
        public var streams: Int
        public var started: Int
        public var completed: Int
        /// Connection attempt to the receiver's last byte, completed transfers only.
        public var durationNs: Distribution?
        public var handshakeNs: Distribution?
        /// Mean over completed transfers, bits per second.
        public var meanGoodputBps: Double?
        /// Mean goodput after slow start (from the receiver's halfway byte to its
        /// last, counted as packets arrived), bits per second; nil in traces
        /// written before it was recorded.
        public var meanGoodputAfterSlowStartBps: Double?
        /// Packets the senders declared lost; nil unless the run counted them
        /// (knob `count-lost-packets`: it costs qlog formatting per packet).
        public var packetsLost: UInt64?
        public var packetsRetransmitted: UInt64
        /// The sender's congestion controller and the workload's other QUIC
        /// knobs (nil in traces written before they were recorded).
        public var congestion: String? = nil
        public var transport: String? = nil
        /// Transfers that did not complete, by why they ended (nil when all did,
        /// or in traces written before the reason was recorded).
        public var failures: [TransferFailure]? = nil
    }

    /// How many transfers ended for one reason (a transfer record's `failure`).
    public struct TransferFailure: Codable, Equatable {
        public var reason: String
        public var count: Int

        /// Most frequent first, then by reason, so summaries of equal traces are equal; nil when empty.
        static func list(_ counts: some Sequence<(String, Int)>) -> [TransferFailure]? {
            let list = counts.map { TransferFailure(reason: $0.0, count: $0.1) }
                .sorted { $0.count != $1.count ? $0.count > $1.count : $0.reason < $1.reason }
            return list.isEmpty ? nil : list
        }
    }

    /// Routes stopped using a failed link or node.
    public struct Reconvergence: Codable, Equatable {
        public var tNs: Int64
        public var target: String
        public var failedAtNs: Int64
        public var reconvergenceNs: Int64
        public var packetsLost: UInt64
    }

    public struct StateChange: Codable, Equatable {
        public var tNs: Int64
        /// `a<>b` for a link, a node name for a node.
        public var target: String
        public var up: Bool
        /// `link` or `node`.
        public var kind: String
    }

    public var schema: Int
    public var topology: String
    public var seed: UInt64
    public var backend: String
    public var strategy: String
    public var durationNs: Int64
    /// Run length the rates are computed over: the end record's time (the
    /// drain after `duration` included), else `durationNs`.
    public var measuredNs: Int64
    public var nodes: Int
    public var events: UInt64
    /// The run reached its end: false when the trace has no end record or
    /// the run stopped early on a signal (`incompleteReason` says which).
    public var complete: Bool
    /// Why `complete` is false, e.g. "interrupted by SIGINT at 3.200s simulated"; nil when complete.
    public var incompleteReason: String?
    public var records: UInt64
    /// Per pair and workload (insertion order of the trace).
    public var probes: [ProbeGroup]
    public var probeWorkloads: [ProbeGroup]
    public var probeRegionPairs: [ProbeGroup]
    /// The percentiles `cdfNs` arrays are sampled at.
    public var cdfPercentiles: [Double]
    public var tiers: [TierUsage]
    public var links: [LinkUsage]
    public var sites: [SiteInfo]
    public var siteLinks: [SiteLink]
    public var stateChanges: [StateChange]
    /// nil in summaries written before transfers and reconvergence were recorded.
    public var transfers: [TransferGroup]?
    public var reconvergences: [Reconvergence]?
    /// nil unless the run published content.
    public var content: ContentSummary?
    /// nil in summaries written before routes were recorded.
    public var routes: RouteSummary?
    /// nil unless nodes enrolled at a TrustChain CA.
    public var certificates: CertificateSummary?
    /// nil unless a `connections` workload ran.
    public var connections: [ConnectionsSummary]?
    /// netns runs only: how late the real-time engine fired events.
    public var realtime: RealtimeSummary?
    /// Link directions over time, the busiest first in trace order (nil: the run traced none).
    public var linkSeries: [LinkSeries]?
    /// Sampled transfers' congestion window and RTT over time (nil: none sampled).
    public var transferSeries: [TransferSeries]?

    /// IPv6 (40) + UDP (8) header bytes per datagram, as the trace counts them on links.
    public static let wireHeaderBytes: UInt64 = 48

    public static let cdfPercentiles: [Double] =
        [0, 1] + stride(from: 2.5, through: 97.5, by: 2.5).map { $0 } + [99, 99.5, 99.9, 99.99, 100]

    /// An empty summary for `header`, which the accumulators then fill in.
    init(header: TraceRecord.RunHeader) {
        schema = TraceRecord.schemaVersion
        topology = header.topology; seed = header.seed; backend = header.backend; strategy = header.strategy
        durationNs = header.durationNs; measuredNs = header.durationNs; nodes = header.nodes
        events = 0; complete = false; records = 0
        probes = []; probeWorkloads = []; probeRegionPairs = []; cdfPercentiles = RunSummary.cdfPercentiles
        tiers = []; links = []; sites = []; siteLinks = []; stateChanges = []
    }
}

extension RealtimeAccumulator {
    // Declared here, with the other accumulators' kinds in mind: it reads one
    // record, and an accumulator that claimed every kind would keep probes off
    // their fast path and the analysis on one thread.
    public var recordKinds: TraceRecord.Kinds { .realtime }
}

public enum TraceAnalyzer {
    public struct AnalysisError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The accumulators a default analysis runs, one per concern.
    public static func defaultAccumulators() -> [TraceAccumulator] {
        [ProbeAccumulator(), LinkUsageAccumulator(), SiteAccumulator(), TimelineAccumulator(), TransferAccumulator(),
         ContentAccumulator(), RealtimeAccumulator(), CertificateAccumulator(), RouteAccumulator(),
         ConnectionsAccumulator(), TimeSeriesAccumulator()]
    }

    /// Streams the trace at `path` into a summary; memory is bounded by the
    /// number of distinct keys (pairs, links), not by the number of records.
    /// Large traces are read by several threads at once (`TraceAnalysis`);
    /// the summary is the same either way.
    public static func summarize(tracePath: String,
                                 accumulators: [TraceAccumulator] = defaultAccumulators()) throws -> RunSummary {
        try summarize(tracePath: tracePath, accumulators: accumulators, threads: TraceAnalysis.defaultThreads)
    }

    static func summarize(tracePath: String, accumulators: [TraceAccumulator], threads: Int,
                          parallelFromBytes: Int = TraceAnalysis.parallelFromBytes) throws -> RunSummary {
        let context = try TraceAnalysis(accumulators).run(path: tracePath, threads: threads, parallelFromBytes: parallelFromBytes).context
        guard let header = context.header else {
            throw AnalysisError(description: "\(tracePath): no run header; is this a stoqsim trace?")
        }
        var summary = RunSummary(header: header)
        summary.events = context.end?.events ?? 0
        if let end = context.end {
            summary.incompleteReason = end.interruptedBy.map { "interrupted by \($0) at \(SummaryText.formatNs(end.t)) simulated" }
        } else {
            summary.incompleteReason = "the trace has no end record; the run was cut short"
        }
        summary.complete = summary.incompleteReason == nil
        summary.records = context.records
        summary.measuredNs = context.measuredNs
        for a in accumulators { a.finish(into: &summary, context: context) }
        return summary
    }

    /// Writes `summary.json` with sorted keys so it diffs cleanly between runs.
    public static func write(_ summary: RunSummary, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(summary).write(to: URL(fileURLWithPath: path))
    }

    /// Reads a `summary.json` written by `write`.
    public static func read(summaryAt path: String) throws -> RunSummary {
        try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
