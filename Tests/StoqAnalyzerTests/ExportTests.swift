import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import StoqAnalyzer
import XCTest

/// `stoqsim export`: files per record type and per summary table, their
/// columns as docs/reports.md states them, and the paper figures.
final class ExportTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// The sample trace with a region holding a comma and quotes, which CSV must quote.
    func sampleTrace() throws -> String {
        let path = dir + "/trace.jsonl"
        try writeSampleTrace(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"region\":\"asia\"", with: "\"region\":\"asia, \\\"east\\\"\"")
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast().map(String.init)   // the file ends in a newline
    }

    /// Record counts per type, read independently of the exporter.
    func recordCounts(_ trace: String) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in try lines(trace) {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            counts[object["type"] as! String, default: 0] += 1
        }
        return counts
    }

    func testCSVHasOneFilePerRecordTypeWithItsRows() throws {
        let trace = try sampleTrace()
        let out = dir + "/csv"
        let files = try RunExport.write(RunExport.Input(path: trace), to: out, format: .csv)
        let counts = try recordCounts(trace)
        XCTAssertEqual(Set(counts.keys), ["run", "link", "node", "probe", "link_state", "node_state", "link_stats", "end"])
        for (type, count) in counts {
            let path = out + "/trace-\(type).csv"
            XCTAssertEqual(try lines(path).count, count + 1, "\(type): header + one row per record")
            XCTAssertEqual(files.first { $0.path == path }?.rows, count)
        }
        // Columns: the keys in the order the trace first has them (docs/reports.md).
        XCTAssertEqual(try lines(out + "/trace-probe.csv").first, "t,type,workload,from,to,seq,size,rtt_ns")
        XCTAssertEqual(try lines(out + "/trace-node.csv").first, "type,node,site,region,role,address,lat,lon")
        XCTAssertEqual(try lines(out + "/trace-link_state.csv").first, "t,type,link,up")
        // A lost probe's null RTT is an empty cell; a string with a comma and quotes is quoted, quotes doubled.
        XCTAssertTrue(try lines(out + "/trace-probe.csv").contains("900000000,probe,far,a,b,9,64,"))
        XCTAssertTrue(try lines(out + "/trace-node.csv").contains("node,b,sin,\"asia, \"\"east\"\"\",edge,fd00:1::1,1.35,103.82"))
    }

    func testCSVColumnsAreTheUnionOfTheTypesKeys() throws {
        let trace = dir + "/mixed.jsonl"
        try """
        {"type":"run","schema":1,"topology":"x","seed":1,"backend":"sim","strategy":"latency","duration_ns":1,"nodes":0}
        {"t":1,"type":"node_state","node":"a","up":false}
        {"t":2,"type":"node_state","node":"a","up":true,"reason":"repaired"}

        {"t":3,"type":"custom","list":[1,"a,b"],"nested":{"k":"v"}}
        {"t":4,"type":"end","events":3}

        """.write(toFile: trace, atomically: true, encoding: .utf8)
        let out = dir + "/csv"
        _ = try RunExport.write(RunExport.Input(path: trace), to: out, format: .csv)
        XCTAssertEqual(try lines(out + "/trace-node_state.csv"), ["t,type,node,up,reason", "1,node_state,a,false,", "2,node_state,a,true,repaired"])
        // Nested values are one cell of JSON text.
        XCTAssertEqual(try lines(out + "/trace-custom.csv"), ["t,type,list,nested", "3,custom,\"[1,\"\"a,b\"\"]\",\"{\"\"k\"\":\"\"v\"\"}\""])
    }

    func testJSONLKeepsTheTraceLines() throws {
        let trace = try sampleTrace()
        let out = dir + "/jsonl"
        _ = try RunExport.write(RunExport.Input(path: trace), to: out, format: .jsonl)
        let all = try lines(trace)
        XCTAssertEqual(try lines(out + "/trace-probe.jsonl"), all.filter { $0.contains("\"type\":\"probe\"") })
        // Summary tables keep their nesting: one JSON object per row.
        let probes = try lines(out + "/summary-probes.jsonl")
        XCTAssertEqual(probes.count, 2)
        let first = try JSONSerialization.jsonObject(with: Data(probes[0].utf8)) as! [String: Any]
        XCTAssertNotNil(first["rttNs"] as? [String: Any])
    }

    func testSummaryTablesMatchTheSummary() throws {
        let trace = try sampleTrace()
        let out = dir + "/csv"
        _ = try RunExport.write(RunExport.Input(path: trace), to: out, format: .csv)
        let summary = try TraceAnalyzer.summarize(tracePath: trace)
        let tables: [(String, Int)] = [("probes", summary.probes.count), ("probeWorkloads", summary.probeWorkloads.count),
                                       ("probeRegionPairs", summary.probeRegionPairs.count), ("tiers", summary.tiers.count),
                                       ("links", summary.links.count), ("sites", summary.sites.count),
                                       ("stateChanges", summary.stateChanges.count)]
        for (name, rows) in tables {
            XCTAssertGreaterThan(rows, 0, name)
            XCTAssertEqual(try lines(out + "/summary-\(name).csv").count, rows + 1, name)
        }
        // Nested objects get dotted names, alphabetical; lists are JSON cells.
        let header = try lines(out + "/summary-probeWorkloads.csv")[0].split(separator: ",").map(String.init)
        XCTAssertEqual(header, header.sorted())
        XCTAssertTrue(header.contains("rttNs.p99") && header.contains("cdfNs") && header.contains("workload"), "\(header)")
        let overview = try lines(out + "/summary.csv")
        XCTAssertEqual(overview[0], "key,value")
        XCTAssertTrue(overview.contains("topology,sample"))
        XCTAssertTrue(overview.contains("seed,3"))
        // A region with a comma and quotes stays one quoted field in the sites table too.
        XCTAssertTrue(try lines(out + "/summary-sites.csv").contains { $0.contains("\"asia, \"\"east\"\"\"") })
    }

    func testMalformedOrMissingTraceIsAClearError() throws {
        let trace = dir + "/bad.jsonl"
        try "{\"type\":\"run\"}\n{\"t\":1,\"type\":\"probe\"\n".write(toFile: trace, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunExport.write(RunExport.Input(path: trace), to: dir + "/out", format: .csv)) { error in
            XCTAssertEqual("\(error)", "\(trace):2: not a JSON object")
            XCTAssertTrue((error as? ExportError)?.badInput ?? false)
        }
        try "{\"t\":1}\n".write(toFile: trace, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunExport.write(RunExport.Input(path: trace), to: dir + "/out", format: .csv)) { error in
            XCTAssertEqual("\(error)", "\(trace):1: no \"type\" string in the record")
        }
        XCTAssertThrowsError(try RunExport.Input(path: dir + "/nothing")) { error in
            XCTAssertTrue("\(error)".contains("no such file or directory"), "\(error)")
        }
        XCTAssertThrowsError(try RunExport.Input(path: dir)) { error in
            XCTAssertTrue("\(error)".contains("holds no trace.jsonl"), "\(error)")
        }
    }

    // MARK: Figures

    func testFiguresAreTheReportsChartsAtPaperSize() throws {
        let summary = try TraceAnalyzer.summarize(tracePath: sampleTrace())
        let figures = ReportFigures.figures(summary)
        let reportFigures = RunReport.html(summary).components(separatedBy: "<figure>").count - 1
        XCTAssertEqual(figures.count, reportFigures, "every chart of the report")
        XCTAssertEqual(figures.map(\.name), ["01-latency-rtt-cdf-per-workload", "02-latency-rtt-cdf-per-region-pair",
                                             "03-throughput-throughput-per-tier", "04-map-map-of-sites-and-links",
                                             "05-timeline-failures-and-recoveries"])
        for f in figures {
            let size = try physicalSize(f.svg)
            let expectedWidth = f.name.contains("-map-") ? 7.0 : 3.4
            XCTAssertEqual(size.width, expectedWidth, accuracy: f.name.contains("timeline") ? 0.01 : 0.05, f.name)
            XCTAssertLessThan(size.height, f.name.contains("-map-") ? 4.5 : 3.5, f.name)
            XCTAssertNoThrow(try XMLDocument(xmlString: f.svg), f.name)
            XCTAssertFalse(f.caption.isEmpty)
        }
        // Axis titles with units; on paper the bar chart's title is its y-axis title.
        XCTAssertTrue(figures[0].svg.contains("share of probes ≤ RTT") && figures[0].svg.contains("round-trip time"))
        XCTAssertTrue(figures[2].svg.contains("class=\"y-title\"") && figures[2].svg.contains("bit/s"))
        XCTAssertTrue(figures[4].svg.contains("simulated time (s)"))
        // The screen report is drawn as before: no physical units.
        XCTAssertFalse(RunReport.html(summary).contains("in\" height="))
    }

    /// On paper, legends go under the plot and no text (a tick label at the
    /// plot's right edge, a legend name) reaches past the figure's edge.
    func testPaperLegendsStayInsideTheFigure() throws {
        let summary = try TraceAnalyzer.summarize(tracePath: sampleTrace())
        for f in ReportFigures.figures(summary) {
            let box = try viewBox(f.svg)
            for x in numbers(after: " x=\"", in: f.svg) { XCTAssertLessThanOrEqual(x, box.width, f.name) }
            for y in numbers(after: " y=\"", in: f.svg) { XCTAssertLessThanOrEqual(y, box.height, f.name) }
            // Text reaches no further than the figure's edge (widths as the layout estimates them).
            for element in f.svg.components(separatedBy: "<text ").dropFirst() where !element.contains("rotate(") {
                let x = numbers(after: "x=\"", in: element)[0], label = String(element.split(separator: ">")[1].prefix { $0 != "<" })
                let size = Int(numbers(after: "font-size=\"", in: element)[0])
                let width = SVG.textWidth(label, size: size)
                let reach = element.contains("text-anchor=\"middle\"") ? x + width / 2 : element.contains("text-anchor=\"end\"") ? x : x + width
                XCTAssertLessThanOrEqual(reach, box.width + 0.5, "\(f.name): \(label)")
            }
        }
    }

    func testFigureFilesInEveryFormat() throws {
        let summary = try TraceAnalyzer.summarize(tracePath: sampleTrace())
        let svgs = try ReportFigures.write(summary, to: dir + "/svg", format: .svg)
        XCTAssertEqual(svgs.count, 5)
        XCTAssertTrue(try String(contentsOfFile: svgs[0], encoding: .utf8).hasPrefix("<?xml"))
        XCTAssertEqual(try lines(dir + "/svg/captions.txt").count, 5)
        guard (try? ReportFigures.converterPath()) != nil else {
            print("skipping PNG and PDF figures: rsvg-convert is not installed (Debian's librsvg2-bin; tools/setup.sh installs it)")
            return
        }
        let pngs = try ReportFigures.write(summary, to: dir + "/png", format: .png)
        XCTAssertEqual(pngs.count, 5)
        for p in pngs {
            let data = try Data(contentsOf: URL(fileURLWithPath: p))
            XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], p)
            // IHDR: width and height at 300 dpi (3.4 in → 1,020 px; the map 7 in → 2,100 px).
            let width = data[16..<20].reduce(0) { $0 << 8 | Int($1) }
            XCTAssertEqual(Double(width), p.contains("-map-") ? 2100 : 1020, accuracy: 15, p)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/png/01-latency-rtt-cdf-per-workload.svg"), "no SVG left behind")
        let pdfs = try ReportFigures.write(summary, to: dir + "/pdf", format: .pdf)
        for p in pdfs {
            let data = try Data(contentsOf: URL(fileURLWithPath: p))
            XCTAssertEqual(String(decoding: data.prefix(5), as: UTF8.self), "%PDF-", p)
            // The page is the figure's physical size: 3.4 in = 244.8 pt.
            let text = String(decoding: data, as: UTF8.self)
            if !p.contains("-map-") { XCTAssertTrue(text.contains("/MediaBox [ 0 0 244.8") || text.contains("/MediaBox [0 0 244.8"), p) }
        }
    }

    func physicalSize(_ svg: String) throws -> (width: Double, height: Double) {
        let w = try XCTUnwrap(numbers(after: "width=\"", in: svg).first), h = try XCTUnwrap(numbers(after: "height=\"", in: svg).first)
        XCTAssertTrue(svg.contains("in\" height=\""), "physical units")
        return (w, h)
    }

    func viewBox(_ svg: String) throws -> (width: Double, height: Double) {
        let r = try XCTUnwrap(svg.range(of: "viewBox=\"0 0 "))
        let parts = svg[r.upperBound...].prefix { $0 != "\"" }.split(separator: " ").compactMap { Double($0) }
        return (parts[0], parts[1])
    }

    func numbers(after marker: String, in s: String) -> [Double] {
        s.components(separatedBy: marker).dropFirst().compactMap { Double($0.prefix { "0123456789.-".contains($0) }) }
    }
}
