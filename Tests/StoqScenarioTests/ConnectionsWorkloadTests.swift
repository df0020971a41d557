import Foundation
import StoqAnalyzer
import StoqScenario
import StoqTopology
import XCTest

/// `connections`: many real QUIC connections (ngtcp2 + GnuTLS, certificates
/// verified) held open at once, then one request/response each.
final class ConnectionsWorkloadTests: XCTestCase {
    /// Two sites, an edge and three clients at each; the workload is on line 17.
    func yaml(_ fields: String = "count: 200, ramp: 2s, hold: 5s, keep-alive: 2s, idle-timeout: 4s", duration: String = "20s") -> String {
        """
        name: connections-test
        seed: 5
        duration: \(duration)
        sites:
          - {name: fra, latitude: 50.11, longitude: 8.68, region: europe}
          - {name: nyc, latitude: 40.71, longitude: -74.01, region: north-america}
        nodes:
          - {name: core-fra, site: fra, role: core}
          - {name: core-nyc, site: nyc, role: core}
          - {name: edge-fra, site: fra, role: edge, uplink: {to: core-fra, tier: 1gbps}}
          - {name: edge-nyc, site: nyc, role: edge, uplink: {to: core-nyc, tier: 1gbps}}
          - {name: client-fra, site: fra, role: client, count: 3, uplink: {to: edge-fra, tier: 100mbps}}
          - {name: client-nyc, site: nyc, role: client, count: 3, uplink: {to: edge-nyc, tier: 100mbps}}
        backbones:
          - {sites: [fra, nyc], tier: 2.5gbps}
        workloads:
          - {kind: connections, name: held, from: role:client, to: role:edge, \(fields)}
        """
    }

    struct Run {
        var connections: [TraceRecord.HeldConnection] = []
        var peak: TraceRecord.ConnectionsPeak?
        var summary: RunSummary
        var trace: Data
        var notes: [String]
    }

    func run(_ yaml: String) throws -> Run {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario(yaml: yaml).run(outputDirectory: dir)
        var run = Run(summary: result.summary, trace: try Data(contentsOf: URL(fileURLWithPath: result.tracePath)), notes: result.notes)
        try TraceReader.forEach(path: result.tracePath) {
            switch $0 {
            case .heldConnection(let c): run.connections.append(c)
            case .connectionsPeak(let p): run.peak = p
            default: break
            }
        }
        return run
    }

    func testAllConnectionsAreOpenAtOnceAndEachGetsItsResponse() throws {
        let r = try run(yaml())
        // The hold (5 s) outlasts the idle timeout (4 s): the keep-alive PINGs keep every connection up.
        let peak = try XCTUnwrap(r.peak)
        XCTAssertEqual(peak.attempted, 200)
        XCTAssertEqual(peak.peakOpen, 200, "every connection open at the same instant")
        XCTAssertEqual(r.connections.count, 200)
        XCTAssertTrue(r.connections.allSatisfy { $0.failure == nil && $0.exchangeNs != nil && $0.handshakeNs != nil },
                      "\(r.connections.filter { $0.failure != nil }.prefix(3))")
        // The peak comes after the last arrival and before the first request (ramp 2 s, hold 5 s).
        XCTAssertGreaterThanOrEqual(peak.peakAtNs, 1_990_000_000)
        XCTAssertLessThan(peak.peakAtNs, 5_000_000_000)
        // Every client took part, each with its own site's edge (the nearest).
        XCTAssertEqual(Set(r.connections.map(\.from)).count, 6)
        XCTAssertTrue(r.connections.allSatisfy { $0.to == ($0.from.contains("fra") ? "edge-fra" : "edge-nyc") })
        let s = try XCTUnwrap(r.summary.connections?.first)
        XCTAssertEqual(s.established, 200)
        XCTAssertEqual(s.exchanges, 200)
        XCTAssertEqual(s.failed, 0)
        XCTAssertTrue(s.allOpenAtOnce)
        XCTAssertNotNil(s.handshakesPerSecond)
        XCTAssertTrue(r.notes.contains { $0.contains("connections 'held': 200 handshakes") && $0.contains("per connection") }, "\(r.notes)")
        XCTAssertTrue(SummaryText.render(r.summary).contains("peak 200 open at once"))
    }

    func testSameSeedSameTrace() throws {
        let fields = "count: 60, rate: 50/s, hold: 3s, server: random"
        XCTAssertEqual(try run(yaml(fields)).trace, try run(yaml(fields)).trace)
    }

    func testPoissonArrivalsToRandomServers() throws {
        let r = try run(yaml("count: 60, rate: 50/s, hold: 3s, server: random"))
        XCTAssertEqual(r.peak?.attempted, 60)
        XCTAssertEqual(r.connections.filter { $0.failure == nil }.count, 60)
        XCTAssertEqual(Set(r.connections.map(\.to)), ["edge-fra", "edge-nyc"], "random servers, across sites")
    }

    func testAServerThatFailsWhileHoldingIsAFailureWithItsReason() throws {
        // Established by 1 s, then New York's edge goes down: its clients' requests (at about 4 s) go unanswered.
        let text = yaml("count: 12, ramp: 1s, hold: 3s, timeout: 3s") + "\nfaults:\n  - {node: edge-nyc, down: 2s}\n"
        let r = try run(text)
        XCTAssertEqual(r.peak?.peakOpen, 12)
        let failed = r.connections.filter { $0.failure != nil }
        XCTAssertEqual(failed.count, 6, "the New York clients' connections")
        XCTAssertTrue(failed.allSatisfy { $0.to == "edge-nyc" && $0.failure == "response timeout" && $0.handshakeNs != nil }, "\(failed.first!)")
        XCTAssertEqual(r.summary.connections?.first?.failures.map(\.reason), ["response timeout"])
    }

    func testBadFieldsAreLocatedErrors() throws {
        let bad: [(String, String)] = [
            ("count: 0, hold: 5s", "'count' must be between 1 and"),
            ("hold: 5s", "missing field 'count'"),
            ("count: 10, hold: 0s", "'hold' must be greater than 0"),
            ("count: 10, hold: 55s", "held until about 65s, after the run ends (60s)"),
            ("count: 10, ramp: 1s, rate: 5/s", "either 'rate'"),
            ("count: 10, rate: fast", "'rate' must be events per second"),
            ("count: 10, keep-alive: 40s", "'keep-alive' must be more than 0 and less than the idle timeout (30s)"),
            ("count: 10, keep-alive: 5s, idle-timeout: 4s", "less than the idle timeout (4s)"),
            ("count: 10, request: 2", "'request' must be between 4 and"),
            ("count: 10, response: 2MiB", "'response' must be between 0 and"),
            ("count: 10, timeout: 0s", "'timeout' must be greater than 0"),
            ("count: 10, server: closest", "'server' must be nearest or random"),
            ("count: 10, start: 65s", "connections start at 65s, after the run ends"),
            ("count: 10, holdd: 1s", "unknown field 'holdd'"),
        ]
        for (fields, message) in bad {
            XCTAssertThrowsError(try scenario(yaml: yaml(fields, duration: "60s"))) { error in
                let text = "\(error)"
                XCTAssertTrue(text.range(of: #"test\.yaml:17:\d+"#, options: .regularExpression) != nil && text.contains(message),
                              "\(fields): \(text)")
            }
        }
        XCTAssertThrowsError(try scenario(yaml: yaml("count: 10").replacingOccurrences(of: "to: role:edge", with: "to: edge-sin"))) { error in
            XCTAssertTrue("\(error)".contains("test.yaml:17:56:") && "\(error)".contains("unknown node 'edge-sin'"), "\(error)")
        }
    }
}
