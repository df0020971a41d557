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

extension RunReport {
    static func transferTable(_ transfers: [RunSummary.TransferGroup]) -> Table {
        Table(header: ["workload", "pair", "size", "streams", "cc", "done", "handshake p50", "time p50", "time p99", "goodput",
                       "after slow start", "lost", "retransmitted"],
              rows: transfers.prefix(pairRows).map { t in
                  [t.workload, "\(t.from) → \(t.to)", SummaryText.formatBytes(UInt64(t.bytes)), "\(t.streams)",
                   (t.congestion ?? "-") + (t.transport.map { " (\($0))" } ?? ""),
                   "\(t.completed)/\(t.started)", t.handshakeNs.map { SummaryText.formatNs($0.p50) } ?? "-",
                   t.durationNs.map { SummaryText.formatNs($0.p50) } ?? "-", t.durationNs.map { SummaryText.formatNs($0.p99) } ?? "-",
                   t.meanGoodputBps.map(SummaryText.formatBps) ?? "-",
                   t.meanGoodputAfterSlowStartBps.map(SummaryText.formatBps) ?? "-", "\(t.packetsLost)", "\(t.packetsRetransmitted)"]
              })
    }

    static let transferNote = "Real QUIC (ngtcp2 + GnuTLS, verified certificates). Time runs from the connection attempt " +
        "to the receiver's last byte; goodput is the payload over that time, and after slow start the payload that arrived " +
        "after the receiver had half of it, over the time from then to the last byte; lost and retransmitted packets are QUIC's own counts."

    static func transferMarkdown(_ transfers: [RunSummary.TransferGroup]) -> String {
        "\n## QUIC transfers\n\n\(transferNote)\n\n" + Markdown.table(transferTable(transfers))
    }

    static func transferHTML(_ transfers: [RunSummary.TransferGroup], into h: inout HTMLPage) {
        h.section("transfers", "QUIC transfers") { b in
            b.paragraph(transferNote)
            b.table(transferTable(transfers))
            let shown = transfers.filter { $0.meanGoodputBps != nil }.prefix(12)
            if !shown.isEmpty {
                b.figure(Charts.bars(title: "goodput per transfer pair", categories: shown.map { "\($0.from)→\($0.to)" },
                                     series: [.init(name: "mean goodput", values: shown.map { $0.meanGoodputBps ?? 0 })],
                                     format: SummaryText.formatBps),
                         caption: "Mean goodput per pair (completed transfers)")
            }
        }
    }
}
