import Foundation
import StoqAnalyzer
import StoqEngine
import StoqNetwork
import StoqScenario
import StoqTopology
import XCTest

final class ScenarioRunTests: XCTestCase {
    func probes(in trace: String) throws -> [TraceRecord.ProbeResult] {
        var result: [TraceRecord.ProbeResult] = []
        try TraceReader.forEach(path: trace) { if case .probe(let p) = $0 { result.append(p) } }
        return result
    }

    func testSameSeedGivesByteIdenticalTrace() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try scenario(yaml: twoSiteYAML)
        let first = try s.run(outputDirectory: dir + "/1")
        let second = try s.run(outputDirectory: dir + "/2")
        let a = try Data(contentsOf: URL(fileURLWithPath: first.tracePath))
        let b = try Data(contentsOf: URL(fileURLWithPath: second.tracePath))
        XCTAssertGreaterThan(a.count, 1000)
        XCTAssertEqual(a, b, "same topology and seed must give the same trace")
    }

    func testDifferentSeedChangesLossPattern() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var s = try scenario(yaml: twoSiteYAML)
        let seven = try probes(in: s.run(outputDirectory: dir + "/7").tracePath).filter { $0.workload == "far" }
        s.topology.seed = 8
        let eight = try probes(in: s.run(outputDirectory: dir + "/8").tracePath).filter { $0.workload == "far" }
        let lostSeven = seven.filter { $0.rttNs == nil }.map(\.seq)
        let lostEight = eight.filter { $0.rttNs == nil }.map(\.seq)
        // 5% loss each way over 100 probes: both lose some, not the same ones.
        XCTAssertEqual(seven.count, 100)
        XCTAssertFalse(lostSeven.isEmpty)
        XCTAssertFalse(lostEight.isEmpty)
        XCTAssertNotEqual(lostSeven, lostEight)
    }

    func testProbeRTTIsPropagationPlusSerializationBothWays() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario(yaml: twoSiteYAML).run(outputDirectory: dir)
        let all = try probes(in: result.tracePath)
        let wire = 64 + Datagram.headerBytes
        let far = all.filter { $0.workload == "far" }.compactMap(\.rttNs)
        let expectedFar = 2 * (80_000_000 + Network.serializationTime(bytes: wire, bitsPerSecond: 2_500_000_000))
        XCTAssertFalse(far.isEmpty)
        XCTAssertTrue(far.allSatisfy { $0 == expectedFar }, "far RTTs \(Set(far)) expected \(expectedFar)")
    }

    func testTierDifferenceShowsOnLargeProbes() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario(yaml: twoSiteYAML).run(outputDirectory: dir)
        let tiers = try probes(in: result.tracePath).filter { $0.workload == "tiers" }
        let fast = Set(tiers.filter { $0.to == "fast" }.compactMap(\.rttNs))
        let slow = Set(tiers.filter { $0.to == "slow" }.compactMap(\.rttNs))
        XCTAssertEqual(fast.count, 1)
        XCTAssertEqual(slow.count, 1)
        // Same latency, so the whole difference is serialization of 1248 bytes
        // at 100 Mbit/s versus 1 Gbit/s, both ways: 2 × (99.84 − 9.984) µs.
        let wire = 1200 + Datagram.headerBytes
        let expected = 2 * (Network.serializationTime(bytes: wire, bitsPerSecond: 100_000_000)
            - Network.serializationTime(bytes: wire, bitsPerSecond: 1_000_000_000))
        XCTAssertEqual(slow.first! - fast.first!, expected)
    }

    func testQuickstartRTTsFollowGeography() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try Scenario.load(path: repositoryRoot + "/topologies/quickstart.yaml")
        let result = try s.run(outputDirectory: dir)
        // The edges' probes: the median is before and after the Frankfurt–Paris
        // failure (6–9 s), which only the tail sees (the detour through New York).
        func rtt(_ to: String) throws -> Distribution {
            let g = try XCTUnwrap(result.summary.probes.first { $0.from == "edge-fra" && $0.to == to })
            XCTAssertLessThanOrEqual(g.lost, 1, "at most the probe in flight when the link failed")
            return try XCTUnwrap(g.rttNs)
        }
        let paris = Double(try rtt("edge-par").p50), newYork = Double(try rtt("edge-nyc").p50)
        XCTAssertGreaterThan(Double(try rtt("edge-par").p99), 10 * paris, "the detour shows in the tail")
        let t = s.topology
        let inflation = t.routeInflation
        func expectedRTT(_ a: String, _ b: String) -> Double {
            let (sa, sb) = (t.site(named: a)!, t.site(named: b)!)
            let km = Geography.greatCircleKilometers(lat1: sa.latitude, lon1: sa.longitude, lat2: sb.latitude, lon2: sb.longitude)
            return 2 * km * 5_000 * inflation
        }
        // Each RTT is the backbone's great-circle round trip plus access hops
        // and serialization: within 0.5 ms of the pure propagation figure.
        XCTAssertEqual(paris, expectedRTT("fra", "par"), accuracy: 500_000)
        XCTAssertEqual(newYork, expectedRTT("fra", "nyc"), accuracy: 500_000)
        XCTAssertGreaterThan(newYork / paris, 5, "Frankfurt–New York is several times Frankfurt–Paris")
        XCTAssertTrue(result.summary.complete)
        XCTAssertTrue(FileManager.default.fileExists(atPath: result.summaryPath))

        // The probed and transferring pairs' routes: each over the backbone's
        // inflated great circle, so stretch ≈ inflation.
        let routes = try XCTUnwrap(result.summary.routes)
        XCTAssertGreaterThan(routes.pairs, 20)
        XCTAssertEqual(routes.mostStretched.count, 20)
        XCTAssertEqual(routes.mostStretched.map(\.stretch), routes.mostStretched.map(\.stretch).sorted(by: >))
        for pair in routes.mostStretched {
            XCTAssertGreaterThanOrEqual(pair.stretch, inflation * 0.99, "\(pair)")
            XCTAssertLessThan(pair.stretch, inflation * 1.5, "\(pair): access hops add little")
        }
        XCTAssertTrue(RunReport.markdown(result.summary).contains("## Routes"))
    }

    func testLinkFailureMidRunShowsInTraceAndSummary() throws {
        let yaml = twoSiteYAML.replacingOccurrences(of: "workloads:", with: """
        faults:
          - {link: [a, b], down: 500ms, up: 1s}
        workloads:
        """)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario(yaml: yaml).run(outputDirectory: dir)
        XCTAssertEqual(result.summary.stateChanges.map(\.up), [false, true])
        XCTAssertEqual(result.summary.stateChanges.first?.tNs, 500_000_000)
        let far = try probes(in: result.tracePath).filter { $0.workload == "far" }
        // Probes sent while the only path is down are lost.
        let lostDuringOutage = far.filter { $0.rttNs == nil && $0.seq >= 25 && $0.seq < 45 }
        XCTAssertGreaterThanOrEqual(lostDuringOutage.count, 18)
    }
}

final class FailoverTraceTests: XCTestCase {
    /// A triangle: a–b direct (5 ms) and a–c–b (2 × 10 ms). The direct link
    /// fails at 1 s; routes move to the detour after the 200 ms detection delay.
    let triangle = """
    name: failover
    duration: 3s
    routing: {strategy: latency, detection_delay: 200ms}
    sites:
      - {name: s, latitude: 50, longitude: 8, region: europe}
    nodes:
      - {name: a, site: s, role: edge}
      - {name: b, site: s, role: edge}
      - {name: c, site: s, role: core}
    links:
      - {from: a, to: b, tier: 1gbps, latency: 5ms}
      - {from: a, to: c, tier: 1gbps, latency: 10ms}
      - {from: c, to: b, tier: 1gbps, latency: 10ms}
    faults:
      - {link: [a, b], down: 1s}
    workloads:
      - {kind: probe, from: a, to: b, interval: 10ms, size: 64}
    """

    func testOutageReconvergenceAndReroutedProbesAreInTheTrace() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario(yaml: triangle).run(outputDirectory: dir)
        var reconverged: [TraceRecord.Reconvergence] = []
        var probes: [TraceRecord.ProbeResult] = []
        try TraceReader.forEach(path: result.tracePath) {
            if case .reconverged(let r) = $0 { reconverged.append(r) }
            if case .probe(let p) = $0 { probes.append(p) }
        }
        let r = try XCTUnwrap(reconverged.first)
        XCTAssertEqual(reconverged.count, 1)
        XCTAssertEqual(r.target, "a<>b")
        XCTAssertEqual(r.failedAtNs, 1_000_000_000)
        XCTAssertEqual(r.reconvergenceNs, 200_000_000)
        XCTAssertGreaterThan(r.packetsLost, 0, "probes sent into the dead link before reconvergence are lost")
        XCTAssertEqual(result.summary.reconvergences?.map(\.reconvergenceNs), [200_000_000])
        // Before the failure RTT ≈ 10 ms (direct); after rerouting ≈ 40 ms (detour).
        let before = probes.filter { $0.seq < 90 }.compactMap(\.rttNs)
        let after = probes.filter { $0.seq > 125 && $0.seq < 290 }.compactMap(\.rttNs)
        XCTAssertFalse(before.isEmpty)
        XCTAssertFalse(after.isEmpty)
        XCTAssertTrue(before.allSatisfy { $0 >= 10_000_000 && $0 < 10_100_000 }, "\(Set(before))")
        XCTAssertTrue(after.allSatisfy { $0 >= 40_000_000 && $0 < 40_200_000 }, "\(Set(after))")
        XCTAssertTrue(probes.contains { $0.rttNs == nil && $0.seq >= 100 && $0.seq < 120 }, "probes during the outage are lost")
    }

    /// Progress lines: percent of the run's duration, simulated time in the
    /// unit of its span, the drain past the end said as such.
    func testProgressLinesSayWhereTheRunIs() {
        func at(_ ns: Int64) -> SimTime { SimTime(nanosecondsSinceStart: ns) }
        let second: Int64 = 1_000_000_000
        let mid = RunProgress(simulated: at(5 * 3600 * second + 120 * second), end: at(2 * 86_400 * second),
                              drainEnd: at(2 * 86_400 * second + 60 * second), wallSeconds: 2, events: 4_000_000)
        XCTAssertEqual(mid.description, "[ 10.5%] simulated 5h 2m of 2d 0h, wall 2.0s, 2.00M events/s")
        let draining = RunProgress(simulated: at(11 * second), end: at(10 * second), drainEnd: at(12 * second), wallSeconds: 1, events: 10)
        XCTAssertEqual(draining.description,
                       "[100.0%] simulated 11s, past the end (10s) finishing in-flight work, at most to 12s, wall 1.0s, 0.00M events/s")
        XCTAssertEqual(RunProgress.clock(at(754 * second)), "12m 34s")
    }
}
