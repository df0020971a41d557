import Foundation

/// The files a run directory holds after analysis, and the Markdown and HTML
/// reports drawn from a summary. Sections without data are left out.
public enum RunReport {
    public static let traceFile = "trace.jsonl"
    public static let summaryFile = "summary.json"
    public static let markdownFile = "report.md"
    public static let htmlFile = "report.html"
    /// Node pairs listed in the reports' "slowest pairs" tables.
    public static let pairRows = 20
    /// Region pairs drawn in one CDF chart (the rest are in the table).
    public static let cdfSeriesLimit = 10

    /// Writes summary.json, report.md and report.html into `directory`;
    /// returns their paths in that order.
    @discardableResult
    public static func writeAll(_ summary: RunSummary, directory: String) throws -> [String] {
        let paths = [summaryFile, markdownFile, htmlFile].map { (directory as NSString).appendingPathComponent($0) }
        try TraceAnalyzer.write(summary, to: paths[0])
        try Data(markdown(summary).utf8).write(to: URL(fileURLWithPath: paths[1]))
        try Data(html(summary).utf8).write(to: URL(fileURLWithPath: paths[2]))
        return paths
    }

    /// Re-analyzes `directory/trace.jsonl` and writes all report files.
    public static func analyze(directory: String) throws -> (summary: RunSummary, paths: [String]) {
        let summary = try TraceAnalyzer.summarize(tracePath: (directory as NSString).appendingPathComponent(traceFile))
        return (summary, try writeAll(summary, directory: directory))
    }

    /// A run directory's summary: its summary.json, or, when that is missing
    /// or from an older stoqsim, a fresh analysis of its trace (nothing is written).
    public static func loadSummary(directory: String) throws -> RunSummary {
        let summary = (directory as NSString).appendingPathComponent(summaryFile)
        if let s = try? TraceAnalyzer.read(summaryAt: summary) { return s }
        let trace = (directory as NSString).appendingPathComponent(traceFile)
        guard FileManager.default.fileExists(atPath: trace) else {
            throw TraceAnalyzer.AnalysisError(description: "neither \(summary) nor \(trace) is readable; pass a directory written by 'stoqsim run'")
        }
        return try TraceAnalyzer.summarize(tracePath: trace)
    }

    // MARK: Table content shared by both formats

    struct Table {
        var header: [String]
        var rows: [[String]]
    }

    static func latencyTable(_ groups: [RunSummary.ProbeGroup], pairColumn: String) -> Table {
        Table(header: ["workload", pairColumn, "size", "sent", "lost", "p50", "p90", "p99", "p99.9", "max"],
              rows: groups.map { g in
                  let d = g.rttNs
                  let f: (KeyPath<Distribution, Int64>) -> String = { k in d.map { SummaryText.formatNs($0[keyPath: k]) } ?? "–" }
                  return [g.workload, g.from == "*" ? "all pairs" : "\(g.from) → \(g.to)", g.size < 0 ? "mixed" : "\(g.size) B",
                          "\(g.sent)", lossText(g), f(\.p50), f(\.p90), f(\.p99), f(\.p999), f(\.max)]
              })
    }

    static func lossText(_ g: RunSummary.ProbeGroup) -> String {
        g.lost == 0 ? "0" : "\(g.lost) (\(String(format: "%.1f%%", g.lossRate * 100)))"
    }

    /// The pairs with the highest p99 (lost-everything pairs first).
    static func slowestPairs(_ s: RunSummary) -> [RunSummary.ProbeGroup] {
        Array(s.probes.enumerated().sorted { a, b in
            let pa = a.element.rttNs?.p99 ?? .max, pb = b.element.rttNs?.p99 ?? .max
            return pa != pb ? pa > pb : a.offset < b.offset
        }.map(\.element).prefix(pairRows))
    }

    static func tierTable(_ s: RunSummary) -> Table {
        Table(header: ["tier", "link directions", "delivered", "throughput", "goodput", "mean util", "max util", "dropped"],
              rows: s.tiers.map {
                  [$0.tier, "\($0.linkDirections)", SummaryText.formatBytes($0.bytesDelivered), SummaryText.formatBps($0.throughputBps),
                   SummaryText.formatBps($0.goodputBps), percent($0.meanUtilisation), percent($0.maxUtilisation), "\($0.packetsDropped)"]
              })
    }

    static func busiestLinksHeading(_ s: RunSummary) -> String {
        truncationNote(shown: min(pairRows, s.links.count), total: s.links.count, noun: "link directions",
                       rankedBy: "utilisation", coveredBy: "the tier table above")
            ?? "Every link direction, busiest first."
    }

    static func busiestLinks(_ s: RunSummary) -> Table {
        let top = s.links.enumerated().sorted { a, b in
            a.element.utilisation != b.element.utilisation ? a.element.utilisation > b.element.utilisation : a.offset < b.offset
        }.prefix(pairRows).map(\.element)
        // The link-model column appears only when some link has a model, so other reports keep their shape.
        let models = s.links.contains { $0.models != nil }
        return Table(header: ["link", "tier", "delivered", "throughput", "utilisation", "max queue", "dropped"] + (models ? ["link models"] : []),
                     rows: top.map {
                         [$0.link, $0.tier, SummaryText.formatBytes($0.bytesDelivered), SummaryText.formatBps($0.throughputBps),
                          percent($0.utilisation), "\($0.maxQueuedBytes) B", "\($0.packetsDropped)"]
                             + (models ? [$0.models?.text ?? ""] : [])
                     })
    }

    static func overview(_ s: RunSummary) -> Table {
        var rows = [["topology", s.topology], ["seed", "\(s.seed)"], ["backend", s.backend], ["routing", s.strategy],
                    ["nodes", "\(s.nodes)"], ["sites", "\(s.sites.count)"], ["link directions", "\(s.links.count)"],
                    ["simulated", SummaryText.formatNs(s.durationNs)], ["events", "\(s.events)"],
                    ["trace records", "\(s.records)"]]
        if !s.complete { rows.append(["warning", "incomplete run: \(s.incompleteReason ?? "the trace has no end record")"]) }
        if let r = s.realtime { rows.append(["real time", r.text]) }
        return Table(header: ["", ""], rows: rows)
    }

    static func timelineTable(_ s: RunSummary) -> Table {
        Table(header: ["time", "what", "state"], rows: s.stateChanges.map {
            [SummaryText.formatNs($0.tNs), "\($0.kind) \($0.target)", $0.up ? "up" : "down"]
        })
    }

    static func percent(_ v: Double) -> String { String(format: "%.2f%%", v * 100) }

    // MARK: Markdown

    public static func markdown(_ s: RunSummary) -> String {
        var out = "# STOQ Sim run: \(s.topology), seed \(s.seed)\n\n"
        out += Markdown.table(overview(s), headerless: true)
        if !s.probeWorkloads.isEmpty {
            out += "\n## Probe round-trip times\n\nPer workload:\n\n"
            out += Markdown.table(latencyTable(s.probeWorkloads, pairColumn: "pairs"))
            if !s.probeRegionPairs.isEmpty {
                out += "\nPer region pair:\n\n" + Markdown.table(latencyTable(s.probeRegionPairs, pairColumn: "regions"))
            }
            let shown = slowestPairs(s)
            out += "\n\(shown.count < s.probes.count ? "Slowest \(shown.count) of \(s.probes.count) node pairs (by p99)" : "Per node pair (slowest first)"):\n\n"
            out += Markdown.table(latencyTable(shown, pairColumn: "pair"))
        }
        if let t = s.transfers, !t.isEmpty { out += transferMarkdown(t) }
        if let c = s.content { out += contentMarkdown(c) }
        if let c = s.certificates {
            out += "\n## Certificates\n\n\(certificateNote)\n\n" + Markdown.table(certificateTable(c), headerless: true)
        }
        if let r = s.routes {
            out += "\n## Routes\n\n\(routeNote)\n\n" + Markdown.table(routeOverview(r), headerless: true)
            if !r.mostStretched.isEmpty { out += "\nMost stretched pairs:\n\n" + Markdown.table(stretchTable(r)) }
        }
        if !s.tiers.isEmpty {
            out += "\n## Throughput per tier\n\nThroughput counts IPv6 and UDP headers; goodput only payload. " +
                "Both are mean rates over \(SummaryText.formatNs(s.measuredNs)).\n\n"
            out += Markdown.table(tierTable(s))
            out += "\n## Busiest links\n\n\(busiestLinksHeading(s))\n\n" + Markdown.table(busiestLinks(s))
        }
        out += timeSeriesMarkdown(s)
        if !s.stateChanges.isEmpty {
            out += "\n## Failures and recoveries\n\n" + Markdown.table(timelineTable(s))
        }
        return out
    }

    // MARK: HTML

    public static func html(_ s: RunSummary) -> String {
        var h = HTMLPage(title: "STOQ Sim run: \(s.topology), seed \(s.seed)")
        h.section("overview", "Overview") { $0.table(overview(s), headerless: true) }
        if !s.probeWorkloads.isEmpty {
            h.section("latency", "Probe round-trip times") { b in
                b.table(latencyTable(s.probeWorkloads, pairColumn: "pairs"))
                let perWorkload = s.probeWorkloads.compactMap { g in g.cdfNs.map { Charts.CDFSeries(name: g.workload, valuesNs: $0) } }
                if !perWorkload.isEmpty {
                    b.figure(Charts.cdf(title: "RTT CDF per workload", percentiles: s.cdfPercentiles, series: perWorkload),
                             caption: "RTT distribution per workload")
                }
                if !s.probeRegionPairs.isEmpty {
                    b.heading("Per region pair")
                    b.table(latencyTable(s.probeRegionPairs, pairColumn: "regions"))
                    let regional = s.probeRegionPairs.compactMap { g in
                        g.cdfNs.map { Charts.CDFSeries(name: "\(g.workload): \(g.from) → \(g.to)", valuesNs: $0) }
                    }.prefix(cdfSeriesLimit)
                    if !regional.isEmpty {
                        b.figure(Charts.cdf(title: "RTT CDF per region pair", percentiles: s.cdfPercentiles, series: Array(regional)),
                                 caption: "RTT distribution per region pair" +
                                     (s.probeRegionPairs.count > cdfSeriesLimit
                                         ? " (the first \(cdfSeriesLimit) of \(s.probeRegionPairs.count) in the table's order; the table has them all)" : ""))
                    }
                }
                let shown = slowestPairs(s)
                b.heading(shown.count < s.probes.count ? "Slowest \(shown.count) of \(s.probes.count) node pairs (by p99)"
                                                       : "Per node pair (slowest first)")
                b.table(latencyTable(shown, pairColumn: "pair"))
            }
        }
        if !s.tiers.isEmpty {
            h.section("throughput", "Throughput per tier") { b in
                b.paragraph("Throughput counts IPv6 and UDP headers; goodput only payload. Both are mean rates over " +
                            "\(SummaryText.formatNs(s.measuredNs)), summed over each tier's link directions.")
                b.table(tierTable(s))
                b.figure(Charts.bars(title: "throughput per tier", categories: s.tiers.map(\.tier),
                                     series: [.init(name: "throughput", values: s.tiers.map(\.throughputBps)),
                                              .init(name: "goodput", values: s.tiers.map(\.goodputBps))],
                                     format: SummaryText.formatBps),
                         caption: "Mean throughput and goodput per tier")
            }
        }
        if let t = s.transfers, !t.isEmpty { transferHTML(t, into: &h) }
        if let c = s.content { contentHTML(c, into: &h) }
        if let c = s.certificates {
            h.section("certificates", "Certificates") { b in
                b.paragraph(certificateNote)
                b.table(certificateTable(c), headerless: true)
                if let points = c.timeline, !points.isEmpty {
                    b.figure(Charts.overTime(title: "certificates over time", timesNs: points.map(\.tNs),
                                             series: [.init(name: "enrolled", values: points.map { Double($0.enrolled) }),
                                                      .init(name: "renewed (rotations)", values: points.map { Double($0.renewed) }),
                                                      .init(name: "failed attempts", values: points.map { Double($0.failed) })],
                                             yLabel: "certificates (cumulative)", format: { String(format: "%.0f", $0) }),
                             caption: "Enrolments, rotations and failed attempts over the run")
                }
            }
        }
        if !s.sites.isEmpty {
            h.section("map", "Sites and links") { b in
                b.figure(Charts.worldMap(sites: s.sites, links: s.siteLinks),
                         caption: "\(s.sites.count) sites, \(s.siteLinks.count) inter-site links (equirectangular projection)")
            }
        }
        if !s.links.isEmpty {
            h.section("links", "Busiest links") { b in
                b.paragraph(busiestLinksHeading(s))
                b.table(busiestLinks(s))
            }
        }
        timeSeriesHTML(s, into: &h)
        if let r = s.routes {
            h.section("routes", "Routes") { b in
                b.paragraph(routeNote)
                b.table(routeOverview(r), headerless: true)
                if !r.mostStretched.isEmpty {
                    b.heading("Most stretched pairs")
                    b.table(stretchTable(r))
                }
            }
        }
        if !s.stateChanges.isEmpty {
            h.section("timeline", "Failures and recoveries") { b in
                b.figure(Charts.timeline(changes: s.stateChanges, measuredNs: s.measuredNs), caption: "Down time per link and node")
                b.table(timelineTable(s))
            }
        }
        return h.finish()
    }
}

enum Markdown {
    static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

    static func table(_ t: RunReport.Table, headerless: Bool = false) -> String {
        table(header: headerless ? t.header.map { _ in " " } : t.header, rows: t.rows)
    }

    static func table(header: [String], rows: [[String]]) -> String {
        var out = "| " + header.map(cell).joined(separator: " | ") + " |\n"
        out += "|" + header.map { _ in "---|" }.joined() + "\n"
        for r in rows { out += "| " + r.map(cell).joined(separator: " | ") + " |\n" }
        return out
    }
}

/// A self-contained XHTML-compatible page: inline CSS, inline SVG, no scripts.
struct HTMLPage {
    private var body = ""
    private let title: String

    static let style = """
    body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1600px;color:#222;padding:0 2em}
    .scroll{overflow-x:auto;max-width:100%}svg{max-width:100%;height:auto}
    h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
    h3{font-size:1em}table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
    th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right;white-space:nowrap}th{background:#f3f5f8}
    td:first-child,th:first-child{text-align:left}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
    .better{background:#d8f0d8}.worse{background:#f8d7d7}.changed{background:#fff3c4}.same{color:#888}
    """

    init(title: String) {
        self.title = title
    }

    struct Builder {
        var html = ""
        mutating func heading(_ text: String) { html += "<h3>\(SVG.escape(text))</h3>\n" }
        mutating func paragraph(_ text: String) { html += "<p>\(SVG.escape(text))</p>\n" }
        mutating func figure(_ svg: String, caption: String) {
            html += "<figure>\n" + svg + "<figcaption>\(SVG.escape(caption))</figcaption>\n</figure>\n"
        }
        mutating func table(_ t: RunReport.Table, headerless: Bool = false) {
            table(header: headerless ? nil : t.header, rows: t.rows.map { $0.map { (SVG.escape($0), nil) } })
        }
        /// Cells are (already escaped HTML, optional class).
        mutating func table(header: [String]?, rows: [[(String, String?)]]) {
            // Cells never wrap (a node name stays on one line); a table wider
            // than the window scrolls inside its box instead of widening the page.
            html += "<div class=\"scroll\"><table>\n"
            if let header { html += "<tr>" + header.map { "<th>\(SVG.escape($0))</th>" }.joined() + "</tr>\n" }
            for r in rows {
                html += "<tr>" + r.map { c in "<td\(c.1.map { " class=\"\($0)\"" } ?? "")>\(c.0)</td>" }.joined() + "</tr>\n"
            }
            html += "</table></div>\n"
        }
        mutating func raw(_ s: String) { html += s }
    }

    mutating func section(_ id: String, _ heading: String, _ build: (inout Builder) -> Void) {
        var b = Builder()
        build(&b)
        body += "<section id=\"\(id)\">\n<h2>\(SVG.escape(heading))</h2>\n" + b.html + "</section>\n"
    }

    func finish() -> String {
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n" +
            "<title>\(SVG.escape(title))</title>\n<style>\n\(HTMLPage.style)\n</style>\n</head>\n<body>\n" +
            "<h1>\(SVG.escape(title))</h1>\n" + body + "</body>\n</html>\n"
    }
}
