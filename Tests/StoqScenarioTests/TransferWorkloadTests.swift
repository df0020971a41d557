import Foundation
import StoqAnalyzer
import StoqScenario
import StoqTopology
import StoqTransport
import XCTest

/// Transfers run real QUIC (ngtcp2 + GnuTLS, certificates verified) through
/// the simulated network.
final class TransferWorkloadTests: XCTestCase {
    func yaml(loss: String = "0", size: String = "2MB", streams: Int = 1) -> String {
        """
        name: transfer-test
        seed: 3
        duration: 3s
        sites:
          - {name: fra, latitude: 50.11, longitude: 8.68, region: europe}
          - {name: par, latitude: 48.86, longitude: 2.35, region: europe}
        nodes:
          - {name: a, site: fra, role: edge}
          - {name: b, site: par, role: edge}
        links:
          - {from: a, to: b, tier: 1gbps, latency: 5ms, loss: \(loss)}
        workloads:
          - {kind: transfer, from: a, to: b, size: \(size), streams: \(streams)}
        """
    }

    func transfers(_ yaml: String) throws -> (records: [TraceRecord.TransferResult], trace: Data, summary: RunSummary) {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario(yaml: yaml).run(outputDirectory: dir)
        var records: [TraceRecord.TransferResult] = []
        try TraceReader.forEach(path: result.tracePath) { if case .transfer(let t) = $0 { records.append(t) } }
        return (records, try Data(contentsOf: URL(fileURLWithPath: result.tracePath)), result.summary)
    }

    func testTransferCompletesWithHandshakeAtOneRoundTrip() throws {
        let (records, _, summary) = try transfers(yaml())
        let t = try XCTUnwrap(records.first)
        XCTAssertEqual(records.count, 1)
        let group = try XCTUnwrap(summary.transfers?.first)
        XCTAssertEqual(group.completed, 1)
        XCTAssertEqual(group.durationNs?.p50, t.durationNs)
        XCTAssertEqual(t.bytesReceived, 2_000_000)
        let handshake = try XCTUnwrap(t.handshakeNs), duration = try XCTUnwrap(t.durationNs)
        // The client's handshake completes after one round trip (10 ms of
        // propagation) plus serialization of the handshake flights.
        XCTAssertGreaterThanOrEqual(handshake, 10_000_000)
        XCTAssertLessThan(handshake, 12_000_000)
        // 2 MB cannot beat the 1 Gbit/s link, and slow start needs several RTTs.
        XCTAssertGreaterThan(duration, handshake + 16_000_000)
        XCTAssertLessThan(try XCTUnwrap(t.goodputBps), 1e9)
        // The summary carries both goodputs; the one after slow start is the higher.
        XCTAssertEqual(group.meanGoodputBps, t.goodputBps)
        XCTAssertEqual(group.meanGoodputAfterSlowStartBps, t.secondHalfGoodputBps)
        XCTAssertGreaterThan(try XCTUnwrap(group.meanGoodputAfterSlowStartBps), try XCTUnwrap(group.meanGoodputBps))
    }

    func testLossShowsAsRetransmissionsNotAHang() throws {
        let (records, _, _) = try transfers(yaml(loss: "2%", size: "1MB", streams: 4))
        let t = try XCTUnwrap(records.first)
        XCTAssertNotNil(t.durationNs, "the transfer must complete despite loss")
        XCTAssertEqual(t.bytesReceived, 1_000_000)
        XCTAssertGreaterThan(t.packetsRetransmitted, 0)
    }

    func testSameSeedSameTransferTrace() throws {
        let a = try transfers(yaml(loss: "1%")).trace
        let b = try transfers(yaml(loss: "1%")).trace
        XCTAssertEqual(a, b)
    }

    func testSizeIsRequired() {
        XCTAssertThrowsError(try scenario(yaml: yaml().replacingOccurrences(of: "size: 2MB, ", with: ""), file: "t.yaml")) { error in
            XCTAssertTrue("\(error)".contains("missing field 'size'"), "\(error)")
            XCTAssertTrue("\(error)".contains("t.yaml:13:"), "\(error)")
        }
    }

    func testTransfersArriveAtARate() throws {
        // Poisson arrivals at 4/s over 3 s: about 12 transfers, at seeded, irregular times.
        let text = yaml(size: "100KB").replacingOccurrences(of: "streams: 1}", with: "streams: 1, rate: 4/s}")
        let (records, trace, _) = try transfers(text)
        XCTAssertGreaterThan(records.count, 5)
        XCTAssertLessThan(records.count, 25)
        XCTAssertTrue(records.allSatisfy { $0.durationNs != nil && $0.bytesReceived == 100_000 })
        let starts = records.map { $0.t - $0.durationNs! }.sorted()
        let gaps = zip(starts.dropFirst(), starts).map { $0 - $1 }
        XCTAssertGreaterThan(Set(gaps.map { $0 / 1_000_000 }).count, gaps.count / 2, "gaps vary: \(gaps)")
        XCTAssertEqual(trace, try transfers(text).trace, "same seed, same arrivals")
        XCTAssertThrowsError(try scenario(yaml: text.replacingOccurrences(of: "rate: 4/s", with: "rate: 4/s, interval: 1s")))
    }

    /// Finished transfers leave nothing behind: the heap after a run of 200
    /// transfers is where it was before (each connection's QUIC and TLS state
    /// is ~100 KiB, so a leak of even a fraction of them shows).
    func testFinishedTransfersFreeTheirConnections() throws {
        let heapInUse = TransportBenchmarks.heapInUse
        let text = yaml(size: "1KB").replacingOccurrences(of: "streams: 1}", with: "streams: 1, rate: 100/s}")
            .replacingOccurrences(of: "duration: 3s", with: "duration: 2s")
        _ = try transfers(text)      // warm-up: lazily built shared state is not counted
        let before = heapInUse()
        let (records, _, _) = try transfers(text)
        let grown = heapInUse() - before
        XCTAssertGreaterThan(records.count, 150)
        XCTAssertTrue(records.allSatisfy { $0.durationNs != nil })
        XCTAssertLessThan(grown, 2 << 20, "heap grew \(grown >> 10) KiB over \(records.count) transfers")
    }
}
