import Foundation
@testable import StoqAnalyzer
import XCTest

/// What a reader sees in report.html: labels that do not overprint, axes that
/// stop where the quantity does, units that suit the span, links drawn where
/// they run, and tables that say what they leave out. Each test reads the
/// generated SVG/HTML the way a browser would lay it out (text boxes from the
/// same width estimate the charts use).
final class ReportLayoutTests: XCTestCase {
    // MARK: Bars

    func testManyLongCategoryLabelsAreRotatedApartAndStayInside() throws {
        let pairs = (1...12).map { "client-fra-\($0)→client-par-\($0)" }
        let svg = Charts.bars(title: "goodput", categories: pairs, series: [.init(name: "mean goodput", values: pairs.map { _ in 1e6 })],
                              format: SummaryText.formatBps)
        _ = parseXML(svg)
        let labels = texts(svg, class: "x-label")
        XCTAssertEqual(labels.count, 12)
        let angle = try XCTUnwrap(labels.first?.rotation)
        XCTAssertGreaterThan(angle, 0, "12 long labels cannot stand level")
        for (a, b) in zip(labels, labels.dropFirst()) {
            // Parallel rotated labels: their baselines are spacing × sin(angle) apart.
            XCTAssertGreaterThanOrEqual((b.x - a.x) * sin(angle * .pi / 180), Double(a.size), "\(a.content) and \(b.content) overprint")
        }
        for l in labels {
            let reach = SVG.textWidth(l.content, size: l.size) * cos(angle * .pi / 180)
            XCTAssertGreaterThanOrEqual(l.x - reach, 0, "\(l.content) runs off the left edge")
        }
    }

    func testFewShortCategoryLabelsStayLevelWithoutOverlap() {
        let svg = Charts.bars(title: "tiers", categories: ["100mbps", "1gbps", "2.5gbps"],
                              series: [.init(name: "throughput", values: [1, 2, 3])], format: { "\($0)" })
        let labels = texts(svg, class: "x-label")
        XCTAssertEqual(labels.map(\.rotation), [0, 0, 0])
        for (a, b) in zip(labels, labels.dropFirst()) {
            XCTAssertLessThan(a.x + SVG.textWidth(a.content, size: a.size) / 2, b.x - SVG.textWidth(b.content, size: b.size) / 2)
        }
    }

    func testPercentageAxisStopsAt100() {
        let svg = Charts.bars(title: "hit ratio", categories: ["edge-a", "edge-b"], series: [.init(name: "hit ratio", values: [100, 41])],
                              yMax: 100, format: { String(format: "%.0f%%", $0) })
        let ticks = texts(svg, class: "y-tick").map { Double($0.content.dropLast())! }
        XCTAssertEqual(ticks.max(), 100)
        XCTAssertEqual(ticks.min(), 0)
    }

    /// Edges no client asked have no hit ratio: the chart leaves them out and the table says so.
    func testUnaskedEdgesAreNotPlottedAsZero() {
        let edge = { (name: String, hits: Int, misses: Int) in
            ContentSummary.Edge(node: name, hits: hits, misses: misses, hitBytes: 0, bytesStored: 0, evictedCapacity: 0, evictedExpired: 0)
        }
        let c = ContentSummary(versionsPublished: 1, fetches: 1, fetchesFailed: 0, fetchNs: nil, bytesFromEdges: 0, bytesFromOrigins: 0,
                               bytesRequested: 10, bytesSent: 5, linkBytesRequested: 10, linkBytesSent: 5, backboneBytesRequested: 0,
                               backboneBytesSent: 0, versions: [], edges: [edge("edge-fra", 0, 0), edge("edge-par", 3, 1)],
                               links: [], timeline: [])
        var page = HTMLPage(title: "t")
        RunReport.contentHTML(c, into: &page)
        let html = page.finish()
        XCTAssertTrue(html.contains("– (not asked)"))
        let chart = String(html[html.range(of: "cache hit ratio per edge")!.lowerBound...])
        XCTAssertEqual(texts(chart, class: "x-label").map(\.content), ["edge-par"])
        XCTAssertTrue(SummaryText.content(c).contains("edge-par 75%") && !SummaryText.content(c).contains("edge-fra"))
    }

    // MARK: Time axes, CDFs, legends

    func testTimeAxisUsesTheUnitOfItsSpan() {
        let week = TimeAxis(spanNs: 7 * 86_400e9)
        XCTAssertEqual(week.unitName, "days")
        XCTAssertEqual(week.ticksNs.map(week.label).first, "0")
        XCTAssertTrue(week.ticksNs.dropFirst().map(week.label).allSatisfy { $0.hasSuffix("d") }, "\(week.ticksNs.map(week.label))")
        XCTAssertEqual(TimeAxis(spanNs: 10e9).label(4e9), "4s")
        XCTAssertEqual(TimeAxis(spanNs: 2 * 3600e9).unitName, "minutes")
        XCTAssertEqual(TimeAxis(spanNs: 30 * 3600e9).unitName, "hours")

        let svg = Charts.overTime(title: "certs", timesNs: [0, 86_400_000_000_000, 600_000_000_000_000],
                                  series: [.init(name: "enrolled", values: [1, 2, 3])], yLabel: "certificates", format: { "\($0)" })
        let ticks = texts(svg, class: "x-tick").map(\.content)
        XCTAssertFalse(ticks.contains { $0.hasSuffix("ns") || $0.count > 5 }, "\(ticks)")
        XCTAssertTrue(svg.contains("simulated time (days)"))
        XCTAssertEqual(texts(svg, class: "y-title").map(\.content), ["certificates"])
    }

    func testCDFHasAYAxisTitleAndLegendsFit() {
        let names = ["edges: north-america → north-america", "clients: europe → asia"]
        let svg = Charts.cdf(title: "RTT", percentiles: [0, 50, 100],
                             series: names.map { .init(name: $0, valuesNs: [1_000_000, 2_000_000, 90_000_000]) })
        XCTAssertEqual(texts(svg, class: "y-title").first?.content, "share of probes ≤ RTT")
        let width = svgWidth(svg)
        for l in texts(svg, class: "legend") {
            XCTAssertLessThanOrEqual(l.x + SVG.textWidth(l.content, size: l.size), width, "legend '\(l.content)' is clipped")
        }
        XCTAssertEqual(Set(texts(svg, class: "legend").map(\.content)), Set(names.map { SVG.escape($0) }))
    }

    // MARK: Map

    func site(_ name: String, _ lat: Double, _ lon: Double, region: String = "r") -> RunSummary.SiteInfo {
        .init(name: name, region: region, latitude: lat, longitude: lon, nodes: 3)
    }

    /// The polylines of one site link, as points.
    func linkPolylines(_ svg: String, _ from: String, _ to: String) -> [[(Double, Double)]] {
        let regex = try! NSRegularExpression(pattern: #"<polyline class="link" points="([^"]*)"[^>]*><title>([^<]*)</title>"#)
        let ns = svg as NSString
        return regex.matches(in: svg, range: NSRange(location: 0, length: ns.length)).compactMap { m in
            guard ns.substring(with: m.range(at: 2)).hasPrefix("\(from) – \(to) ") else { return nil }
            return ns.substring(with: m.range(at: 1)).split(separator: " ").map {
                let xy = $0.split(separator: ","); return (Double(xy[0])!, Double(xy[1])!)
            }
        }
    }

    /// San Francisco–Tokyo crosses the Pacific: what is drawn of it stays over
    /// the Pacific (never across the Atlantic or Eurasia), split at the map's
    /// edges when the sites span the world.
    func testTransPacificLinkStaysInThePacific() throws {
        let sites = [site("fra", 50.11, 8.68), site("lon", 51.51, -0.13), site("nyc", 40.71, -74.01),
                     site("sfo", 37.77, -122.42), site("sin", 1.35, 103.82), site("tyo", 35.68, 139.69)]
        let links = [RunSummary.SiteLink(from: "sfo", to: "tyo", tier: "2.5gbps", linkDirections: 2, bytesDelivered: 1, maxUtilisation: 0)]
        let svg = Charts.worldMap(sites: sites, links: links)
        _ = parseXML(svg)
        let map = MapProjection(sites: sites, links: links, width: 960, height: 480)
        let drawn = linkPolylines(svg, "sfo", "tyo")
        XCTAssertFalse(drawn.isEmpty)
        var visiblePoints = 0
        for line in drawn {
            for (x, _) in line where x >= 0 && x <= map.width {
                visiblePoints += 1
                let lon = map.longitude(atX: x)
                XCTAssertTrue(lon >= 139 || lon <= -122, "sfo–tyo drawn at longitude \(lon)")
            }
            for (a, b) in zip(line, line.dropFirst()) {
                XCTAssertLessThan(abs(a.0 - b.0), map.width / 4, "a segment jumps across the map")
            }
        }
        XCTAssertGreaterThan(visiblePoints, 2)

        // Only the two Pacific sites: the map is centred on the Pacific and the arc is one piece.
        let pacific = [site("sfo", 37.77, -122.42), site("tyo", 35.68, 139.69)]
        let centred = MapProjection(sites: pacific, links: links, width: 960, height: 480)
        XCTAssertTrue(centred.lonCentre > 150 || centred.lonCentre < -150, "centre \(centred.lonCentre)")
        let one = linkPolylines(Charts.worldMap(sites: pacific, links: links), "sfo", "tyo")
        XCTAssertEqual(one.count, 1)
        XCTAssertTrue(one[0].allSatisfy { $0.0 >= 0 && $0.0 <= 960 && $0.1 >= 0 && $0.1 <= 480 }, "the arc stays inside the window")
    }

    func testNearbySiteLabelsDoNotOverlap() throws {
        let sites = [site("pretoria", -25.75, 28.19), site("johannesburg", -26.20, 28.05), site("soweto", -26.27, 27.86),
                     site("cape-town", -33.92, 18.42), site("durban", -29.86, 31.03)]
        let svg = Charts.worldMap(sites: sites, links: [])
        let labels = texts(svg, class: "site-label")
        let boxes = labels.map { MapLabels.box(.init(name: $0.content, x: $0.x, y: $0.y, anchor: $0.anchor)) }
        for i in boxes.indices {
            for j in boxes.indices where j > i {
                XCTAssertFalse(boxes[i].overlaps(boxes[j]), "\(labels[i].content) overlaps \(labels[j].content)")
            }
        }
        XCTAssertTrue(labels.contains { $0.content == "pretoria" } && labels.contains { $0.content == "johannesburg" })
        let missing = sites.count - labels.count
        if missing > 0 { XCTAssertTrue(svg.contains("\(missing) sites unlabelled (crowded): hover for names")) }
    }

    // MARK: Tables

    func transfer(_ workload: String, _ i: Int, bytes: Int = 10_000, durationNs: Int64 = 50_000_000,
                  handshakeNs: Int64 = 10_000_000) -> RunSummary.TransferGroup {
        let d = Distribution([durationNs]), h = Distribution([handshakeNs])
        return .init(workload: workload, from: "c\(i)", to: "e\(i)", bytes: bytes, streams: 1, started: 1, completed: 1,
                     durationNs: d, handshakeNs: h, meanGoodputBps: 1e6, meanGoodputAfterSlowStartBps: 2e6,
                     packetsLost: 1, packetsRetransmitted: 1)
    }

    func testTransferTablesSayWhatTheyLeaveOutAndSumEveryWorkload() {
        let groups = (0..<6195).map { transfer($0 < 3000 ? "day-1" : "day-4", $0, durationNs: Int64(10_000_000 + $0)) }
        let md = RunReport.transferMarkdown(groups)
        XCTAssertTrue(md.contains("20 of 6,195 pairs, ranked by slowest completion (p99), incomplete first"), md)
        XCTAssertTrue(md.contains("| day-1 | - | 3000 | 3000/3000 |") && md.contains("| day-4 | - | 3195 | 3195/3195 |"), md)
        // Ranked: the slowest pair (the last) comes first.
        XCTAssertTrue(md.contains("| day-4 | c6194 → e6194 |"))
        let totals = TransferWorkloadTotals.of(groups)
        XCTAssertEqual(totals.map(\.completed).reduce(0, +), 6195)
        XCTAssertEqual(totals.map(\.packetsRetransmitted).reduce(0, +), 6195)
        XCTAssertEqual(totals[0].meanGoodputBps, 1e6)
        XCTAssertTrue(RunReport.html(summaryWith(transfers: groups)).contains("20 of 6,195 pairs, ranked by"))
    }

    func summaryWith(transfers: [RunSummary.TransferGroup]) -> RunSummary {
        var s = RunSummary(header: .init(topology: "t", seed: 1, backend: "sim", strategy: "latency", durationNs: 1_000_000_000, nodes: 2))
        s.transfers = transfers
        return s
    }

    func testAfterSlowStartOnlyForTransfersLongEnough() {
        XCTAssertEqual(transfer("w", 0, bytes: 10_000).afterSlowStartCell, "– (under 1 MB)")
        XCTAssertEqual(transfer("w", 0, bytes: 4_000_000, durationNs: 30_000_000, handshakeNs: 10_000_000).afterSlowStartCell,
                       "– (under 10 RTTs)")
        XCTAssertEqual(transfer("w", 0, bytes: 4_000_000, durationNs: 400_000_000, handshakeNs: 8_000_000).afterSlowStartCell,
                       "2.00 Mbit/s")
        XCTAssertTrue(RunReport.transferNote.contains("at least 1 MB lasting at least 10 round trips"))
    }

    /// Cells keep names on one line; a wide table scrolls in its box; charts shrink with the window.
    func testLayoutIsFluidAndCellsDoNotWrap() {
        let html = RunReport.html(summaryWith(transfers: [transfer("w", 0)]))
        XCTAssertTrue(HTMLPage.style.contains("white-space:nowrap"))
        XCTAssertTrue(HTMLPage.style.contains("svg{max-width:100%;height:auto}"))
        XCTAssertFalse(HTMLPage.style.contains("max-width:1000px"))
        XCTAssertEqual(html.components(separatedBy: "<div class=\"scroll\"><table>").count, html.components(separatedBy: "<table>").count)
    }

    func testSummaryTextGroupsThousandsAndOrdersFailuresInTime() {
        XCTAssertEqual(SummaryText.grouped(6195), "6,195")
        XCTAssertEqual(SummaryText.grouped(999), "999")
        XCTAssertEqual(SummaryText.grouped(1_000_000), "1,000,000")
        var s = summaryWith(transfers: [])
        s.stateChanges = [.init(tNs: 6_000_000_000, target: "a<>b", up: false, kind: "link"),
                          .init(tNs: 9_000_000_000, target: "a<>b", up: true, kind: "link")]
        s.reconvergences = [.init(tNs: 6_050_000_000, target: "a<>b", failedAtNs: 6_000_000_000, reconvergenceNs: 50_000_000, packetsLost: 4)]
        let lines = SummaryText.failures(s).split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(lines.map { String($0.prefix(6)) }, ["6.000s", "6.050s", "9.000s"])
    }
}
