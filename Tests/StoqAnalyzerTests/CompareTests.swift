import Foundation
@testable import StoqAnalyzer
import XCTest

final class CompareTests: XCTestCase {
    func testDifferencesAgainstTheFirstRunAreHighlighted() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSampleTrace(to: dir + "/a.jsonl")
        try writeSampleTrace(to: dir + "/b.jsonl") { 6_000_000 + Int64($0 % 7) * 100_000 }   // "near" 20% slower
        let a = try TraceAnalyzer.summarize(tracePath: dir + "/a.jsonl")
        let b = try TraceAnalyzer.summarize(tracePath: dir + "/b.jsonl")
        let c = RunComparison(runs: [("base", a), ("slower", b), ("same", a)])

        let p50 = try XCTUnwrap(c.metrics.first { $0.section == "probe near" && $0.name == "rtt p50" })
        XCTAssertEqual(c.verdict(p50, run: 1), .worse)
        XCTAssertEqual(c.verdict(p50, run: 2), .same)
        XCTAssertEqual(c.difference(p50, run: 1), "+18.9%")   // 6.3 ms vs 5.3 ms
        let farP50 = try XCTUnwrap(c.metrics.first { $0.section == "probe far" && $0.name == "rtt p50" })
        XCTAssertEqual(c.verdict(farP50, run: 1), .same)

        let md = c.markdown()
        XCTAssertTrue(md.contains("**6.300ms (+18.9%)** worse"), md)
        let html = c.html()
        _ = parseXML(html)
        XCTAssertTrue(html.contains("<td class=\"worse\">6.300ms (+18.9%)</td>"), html)
        XCTAssertTrue(html.contains("class=\"same\""))
    }

    func testBetterAndMissingMetrics() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSampleTrace(to: dir + "/a.jsonl")
        let a = try TraceAnalyzer.summarize(tracePath: dir + "/a.jsonl")
        var b = a
        b.probeWorkloads[0].lost = 0     // no loss on "far"
        b.probeWorkloads.remove(at: 1)   // and no "near" workload
        let c = RunComparison(runs: [("a", a), ("b", b)])
        let loss = try XCTUnwrap(c.metrics.first { $0.section == "probe far" && $0.name == "loss" })
        XCTAssertEqual(c.verdict(loss, run: 1), .better)
        let near = try XCTUnwrap(c.metrics.first { $0.section == "probe near" && $0.name == "rtt p99" })
        XCTAssertEqual(c.verdict(near, run: 1), .missing)
        XCTAssertTrue(c.markdown().contains("| rtt p99 | 5.600ms | – |"), c.markdown())
    }

    /// Runs are named by what differs between them, from their own records.
    func testLabelsNameWhatDiffers() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSampleTrace(to: dir + "/a.jsonl")
        let a = try TraceAnalyzer.summarize(tracePath: dir + "/a.jsonl")
        var b = a, c = a
        b.strategy = "hops"
        c.seed = 9
        XCTAssertEqual(RunComparison.labels(for: [a, b, c], directories: ["x", "y", "z"]),
                       ["latency seed 3", "hops seed 3", "latency seed 9"])
        XCTAssertEqual(RunComparison.labels(for: [a, a], directories: ["x", "y"]),
                       ["sample latency seed 3 sim (x)", "sample latency seed 3 sim (y)"])
        XCTAssertEqual(RunComparison.labels(for: [a, b], directories: ["x", "y"], overrides: ["y": "new"]), ["latency", "new"])
        XCTAssertFalse(RunComparison(runs: [("a", a), ("b", b)]).seedsOnly)
    }

    /// Runs that differ only in seed show the spread between them, not signed differences.
    func testSeedOnlyRunsShowTheSpread() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSampleTrace(to: dir + "/a.jsonl")
        try writeSampleTrace(to: dir + "/b.jsonl") { 6_000_000 + Int64($0 % 7) * 100_000 }
        let a = try TraceAnalyzer.summarize(tracePath: dir + "/a.jsonl")
        var b = try TraceAnalyzer.summarize(tracePath: dir + "/b.jsonl")
        b.seed = 4
        let c = RunComparison(runs: [("seed 3", a), ("seed 4", b)])
        XCTAssertTrue(c.seedsOnly)
        let md = c.markdown()
        XCTAssertTrue(md.contains("differ only in seed"), md)
        XCTAssertTrue(md.contains("| metric | seed 3 | seed 4 | mean ± sd | range |"), md)
        // near p50: 5.3 ms and 6.3 ms: mean 5.8 ms, sd 0.707 ms.
        XCTAssertTrue(md.contains("| rtt p50 | 5.300ms | 6.300ms | 5.800ms ± 707.1µs | 5.300ms – 6.300ms |"), md)
        XCTAssertFalse(md.contains("worse"), md)
        _ = parseXML(c.html())
    }

    func testLoadSummaryFallsBackToTheTrace() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSampleTrace(to: dir + "/trace.jsonl")
        try Data("{\"old\": true}".utf8).write(to: URL(fileURLWithPath: dir + "/summary.json"))
        XCTAssertEqual(try RunReport.loadSummary(directory: dir).topology, "sample")
        XCTAssertThrowsError(try RunReport.loadSummary(directory: dir + "/nothing"))
    }
}
