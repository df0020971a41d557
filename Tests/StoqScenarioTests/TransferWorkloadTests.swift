import Foundation
import StoqAnalyzer
import StoqBenchmarks
import StoqScenario
import StoqTopology
import StoqTransport
import XCTest

/// Transfers run real QUIC (ngtcp2 + GnuTLS, certificates verified) through
/// the simulated network.
final class TransferWorkloadTests: XCTestCase {
    func yaml(loss: String = "0", size: String = "2MB", streams: Int = 1) -> String {
        transferPairYAML(loss: loss, workload: "size: \(size), streams: \(streams)")
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

    /// `resumption: true`: the first connection brings a ticket, the second
    /// resumes with it and sends its data as 0-RTT with the ClientHello, so it
    /// arrives in half a round trip, before the handshake could complete.
    func testResumingTransferSendsItsDataInZeroRTT() throws {
        let text = yaml(size: "10KB").replacingOccurrences(of: "streams: 1}", with: "streams: 1, count: 2, interval: 1s, resumption: true}")
        let (records, _, _) = try transfers(text)
        XCTAssertEqual(records.count, 2)
        let full = try XCTUnwrap(records.first?.durationNs), resumed = try XCTUnwrap(records.last?.durationNs)
        XCTAssertEqual(records.map(\.bytesReceived), [10_000, 10_000])
        let rtt: Int64 = 10_000_000   // 5 ms each way
        XCTAssertGreaterThan(try XCTUnwrap(records.first?.handshakeNs), rtt - 1, "the first handshake is a full round trip")
        XCTAssertLessThan(resumed, rtt, "0-RTT: all data arrived before one round trip had passed (\(resumed) ns)")
        XCTAssertLessThan(resumed, full - rtt, "at least one round trip sooner than the full handshake (\(full) ns)")
        XCTAssertNil(records.last?.handshakeNs, "the data was all in before the client's handshake completed")
    }

    /// The congestion controller is a workload knob: on a lossy, long-RTT
    /// path BBR (which does not read random loss as congestion) moves the same
    /// bytes faster than CUBIC (which halves its window at each loss event).
    func testCongestionControllersBehaveDifferentlyOnALossyLongPath() throws {
        func run(_ congestion: String) throws -> TraceRecord.TransferResult {
            let yaml = """
            name: cc
            seed: 5
            duration: 20s
            sites:
              - {name: fra, latitude: 50.11, longitude: 8.68, region: europe}
              - {name: nyc, latitude: 40.71, longitude: -74.01, region: north-america}
            nodes:
              - {name: a, site: fra, role: edge}
              - {name: b, site: nyc, role: edge}
            links:
              - {from: a, to: b, tier: 100mbps, latency: 40ms, loss: 2%}
            workloads:
              - {kind: transfer, from: a, to: b, size: 3MB, congestion: \(congestion), initial-rtt: 80ms, count-lost-packets: true, timeout: 20s}
            """
            return try XCTUnwrap(try transfers(yaml).records.first)
        }
        let cubic = try run("cubic"), bbr = try run("bbr")
        XCTAssertEqual(cubic.congestion, "cubic")
        XCTAssertEqual(bbr.congestion, "bbr")
        XCTAssertEqual(bbr.transport, "initial-rtt=80ms", "knobs besides the controller are recorded")
        let cubicTime = try XCTUnwrap(cubic.durationNs), bbrTime = try XCTUnwrap(bbr.durationNs)
        XCTAssertGreaterThan(try XCTUnwrap(cubic.packetsLost), 10, "2 % loss on thousands of packets (count-lost-packets)")
        XCTAssertLessThan(Double(bbrTime), 0.8 * Double(cubicTime), "BBR \(bbrTime) ns vs CUBIC \(cubicTime) ns")
    }

    /// `transport:` at the top level sets every endpoint's knobs, a node's
    /// own `transport:` wins over it, and a workload's knobs over both.
    func testTransportDefaultsAtTheTopLevelAndPerNode() throws {
        let yaml = """
        name: defaults
        duration: 2s
        transport: {congestion: bbr, initial-rtt: 50ms}
        sites:
          - {name: fra, latitude: 50.11, longitude: 8.68, region: europe}
          - {name: par, latitude: 48.86, longitude: 2.35, region: europe}
        nodes:
          - {name: a, site: fra, role: edge}
          - {name: c, site: fra, role: edge, transport: {congestion: reno}}
          - {name: b, site: par, role: edge}
        links:
          - {from: a, to: b, tier: 1gbps}
          - {from: c, to: b, tier: 1gbps}
        workloads:
          - {kind: transfer, name: from-a, from: a, to: b, size: 100KB}
          - {kind: transfer, name: from-c, from: c, to: b, size: 100KB}
          - {kind: transfer, name: cubic, from: a, to: b, size: 100KB, congestion: cubic}
        """
        let records = try transfers(yaml).records
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: records.map { ($0.workload, $0.congestion) }),
                       ["from-a": "bbr", "from-c": "reno", "cubic": "cubic"])
        let bad = yaml.replacingOccurrences(of: "transport: {congestion: reno}", with: "transport: {congestoin: reno}")
            .replacingOccurrences(of: "initial-rtt: 50ms", with: "initial-rtt: 50 parsecs")
        XCTAssertThrowsError(try scenario(yaml: bad)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("test.yaml:3:") && text.contains("'initial-rtt'"), text)
            XCTAssertTrue(text.contains("test.yaml:9:") && text.contains("unknown field 'congestoin' in 'transport'"), text)
        }
    }

    func testBadTransportKnobsAreLocatedErrors() throws {
        for (field, message) in [("congestion: vegas", "unknown congestion controller 'vegas'"),
                                 ("initial-rtt: 0ms", "'initial-rtt' must be between"),
                                 ("max-udp-payload: 100", "'max-udp-payload' must be between 1200 and 65527"),
                                 ("max-ack-delay: 20s", "'max-ack-delay' must be between"),
                                 ("stream-window: 2GiB", "'stream-window' must be between"),
                                 ("key-update-interval: 0s", "'key-update-interval' must be between"),
                                 ("pacing: sometimes", "'pacing'"),
                                 ("resumption: 3", "'resumption'")] {
            XCTAssertThrowsError(try scenario(yaml: yaml().replacingOccurrences(of: "streams: 1}", with: "streams: 1, \(field)}"))) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("test.yaml:13:") && text.contains(message), "\(field): \(text)")
            }
        }
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
