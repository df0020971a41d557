import Foundation

/// sweep-report.html: one self-contained page with the findings, per metric a
/// bar chart with 95 % intervals and the pairwise verdicts, RTT CDFs per
/// configuration, and metric-against-value lines for numeric factors.
public enum SweepReport {
    public static let htmlFile = "sweep-report.html"
    public static let summaryFile = "sweep-summary.json"
    public static let csvFile = "sweep.csv"

    /// Writes the three files into `directory`; returns their paths.
    public static func writeAll(_ summary: SweepSummary, directory: String) throws -> [String] {
        let paths = [summaryFile, csvFile, htmlFile].map { (directory as NSString).appendingPathComponent($0) }
        // Atomically: a Slurm collect job writes them while others may be waiting for them.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(summary).write(to: URL(fileURLWithPath: paths[0]), options: .atomic)
        try Data(summary.csv().utf8).write(to: URL(fileURLWithPath: paths[1]), options: .atomic)
        try Data(html(summary).utf8).write(to: URL(fileURLWithPath: paths[2]), options: .atomic)
        return paths
    }

    /// The findings as lines of text, for the terminal.
    public static func text(_ s: SweepSummary) -> String {
        var out = "sweep: \(s.experiment)  \(s.configurations.count) configuration\(s.configurations.count == 1 ? "" : "s") × " +
            "\(s.seeds.count) seed\(s.seeds.count == 1 ? "" : "s")"
        out += s.failedRuns.isEmpty ? "\n" : "  (\(s.failedRuns.count) run\(s.failedRuns.count == 1 ? "" : "s") failed)\n"
        for f in s.failedRuns {
            out += "  failed: \(f.directory): \(f.status)\(f.exitCode.map { " (exit \($0))" } ?? "")\(f.signal.map { " (signal \($0))" } ?? ""); log \(f.log)\n"
        }
        let findings = s.metrics.indices.compactMap { s.finding(metric: $0) }
        if !findings.isEmpty { out += "\nfindings (95 %, Welch's t-test):\n" + findings.map { "  " + $0 + "\n" }.joined() }
        if !s.undecided.isEmpty { out += "\n" + undecidedText(s) + "\n" }
        return out
    }

    static func undecidedText(_ s: SweepSummary) -> String {
        "No configuration is significantly better on: " + s.undecided.map { s.metrics[$0].title }.joined(separator: ", ") + "."
    }

    static func configurationName(_ s: SweepSummary, _ c: Int) -> String {
        s.configurations[c].label.isEmpty ? "base" : s.configurations[c].label
    }

    /// Short category names for chart axes: the values only.
    static func shortName(_ s: SweepSummary, _ c: Int) -> String {
        let values = zip(s.factors, s.configurations[c].valueIndices).map { $0.values[$1] }
        return values.isEmpty ? "base" : values.joined(separator: ", ")
    }

    public static func html(_ s: SweepSummary) -> String {
        var page = HTMLPage(title: "STOQ Sim sweep: \(s.experiment)")
        let failedCount = s.failedRuns.count
        let finished = s.configurations.reduce(0) { $0 + $1.seeds.count }
        page.section("overview", "Experiment") { b in
            var rows = [["topology", s.topology], ["seeds", seedText(s.seeds)],
                        ["configurations", String(s.configurations.count)],
                        ["runs", "\(finished) finished, \(failedCount) failed"]]
            rows += s.factors.map { ["factor \($0.name)", $0.values.joined(separator: ", ")] }
            b.table(RunReport.Table(header: ["", ""], rows: rows), headerless: true)
            b.paragraph("Statistics: " + s.method)
        }
        let findings = s.metrics.indices.compactMap { s.finding(metric: $0) }
        if !findings.isEmpty || !s.undecided.isEmpty {
            page.section("findings", "Findings") { b in
                if !findings.isEmpty { b.raw("<ul>\n" + findings.map { "<li>\(SVG.escape($0))</li>\n" }.joined() + "</ul>\n") }
                if !s.undecided.isEmpty { b.paragraph(undecidedText(s)) }
            }
        }
        if failedCount > 0 {
            page.section("failed", "Failed runs") { b in
                b.paragraph("These runs are left out of the statistics; the rest are summarised.")
                b.table(RunReport.Table(header: ["run", "status", "exit", "signal", "log"], rows: s.failedRuns.map {
                    [$0.directory, $0.status, $0.exitCode.map(String.init) ?? "", $0.signal.map(String.init) ?? "", $0.log]
                }))
            }
        }
        let workloads = s.cdfs.reduce(into: [String]()) { if !$0.contains($1.workload) { $0.append($1.workload) } }
        if !workloads.isEmpty {
            page.section("cdfs", "Round-trip times per configuration") { b in
                for w in workloads {
                    let series = s.cdfs.filter { $0.workload == w }.map {
                        Charts.CDFSeries(name: shortName(s, $0.configuration), valuesNs: $0.valuesNs)
                    }
                    b.figure(Charts.cdf(title: "RTT CDF \(w)", percentiles: s.cdfPercentiles, series: series),
                             caption: "\(w): RTT CDF per configuration, quantiles averaged over seeds")
                }
            }
        }
        var sections: [String] = []
        for m in s.metrics where !sections.contains(m.section) { sections.append(m.section) }
        for (i, section) in sections.enumerated() {
            page.section("m\(i)", section) { b in
                for m in s.metrics.indices where s.metrics[m].section == section { metricBlock(s, m, into: &b) }
            }
        }
        return page.finish()
    }

    private static func metricBlock(_ s: SweepSummary, _ m: Int, into b: inout HTMLPage.Builder) {
        let metric = s.metrics[m]
        let format = { (v: Double) in RunComparison.format(v, metric.unit) }
        b.heading(metric.name + (metric.lowerIsBetter.map { $0 ? " (lower is better)" : " (higher is better)" } ?? ""))
        let order = s.ranking(metric: m)
        let configs = s.configurations.indices.filter { order.contains($0) }
        let stats = configs.map { s.stats(metric: m, configuration: $0)! }
        b.figure(Charts.bars(title: "\(metric.title) per configuration", categories: configs.map { shortName(s, $0) },
                             series: [Charts.BarSeries(name: metric.name, values: stats.map(\.mean))],
                             errors: [stats.map { $0.ci95 ?? 0 }], format: format),
                 caption: "\(metric.title): mean over seeds with its 95 % confidence interval")
        let rows: [[(String, String?)]] = order.enumerated().map { rank, c in
            let st = s.stats(metric: m, configuration: c)!
            return [(String(rank + 1), nil), (SVG.escape(configurationName(s, c)), nil), (SVG.escape(format(st.mean)), nil),
                    (SVG.escape(st.ci95.map { "± " + format($0) } ?? "–"), nil), (SVG.escape(st.sd.map(format) ?? "–"), nil),
                    (String(st.n), nil)]
        }
        b.table(header: [metric.lowerIsBetter == nil ? "#" : "rank", "configuration", "mean", "95 % CI", "sd", "seeds"], rows: rows)
        let pairs = s.comparisons.filter { $0.metric == m }
        if !pairs.isEmpty {
            b.raw("<ul>\n" + pairs.map { c in
                let cls = c.bBetter.map { $0 ? " class=\"better\"" : "" } ?? ""
                let worse = c.test.map { $0.significant && $0.difference != 0 } == true && c.bBetter == false ? " class=\"worse\"" : cls
                return "<li\(worse)>\(SVG.escape(c.sentence))</li>\n"
            }.joined() + "</ul>\n")
        }
        for (f, factor) in s.factors.enumerated() {
            guard let xs = factor.numericValues, Set(xs).count >= 2 else { continue }
            b.figure(factorLines(s, metric: m, factor: f, xs: xs, format: format),
                     caption: "\(metric.title) against \(factor.label): means with 95 % intervals, one line per other factors' values")
        }
    }

    static func seedText(_ seeds: [UInt64]) -> String {
        guard let lo = seeds.min(), let hi = seeds.max() else { return "" }
        if seeds.count > 2, hi - lo + 1 == UInt64(seeds.count), seeds == seeds.sorted() { return "\(lo)..\(hi) (\(seeds.count))" }
        return seeds.map(String.init).joined(separator: ", ")
    }

    /// Metric against a numeric factor's value: one line per combination of the other factors.
    static func factorLines(_ s: SweepSummary, metric m: Int, factor f: Int, xs: [Double], format: (Double) -> String) -> String {
        var series: [(name: String, points: [(x: Double, y: Double, e: Double)])] = []
        var keyIndex: [[Int]: Int] = [:]
        for (c, config) in s.configurations.enumerated() {
            guard let st = s.stats(metric: m, configuration: c) else { continue }
            var others = config.valueIndices
            others[f] = -1
            let name = zip(s.factors, config.valueIndices).enumerated().filter { $0.offset != f }
                .map { "\($0.element.0.label)=\($0.element.0.values[$0.element.1])" }.joined(separator: ", ")
            let i = keyIndex[others] ?? { keyIndex[others] = series.count; series.append((name.isEmpty ? "mean" : name, [])); return series.count - 1 }()
            series[i].points.append((xs[config.valueIndices[f]], st.mean, st.ci95 ?? 0))
        }
        let width = 760.0, height = 320.0, left = 80.0, right = 200.0, top = 16.0, bottom = 42.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xLo = min(xs.min() ?? 0, 0), xTicks = SVG.niceTicks(max: xs.max() ?? 1)
        let yTicks = SVG.niceTicks(max: (series.flatMap { $0.points.map { $0.y + $0.e } }.max() ?? 1) * 1.05)
        func x(_ v: Double) -> Double { left + plotW * (v - xLo) / max(xTicks.last! - xLo, 1e-300) }
        func y(_ v: Double) -> Double { top + plotH * (1 - v / yTicks.last!) }
        var svg = SVG.open(width: width, height: height, label: "\(s.metrics[m].title) against \(s.factors[f].label)")
        svg += "<g font-family=\"sans-serif\" fill=\"#333\">\n"
        for t in yTicks {
            svg += SVG.line(left, y(t), left + plotW, y(t), stroke: "#e3e3e3") + SVG.text(left - 6, y(t) + 4, format(t), anchor: "end")
        }
        for t in xTicks {
            svg += SVG.line(x(t), top, x(t), top + plotH, stroke: "#e3e3e3") + SVG.text(x(t), top + plotH + 16, String(format: "%g", t), anchor: "middle")
        }
        svg += SVG.line(left, top + plotH, left + plotW, top + plotH, stroke: "#555") + SVG.line(left, top, left, top + plotH, stroke: "#555")
        svg += SVG.text(left + plotW / 2, height - 6, s.factors[f].label, anchor: "middle") + "</g>\n"
        for (i, ser) in series.enumerated() {
            let color = SVG.palette[i % SVG.palette.count]
            let points = ser.points.sorted { $0.x < $1.x }
            for p in points where p.e > 0 { svg += SVG.line(x(p.x), y(max(p.y - p.e, 0)), x(p.x), y(p.y + p.e), stroke: color) }
            svg += SVG.seriesLine(points.map { "\(SVG.n(x($0.x))),\(SVG.n(y($0.y)))" }, name: ser.name, color: color,
                                  legendX: left + plotW + 14, legendY: top + 8 + Double(i) * 16)
        }
        return svg + "</svg>\n"
    }
}
