import Foundation
@testable import StoqAnalyzer
import StoqBrowserLayout
import XCTest

/// report.html laid out by a real browser (`BrowserLayout`, headless
/// Chromium): a report with every kind of section and long names overflows
/// neither a wide nor a narrow window. BundledReportsInBrowserTests does the
/// same for the report of every bundled topology.
final class ReportInBrowserTests: XCTestCase {
    func overflowingElements(html: String, windowWidth: Int) throws -> [String] {
        do { return try BrowserLayout.overflowingElements(html: html, windowWidth: windowWidth) } catch BrowserLayout.Failure.noBrowser {
            throw XCTSkip("\(BrowserLayout.Failure.noBrowser)")
        }
    }

    /// A report with every kind of section and long names: transfers between
    /// long node names, many sites on the map, a long failure target.
    func busyReport() throws -> String {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSampleTrace(to: dir + "/trace.jsonl")
        var s = try TraceAnalyzer.summarize(tracePath: dir + "/trace.jsonl")
        s.transfers = (0..<30).map { i in
            .init(workload: "day-\(i % 3)", from: "client-north-america-\(i)", to: "edge-north-america-\(i)", bytes: 10_000, streams: 1,
                  started: 1, completed: 1, durationNs: Distribution([Int64(50_000_000 + i)]), handshakeNs: Distribution([10_000_000]),
                  meanGoodputBps: 1e6, meanGoodputAfterSlowStartBps: 2e6, packetsLost: 0, packetsRetransmitted: 0,
                  congestion: "cubic", transport: "initial-rtt 100ms")
        }
        return RunReport.html(s)
    }

    func testNothingOverflowsA1400PixelWindow() throws {
        XCTAssertEqual(try overflowingElements(html: try busyReport(), windowWidth: 1400), [])
    }

    func testNothingOverflowsANarrowWindowEither() throws {
        XCTAssertEqual(try overflowingElements(html: try busyReport(), windowWidth: 800), [])
    }
}
