import Foundation
@testable import StoqAnalyzer
import XCTest

/// Transfers that did not complete are counted by reason, and transfer tables
/// are split by the senders' congestion controller and QUIC knobs.
final class TransferFailureTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Workload `bulk`: senders a (cubic) and b (bbr with a knob) to c; every
    /// third transfer of a fails, alternating two reasons; all of b's complete.
    func writeTrace() throws -> String {
        var lines = [TraceRecord.run(.init(topology: "t", seed: 1, backend: "sim", strategy: "latency",
                                           durationNs: 60_000_000_000, nodes: 3)).jsonLine]
        for i in 0..<3_000 {
            let fromA = i % 2 == 0, failed = fromA && i % 3 == 0
            let failure = failed ? (i % 4 == 0 ? "timed out after 60s" : "connection closed: idle timeout") : nil
            lines.append(TraceRecord.transfer(.init(
                t: Int64(i) * 1_000_000, workload: "bulk", from: fromA ? "a" : "b", to: "c", bytes: 100_000, streams: 1,
                bytesReceived: failed ? 0 : 100_000, handshakeNs: 10_000_000, durationNs: failed ? nil : 50_000_000,
                goodputBps: failed ? nil : 16e6, packetsLost: 0, packetsRetransmitted: 0, smoothedRttNs: 10_000_000,
                congestion: fromA ? "cubic" : "bbr", transport: fromA ? nil : "initial-rtt=100ms", failure: failure)).jsonLine)
        }
        let path = dir + "/trace.jsonl"
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testFailuresAreCountedByReasonAndMergeAcrossSegments() throws {
        let path = try writeTrace()
        let serial = try TraceAnalyzer.summarize(tracePath: path, accumulators: TraceAnalyzer.defaultAccumulators(), threads: 1,
                                                 parallelFromBytes: 0)
        let a = try XCTUnwrap(serial.transfers?.first { $0.from == "a" })
        // Failed: i even and a multiple of 3 → multiples of 6 (500); of those, multiples of 12 timed out (250).
        XCTAssertEqual(a.started - a.completed, 500)
        XCTAssertEqual(a.failures, [.init(reason: "connection closed: idle timeout", count: 250),
                                    .init(reason: "timed out after 60s", count: 250)])
        XCTAssertNil(serial.transfers?.first { $0.from == "b" }?.failures, "nothing failed")
        // Segments analysed on two threads merge to the same counts.
        let parallel = try TraceAnalyzer.summarize(tracePath: path, accumulators: TraceAnalyzer.defaultAccumulators(), threads: 2,
                                                   parallelFromBytes: 0)
        XCTAssertEqual(parallel.transfers, serial.transfers)
    }

    func testTablesSplitWorkloadsBySettingsAndSayWhyTransfersFailed() throws {
        let summary = try TraceAnalyzer.summarize(tracePath: try writeTrace())
        let totals = TransferWorkloadTotals.of(summary.transfers ?? [])
        XCTAssertEqual(totals.map(\.settings), ["cubic", "bbr (initial-rtt=100ms)"], "one row per setting")
        XCTAssertEqual(totals[0].failuresCell, "250 connection closed: idle timeout; 250 timed out after 60s")
        XCTAssertEqual(totals[1].failuresCell, "none")
        let md = RunReport.transferMarkdown(summary.transfers ?? [])
        XCTAssertTrue(md.contains("| bulk | cubic | 1 | 1000/1500 |"), md)
        XCTAssertTrue(md.contains("| bulk | bbr (initial-rtt=100ms) | 1 | 1500/1500 |"), md)
        let text = SummaryText.transfers(summary.transfers ?? [])
        XCTAssertTrue(text.contains("bulk not completed: 250 connection closed: idle timeout; 250 timed out after 60s"), text)
        XCTAssertFalse(text.contains("bulk not completed: none"))
    }
}
