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

    /// The runs differ only in seed (same topology, strategy and backend):
    /// their differences are noise, so the reports show the spread instead.
    public var seedsOnly: Bool

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
        // Every section the analyzer knows, the same figures a sweep compares:
        // the union over the runs, in order of first appearance.
        let perRun = summaries.map { Dictionary(SweepMetrics.extract($0).map { ($0.0.key, $0.1) }, uniquingKeysWith: { a, _ in a }) }
        var seen = Set<String>()
        for s in summaries {
            for (m, _) in SweepMetrics.extract(s) where seen.insert(m.key).inserted {
                metrics.append(Metric(section: m.section, name: m.name, unit: m.unit, lowerIsBetter: m.lowerIsBetter,
                                      values: perRun.map { $0[m.key] }))
            }
        }
        self.metrics = metrics
        let first = summaries.first
        seedsOnly = summaries.count >= 2 && Set(summaries.map(\.seed)).count == summaries.count && summaries.allSatisfy {
            $0.topology == first?.topology && $0.strategy == first?.strategy && $0.backend == first?.backend
        }
    }

    /// Labels from each run's own record (topology, strategy, seed, backend),
    /// keeping only the parts that differ between the runs; `overrides`
    /// (directory → label) win. Runs alike in all four are told apart by directory.
    public static func labels(for summaries: [RunSummary], directories: [String], overrides: [String: String] = [:]) -> [String] {
        let parts = summaries.map { [$0.topology, $0.strategy, "seed \($0.seed)", $0.backend] }
        let varying = (0..<4).filter { i in Set(parts.map { $0[i] }).count > 1 }
        let plain = parts.map { p in (varying.isEmpty ? [0, 1, 2, 3] : varying).map { p[$0] }.joined(separator: " ") }
        var labels = plain
        for (i, label) in plain.enumerated() where plain.filter({ $0 == label }).count > 1 {
            labels[i] = "\(label) (\(directories[i]))"
        }
        for (i, d) in directories.enumerated() { if let o = overrides[d] { labels[i] = o } }
        return labels
    }

    /// Mean, sample standard deviation, min and max of a metric over the runs.
    func spread(_ m: Metric) -> (mean: String, range: String) {
        let values = m.values.compactMap { $0 }
        guard let stats = SampleStatistics(values) else { return ("–", "–") }
        let sd = stats.sd.map { " ± " + Self.format($0, m.unit) } ?? ""
        return (Self.format(stats.mean, m.unit) + sd, Self.format(values.min(), m.unit) + " – " + Self.format(values.max(), m.unit))
    }

    static let seedsOnlyNote = "These runs differ only in seed: their differences are noise between seeds, so each metric shows " +
        "the spread (mean ± sample standard deviation, and the range) instead of differences. `stoqsim sweep` says which " +
        "differences between configurations are significant."

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
        guard !seedsOnly else {
            var out = "# Run comparison\n\n\(Self.seedsOnlyNote)\n"
            for (section, ms) in sections {
                out += "\n## \(section)\n\n"
                out += Markdown.table(header: ["metric"] + labels + ["mean ± sd", "range"], rows: ms.map { m in
                    let s = spread(m)
                    return [m.name] + m.values.map { Self.format($0, m.unit) } + [s.mean, s.range]
                })
            }
            return out
        }
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
            b.paragraph(seedsOnly ? Self.seedsOnlyNote : "Differences are relative to the first run. Green: better, red: worse, yellow: changed.")
            b.table(header: ["#", "run"], rows: labels.enumerated().map { [("\($0 + 1)", nil), (SVG.escape($1), nil)] })
        }
        for (i, (section, ms)) in sections.enumerated() {
            if seedsOnly {
                page.section("s\(i)", section) { b in
                    b.table(header: ["metric"] + labels + ["mean ± sd", "range"], rows: ms.map { m in
                        let s = spread(m)
                        return ([m.name] + m.values.map { Self.format($0, m.unit) } + [s.mean, s.range]).map { (SVG.escape($0), nil) }
                    })
                }
                continue
            }
            page.section("s\(i)", section) { b in
                b.table(header: ["metric"] + labels, rows: ms.map { m in
                    [(SVG.escape(m.name), nil)] + cells(m).map { c in (SVG.escape(c.text), c.verdict?.rawValue) }
                })
            }
        }
        return page.finish()
    }
}
