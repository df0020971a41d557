import Foundation
@testable import StoqAnalyzer
import XCTest

/// The reports' "Links over time" and "Congestion window and RTT over time"
/// sections, their charts, the terminal summary's peaks and the export.
final class TimeSeriesReportTests: XCTestCase {
    /// A 10 s run in 40 ms bins with one burst at 2 s: 5 % busy on average, saturated for 10 ms windows.
    func summary() -> RunSummary {
        var s = RunSummary(header: .init(topology: "t", seed: 1, backend: "sim", strategy: "latency",
                                         durationNs: 10_000_000_000, nodes: 2))
        var busy = [Int64](repeating: 0, count: 250), peak = busy, queue = busy, drops = busy
        busy[50] = 30_000_000; peak[50] = 10_000_000; queue[50] = 65_000; drops[50] = 17
        let trace = TraceRecord.LinkSeries(link: "a>b", binNs: 40_000_000, windowNs: 10_000_000, bytes: busy.map { $0 / 80 },
                                           busyNs: busy, maxWindowBusyNs: peak, maxQueuedBytes: queue, drops: drops,
                                           tailBytes: 0, tailBusyNs: 0, tailDrops: 2)
        let accumulator = TimeSeriesAccumulator()
        let context = AnalysisContext()
        accumulator.consume(.linkSeries(trace), context: context)
        accumulator.consume(.transferSeries(.init(t: 3_000_000_000, workload: "bulk", from: "a", to: "b", startNs: 2_000_000_000,
                                                  offsetNs: [0, 10_000_000, 20_000_000, 30_000_000, 40_000_000],
                                                  cwnd: [12_000, 24_000, 48_000, 24_000, 30_000],
                                                  srttNs: [10_000_000, 11_000_000, 15_000_000, 18_000_000, 12_000_000],
                                                  inFlight: [1200, 20_000, 40_000, 20_000, 25_000])), context: context)
        accumulator.finish(into: &s, context: context)
        return s
    }

    func testTheSummaryKeepsMeanAndPeakUtilisation() throws {
        let l = try XCTUnwrap(summary().linkSeries?.first)
        XCTAssertEqual(l.peakWindowUtilisation, 1)
        XCTAssertEqual(l.utilisation[50], 0.75)
        XCTAssertEqual(l.totalDrops, 19)
        let text = SummaryText.render(summary())
        XCTAssertTrue(text.contains("busiest links over time (peak = busiest 10ms window)"), text)
        XCTAssertTrue(text.contains("100.0%"), text)
    }

    func testReportsRenderBothSectionsWithChartsThatStopAt100Percent() throws {
        let s = summary()
        let md = RunReport.markdown(s)
        XCTAssertTrue(md.contains("## Links over time") && md.contains("## Congestion window and RTT over time"))
        XCTAssertTrue(md.contains("| a>b |"))
        let html = RunReport.html(s)
        for id in ["links-over-time", "transfers-over-time"] { XCTAssertTrue(html.contains("<section id=\"\(id)\">"), id) }
        let svgs = html.components(separatedBy: "<svg").dropFirst().map { "<svg" + $0.components(separatedBy: "</svg>")[0] + "</svg>" }
        let utilisation = try XCTUnwrap(svgs.first { $0.contains("utilisation of a&gt;b") || $0.contains("utilisation of a>b") })
        XCTAssertEqual(texts(utilisation, class: "y-title").map(\.content), ["utilisation (%)"])
        XCTAssertTrue(utilisation.contains("simulated time (s)"))
        let yTicks = utilisation.components(separatedBy: "text-anchor=\"end\"").dropFirst().compactMap { Double($0.dropFirst().prefix { $0 != "<" }) }
        XCTAssertEqual(yTicks.max(), 100, "a utilisation axis stops at 100 %")
        let ticks = texts(utilisation, class: "x-tick").map(\.content)
        XCTAssertFalse(ticks.contains { $0.hasSuffix("ns") }, "\(ticks)")
        let cwnd = try XCTUnwrap(svgs.first { $0.contains("congestion window") })
        XCTAssertTrue(cwnd.contains("time since the transfer started (ms)"))
        XCTAssertEqual(Set(texts(cwnd, class: "legend").map(\.content)), [SVG.escape("a → b @2.000s")])
        let width = svgWidth(cwnd)
        for l in texts(cwnd, class: "legend") {
            XCTAssertLessThanOrEqual(l.x + SVG.textWidth(l.content, size: l.size), width, "legend '\(l.content)' is clipped")
        }
        XCTAssertTrue(svgs.contains { $0.contains("drops") }, "a drops chart when the links dropped packets")
    }

    func testExportWritesTheSeriesInLongForm() throws {
        let dir = NSTemporaryDirectory() + "stoqsim-series-export-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let written = try TimeSeriesExport.write(summary(), to: dir, format: .csv)
        XCTAssertEqual(written.map { ($0.path as NSString).lastPathComponent }, ["series-links.csv", "series-transfers.csv"])
        XCTAssertEqual(written.map(\.rows), [250, 5])
        let links = try String(contentsOfFile: written[0].path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(links[0], Substring(TimeSeriesExport.linkColumns.joined(separator: ",")))
        XCTAssertEqual(links[51], "a>b,2000000000,40000000,0.75,1,10000000,65000,17,375000")
        let transfers = try String(contentsOfFile: written[1].path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(transfers[4], "bulk,a,b,2000000000,30000000,24000,18000000,20000")
    }
}
