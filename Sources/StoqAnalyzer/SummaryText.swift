import Foundation

/// The plain-text summary `stoqsim run` and `stoqsim analyze` print.
public enum SummaryText {
    public static let maxPairRows = 30

    public static func render(_ s: RunSummary) -> String {
        var out = "run: \(s.topology)  seed \(s.seed)  backend \(s.backend)  routing \(s.strategy)  " +
            "\(s.nodes) nodes  \(formatNs(s.durationNs)) simulated  \(s.events) events\n"
        if !s.complete { out += "WARNING: incomplete run: \(s.incompleteReason ?? "the trace has no end record")\n" }
        if let r = s.realtime { out += "real time: " + r.text + "\n" }
        if !s.probes.isEmpty {
            out += "\nprobe round-trip times\n"
            // Big runs have thousands of pairs: the terminal gets the first ones, the reports all.
            let rows = s.probes.prefix(maxPairRows).map { p -> [String] in
                let d = p.rttNs
                return [p.workload, "\(p.from) → \(p.to)", "\(p.size) B", "\(p.sent)", "\(p.lost)",
                        d.map { formatNs($0.p50) } ?? "-", d.map { formatNs($0.p99) } ?? "-", d.map { formatNs($0.max) } ?? "-"]
            }
            out += table(header: ["workload", "pair", "size", "sent", "lost", "p50", "p99", "max"], rows: rows)
            if s.probes.count > maxPairRows {
                out += "  … \(s.probes.count - maxPairRows) more pairs in \(RunReport.markdownFile)\n"
            }
        }
        if let transfers = s.transfers, !transfers.isEmpty {
            out += "\nQUIC transfers\n"
            let rows = transfers.prefix(maxPairRows).map { t -> [String] in
                [t.workload, "\(t.from) → \(t.to)", formatBytes(UInt64(t.bytes)), "\(t.completed)/\(t.started)",
                 t.handshakeNs.map { formatNs($0.p50) } ?? "-", t.durationNs.map { formatNs($0.p50) } ?? "-",
                 t.meanGoodputBps.map(formatBps) ?? "-", t.meanGoodputAfterSlowStartBps.map(formatBps) ?? "-",
                 "\(t.packetsRetransmitted)"]
            }
            out += table(header: ["workload", "pair", "size", "done", "handshake p50", "time p50", "goodput",
                                  "after slow start", "retransmitted"],
                         rows: rows)
        }
        if let c = s.content { out += content(c) }
        if let c = s.certificates {
            out += "\ncertificates (TrustChain)\n"
            out += table(header: ["", ""], rows: RunReport.certificateTable(c).rows).split(separator: "\n").dropFirst()
                .joined(separator: "\n") + "\n"
        }
        if !s.tiers.isEmpty {
            out += "\nthroughput per tier\n"
            out += table(header: ["tier", "links", "delivered", "throughput", "max util", "dropped"], rows: s.tiers.map {
                [$0.tier, "\($0.linkDirections)", formatBytes($0.bytesDelivered), formatBps($0.throughputBps),
                 String(format: "%.1f%%", $0.maxUtilisation * 100), "\($0.packetsDropped)"]
            })
        }
        if !s.stateChanges.isEmpty {
            out += "\nfailures and recoveries\n"
            for c in s.stateChanges { out += "  \(formatNs(c.tNs))  \(c.target) \(c.up ? "up" : "down")\n" }
            for r in s.reconvergences ?? [] {
                out += "  \(formatNs(r.tNs))  routes around \(r.target) after \(formatNs(r.reconvergenceNs)), " +
                    "\(r.packetsLost) packets lost on it meanwhile\n"
            }
        }
        return out
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
