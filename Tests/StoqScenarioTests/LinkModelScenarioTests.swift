import Foundation
import StoqAnalyzer
import StoqScenario
import StoqTopology
import XCTest

/// The scenario files under topologies/link-models/, one per link model, run
/// end to end: a QUIC transfer and probes over a link with the model.
final class LinkModelScenarioTests: XCTestCase {
    struct Outcome {
        var transfer: TraceRecord.TransferResult
        /// link_stats of a>b and b>a.
        var stats: [String: TraceRecord.LinkStats]
        var trace: Data
        var summary: RunSummary
    }

    private func run(_ name: String) throws -> Outcome {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let topology = try TopologyParser.load(path: repositoryRoot + "/topologies/link-models/\(name).yaml")
        let result = try Scenario(topology: topology).run(outputDirectory: dir)
        var transfer: TraceRecord.TransferResult?
        var stats: [String: TraceRecord.LinkStats] = [:]
        try TraceReader.forEach(path: result.tracePath) {
            if case .transfer(let t) = $0 { transfer = t }
            if case .linkStats(let s) = $0 { stats[s.link] = s }
        }
        return Outcome(transfer: try XCTUnwrap(transfer), stats: stats,
                       trace: try Data(contentsOf: URL(fileURLWithPath: result.tracePath)), summary: result.summary)
    }

    private func assertCompleted(_ o: Outcome, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(o.transfer.bytesReceived, 1_000_000, "the transfer completes", file: file, line: line)
        XCTAssertNotNil(o.transfer.durationNs, file: file, line: line)
    }

    func testCorruptedPacketsAreLostToQUICButTheTransferCompletes() throws {
        let o = try run("corrupt")
        assertCompleted(o)
        let corrupted = try XCTUnwrap(o.stats["a>b"]?.corrupted)
        XCTAssertGreaterThan(corrupted, 5)
        XCTAssertEqual(o.stats["a>b"]?.droppedLoss, 0, "the link itself loses nothing")
        XCTAssertGreaterThan(o.transfer.packetsRetransmitted, 0, "the sender sees the corrupted packets as lost")
        XCTAssertNil(o.transfer.packetsLost, "declared losses are counted only with count-lost-packets")
        XCTAssertNil(o.stats["a>b"]?.duplicated, "fields of models the link lacks stay out of the trace")
        XCTAssertTrue(o.summary.links.first { $0.link == "a>b" }?.models?.text.contains("corrupted \(corrupted)") == true)
    }

    func testBurstLossLosesPacketsInRuns() throws {
        let o = try run("burst-loss")
        assertCompleted(o)
        XCTAssertGreaterThan(o.stats["a>b"]!.droppedLoss, 0)
        XCTAssertGreaterThan(o.transfer.packetsRetransmitted, 0)
    }

    func testDuplicatesAreCountedAndHarmless() throws {
        let o = try run("duplicate")
        assertCompleted(o)
        let s = try XCTUnwrap(o.stats["a>b"])
        XCTAssertGreaterThan(try XCTUnwrap(s.duplicated), 10)
        // Sent + duplicated = delivered + still in flight when the run ended.
        XCTAssertLessThanOrEqual(s.packetsDelivered, s.packetsSent + s.duplicated!)
        XCTAssertGreaterThanOrEqual(s.packetsDelivered + 2, s.packetsSent + s.duplicated!)
        XCTAssertEqual(o.transfer.packetsRetransmitted, 0)
    }

    func testJitterKeepsOrderUnlessReorderIsAllowed() throws {
        let inOrder = try run("jitter")
        assertCompleted(inOrder)
        XCTAssertEqual(inOrder.stats["a>b"]?.reordered, 0)
        let reordering = try run("reorder")
        assertCompleted(reordering)
        XCTAssertGreaterThan(try XCTUnwrap(reordering.stats["a>b"]?.reordered), 0)
    }

    func testMinimumMTUDropsOversizedDatagramsAndTheTransferCompletes() throws {
        let o = try run("mtu")
        assertCompleted(o)
        // ngtcp2 probes the path MTU up to its 1452-byte payload; the probes are dropped, the data is not.
        XCTAssertGreaterThan(try XCTUnwrap(o.stats["a>b"]?.droppedMTU), 0)
        XCTAssertEqual(o.stats["a>b"]?.droppedLoss, 0)
    }

    func testEveryModelOnGivesAByteIdenticalTraceForTheSameSeed() throws {
        let first = try run("all"), second = try run("all")
        XCTAssertEqual(first.trace, second.trace)
        let s = try XCTUnwrap(first.stats["a>b"])
        for field in [s.droppedMTU, s.corrupted, s.duplicated, s.reordered] { XCTAssertNotNil(field) }
    }
}
