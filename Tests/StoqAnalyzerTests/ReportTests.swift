import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import StoqAnalyzer
import XCTest

/// Collects element names and checks the document parses as XML.
final class ElementCollector: NSObject, XMLParserDelegate {
    var elements: [String: Int] = [:]
    var ids: [String] = []
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements[name, default: 0] += 1
        if name == "section", let id = attributes["id"] { ids.append(id) }
    }
}

func parseXML(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ElementCollector {
    let parser = XMLParser(data: Data(text.utf8))
    let collector = ElementCollector()
    parser.delegate = collector
    XCTAssertTrue(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)",
                  file: file, line: line)
    return collector
}

/// NaN or infinity printed anywhere (e.g. a division by a zero duration).
func hasNonFinite(_ text: String) -> Bool {
    text.range(of: #"\b(nan|NaN|inf|-inf|infinity)\b"#, options: .regularExpression) != nil
}

final class ReportTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func sample() throws -> RunSummary {
        try writeSampleTrace(to: dir + "/trace.jsonl")
        return try TraceAnalyzer.summarize(tracePath: dir + "/trace.jsonl")
    }

    func testHTMLIsWellFormedWithChartsAndSections() throws {
        let html = RunReport.html(try sample())
        let doc = parseXML(html)
        XCTAssertEqual(doc.ids, ["overview", "latency", "throughput", "map", "links", "timeline"])
        XCTAssertEqual(doc.elements["svg"], 5, "two CDFs, tier bars, map, timeline")
        XCTAssertEqual(doc.elements["polyline"], 5, "2 workloads + 2 region pairs + the map's one arc")
        XCTAssertEqual(doc.elements["circle"], 2, "one per site")
        XCTAssertNil(doc.elements["script"])
        XCTAssertFalse(hasNonFinite(html))
        XCTAssertFalse(html.replacingOccurrences(of: "http://www.w3.org/", with: "").contains("http://"), "no external fetches")
    }

    func testSectionsWithoutDataAreLeftOut() throws {
        var s = try sample()
        s.stateChanges = []
        s.probes = []; s.probeWorkloads = []; s.probeRegionPairs = []
        let doc = parseXML(RunReport.html(s))
        XCTAssertEqual(doc.ids, ["overview", "throughput", "map", "links"])
        XCTAssertFalse(RunReport.markdown(s).contains("Failures"))
    }

    func testLostEverythingAndSingleValueGroupsDrawWithoutNaN() throws {
        try writeSampleTrace(to: dir + "/trace.jsonl") { _ in nil }
        var s = try TraceAnalyzer.summarize(tracePath: dir + "/trace.jsonl")
        s.tiers = s.tiers.map { var t = $0; t.throughputBps = 0; t.goodputBps = 0; return t }
        let html = RunReport.html(s)
        _ = parseXML(html)
        XCTAssertFalse(hasNonFinite(html))
        XCTAssertTrue(RunReport.markdown(s).contains("100 (100.0%)"))
    }

    func testMarkdownHasTheTables() throws {
        let md = RunReport.markdown(try sample())
        for heading in ["## Probe round-trip times", "## Throughput per tier", "## Busiest links", "## Failures and recoveries"] {
            XCTAssertTrue(md.contains(heading), heading)
        }
        XCTAssertTrue(md.contains("| far | europe → asia | 64 B | 100 | 10 (10.0%) |"), md)
    }

    func testMapEscapesNamesAndFitsCoordinates() throws {
        var s = try sample()
        s.sites[0].name = "a<b&c"
        s.siteLinks[0].from = "a<b&c"
        s.sites[1].longitude = 179.9
        s.sites[1].latitude = -89
        let svg = Charts.worldMap(sites: s.sites, links: s.siteLinks)
        _ = parseXML(svg)
        XCTAssertTrue(svg.contains("a&lt;b&amp;c"))
        XCTAssertTrue(svg.contains("<title>a&lt;b&amp;c – sin"))
    }

    /// Transfers get their own section; a netns run's engine lag shows in the
    /// overview, with a warning when it passed the threshold.
    func testTransferSectionAndRealtimeLag() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try TraceWriter(path: dir + "/trace.jsonl")
        w.write(.run(.init(topology: "t", seed: 1, backend: "netns", strategy: "latency", durationNs: 1_000_000_000, nodes: 2)))
        w.write(.transfer(.init(t: 5, workload: "bulk", from: "a", to: "b", bytes: 1_000_000, streams: 1, bytesReceived: 1_000_000,
                                handshakeNs: 10_000_000, durationNs: 100_000_000, goodputBps: 80e6, packetsLost: 2,
                                packetsRetransmitted: 2, smoothedRttNs: 10_000_000)))
        w.write(.realtime(.init(events: 100, lagMeanNs: 1_000, lagP50Ns: 500, lagP99Ns: 3_000_000, lagMaxNs: 9_000_000,
                                thresholdP99Ns: 1_000_000, packetsRelayed: 40, setupNs: 2_000_000)))
        w.write(.end(.init(t: 1_000_000_000, events: 100)))
        w.close()
        let s = try TraceAnalyzer.summarize(tracePath: dir + "/trace.jsonl")
        XCTAssertEqual(s.realtime?.exceedsThreshold, true)
        XCTAssertEqual(s.realtime?.lagP99Ns, 3_000_000)
        let md = RunReport.markdown(s), html = RunReport.html(s), text = SummaryText.render(s)
        XCTAssertTrue(md.contains("## QUIC transfers") && md.contains("a → b") && md.contains("80.00 Mbit/s"), md)
        XCTAssertTrue(html.contains("<section id=\"transfers\">") && html.contains("goodput per transfer pair"))
        for out in [md, html, text] { XCTAssertTrue(out.contains("WARNING: the real-time engine fell behind"), out) }
    }
}
