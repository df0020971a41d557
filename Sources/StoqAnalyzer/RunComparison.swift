import Foundation

/// Key metrics of several runs side by side, each compared with the first
/// run (`stoqsim compare`).
public struct RunComparison {
    public enum Unit: String, Codable { case ns, ratio, count, bps, number }

    public struct Metric {
        public var section: String
        public var name: String
        public var unit: Unit
        /// true: lower is better, false: higher is better, nil: neither.
        public var lowerIsBetter: Bool?
        /// One per run; nil when that run lacks the metric.
        public var values: [Double?]
    }

    public enum Verdict: String { case same, better, worse, changed, missing }

    public var labels: [String]
    public var metrics: [Metric]

    /// Differences below this fraction of the first run's value count as the same.
    public static let tolerance = 0.005

    public init(runs: [(label: String, summary: RunSummary)]) {
        labels = runs.map(\.label)
        let summaries = runs.map(\.summary)
        var metrics: [Metric] = []
        func add(_ section: String, _ name: String, _ unit: Unit, _ lowerIsBetter: Bool?, _ value: (RunSummary) -> Double?) {
            let values = summaries.map(value)
            if values.contains(where: { $0 != nil }) {
                metrics.append(Metric(section: section, name: name, unit: unit, lowerIsBetter: lowerIsBetter, values: values))
            }
        }
        add("run", "nodes", .count, nil) { Double($0.nodes) }
        add("run", "simulated", .ns, nil) { Double($0.durationNs) }
        add("run", "events", .count, nil) { Double($0.events) }
        add("run", "failures and recoveries", .count, nil) { Double($0.stateChanges.count) }
        // Union of the runs' workloads and tiers, in order of first appearance.
        var workloads: [String] = [], tiers: [String] = []
        for s in summaries {
            for w in s.probeWorkloads where !workloads.contains(w.workload) { workloads.append(w.workload) }
            for t in s.tiers where !tiers.contains(t.tier) { tiers.append(t.tier) }
        }
        for w in workloads {
            func group(_ s: RunSummary) -> RunSummary.ProbeGroup? { s.probeWorkloads.first { $0.workload == w } }
            let section = "probe \(w)"
            add(section, "sent", .count, nil) { group($0).map { Double($0.sent) } }
            add(section, "loss", .ratio, true) { group($0).map(\.lossRate) }
            for (name, key) in [("p50", \Distribution.p50), ("p90", \.p90), ("p99", \.p99), ("p99.9", \.p999), ("max", \.max)] {
                add(section, name, .ns, true) { group($0)?.rttNs.map { Double($0[keyPath: key]) } }
            }
        }
        for t in tiers {
            func usage(_ s: RunSummary) -> RunSummary.TierUsage? { s.tiers.first { $0.tier == t } }
            let section = "tier \(t)"
            add(section, "throughput", .bps, nil) { usage($0)?.throughputBps }
            add(section, "goodput", .bps, nil) { usage($0)?.goodputBps }
            add(section, "max utilisation", .ratio, nil) { usage($0)?.maxUtilisation }
            add(section, "packets dropped", .count, true) { usage($0).map { Double($0.packetsDropped) } }
        }
        self.metrics = metrics
    }

    /// How run `i`'s value of `m` compares with the first run's.
    public func verdict(_ m: Metric, run i: Int) -> Verdict {
        guard let v = m.values[i], let base = m.values[0] else { return .missing }
        let scale = max(abs(base), 1e-12)
        if abs(v - base) <= scale * Self.tolerance { return .same }
        guard let lower = m.lowerIsBetter else { return .changed }
        return (v < base) == lower ? .better : .worse
    }

    /// "+12.3%" relative to the first run ("new" when the first run had 0).
    public func difference(_ m: Metric, run i: Int) -> String {
        guard let v = m.values[i], let base = m.values[0] else { return "" }
        if v == base { return "=" }
        if base == 0 { return "(was 0)" }
        return String(format: "%+.1f%%", (v - base) / abs(base) * 100)
    }

    static func format(_ v: Double?, _ unit: Unit) -> String {
        guard let v else { return "–" }
        switch unit {
        case .ns: return SummaryText.formatNs(Int64(v))
        case .ratio: return String(format: "%.2f%%", v * 100)
        case .count: return String(format: "%.0f", v)
        case .bps: return SummaryText.formatBps(v)
        case .number: return String(format: "%.3g", v)
        }
    }

    private func cells(_ m: Metric) -> [(text: String, verdict: Verdict?)] {
        m.values.indices.map { i in
            let value = Self.format(m.values[i], m.unit)
            guard i > 0, m.values[i] != nil, m.values[0] != nil else { return (value, nil) }
            return (value + " (" + difference(m, run: i) + ")", verdict(m, run: i))
        }
    }

    private var sections: [(String, [Metric])] {
        var order = OrderedGroups<String, [Metric]>()
        for m in metrics { order.values[order.slot(m.section) { [] }].append(m) }
        return Array(order.pairs)
    }

    /// Markdown; differing cells are bold (better/worse named in words too).
    public func markdown() -> String {
        var out = "# Run comparison\n\nDifferences are relative to the first run (\(labels[0])).\n"
        for (section, ms) in sections {
            out += "\n## \(section)\n\n"
            out += Markdown.table(header: ["metric"] + labels, rows: ms.map { m in
                [m.name] + cells(m).map { c in
                    switch c.verdict {
                    case .better?, .worse?, .changed?: return "**\(c.text)** \(c.verdict == .changed ? "" : c.verdict!.rawValue)"
                        .trimmingCharacters(in: .whitespaces)
                    default: return c.text
                    }
                }
            })
        }
        return out
    }

    /// A self-contained HTML page; differing cells are coloured (green better,
    /// red worse, yellow changed where neither is better).
    public func html() -> String {
        var page = HTMLPage(title: "STOQ Sim run comparison")
        page.section("runs", "Runs") { b in
            b.paragraph("Differences are relative to the first run. Green: better, red: worse, yellow: changed.")
            b.table(header: ["#", "run"], rows: labels.enumerated().map { [("\($0 + 1)", nil), (SVG.escape($1), nil)] })
        }
        for (i, (section, ms)) in sections.enumerated() {
            page.section("s\(i)", section) { b in
                b.table(header: ["metric"] + labels, rows: ms.map { m in
                    [(SVG.escape(m.name), nil)] + cells(m).map { c in (SVG.escape(c.text), c.verdict?.rawValue) }
                })
            }
        }
        return page.finish()
    }
}
