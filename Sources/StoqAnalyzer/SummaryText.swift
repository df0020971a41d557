import Foundation

/// The plain-text summary `stoqsim run` and `stoqsim analyze` print: one
/// short block per part of the system that ran (certificates, transfers,
/// content, probes, tiers, failures); the reports hold the details.
public enum SummaryText {
    /// Probe pairs listed; the rest are counted, and the reports list them.
    public static let maxPairRows = 10

    public static func render(_ s: RunSummary) -> String {
        var out = "run: \(s.topology)  seed \(s.seed)  backend \(s.backend)  routing \(s.strategy)  " +
            "\(s.nodes) nodes  \(formatNs(s.durationNs)) simulated  \(s.events) events\n"
        if !s.complete { out += "WARNING: incomplete run: \(s.incompleteReason ?? "the trace has no end record")\n" }
        if let r = s.realtime { out += "real time: " + r.text + "\n" }
        if let c = s.certificates { out += certificates(c) }
        if let t = s.transfers, !t.isEmpty { out += transfers(t) }
        if let c = s.connections { out += connections(c) }
        if let c = s.content { out += content(c) }
        if !s.probes.isEmpty { out += probes(s) }
        if !s.tiers.isEmpty {
            out += "\nthroughput per tier (mean over \(formatNs(s.measuredNs)))\n"
            out += table(header: ["tier", "links", "delivered", "throughput", "max util", "dropped"], rows: s.tiers.map {
                [$0.tier, "\($0.linkDirections)", formatBytes($0.bytesDelivered), formatBps($0.throughputBps),
                 String(format: "%.1f%%", $0.maxUtilisation * 100), "\($0.packetsDropped)"]
            })
        }
        if let l = s.linkSeries, !l.isEmpty { out += linksOverTime(l) }
        if !s.stateChanges.isEmpty { out += failures(s) }
        return out
    }

    static func certificates(_ c: CertificateSummary) -> String {
        var out = "\nTrustChain certificates\n"
        let overHTTP3 = c.requestNs.map { " (\($0.count) over HTTP/3 to the CA)" } ?? ""
        out += "  enrolled     \(c.enrolled) of \(c.nodes) nodes\(overHTTP3)" +
            (c.enrolmentNs.map { "  p50 \(formatNs($0.p50)), max \(formatNs($0.max))" } ?? "") +
            "; \(c.renewed) rotations, \(c.failed) failed attempts\n"
        if let p = c.proofNs {
            out += "  CT proofs    \(p.count) own inclusion proofs fetched and checked  p50 \(formatNs(p.p50)), max \(formatNs(p.max))\n"
        }
        if let servers = c.peersVerified {
            let failed = (c.peersFailed ?? 0) + (c.clientsFailed ?? 0)
            out += "  peers        \(servers) server" + (c.clientsVerified.map { " and \($0) client" } ?? "") +
                " certificates checked after handshakes (SCT, inclusion proof, revocation), \(failed) failed\n"
        }
        return out
    }

    static func transfers(_ groups: [RunSummary.TransferGroup]) -> String {
        let totals = TransferWorkloadTotals.of(groups)
        var out = "\nQUIC transfers (\(groups.count) pairs)\n" +
            table(header: ["workload", "cc", "pairs", "done", "delivered", "fastest", "slowest", "mean goodput", "retransmitted"],
                  rows: totals.map { t in
                      [t.workload, t.settings, "\(t.pairs)", "\(t.completed)/\(t.started)", formatBytes(UInt64(t.bytesDelivered)),
                       t.fastestNs.map(formatNs) ?? "-", t.slowestNs.map(formatNs) ?? "-",
                       t.meanGoodputBps.map(formatBps) ?? "-", "\(t.packetsRetransmitted)"]
                  })
        for t in totals where !t.failures.isEmpty {
            out += "  \(t.workload) not completed: \(t.failuresCell)\n"
        }
        return out
    }

    static func probes(_ s: RunSummary) -> String {
        var out = "\nprobe round-trip times\n"
        // Big runs have thousands of pairs: the terminal gets the first ones, the reports all.
        let rows = s.probes.prefix(maxPairRows).map { p -> [String] in
            let d = p.rttNs
            return [p.workload, "\(p.from) → \(p.to)", "\(p.size) B", "\(p.sent)", "\(p.lost)",
                    d.map { formatNs($0.p50) } ?? "-", d.map { formatNs($0.p99) } ?? "-", d.map { formatNs($0.max) } ?? "-"]
        }
        out += table(header: ["workload", "pair", "size", "sent", "lost", "p50", "p99", "max"], rows: rows)
        if s.probes.count > maxPairRows {
            out += "  … \(grouped(s.probes.count - maxPairRows)) more pairs in \(RunReport.markdownFile)\n"
        }
        return out
    }

    /// Downs, ups and reconvergences in time order.
    static func failures(_ s: RunSummary) -> String {
        var lines: [(Int64, String)] = s.stateChanges.map { ($0.tNs, "\($0.target) \($0.up ? "up" : "down")") }
        lines += (s.reconvergences ?? []).map {
            ($0.tNs, "routes around \($0.target) after \(formatNs($0.reconvergenceNs)), " +
                "\($0.packetsLost) packets lost on it meanwhile")
        }
        return "\nfailures and recoveries\n" + lines.enumerated().sorted { a, b in
            a.element.0 != b.element.0 ? a.element.0 < b.element.0 : a.offset < b.offset
        }.map { "  \(formatNs($0.element.0))  \($0.element.1)\n" }.joined()
    }

    /// 6195 as "6,195".
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    public static func formatNs(_ ns: Int64) -> String {
        let v = Double(ns)
        if abs(v) >= 1e9 { return String(format: "%.3fs", v / 1e9) }
        if abs(v) >= 1e6 { return String(format: "%.3fms", v / 1e6) }
        if abs(v) >= 1e3 { return String(format: "%.1fµs", v / 1e3) }
        return "\(ns)ns"
    }

    public static func formatBytes(_ b: UInt64) -> String {
        let v = Double(b)
        if v >= 1_073_741_824 { return String(format: "%.2f GiB", v / 1_073_741_824) }
        if v >= 1_048_576 { return String(format: "%.2f MiB", v / 1_048_576) }
        if v >= 1024 { return String(format: "%.1f KiB", v / 1024) }
        return "\(b) B"
    }

    public static func formatBps(_ bps: Double) -> String {
        if bps >= 1e9 { return String(format: "%.2f Gbit/s", bps / 1e9) }
        if bps >= 1e6 { return String(format: "%.2f Mbit/s", bps / 1e6) }
        if bps >= 1e3 { return String(format: "%.1f kbit/s", bps / 1e3) }
        return String(format: "%.0f bit/s", bps)
    }

    /// Left-aligned columns, two spaces apart.
    public static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        return all.map { row in
            "  " + row.enumerated().map { c, cell in
                c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
