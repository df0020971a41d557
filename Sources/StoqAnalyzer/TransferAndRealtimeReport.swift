/// How the real-time engine kept up on the netns backend: the `realtime`
/// record as it is, in the summary too.
public typealias RealtimeSummary = TraceRecord.RealtimeReport

public final class RealtimeAccumulator: TraceAccumulator {
    private var report: TraceRecord.RealtimeReport?
    public init() {}

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        if case .realtime(let r) = record { report = r }
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        summary.realtime = report
    }
}

extension RealtimeSummary {
    /// One line for summaries; says plainly when the figures are not to be trusted.
    var text: String {
        let lag = "event lag p50 \(SummaryText.formatNs(lagP50Ns)), p99 \(SummaryText.formatNs(lagP99Ns)), " +
            "max \(SummaryText.formatNs(lagMaxNs)) (threshold p99 \(SummaryText.formatNs(thresholdP99Ns))); " +
            "\(packetsRelayed) packets relayed; set-up \(SummaryText.formatNs(setupNs))"
        // The workloads' own packets keep the model's instants; programs run by
        // exec see the real network, so they saw it up to the lag slower.
        return exceedsThreshold ? "WARNING: the real-time engine fell behind (machine busy?): programs run by exec " +
            "saw the network up to the lag slower. " + lag : lag
    }
}

/// One transfer workload's pairs folded together, so a report that lists only
/// some pairs still accounts for every transfer; pairs whose senders ran
/// different congestion controllers or QUIC knobs (node defaults) are folded
/// apart, one row per setting, so settings can be compared. Every figure is
/// exact: sums, minima and maxima of the pairs' figures, and means weighted by
/// their counts.
public struct TransferWorkloadTotals: Equatable {
    public var workload: String
    /// The senders' congestion controller and the knobs that differ from the defaults.
    public var congestion: String?
    public var transport: String?
    public var pairs: Int
    public var started: Int
    public var completed: Int
    /// Payload bytes of the completed transfers.
    public var bytesDelivered: Int
    public var fastestNs: Int64?
    public var slowestNs: Int64?
    /// Sum over completed transfers of their goodput, for the mean.
    private var goodputSumBps = 0.0
    private var transfersWithGoodput = 0
    /// nil unless some transfer counted its lost packets.
    public var packetsLost: UInt64?
    public var packetsRetransmitted: UInt64 = 0
    /// Transfers that did not complete, by reason.
    private var failureCounts: [String: Int] = [:]
    /// Transfers that did not complete, by reason, most frequent first.
    public var failures: [RunSummary.TransferFailure] {
        RunSummary.TransferFailure.list(failureCounts.map { ($0.key, $0.value) }) ?? []
    }

    /// Mean goodput over the completed transfers of every pair.
    public var meanGoodputBps: Double? {
        transfersWithGoodput > 0 ? goodputSumBps / Double(transfersWithGoodput) : nil
    }

    private struct Key: Hashable { var workload: String, congestion: String?, transport: String? }

    /// The workloads (and settings within one) in order of first appearance.
    public static func of(_ groups: [RunSummary.TransferGroup]) -> [TransferWorkloadTotals] {
        var totals = OrderedGroups<Key, TransferWorkloadTotals>()
        for g in groups {
            let slot = totals.slot(Key(workload: g.workload, congestion: g.congestion, transport: g.transport)) {
                TransferWorkloadTotals(workload: g.workload, congestion: g.congestion, transport: g.transport,
                                       pairs: 0, started: 0, completed: 0, bytesDelivered: 0)
            }
            totals.values[slot].add(g)
        }
        return totals.values
    }

    /// The congestion controller and knobs as a table cell.
    public var settings: String { RunSummary.TransferGroup.settings(congestion: congestion, transport: transport) }

    /// Transfers that did not complete, as a table cell: "none", or counts by reason.
    public var failuresCell: String {
        failures.isEmpty ? "none" : failures.map { "\($0.count) \($0.reason)" }.joined(separator: "; ")
    }

    private mutating func add(_ g: RunSummary.TransferGroup) {
        pairs += 1
        started += g.started
        completed += g.completed
        bytesDelivered += g.bytes * g.completed
        if let d = g.durationNs {
            fastestNs = Swift.min(fastestNs ?? d.min, d.min)
            slowestNs = Swift.max(slowestNs ?? d.max, d.max)
        }
        if let goodput = g.meanGoodputBps {
            goodputSumBps += goodput * Double(g.completed)
            transfersWithGoodput += g.completed
        }
        if let lost = g.packetsLost { packetsLost = (packetsLost ?? 0) + lost }
        packetsRetransmitted += g.packetsRetransmitted
        for f in g.failures ?? [] { failureCounts[f.reason, default: 0] += f.count }
    }
}

extension RunSummary.TransferGroup {
    /// "cubic", "bbr (initial-rtt=100ms)", or "-" in traces without the congestion controller.
    static func settings(congestion: String?, transport: String?) -> String {
        (congestion ?? "-") + (transport.map { " (\($0))" } ?? "")
    }

    /// The goodput after slow start is the rate over the second half of the
    /// payload; it says something only when that half is many packets and the
    /// transfer lasted many round trips (the handshake takes about one), else
    /// the second half is a handful of packets sent in one or two windows.
    static let slowStartMinimumBytes = 1_000_000
    static let slowStartMinimumRoundTrips: Int64 = 10

    /// nil when the figure is meaningful; otherwise why it is not shown.
    var afterSlowStartWithheldReason: String? {
        guard meanGoodputAfterSlowStartBps != nil else { return "not recorded" }
        if bytes < Self.slowStartMinimumBytes { return "under 1 MB" }
        guard let d = durationNs, let h = handshakeNs, h.p50 > 0 else { return "not completed" }
        if d.p50 < Self.slowStartMinimumRoundTrips * h.p50 { return "under 10 RTTs" }
        return nil
    }

    /// The after-slow-start goodput as a table cell: the rate, or why there is none.
    var afterSlowStartCell: String {
        if let reason = afterSlowStartWithheldReason { return "– (\(reason))" }
        return meanGoodputAfterSlowStartBps.map(SummaryText.formatBps) ?? "–"
    }
}

extension RunReport {
    /// Pairs listed in the transfer table: the slowest first (incomplete
    /// pairs, then by completion time p99), as the ones worth a look.
    static func rankedTransfers(_ transfers: [RunSummary.TransferGroup]) -> [RunSummary.TransferGroup] {
        Array(transfers.enumerated().sorted { a, b in
            let ia = a.element.completed < a.element.started, ib = b.element.completed < b.element.started
            if ia != ib { return ia }
            let pa = a.element.durationNs?.p99 ?? .max, pb = b.element.durationNs?.p99 ?? .max
            return pa != pb ? pa > pb : a.offset < b.offset
        }.map(\.element).prefix(pairRows))
    }

    /// Says what a table of `shown` out of `total` rows leaves out, and how the rows were chosen.
    static func truncationNote(shown: Int, total: Int, noun: String, rankedBy: String,
                               coveredBy: String = "the per-workload table above") -> String? {
        shown < total ? "\(shown) of \(SummaryText.grouped(total)) \(noun), ranked by \(rankedBy); " +
            "\(coveredBy) covers them all." : nil
    }

    static func transferWorkloadTable(_ transfers: [RunSummary.TransferGroup]) -> Table {
        Table(header: ["workload", "cc (knobs)", "pairs", "done", "delivered", "fastest", "slowest", "mean goodput", "lost",
                       "retransmitted", "not completed, by reason"],
              rows: TransferWorkloadTotals.of(transfers).map { t in
                  [t.workload, t.settings, "\(t.pairs)", "\(t.completed)/\(t.started)",
                   SummaryText.formatBytes(UInt64(t.bytesDelivered)),
                   t.fastestNs.map(SummaryText.formatNs) ?? "–", t.slowestNs.map(SummaryText.formatNs) ?? "–",
                   t.meanGoodputBps.map(SummaryText.formatBps) ?? "–", t.packetsLost.map { "\($0)" } ?? "–", "\(t.packetsRetransmitted)",
                   t.failuresCell]
              })
    }

    static func transferTable(_ transfers: [RunSummary.TransferGroup]) -> Table {
        Table(header: ["workload", "pair", "size", "streams", "cc", "done", "handshake p50", "time p50", "time p99", "goodput",
                       "after slow start", "lost", "retransmitted"],
              rows: rankedTransfers(transfers).map { t in
                  [t.workload, "\(t.from) → \(t.to)", SummaryText.formatBytes(UInt64(t.bytes)), "\(t.streams)",
                   RunSummary.TransferGroup.settings(congestion: t.congestion, transport: t.transport),
                   "\(t.completed)/\(t.started)", t.handshakeNs.map { SummaryText.formatNs($0.p50) } ?? "-",
                   t.durationNs.map { SummaryText.formatNs($0.p50) } ?? "-", t.durationNs.map { SummaryText.formatNs($0.p99) } ?? "-",
                   t.meanGoodputBps.map(SummaryText.formatBps) ?? "-",
                   t.afterSlowStartCell, t.packetsLost.map { "\($0)" } ?? "–", "\(t.packetsRetransmitted)"]
              })
    }

    static let transferNote = "Real QUIC (ngtcp2 + GnuTLS, verified certificates). Time runs from the connection attempt " +
        "to the receiver's last byte; goodput is the payload over that time, and after slow start the rate from the moment " +
        "the receiver had half of it to the last byte, counted as packets arrived (not when a lost packet's gap released " +
        "the data behind it), shown only for transfers of at least " +
        "1 MB lasting at least 10 round trips (the handshake time taken as one): below that the second half is a few " +
        "congestion windows and its rate says little. Retransmitted packets are QUIC's own count (packets carrying stream data " +
        "it declared lost); its lost packets of any kind are counted only when the workload asks (knob count-lost-packets), \"–\" otherwise."

    static let transferRanking = "slowest completion (p99), incomplete first"

    static func transferMarkdown(_ transfers: [RunSummary.TransferGroup]) -> String {
        var out = "\n## QUIC transfers\n\n\(transferNote)\n\nPer workload:\n\n" + Markdown.table(transferWorkloadTable(transfers))
        let table = transferTable(transfers)
        out += "\n" + (truncationNote(shown: table.rows.count, total: transfers.count, noun: "pairs", rankedBy: transferRanking)
            ?? "Per pair (slowest first):") + "\n\n"
        return out + Markdown.table(table)
    }

    static func transferHTML(_ transfers: [RunSummary.TransferGroup], into h: inout HTMLPage) {
        h.section("transfers", "QUIC transfers") { b in
            b.paragraph(transferNote)
            b.heading("Per workload")
            b.table(transferWorkloadTable(transfers))
            let table = transferTable(transfers)
            b.heading(truncationNote(shown: table.rows.count, total: transfers.count, noun: "pairs", rankedBy: transferRanking)
                      ?? "Per pair (slowest first)")
            b.table(table)
            let shown = rankedTransfers(transfers).filter { $0.meanGoodputBps != nil }.prefix(12)
            if !shown.isEmpty {
                b.figure(Charts.bars(title: "goodput per transfer pair", categories: shown.map { "\($0.from)→\($0.to)" },
                                     series: [.init(name: "mean goodput", values: shown.map { $0.meanGoodputBps ?? 0 })],
                                     format: SummaryText.formatBps),
                         caption: "Mean goodput per pair (completed transfers; the \(shown.count) slowest" +
                             (transfers.count > shown.count ? " of \(transfers.count)" : "") + ")")
            }
        }
    }
}
