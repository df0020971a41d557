import Foundation
@testable import StoqAnalyzer
import XCTest

final class TraceReaderTests: XCTestCase {
    let every: [TraceRecord] = [
        .run(.init(topology: "t \"quoted\" \\ é", seed: UInt64.max, backend: "sim", strategy: "latency", durationNs: 5, nodes: 2)),
        .link(.init(name: "a>b", from: "a", to: "b", bandwidthBps: 2_500_000_000, tier: "2.5gbps", latencyNs: 123)),
        .node(.init(name: "a", site: "fra", region: "europe", role: "edge", address: "fd00::1", latitude: -33.8688, longitude: 151.2093)),
        .probe(.init(t: 9, workload: "w\n1\t", from: "a", to: "b", seq: 0, size: 64, rttNs: 1_000)),
        .probe(.init(t: 10, workload: "w", from: "a", to: "b", seq: 1, size: 64, rttNs: nil)),
        .linkState(.init(t: 11, target: "a<>b", isNode: false, up: false)),
        .linkState(.init(t: 12, target: "a", isNode: true, up: true)),
        .linkStats(.init(link: "a>b", packetsSent: 1, bytesSent: 2, packetsDelivered: 3, bytesDelivered: 4, droppedQueueFull: 5,
                         droppedLoss: 6, droppedLinkDown: 7, busyNs: 8, maxQueuedBytes: 9)),
        .transfer(.init(t: 15, workload: "x", from: "a", to: "b", bytes: 100, streams: 2, bytesReceived: 100, handshakeNs: 3,
                        durationNs: nil, goodputBps: 1.5e6, packetsLost: 1, packetsRetransmitted: 2, smoothedRttNs: 4)),
        .reconverged(.init(t: 16, target: "a<>b", isNode: false, failedAtNs: 1, reconvergenceNs: 15, packetsLost: 3)),
        .exec(.init(t: 17, workload: "e", node: "a", command: "ping -6 ::1", exitCode: nil, signal: 9, timedOut: true,
                    stdout: "o.txt", stderr: "e.txt")),
        .realtime(.init(events: 5, lagMeanNs: 1, lagP50Ns: 2, lagP99Ns: 3, lagMaxNs: 4, thresholdP99Ns: 5, packetsRelayed: 6,
                        setupNs: 7)),
        .publish(.init(t: 18, workload: "p", object: "obj/1", version: 2, origin: "o", bytes: 1000, chunks: 3, newBytes: 10,
                       replicas: ["e1", "e2"])),
        .content(.init(t: 19, workload: "f", operation: "fetch-missing", object: "obj/1", version: 2, from: "o", to: "c",
                       bytesRequested: 500, bytesSent: 20, chunksSent: 1, chunksMissing: 0, durationNs: 7, error: nil)),
        .content(.init(t: 20, workload: "f", operation: "push", object: "obj", version: 0, from: "o", to: "e1",
                       bytesRequested: 5, bytesSent: 0, chunksSent: 0, chunksMissing: 0, durationNs: nil, error: "closed \"x\"")),
        .fetch(.init(t: 21, workload: "f", client: "c", object: "obj", version: 1, source: "e1", bytes: 9, bytesFromEdge: 4,
                     bytesFromOrigin: 5, durationNs: 8, error: nil)),
        .cache(.init(node: "e1", hits: 1, misses: 2, hitBytes: 3, bytesStored: 4, chunks: 5, evictedCapacity: 6, evictedExpired: 7)),
        .linkDedup(.init(link: "a>b", bytesRequested: 10, bytesSent: 2)),
        .certificate(.init(t: 22, workload: "tc", node: "a", event: "renewed", attempt: 2, latencyNs: 9, requestNs: 4, proofNs: nil,
                           fingerprint: "ab", notAfterNs: 99, reason: nil)),
        .route(.init(from: "a", to: "b", hops: 3, latencyNs: 40, lowerBoundNs: 30)),
        .end(.init(t: 13, events: 14)),
    ]

    func read(_ text: String) throws -> [TraceRecord] {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/trace.jsonl"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        var out: [TraceRecord] = []
        try TraceReader.forEach(path: path) { out.append($0) }
        return out
    }

    func testEveryRecordRoundTrips() throws {
        for r in every {
            XCTAssertEqual(try TraceRecord.decode(Substring(r.jsonLine), lineNumber: 1), r, r.jsonLine)
        }
        XCTAssertEqual(try read(every.map(\.jsonLine).joined(separator: "\n") + "\n"), every)
    }

    func testExistingEncodingsStayStable() {
        XCTAssertEqual(every[3].jsonLine, #"{"t":9,"type":"probe","workload":"w\n1\t","from":"a","to":"b","seq":0,"size":64,"rtt_ns":1000}"#)
        XCTAssertEqual(every[5].jsonLine, #"{"t":11,"type":"link_state","link":"a<>b","up":false}"#)
        XCTAssertEqual(every[2].jsonLine,
                       #"{"type":"node","node":"a","site":"fra","region":"europe","role":"edge","address":"fd00::1","lat":-33.8688,"lon":151.2093}"#)
    }

    /// Lines of the kinds the quickstart run does not write, as the hand-written encoders wrote them
    /// before the schema was stated once (the quickstart's own trace was compared byte for byte then).
    func testLinesStayByteForByteWhatTheyWere() {
        XCTAssertEqual(every[0].jsonLine, #"{"type":"run","schema":1,"topology":"t \"quoted\" \\ é","seed":18446744073709551615,"#
                       + #""backend":"sim","strategy":"latency","duration_ns":5,"nodes":2}"#)
        XCTAssertEqual(every[6].jsonLine, #"{"t":12,"type":"node_state","node":"a","up":true}"#)
        XCTAssertEqual(every[8].jsonLine, #"{"t":15,"type":"transfer","workload":"x","from":"a","to":"b","bytes":100,"streams":2,"#
                       + #""bytes_received":100,"handshake_ns":3,"duration_ns":null,"goodput_bps":1500000,"#
                       + #""second_half_goodput_bps":null,"packets_lost":1,"packets_retransmitted":2,"srtt_ns":4}"#)
        XCTAssertEqual(every[10].jsonLine, #"{"t":17,"type":"exec","workload":"e","node":"a","command":"ping -6 ::1","#
                       + #""exit_code":null,"signal":9,"timed_out":true,"stdout":"o.txt","stderr":"e.txt"}"#)
        XCTAssertEqual(every[11].jsonLine, #"{"type":"realtime","events":5,"lag_mean_ns":1,"lag_p50_ns":2,"lag_p99_ns":3,"#
                       + #""lag_max_ns":4,"threshold_p99_ns":5,"packets_relayed":6,"setup_ns":7}"#)
        XCTAssertEqual(TraceRecord.end(.init(t: 13, events: 14, interruptedBy: "SIGINT")).jsonLine,
                       #"{"t":13,"type":"end","events":14,"interrupted_by":"SIGINT"}"#)
    }

    func testReaderToleratesBlankLinesCRLFAndAMissingFinalNewline() throws {
        let text = "\n" + every[3].jsonLine + "\r\n   \n" + every[8].jsonLine
        XCTAssertEqual(try read(text), [every[3], every[8]])
    }

    func testUnknownTypesAndExtraFieldsAreSkipped() throws {
        let text = #"{"type":"from_the_future","t":1,"chunks":[1,2,{"x":"]"}],"meta":{"a":[]}}"# + "\n" +
            #"{"t":10,"type":"probe","workload":"w","from":"a","to":"b","seq":1,"size":64,"rtt_ns":null,"extra":[true]}"#
        XCTAssertEqual(try read(text), [every[4]])
    }

    func testEscapesDecode() throws {
        let line = #"{"type":"run","schema":1,"topology":"\u00e9\ud83d\ude00\/\"","seed":1,"backend":"sim","strategy":"s","duration_ns":1,"nodes":1}"#
        guard case .run(let h)? = try TraceRecord.decode(Substring(line), lineNumber: 1) else { return XCTFail() }
        XCTAssertEqual(h.topology, "é😀/\"")
    }

    func testMalformedLinesNameTheLine() throws {
        let good = every[3].jsonLine
        for bad in ["{\"type\":\"probe\"", "not json", #"{"type":"probe","t":"x"}"#, #"{"type":"end","t":1}"#, "[1]"] {
            XCTAssertThrowsError(try read(good + "\n" + bad + "\n")) { e in
                XCTAssertEqual((e as? TraceRecord.DecodeError)?.line, 2, "\(bad): \(e)")
            }
        }
        XCTAssertThrowsError(try read(#"{"type":"probe","t":1}"#)) { e in
            XCTAssertTrue("\(e)".contains("missing field 'workload'"), "\(e)")
        }
    }

    func testNewerSchemaIsRefused() throws {
        let line = #"{"type":"run","schema":99,"topology":"x","seed":1,"backend":"sim","strategy":"s","duration_ns":1,"nodes":1}"#
        XCTAssertThrowsError(try read(line)) { XCTAssertTrue("\($0)".contains("newer"), "\($0)") }
    }

    /// Lines straddle the reader's 1 MiB block boundaries, and one line is
    /// longer than a block.
    func testLongTracesAndLongLinesAcrossBlocks() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/trace.jsonl"
        let w = try TraceWriter(path: path)
        let long = String(repeating: "x", count: 3 << 20)
        let n = 40_000
        for i in 0..<n {
            w.write(.probe(.init(t: Int64(i), workload: i == n / 2 ? long : "w", from: "a", to: "b", seq: i, size: 64, rttNs: Int64(i))))
        }
        w.close()
        var seqs: [Int] = []
        var sawLong = false
        try TraceReader.forEach(path: path) { r in
            guard case .probe(let p) = r else { return }
            seqs.append(p.seq)
            if p.workload == long { sawLong = true }
        }
        XCTAssertEqual(seqs, Array(0..<n))
        XCTAssertTrue(sawLong)
    }
}
