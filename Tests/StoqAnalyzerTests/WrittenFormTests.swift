import Foundation
@testable import StoqAnalyzer
import XCTest

/// Probe and transfer lines in the writer's form are read without the JSON
/// parser (`WrittenForm`); any other form goes to the parser. Both must give
/// the same summary, and the short cut must decline every line it might misread.
final class WrittenFormTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Probes and transfers with every optional value present and absent, odd numbers included.
    func eventLines() -> [String] {
        var rng = SplitMix64(state: 21)
        var lines: [String] = []
        let names = ["a", "b", "c", "a-long-node-name-past-eight-bytes", "d"]
        for i in 0..<3_000 {
            let from = names[Int(rng.next() % 5)], to = names[Int(rng.next() % 5)]
            let t = Int64(i) * 1_000 - 5_000   // a few negative times
            if i % 9 == 4 {
                let goodputs: [Double?] = [nil, 0, -0.0, 1.5e-7, Double(rng.next() % 10_000_000) * 1.25, 123456789012345680, 1e300, 8.38860800e+08]
                lines.append(TraceRecord.transfer(.init(t: t, workload: i % 2 == 0 ? "bulk" : "bulk-2", from: from, to: to, bytes: 1 << 20,
                    streams: 1 + i % 3, bytesReceived: i % 5 == 0 ? 0 : 1 << 20, handshakeNs: i % 7 == 0 ? nil : rng.logUniform(1e4, 1e9),
                    durationNs: i % 5 == 0 ? nil : rng.logUniform(1e6, 1e10), goodputBps: goodputs[i % goodputs.count],
                    secondHalfGoodputBps: i % 4 == 0 ? Double(rng.next() % 1_000_000) / 7 : nil, packetsLost: i % 3 == 0 ? nil : rng.next() % 5,
                    packetsRetransmitted: rng.next() % 5, smoothedRttNs: rng.logUniform(1e5, 1e8),
                    congestion: i % 3 == 0 ? nil : "cubic", transport: i % 5 == 0 ? "initial-rtt=100ms" : nil,
                    failure: i % 11 == 0 ? "timeout" : nil)).jsonLine)
            } else {
                lines.append(TraceRecord.probe(.init(t: t, workload: i % 4 == 0 ? "far" : "near", from: from, to: to, seq: i,
                                                     size: i % 13 == 0 ? 1200 : 64,
                                                     rttNs: rng.next() % 20 == 0 ? nil : rng.logUniform(1e3, 1e9))).jsonLine)
            }
        }
        return lines
    }

    func summary(_ lines: [String], threads: Int) throws -> RunSummary {
        let path = dir + "/trace-\(UUID().uuidString).jsonl"
        let header = [
            TraceRecord.run(.init(topology: "w", seed: 1, backend: "sim", strategy: "latency", durationNs: 60_000_000_000, nodes: 5)),
        ] + ["a", "b", "c", "a-long-node-name-past-eight-bytes"].enumerated().map { i, n in
            TraceRecord.node(.init(name: n, site: "s\(i)", region: ["eu", "us"][i % 2], role: "edge", address: "fd00::\(i)",
                                   latitude: 0, longitude: 0))
        }
        try (header.map(\.jsonLine) + lines).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return try TraceAnalyzer.summarize(tracePath: path, accumulators: TraceAnalyzer.defaultAccumulators(), threads: threads,
                                           parallelFromBytes: 0)
    }

    func testWrittenLinesGiveTheSummaryOfParsedOnes() throws {
        let lines = eventLines()
        let probe = ProbeAccumulator(), transfer = TransferAccumulator()
        for line in lines {
            var bytes = Array(line.utf8)
            let taken = bytes.withUnsafeMutableBufferPointer { b in
                line.contains(#""type":"probe""#) ? probe.consume(written: UnsafeBufferPointer(b), context: AnalysisContext())
                                                   : transfer.consume(written: UnsafeBufferPointer(b))
            }
            XCTAssertTrue(taken, "the writer's own line is read in its form: \(line)")
        }
        // A space after `{` is still JSON but not the writer's form: those lines go through the parser.
        let parsed = lines.map { "{ " + $0.dropFirst() }
        let reference = try summary(parsed, threads: 1)
        XCTAssertEqual(reference.probes.map(\.sent).reduce(0, +) + (reference.transfers?.map(\.started).reduce(0, +) ?? 0), lines.count)
        XCTAssertEqual(try summary(lines, threads: 1), reference)
        XCTAssertEqual(try summary(lines, threads: 3), reference)
        // Mixed: every other line in each form.
        XCTAssertEqual(try summary(lines.enumerated().map { $0 % 2 == 0 ? $1 : parsed[$0] }, threads: 2), reference)
    }

    func testLinesInAnyOtherFormAreDeclined() {
        let written = #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":777}"#
        let others = [
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":777} "#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":777,"x":1}"#,
            #"{"t":5,"type":"probe","workload":"w","to":"b","from":"a","seq":1,"size":64,"rtt_ns":777}"#,
            #"{"t":5,"type":"probe","workload":"w\u0031","from":"a","to":"b","seq":1,"size":64,"rtt_ns":777}"#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64.0,"rtt_ns":777}"#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":7e2}"#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":1234567890123456789}"#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":"777"}"#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64}"#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":-,"size":64,"rtt_ns":777}"#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":[777]}"#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":nul}"#,
            #"{"t":5,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":777"#,
            #"{"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":777}"#,
        ]
        func taken(_ line: String) -> Bool {
            var bytes = Array(line.utf8)
            return bytes.withUnsafeMutableBufferPointer { ProbeAccumulator().consume(written: UnsafeBufferPointer($0), context: AnalysisContext()) }
        }
        XCTAssertTrue(taken(written))
        for line in others { XCTAssertFalse(taken(line), line) }

        let transfer = TraceRecord.transfer(.init(t: 1, workload: "bulk", from: "a", to: "b", bytes: 10, streams: 1, bytesReceived: 10,
            handshakeNs: 5, durationNs: 9, goodputBps: 1.5, secondHalfGoodputBps: nil, packetsLost: 0, packetsRetransmitted: 0,
            smoothedRttNs: 3, congestion: "cubic")).jsonLine
        func takenTransfer(_ line: String) -> Bool {
            var bytes = Array(line.utf8)
            return bytes.withUnsafeMutableBufferPointer { TransferAccumulator().consume(written: UnsafeBufferPointer($0)) }
        }
        XCTAssertTrue(takenTransfer(transfer))
        for (from, to) in [(#""packets_lost":0"#, #""packets_lost":-1"#), (#""goodput_bps":1.5"#, #""goodput_bps":+1.5"#),
                           (#""goodput_bps":1.5"#, #""goodput_bps":1.5.5"#), (#""congestion":"cubic""#, #""congestion":null"#),
                           (#""goodput_bps":1.5"#, #""goodput_bps":.5"#)] {
            let line = transfer.replacingOccurrences(of: from, with: to)
            XCTAssertNotEqual(line, transfer)
            XCTAssertFalse(takenTransfer(line), line)
        }
    }

    /// Numbers read as `FlatJSONObject` reads them (`strtod`), to the bit.
    func testDoublesMatchTheParser() {
        var texts = ["0", "-0", "1", "-1", "0.0", "1.5", "1e22", "1e23", "9007199254740993", "123456789012345678", "0.000001",
                     "4.9e-324", "1.7976931348623157e308", "1e400", "-1e-400", "1.", "1e", "1e+", "-", "--1", "1.2.3", "1e5e5",
                     "1E5", "1e+05", "2.5E-3", "00012", "0.1", "0.30000000000000004", "1.23456789e+10", "8.388608e-05"]
        var rng = SplitMix64(state: 5)
        for _ in 0..<20_000 {
            let x = Double(bitPattern: rng.next() >> 2) * (rng.next() % 2 == 0 ? 1 : -1)
            let v = x.isFinite ? x : Double(rng.next() % 1_000_000) / 1000
            for digits in [6, 9, 15, 17] { texts.append(String(format: "%.\(digits)g", v)) }
            texts.append(String(format: "%.9g", Double(rng.next() % 100_000_000_000) / 1000))
        }
        for text in texts {
            let line = Array("{\"x\":\(text)}".utf8)
            line.withUnsafeBufferPointer { b in
                var parser = FlatJSONObject()
                let reference = parser.parse(b) ? parser.field("x").flatMap { parser.double($0) } : nil
                let fast = WrittenForm.double(UnsafeBufferPointer(rebasing: b[5..<(b.count - 1)]))
                XCTAssertEqual(fast?.bitPattern, reference?.bitPattern, text)
            }
        }
    }
}
