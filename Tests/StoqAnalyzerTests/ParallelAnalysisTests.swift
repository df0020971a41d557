import Foundation
@testable import StoqAnalyzer
import XCTest

/// The parallel analysis (segments of the trace on several threads, merged)
/// gives exactly the summary of one pass.
final class ParallelAnalysisTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A trace with every record kind: probes in groups big enough for HDR
    /// histograms and small enough to stay exact, mixed sizes, transfers,
    /// content, certificates, failures, routes, an unknown kind and blank lines.
    func writeEveryKindTrace(to path: String, description: [TraceRecord]? = nil, lateNode: Bool = false) throws {
        var rng = SplitMix64(state: 11)
        var lines: [String] = []
        let header: [TraceRecord] = description ?? [
            .run(.init(topology: "every", seed: 5, backend: "sim", strategy: "latency", durationNs: 60_000_000_000, nodes: 6)),
            .link(.init(name: "a>b", from: "a", to: "b", bandwidthBps: 1_000_000_000, tier: "1gbps", latencyNs: 5_000_000)),
            .link(.init(name: "b>a", from: "b", to: "a", bandwidthBps: 1_000_000_000, tier: "1gbps", latencyNs: 5_000_000)),
            .link(.init(name: "c>d", from: "c", to: "d", bandwidthBps: 100_000_000, tier: "100mbps", latencyNs: 1_000_000)),
        ] + ["a", "b", "c", "d", "e", "f"].enumerated().map { i, n in
            .node(.init(name: n, site: "s\(i / 2)", region: ["eu", "asia", "us"][i % 3], role: i < 4 ? "edge" : "client",
                        address: "fd00::\(i + 1)", latitude: Double(i), longitude: Double(-i)))
        }
        lines += header.map(\.jsonLine)
        let names = ["a", "b", "c", "d", "e", "f", "a"]
        for i in 0..<6_000 {
            let t = Int64(i) * 1_000_000
            // With `lateNode`, node g (listed at line ~1,000) sends probes from line ~3,000 on.
            let from = lateNode && i > 3_000 && i % 5 == 0 ? "g" : names[Int(rng.next() % 7)], to = names[Int(rng.next() % 6)]
            switch i % 50 {
            case 7:
                lines.append(TraceRecord.transfer(.init(t: t, workload: "bulk", from: from, to: to, bytes: 1 << 20, streams: 2,
                    bytesReceived: i % 3 == 0 ? 0 : 1 << 20, handshakeNs: rng.logUniform(1e5, 1e8), durationNs: i % 3 == 0 ? nil : rng.logUniform(1e6, 1e10),
                    goodputBps: i % 3 == 0 ? nil : Double(rng.next() % 1_000_000) * 1.5, secondHalfGoodputBps: i % 4 == 0 ? 1e6 + Double(i) : nil,
                    packetsLost: rng.next() % 3 == 0 ? nil : rng.next() % 5, packetsRetransmitted: rng.next() % 5, smoothedRttNs: 30_000_000,
                    congestion: i % 2 == 0 ? "cubic" : "bbr", transport: i % 5 == 0 ? "initial-rtt=100ms" : nil)).jsonLine)
            case 11: lines.append(TraceRecord.linkState(.init(t: t, target: "a<>b", isNode: false, up: i % 100 == 11)).jsonLine)
            case 13: lines.append(TraceRecord.reconverged(.init(t: t, target: "c", isNode: true, failedAtNs: t - 5, reconvergenceNs: 5, packetsLost: 2)).jsonLine)
            case 17: lines.append(TraceRecord.publish(.init(t: t, workload: "p", object: "obj", version: UInt64(i / 50), origin: "a",
                                                             bytes: 1000 + i, chunks: 3, newBytes: 10, replicas: ["b", "c"])).jsonLine)
            case 19: lines.append(TraceRecord.content(.init(t: t, workload: "f", operation: "fetch-missing", object: "obj", version: UInt64(i / 50),
                                                             from: "a", to: "e", bytesRequested: 500, bytesSent: i % 7, chunksSent: 1, chunksMissing: 0,
                                                             durationNs: 7, error: nil)).jsonLine)
            case 23: lines.append(TraceRecord.fetch(.init(t: t, workload: "f", client: "e", object: "obj", version: UInt64(i / 50), source: "b",
                                                           bytes: 9, bytesFromEdge: 4, bytesFromOrigin: 5, durationNs: i % 3 == 0 ? nil : Int64(i),
                                                           error: i % 3 == 0 ? "timeout" : nil)).jsonLine)
            case 29: lines.append(TraceRecord.certificate(.init(t: t, workload: "tc", node: from, event: ["enrolled", "renewed", "failed", "peer-verified"][i % 4],
                                                                 attempt: 1, latencyNs: Int64(i), requestNs: 4, proofNs: nil, fingerprint: "ab",
                                                                 notAfterNs: 99, reason: i % 4 == 2 ? "refused" : nil)).jsonLine)
            case 31: lines.append(TraceRecord.route(.init(from: from, to: to, hops: i % 5, latencyNs: 40 + Int64(i % 17), lowerBoundNs: i % 3 == 0 ? 0 : 30)).jsonLine)
            case 37: lines.append(#"{"t":\#(t),"type":"from_the_future","x":[1,{"y":"z"}]}"#)
            case 43: lines.append(TraceRecord.exec(.init(t: t, workload: "x", node: from, command: "true", exitCode: i % 3 == 0 ? nil : 0,
                                                         signal: i % 3 == 0 ? 9 : nil, timedOut: false, stdout: "o", stderr: "e")).jsonLine)
            case 47: lines.append(TraceRecord.heldConnection(.init(t: t, workload: "hold", from: from, to: to, handshakeNs: Int64(i),
                                                                   exchangeNs: i % 3 == 0 ? nil : 7, failure: i % 3 == 0 ? "timeout" : nil)).jsonLine)
            case 41: lines.append("")
            case 49 where i % 150 == 49:
                // A sampled transfer's congestion state (a few per workload in a run).
                let n = 1 + i % 7
                lines.append(TraceRecord.transferSeries(.init(t: t, workload: "bulk", from: from, to: to, startNs: t - 1_000_000,
                    offsetNs: (0..<n).map { Int64($0) * 10_000 }, cwnd: (0..<n).map { Int64(12_000 + $0 * (i % 5)) },
                    srttNs: (0..<n).map { Int64(30_000_000 - $0) }, inFlight: (0..<n).map { Int64($0 * 1200) })).jsonLine)
            default:
                // Pair a→b gets thousands of samples (a histogram), others few (exact); sizes mix on one pair.
                let pairFrom = i % 3 == 0 ? "a" : from, pairTo = i % 3 == 0 ? "b" : to
                lines.append(TraceRecord.probe(.init(t: t, workload: i % 4 == 0 ? "far" : "near", from: pairFrom, to: pairTo, seq: i,
                                                     size: pairFrom == "c" && i % 2 == 0 ? 1200 : 64,
                                                     rttNs: rng.next() % 20 == 0 ? nil : rng.logUniform(1e4, 1e9))).jsonLine)
            }
        }
        lines.append(TraceRecord.cache(.init(node: "b", hits: 1, misses: 2, hitBytes: 3, bytesStored: 4, chunks: 5, evictedCapacity: 6, evictedExpired: 7)).jsonLine)
        lines.append(TraceRecord.linkDedup(.init(link: "a>b", bytesRequested: 10, bytesSent: 2)).jsonLine)
        lines.append(TraceRecord.linkStats(.init(link: "a>b", packetsSent: 1, bytesSent: 2, packetsDelivered: 3, bytesDelivered: 400, droppedQueueFull: 5,
                                                 droppedLoss: 6, droppedLinkDown: 7, busyNs: 8, maxQueuedBytes: 9)).jsonLine)
        for (k, link) in ["a>b", "c>d"].enumerated() {
            let bins = 3 + k
            lines.append(TraceRecord.linkSeries(.init(link: link, binNs: 20_000_000_000, windowNs: 10_000_000,
                bytes: (0..<bins).map { Int64($0 * 1000 + k) }, busyNs: (0..<bins).map { Int64($0 * 7) },
                maxWindowBusyNs: (0..<bins).map { Int64($0 * 3) }, maxQueuedBytes: (0..<bins).map { Int64($0 * 1500) },
                drops: (0..<bins).map { Int64($0 % 2) }, tailBytes: 5, tailBusyNs: 6, tailDrops: Int64(k))).jsonLine)
        }
        lines.append(TraceRecord.realtime(.init(events: 5, lagMeanNs: 1, lagP50Ns: 2, lagP99Ns: 3, lagMaxNs: 4, thresholdP99Ns: 5,
                                                packetsRelayed: 6, setupNs: 7)).jsonLine)
        lines.append(TraceRecord.connectionsPeak(.init(t: 59_000_000_000, workload: "hold", attempted: 120, peakOpen: 100, peakAtNs: 5,
                                                       firstAttemptNs: 1, lastHandshakeNs: 4)).jsonLine)
        lines.append(TraceRecord.end(.init(t: 60_000_000_000, events: 123_456)).jsonLine)
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    func summaries(_ path: String, threads: [Int]) throws -> [(RunSummary, Bool)] {
        try threads.map { t in
            // The first pass only tells whether the analysis ran in parallel; the summary comes from fresh accumulators.
            let parallel = try TraceAnalysis(TraceAnalyzer.defaultAccumulators()).run(path: path, threads: t, parallelFromBytes: 0).parallel
            return (try TraceAnalyzer.summarize(tracePath: path, accumulators: TraceAnalyzer.defaultAccumulators(), threads: t,
                                                parallelFromBytes: 0), parallel)
        }
    }

    func testParallelSummaryEqualsSerialOnEveryRecordKind() throws {
        let path = dir + "/trace.jsonl"
        try writeEveryKindTrace(to: path)
        var written: TraceRecord.Kinds = []
        try TraceReader.forEach(path: path) { written.insert($0.kind) }
        for shape in TraceRecord.shapes where !written.contains(shape.kind) {
            XCTFail("writeEveryKindTrace has no '\(shape.fieldList.type)' record: add one so the parallel analysis is checked on it")
        }
        let results = try summaries(path, threads: [1, 2, 5])
        XCTAssertFalse(results[0].1)
        XCTAssertTrue(results.dropFirst().allSatisfy(\.1), "the default accumulators run in parallel")
        let serial = results[0].0
        XCTAssertGreaterThan(serial.probes.count, 20)
        XCTAssertNotNil(serial.probes.first { $0.sent > LatencyStats.exactLimit }, "a pair past the exact limit (HDR histogram)")
        XCTAssertNotNil(serial.transfers)
        XCTAssertNotNil(serial.content)
        XCTAssertNotNil(serial.certificates)
        XCTAssertNotNil(serial.routes)
        XCTAssertNotNil(serial.realtime)
        XCTAssertFalse(serial.probeRegionPairs.isEmpty)
        for (summary, _) in results.dropFirst() { XCTAssertEqual(summary, serial) }
    }

    /// Other lines past a segment's copy limit are read again from the file
    /// after the join, in order: the same summary.
    func testOtherLinesPastTheCopyLimitGiveTheSerialSummary() throws {
        let path = dir + "/trace.jsonl"
        try writeEveryKindTrace(to: path)
        func summary(threads: Int, otherBytesLimit: Int) throws -> (RunSummary, parallel: Bool) {
            let accumulators = TraceAnalyzer.defaultAccumulators()
            var analysis = TraceAnalysis(accumulators)
            analysis.otherBytesLimit = otherBytesLimit
            let (context, parallel) = try analysis.run(path: path, threads: threads, parallelFromBytes: 0)
            var summary = RunSummary(header: try XCTUnwrap(context.header))
            summary.records = context.records
            for a in accumulators { a.finish(into: &summary, context: context) }
            return (summary, parallel)
        }
        let serial = try summary(threads: 1, otherBytesLimit: 0)
        XCTAssertFalse(serial.parallel)
        for limit in [0, 2_000] {
            let parallel = try summary(threads: 3, otherBytesLimit: limit)
            XCTAssertTrue(parallel.parallel)
            XCTAssertEqual(parallel.0, serial.0, "limit \(limit)")
        }
    }

    /// A node listed after the first events (not what stoqsim writes): the
    /// segments could not know it, so the analysis folds probes again in order.
    func testLateDescriptionStillGivesTheSerialSummary() throws {
        let path = dir + "/late.jsonl"
        try writeEveryKindTrace(to: path, lateNode: true)
        var text = try String(contentsOfFile: path)
        let late = TraceRecord.node(.init(name: "g", site: "s9", region: "mars", role: "edge", address: "fd00::99", latitude: 0, longitude: 0)).jsonLine
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        text = (lines[..<1000] + [Substring(late)] + lines[1000...]).joined(separator: "\n")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let results = try summaries(path, threads: [1, 2])
        XCTAssertTrue(results[0].0.probeRegionPairs.contains { $0.from == "mars" }, "g's probes have a region once g is listed")
        XCTAssertEqual(results[1].0, results[0].0)
    }

    /// A probe whose type is written with an escape (legal JSON, not what
    /// stoqsim writes) is still a probe, on one thread and on several.
    func testEscapedTypeIsStillAProbe() throws {
        let path = dir + "/escaped.jsonl"
        try writeEveryKindTrace(to: path)
        var lines = try String(contentsOfFile: path).split(separator: "\n", omittingEmptySubsequences: false)
        lines.insert(#"{"t":5,"type":"pr\u006fbe","workload":"odd","from":"a","to":"b","seq":1,"size":64,"rtt_ns":777}"#, at: 4_000)
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let results = try summaries(path, threads: [1, 2])
        XCTAssertEqual(results[0].0.probeWorkloads.first { $0.workload == "odd" }?.sent, 1)
        XCTAssertEqual(results[1].0, results[0].0)
    }

    /// A bad line deep in the trace: the parallel analysis names the line a single pass names.
    func testErrorsNameTheSameLine() throws {
        let path = dir + "/bad.jsonl"
        try writeEveryKindTrace(to: path)
        var lines = try String(contentsOfFile: path).split(separator: "\n", omittingEmptySubsequences: false)
        lines[4_000] = #"{"t":1,"type":"probe","workload":"w","from":"a"}"#
        lines[5_000] = "not json"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        for threads in [1, 2, 4] {
            XCTAssertThrowsError(try TraceAnalyzer.summarize(tracePath: path, accumulators: TraceAnalyzer.defaultAccumulators(),
                                                             threads: threads, parallelFromBytes: 0)) { e in
                XCTAssertEqual((e as? TraceRecord.DecodeError)?.line, 4_001, "\(threads) threads: \(e)")
                XCTAssertTrue("\(e)".contains("missing field 'to'"), "\(e)")
            }
        }
    }

    func testMergedLatencyStatsEqualOnePass() {
        var rng = SplitMix64(state: 3)
        for total in [0, 5, 256, 257, 300, 5000] {
            let values = (0..<total).map { _ in rng.logUniform(1e3, 1e9) }
            for split in [0, total / 3, total] {
                var one = LatencyStats(), a = LatencyStats(), b = LatencyStats()
                for v in values { one.record(v) }
                for v in values[..<split] { a.record(v) }
                for v in values[split...] { b.record(v) }
                a.merge(b)
                XCTAssertEqual(a.count, one.count)
                XCTAssertEqual(a.sum, one.sum)
                XCTAssertEqual(a.isExact, one.isExact, "\(total) split at \(split)")
                XCTAssertEqual(a.percentiles(RunSummary.cdfPercentiles), one.percentiles(RunSummary.cdfPercentiles))
                XCTAssertEqual(Distribution(a), Distribution(one))
            }
        }
    }
}
