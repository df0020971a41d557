import Foundation
@testable import StoqAnalyzer
import XCTest

final class AnalyzerTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func summary(_ rtt: ((Int) -> Int64?)? = nil) throws -> RunSummary {
        let path = dir + "/trace.jsonl"
        if let rtt { try writeSampleTrace(to: path, probeRTT: rtt) } else { try writeSampleTrace(to: path) }
        return try TraceAnalyzer.summarize(tracePath: path)
    }

    func testProbeGroupsPerPairWorkloadAndRegionPair() throws {
        let s = try summary()
        XCTAssertEqual(s.probes.map { "\($0.workload) \($0.from)>\($0.to)" }, ["far a>b", "near a>c"])
        XCTAssertEqual(s.probeWorkloads.map(\.workload), ["far", "near"])
        XCTAssertEqual(s.probeRegionPairs.map { "\($0.workload) \($0.from)>\($0.to)" }, ["far europe>asia", "near europe>europe"])
        let far = s.probeWorkloads[0]
        XCTAssertEqual(far.sent, 100)
        XCTAssertEqual(far.lost, 10)
        XCTAssertEqual(far.lossRate, 0.1, accuracy: 1e-12)
        let expected = (0..<100).filter { $0 % 10 != 9 }.map { 80_000_000 + Int64($0) * 1000 }
        XCTAssertEqual(far.rttNs, Distribution(expected))
        XCTAssertEqual(far.cdfNs?.count, RunSummary.cdfPercentiles.count)
        XCTAssertEqual(far.cdfNs?.first, expected.min())
        XCTAssertEqual(far.cdfNs?.last, expected.max())
        XCTAssertNil(s.probes[0].cdfNs, "per-pair groups carry no CDF (summary size)")
        XCTAssertEqual(s.probeRegionPairs[0].rttNs, far.rttNs)
    }

    func testTiersLinksSitesAndTimeline() throws {
        let s = try summary()
        XCTAssertTrue(s.complete)
        XCTAssertEqual(s.events, 1234)
        XCTAssertEqual(s.tiers.map(\.tier), ["100mbps", "2.5gbps"])
        let t = s.tiers[1]
        XCTAssertEqual(t.linkDirections, 2)
        XCTAssertEqual(t.bytesDelivered, 2 * 100 * 112)
        XCTAssertEqual(t.throughputBps, Double(2 * 100 * 112 * 8) / 10, accuracy: 1e-9)
        XCTAssertEqual(t.goodputBps, Double(2 * 100 * 64 * 8) / 10, accuracy: 1e-9)
        XCTAssertEqual(t.maxUtilisation, 0.02, accuracy: 1e-12)
        XCTAssertEqual(t.meanUtilisation, 0.015, accuracy: 1e-12)
        XCTAssertEqual(s.tiers[0].packetsDropped, 2 + 3)
        XCTAssertEqual(s.links.map(\.link), ["a>b", "b>a", "a>c", "c>a"])
        XCTAssertEqual(s.sites.map(\.name), ["fra", "sin"])
        XCTAssertEqual(s.sites[0].nodes, 2)
        XCTAssertEqual(s.siteLinks.count, 1, "a–c is inside one site")
        XCTAssertEqual(s.siteLinks[0].linkDirections, 2)
        XCTAssertEqual(s.siteLinks[0].maxUtilisation, 0.02, accuracy: 1e-12)
        XCTAssertEqual(s.stateChanges.map { "\($0.kind) \($0.target) \($0.up)" }, ["link a<>b false", "link a<>b true", "node c false"])
    }

    func testTraceWithoutEndIsIncomplete() throws {
        let path = dir + "/cut.jsonl"
        try writeSampleTrace(to: path)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropLast()
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        let s = try TraceAnalyzer.summarize(tracePath: path)
        XCTAssertFalse(s.complete)
        XCTAssertTrue(RunReport.markdown(s).contains("cut short"))
    }

    /// A run stopped by a signal ends with an end record naming it: the
    /// summary is not complete and says why, and `interrupted_by` round-trips.
    func testInterruptedRunIsIncompleteWithTheReason() throws {
        let path = dir + "/interrupted.jsonl"
        try writeSampleTrace(to: path)
        let end = TraceRecord.end(.init(t: 3_200_000_000, events: 42, interruptedBy: "SIGINT"))
        XCTAssertEqual(try TraceRecord.decode(Substring(end.jsonLine), lineNumber: 1), end)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropLast() + [Substring(end.jsonLine)]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        let s = try TraceAnalyzer.summarize(tracePath: path)
        XCTAssertFalse(s.complete)
        XCTAssertEqual(s.incompleteReason, "interrupted by SIGINT at 3.200s simulated")
        XCTAssertTrue(SummaryText.render(s).contains("WARNING: incomplete run: interrupted by SIGINT at 3.200s simulated"))
        XCTAssertTrue(try summary().complete, "the sample trace's plain end record")
        XCTAssertNil(try summary().incompleteReason)
    }

    func testSummaryRoundTripsThroughJSON() throws {
        let s = try summary()
        try TraceAnalyzer.write(s, to: dir + "/summary.json")
        XCTAssertEqual(try TraceAnalyzer.read(summaryAt: dir + "/summary.json"), s)
    }

    func testSameTraceGivesSameReportBytes() throws {
        let first = try RunReport.analyze(directory: { try writeSampleTrace(to: dir + "/trace.jsonl"); return dir }())
        let bytes = try first.paths.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let again = try RunReport.analyze(directory: dir)
        XCTAssertEqual(try again.paths.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }, bytes)
        XCTAssertEqual(first.paths.map { ($0 as NSString).lastPathComponent }, ["summary.json", "report.md", "report.html"])
    }

    /// A custom accumulator sees every record and adds to the summary: the
    /// extension point for new record kinds.
    func testCustomAccumulatorSeesEveryRecord() throws {
        final class Counter: TraceAccumulator {
            var probes = 0, nodesKnownAtFirstProbe = 0
            func consume(_ record: TraceRecord, context: AnalysisContext) {
                guard case .probe = record else { return }
                if probes == 0 { nodesKnownAtFirstProbe = context.nodes.count }
                probes += 1
            }
            func finish(into summary: inout RunSummary, context: AnalysisContext) { summary.events = UInt64(probes) }
        }
        try writeSampleTrace(to: dir + "/trace.jsonl")
        let c = Counter()
        let s = try TraceAnalyzer.summarize(tracePath: dir + "/trace.jsonl", accumulators: TraceAnalyzer.defaultAccumulators() + [c])
        XCTAssertEqual(s.events, 200)
        XCTAssertEqual(c.nodesKnownAtFirstProbe, 3)
    }
}
