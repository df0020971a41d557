import Foundation
import StoqAnalyzer
import StoqScenario
import StoqTopology
import XCTest

/// Time series end to end: a link idle on average that transfers saturate for
/// a moment (Tests/StoqTopologyTests/Fixtures/bursty-transfers.yaml), traced,
/// summarised and reproducible.
final class TimeSeriesScenarioTests: XCTestCase {
    struct Outcome {
        var records: [TraceRecord]
        var trace: String
        var summary: RunSummary
    }

    private func runFixture(_ options: TimeSeriesOptions = TimeSeriesOptions()) throws -> Outcome {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var scenario = try Scenario(topology: TopologyParser.load(path: repositoryRoot + "/Tests/StoqTopologyTests/Fixtures/bursty-transfers.yaml"))
        scenario.timeSeries = options
        let result = try scenario.run(outputDirectory: dir)
        var records: [TraceRecord] = []
        try TraceReader.forEach(path: result.tracePath) { records.append($0) }
        return Outcome(records: records, trace: try String(contentsOfFile: result.tracePath, encoding: .utf8), summary: result.summary)
    }

    func testLinkSeriesAddUpAndShowTheBurstTheMeanHides() throws {
        let o = try runFixture()
        let stats = Dictionary(uniqueKeysWithValues: o.records.compactMap { r -> (String, TraceRecord.LinkStats)? in
            if case .linkStats(let s) = r { return (s.link, s) } else { return nil }
        })
        let series = o.records.compactMap { r -> TraceRecord.LinkSeries? in if case .linkSeries(let l) = r { return l } else { return nil } }
        XCTAssertEqual(series.map(\.link), ["a>b", "b>a"], "both directions carried bytes, the busiest first")
        for l in series {
            let s = try XCTUnwrap(stats[l.link])
            XCTAssertEqual(l.bytes.count, 250, "10 s in 40 ms bins")
            XCTAssertEqual(l.binNs, 40_000_000)
            XCTAssertEqual(UInt64(l.bytes.reduce(0, +) + l.tailBytes), s.bytesSent, l.link)
            let dropped = s.droppedQueueFull + s.droppedLoss + s.droppedLinkDown
            XCTAssertEqual(UInt64(l.drops.reduce(0, +) + l.tailDrops), dropped, l.link)
            XCTAssertEqual(l.busyNs.reduce(0, +) + l.tailBusyNs, s.busyNs, l.link)
            XCTAssertEqual(l.maxQueuedBytes.max().map(Int.init), s.maxQueuedBytes, l.link)
            for (busy, peak) in zip(l.busyNs, l.maxWindowBusyNs) {
                let peakUtilisation = Double(peak) / Double(l.windowNs), meanUtilisation = Double(busy) / Double(l.binNs)
                XCTAssertGreaterThanOrEqual(peakUtilisation, meanUtilisation)
                XCTAssertLessThanOrEqual(peak, l.windowNs)
            }
        }
        let ab = try XCTUnwrap(o.summary.linkSeries?.first)
        XCTAssertEqual(ab.link, "a>b")
        XCTAssertLessThan(ab.meanUtilisation, 0.1, "two 4 MB transfers in 10 s at 100 Mbit/s")
        XCTAssertGreaterThan(ab.peakWindowUtilisation, 0.95, "saturated for a whole 10 ms window")
        XCTAssertGreaterThan(ab.totalDrops, 0, "the 64 KiB queue overflowed")
        XCTAssertTrue(SummaryText.render(o.summary).contains("busiest links over time"))
    }

    func testSampledTransfersShowTheWindowFallingAfterLoss() throws {
        let o = try runFixture()
        let series = o.records.compactMap { r -> TraceRecord.TransferSeries? in if case .transferSeries(let x) = r { return x } else { return nil } }
        XCTAssertEqual(series.count, 2, "both transfers of the workload are among its first 3")
        for x in series {
            XCTAssertEqual(x.workload, "bulk")
            XCTAssertGreaterThan(x.offsetNs.count, 20)
            XCTAssertLessThanOrEqual(x.offsetNs.count, 256)
            XCTAssertEqual(x.offsetNs, x.offsetNs.sorted())
            XCTAssertTrue([x.cwnd.count, x.srttNs.count, x.inFlight.count].allSatisfy { $0 == x.offsetNs.count })
            // The queue drops packets: the window grows, then falls below a value it had reached.
            let fell = x.cwnd.indices.dropFirst().contains { i in x.cwnd[i] < x.cwnd[..<i].max()! }
            XCTAssertTrue(fell, "cwnd never decreased: \(x.cwnd)")
            XCTAssertGreaterThanOrEqual(x.srttNs.max()!, 10_000_000, "at least the 10 ms round trip")
        }
        XCTAssertEqual(o.summary.transferSeries?.count, 2)
    }

    func testTheSameSeedGivesTheSameTraceAndSeriesChangeNothingElse() throws {
        let first = try runFixture(), second = try runFixture()
        XCTAssertEqual(first.trace, second.trace)
        let off = try runFixture(.off)
        XCTAssertFalse(off.trace.contains("_series\""))
        let withoutSeries = first.trace.split(separator: "\n").filter { !$0.contains(#""type":"link_series""#) && !$0.contains(#""type":"transfer_series""#) }
        XCTAssertEqual(withoutSeries, off.trace.split(separator: "\n"), "recording series must not change the run")
    }

    func testLinksCanBeChosenAndUnknownNamesAreRefused() throws {
        var options = TimeSeriesOptions()
        options.links = ["b>a"]
        options.binWidth = .milliseconds(500)
        let o = try runFixture(options)
        let series = o.records.compactMap { r -> TraceRecord.LinkSeries? in if case .linkSeries(let l) = r { return l } else { return nil } }
        XCTAssertEqual(series.map(\.link), ["b>a"])
        XCTAssertEqual(series.first?.bytes.count, 20)
        options.links = ["nowhere"]
        XCTAssertThrowsError(try runFixture(options)) { XCTAssertEqual("\($0)", "no node named 'nowhere' in the topology") }
    }

    /// The file's `trace:` mapping sets what the run options would, so the file alone reproduces the trace.
    func testTheTopologyFileChoosesTheSeriesAndBadSettingsAreLocated() throws {
        let fixture = try String(contentsOfFile: repositoryRoot + "/Tests/StoqTopologyTests/Fixtures/bursty-transfers.yaml", encoding: .utf8)
        func scenario(_ trace: String) throws -> Scenario {
            let dir = try makeTemporaryDirectory()
            let path = dir + "/bursty.yaml"
            try (fixture + "trace: " + trace + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            return try Scenario.load(path: path)
        }
        let s = try scenario("{series-links: [b>a], series-bin: 500ms, sample-transfers: 1}")
        var expected = TimeSeriesOptions()
        expected.links = ["b>a"]
        expected.binWidth = .milliseconds(500)
        expected.sampledTransfers = 1
        XCTAssertEqual(s.timeSeries, expected)
        let o = try runFixture(s.timeSeries)
        XCTAssertEqual(o.records.compactMap { r -> String? in if case .linkSeries(let l) = r { return l.link } else { return nil } }, ["b>a"])
        XCTAssertEqual(o.records.filter { if case .transferSeries = $0 { return true } else { return false } }.count, 1)

        for (trace, message) in [("{series-top: -1}", "'series-top' must be 0 or more"),
                                 ("{series-links: [a>c]}", "neither a node nor a link direction"),
                                 ("{series-bin: 15ms}", "'series-bin'"),
                                 ("{series-tops: 2}", "unknown field 'series-tops' in 'trace'")] {
            XCTAssertThrowsError(try scenario(trace), trace) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
                XCTAssertTrue("\(error)".contains("bursty.yaml:22:"), "located on the trace line: \(error)")
            }
        }
    }
}
