import Foundation
import StoqAnalyzer
import StoqScenario
import StoqTopology
import XCTest

/// Nodes enrol at a TrustChain CA across the simulated network (real CSRs,
/// consensus proofs, X.509, SCTs and CT inclusion proofs over STOQ streams).
final class TrustChainWorkloadTests: XCTestCase {
    func yaml(duration: String = "10s", faults: String = "", extra: String = "") -> String {
        """
        name: trustchain-test
        seed: 9
        duration: \(duration)
        sites:
          - {name: fra, city: Frankfurt}
          - {name: sin, city: Singapore}
        nodes:
          - {name: core-fra, site: fra, role: core}
          - {name: core-sin, site: sin, role: core}
          - {name: ca, site: fra, role: ca, uplink: {to: core-fra, tier: 1gbps}}
          - {name: edge-fra, site: fra, role: edge, uplink: {to: core-fra, tier: 1gbps}}
          - {name: edge-sin, site: sin, role: edge, uplink: {to: core-sin, tier: 1gbps}}
          - {name: client-sin, site: sin, role: client, count: 2, uplink: {to: edge-sin, tier: 100mbps}}
        backbones:
          - {sites: [fra, sin], tier: 2.5gbps}
        \(faults)
        workloads:
          - {kind: trustchain, ca: ca, difficulty: 6\(extra)}
        """
    }

    struct Run {
        var certificates: [TraceRecord.CertificateEvent] = []
        var transfers: [TraceRecord.TransferResult] = []
        var trace = Data()
        var summary: RunSummary
    }

    func run(_ yaml: String) throws -> Run {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario(yaml: yaml).run(outputDirectory: dir)
        var r = Run(summary: result.summary)
        try TraceReader.forEach(path: result.tracePath) {
            if case .certificate(let c) = $0 { r.certificates.append(c) }
            if case .transfer(let t) = $0 { r.transfers.append(t) }
        }
        r.trace = try Data(contentsOf: URL(fileURLWithPath: result.tracePath))
        return r
    }

    func certificates(_ yaml: String) throws -> (records: [TraceRecord.CertificateEvent], trace: Data, summary: RunSummary) {
        let r = try run(yaml)
        return (r.certificates, r.trace, r.summary)
    }

    func testEveryNodeEnrolsAtStartWithProofsChecked() throws {
        let (all, trace, _) = try certificates(yaml())
        // The CA node is certified by its own CA, in process, before it serves anyone.
        let own = try XCTUnwrap(all.first)
        XCTAssertEqual([own.node, own.event], ["ca", "enrolled"])
        XCTAssertEqual([own.t, own.latencyNs], [0, 0])
        let records = Array(all.dropFirst())
        let nodes = ["core-fra", "core-sin", "edge-fra", "edge-sin", "client-sin-1", "client-sin-2"]
        XCTAssertEqual(Set(records.map(\.node)), Set(nodes))
        XCTAssertEqual(records.count, nodes.count, "\(records)")
        for r in records {
            XCTAssertEqual(r.event, "enrolled", "\(r)")
            XCTAssertEqual(r.attempt, 1)
            XCTAssertEqual(r.fingerprint?.count, 64)
            // Valid 24 h from when the CA issued it, during the attempt.
            let notAfter = try XCTUnwrap(r.notAfterNs)
            XCTAssertTrue((24 * 3600 * 1_000_000_000...(24 * 3600 * 1_000_000_000 + r.t)).contains(notAfter), "\(r)")
            // A request and a proof fetch, each its own connection: at least two round trips each.
            let request = try XCTUnwrap(r.requestNs), proof = try XCTUnwrap(r.proofNs)
            XCTAssertGreaterThanOrEqual(r.latencyNs, request + proof)
        }
        // Singapore is ~10,000 km from the CA in Frankfurt: its round trips are far longer.
        let far = try XCTUnwrap(records.first { $0.node == "client-sin-1" }), near = try XCTUnwrap(records.first { $0.node == "edge-fra" })
        XCTAssertGreaterThan(far.latencyNs, near.latencyNs + 200_000_000)
        XCTAssertEqual(Set(all.compactMap(\.fingerprint)).count, nodes.count + 1)
        XCTAssertEqual(trace, try certificates(yaml()).trace, "same seed, same certificates")
    }

    func testAThreeDayRunRotatesEveryCertificateBeforeItExpires() throws {
        let (records, _, summary) = try certificates(yaml(duration: "72h", extra: ", nodes: [edge-fra, client-sin-1]"))
        let c = try XCTUnwrap(summary.certificates)
        XCTAssertEqual([c.nodes, c.enrolled, c.renewed, c.failed, c.minRotations, c.maxRotations], [3, 3, 9, 0, 3, 3])
        XCTAssertTrue(RunReport.markdown(summary).contains("## Certificates"))
        XCTAssertEqual(c.timeline?.last.map { [$0.enrolled, $0.renewed, $0.failed] }, [3, 9, 0])
        XCTAssertTrue(RunReport.html(summary).contains("certificates over time"))
        for node in ["edge-fra", "client-sin-1"] {
            let mine = records.filter { $0.node == node }
            XCTAssertEqual(mine.map(\.event), ["enrolled", "renewed", "renewed", "renewed"], "\(mine)")
            // Each renewal happens with 6 h of validity left, before the old one expires.
            for (old, new) in zip(mine, mine.dropFirst()) {
                XCTAssertLessThan(new.t, try XCTUnwrap(old.notAfterNs))
                XCTAssertEqual(try XCTUnwrap(old.notAfterNs) - new.t, 6 * 3600 * 1_000_000_000, accuracy: 2_000_000_000)
            }
        }
    }

    func testACAOutageIsRiddenOutWithBackoff() throws {
        // The CA is down for the first 20 s: attempts fail as unreachable (the QUIC
        // handshake times out), back off, and succeed once it is up.
        let text = yaml(duration: "120s", faults: "faults:\n  - {node: ca, down: 0s, up: 20s}", extra: ", nodes: [edge-fra]")
        let (records, _, summary) = try certificates(text)
        XCTAssertEqual(summary.certificates?.failures.map(\.reason), ["unreachable"])
        let failures = records.filter { $0.event == "failed" && $0.node == "edge-fra" }
        XCTAssertFalse(failures.isEmpty)
        XCTAssertTrue(failures.allSatisfy { $0.reason == "unreachable" }, "\(failures)")
        XCTAssertEqual(failures.map(\.attempt), Array(1...failures.count))
        let enrolled = try XCTUnwrap(records.first { $0.event == "enrolled" && $0.node == "edge-fra" })
        XCTAssertGreaterThanOrEqual(enrolled.t, 20_000_000_000)
        XCTAssertEqual(enrolled.attempt, failures.count + 1)
    }

    /// Nodes talk to each other with their TrustChain certificates over mutual
    /// TLS: each side verifies the other's chain against the TrustChain root (on
    /// the run's timeline), then its embedded SCT, CT inclusion proof and
    /// revocation status; on day 3 with rotated certificates too. `mutual-tls:
    /// false` leaves only the client's check.
    func testTransfersUseTrustChainCertificatesAndBothSidesCheckEachOther() throws {
        let transfers = """
          - {kind: transfer, from: client-sin-1, to: edge-fra, size: 200KB, start: 5s, count: 2, interval: 50h}
        """
        for mutual in [true, false] {
            let text = yaml(duration: "51h", extra: ", nodes: [edge-fra, client-sin-1]" + (mutual ? "" : ", mutual-tls: false")) + "\n" + transfers
            let result = try run(text)
            let (certs, done) = (result.certificates, result.transfers)
            XCTAssertEqual(done.count, 2)
            XCTAssertTrue(done.allSatisfy { $0.durationNs != nil && $0.bytesReceived == 200_000 }, "\(done)")
            // Each node's certificate at each transfer: the first one, then the second renewal's.
            func issued(_ node: String) -> [String] { certs.filter { $0.node == node && ["enrolled", "renewed"].contains($0.event) }.compactMap(\.fingerprint) }
            let peerChecks = certs.filter { $0.node == "client-sin-1" && $0.event.hasPrefix("peer") }
            XCTAssertEqual(peerChecks.map(\.event), ["peer-verified", "peer-verified"], "\(peerChecks)")
            XCTAssertEqual(peerChecks.map(\.fingerprint), [issued("edge-fra")[0], issued("edge-fra")[2]])
            XCTAssertEqual(result.summary.certificates?.peersVerified, 2)
            let clientChecks = certs.filter { $0.node == "edge-fra" && $0.event.hasPrefix("client") }
            if mutual {
                XCTAssertEqual(clientChecks.map(\.event), ["client-verified", "client-verified"], "\(clientChecks)")
                XCTAssertEqual(clientChecks.map(\.fingerprint), [issued("client-sin-1")[0], issued("client-sin-1")[2]])
                XCTAssertEqual(result.summary.certificates?.clientsVerified, 2)
            } else {
                XCTAssertEqual(clientChecks.count, 0)
                XCTAssertNil(result.summary.certificates?.clientsVerified)
            }
        }
    }

    /// Mutual TLS refuses clients: one without a certificate (edge-fra requires
    /// one; the CA node only asks, so its STOQ service refuses it after the
    /// handshake), and one the CA revoked (edge-fra's check of it fails).
    func testServersRefuseClientsWithoutACertificateOrWithARevokedOne() throws {
        let unenrolled = yaml(duration: "20s", extra: ", nodes: [edge-fra]")
            + "\n  - {kind: transfer, from: client-sin-1, to: edge-fra, size: 10KB, start: 3s, timeout: 5s}"
            + "\n  - {kind: transfer, from: client-sin-1, to: ca, size: 10KB, start: 3s, timeout: 5s}"
        let refused = try run(unenrolled)
        XCTAssertEqual(refused.transfers.count, 2)
        XCTAssertTrue(refused.transfers.allSatisfy { $0.durationNs == nil }, "\(refused.transfers)")
        let atCA = refused.certificates.filter { $0.node == "ca" && $0.event == "client-failed" }
        XCTAssertEqual(atCA.map(\.reason), ["no_client_certificate"])
        // edge-fra requires a certificate: GnuTLS refuses the client inside the handshake, and edge-fra records it too.
        let atEdge = refused.certificates.filter { $0.node == "edge-fra" && $0.event == "client-failed" }
        XCTAssertFalse(atEdge.isEmpty, "\(refused.certificates)")
        XCTAssertTrue(atEdge.allSatisfy { $0.reason == "no_client_certificate" && $0.fingerprint == nil }, "\(atEdge)")
        XCTAssertEqual(refused.summary.certificates?.checkFailures?.map(\.reason), ["no_client_certificate"])

        let text = yaml(duration: "3h", extra: ", nodes: [edge-fra, client-sin-1], revoke: [{node: client-sin-1, at: 1h}]")
            + "\n  - {kind: transfer, from: client-sin-1, to: edge-fra, size: 2MB, start: 5s, count: 2, interval: 2h}"
        let result = try run(text)
        XCTAssertNotNil(result.transfers.first?.durationNs)
        XCTAssertNil(result.transfers.last?.durationNs, "edge-fra drops the revoked client: \(result.transfers)")
        XCTAssertEqual(result.transfers.last?.failure, "connection closed: peer application close, code 269: client certificate refused: revoked")
        XCTAssertNil(result.transfers.first?.failure)
        let checks = result.certificates.filter { $0.node == "edge-fra" && $0.event.hasPrefix("client") }
        XCTAssertEqual(checks.map(\.event), ["client-verified", "client-failed"])
        XCTAssertEqual(checks.last?.reason, "revoked")
        XCTAssertEqual(result.summary.certificates?.clientsFailed, 1)
    }

    /// A node outside the workload is not certified: connections to it fail verification.
    func testAnUncertifiedPeerIsRefused() throws {
        let text = yaml(extra: ", nodes: [client-sin-1]") + "\n  - {kind: transfer, from: client-sin-1, to: edge-fra, size: 10KB, start: 3s, timeout: 5s}"
        let done = try run(text).transfers
        XCTAssertEqual(done.count, 1)
        XCTAssertNil(done.first?.durationNs, "edge-fra presents a self-signed certificate: the handshake must fail")
        XCTAssertNil(done.first?.handshakeNs)
    }

    /// The CA revokes edge-fra's certificate at 1 h: before, a client's transfer
    /// to it completes; after, the client's revocation check refuses the peer
    /// and drops the connection; edge-fra no longer renews.
    func testARevokedPeerIsRefused() throws {
        let text = yaml(duration: "3h", extra: ", nodes: [edge-fra, client-sin-1], revoke: [{node: edge-fra, at: 1h}]")
            + "\n  - {kind: transfer, from: client-sin-1, to: edge-fra, size: 2MB, start: 5s, count: 2, interval: 2h}"
        let result = try run(text)
        let (certs, done) = (result.certificates, result.transfers)
        let revoked = try XCTUnwrap(certs.first { $0.event == "revoked" })
        XCTAssertEqual([revoked.node, revoked.reason], ["edge-fra", "keyCompromise"])
        XCTAssertEqual(revoked.t, 3600 * 1_000_000_000)
        XCTAssertEqual(done.count, 2)
        XCTAssertNotNil(done[0].durationNs, "before the revocation: \(done[0])")
        XCTAssertNil(done[1].durationNs, "after the revocation the client drops the peer: \(done[1])")
        let checks = certs.filter { $0.node == "client-sin-1" && $0.event.hasPrefix("peer") }
        XCTAssertEqual(checks.map(\.event), ["peer-verified", "peer-failed"])
        XCTAssertEqual(checks.last?.reason, "revoked")
        XCTAssertEqual(checks.map(\.fingerprint), [revoked.fingerprint, revoked.fingerprint])
        let summary = try XCTUnwrap(result.summary.certificates)
        XCTAssertEqual([summary.revoked, summary.peersVerified, summary.peersFailed, summary.failed], [1, 1, 1, 0])
        XCTAssertThrowsError(try scenario(yaml: yaml(extra: ", nodes: [edge-fra], revoke: [{node: edge-sin, at: 1s}]"))) {
            XCTAssertTrue("\($0)".contains("does not enrol in this trustchain workload"), "\($0)")
        }
    }

    /// The trustchain workload's QUIC knobs reach the nodes' HTTP/3 connections to the CA.
    func testTrustChainKnobsReachTheConnectionsToTheCA() throws {
        let parameters = try localTransportParameters(ofRun: yaml(extra: ", idle-timeout: 9s"))
        let toCA = parameters.filter { !$0.key.hasPrefix("ca-") && $0.key.contains("-client-") }
        XCTAssertFalse(toCA.isEmpty, "\(parameters.keys.sorted())")
        for (name, p) in toCA { XCTAssertEqual(p["max_idle_timeout"] as? Int, 9_000, name) }
    }

    /// A rogue node replays its enrolment, reuses its stake proof for a new key,
    /// presents a peer CA-signed certificates with a tampered SCT and with an
    /// SCT from another log, and serves the tampered one to the peer, across
    /// the simulated network: each is refused for its own reason, nothing is
    /// issued for it, and the report counts the refusals by reason.
    func testARogueNodesAttacksAreEachRefusedForTheirReason() throws {
        let text = yaml(duration: "60s", extra: ", nodes: [edge-fra, client-sin-1], rogue: [{node: client-sin-1, peer: edge-fra, at: 20s}]")
        let result = try run(text)
        let attacks = result.certificates.filter { $0.node == "client-sin-1" && $0.event.contains("-") && $0.event != "peer-verified" }
        XCTAssertEqual(Set(attacks.map(\.event)), ["replay-refused", "stake-reuse-refused", "tampered-sct-refused",
                                                   "foreign-log-refused", "tampered-server-refused"], "\(attacks)")
        XCTAssertEqual(attacks.count, 5)
        func reason(_ event: String) -> String? { attacks.first { $0.event == event }?.reason }
        XCTAssertEqual(reason("replay-refused"), "replayed_request")
        XCTAssertEqual(reason("stake-reuse-refused"), "stake_proof_failed")
        XCTAssertEqual(reason("tampered-sct-refused"), "bad_sct")
        XCTAssertEqual(reason("foreign-log-refused"), "unknown_log")
        XCTAssertEqual(reason("tampered-server-refused"), "bad_sct")
        XCTAssertTrue(attacks.allSatisfy { $0.t >= 20_000_000_000 }, "\(attacks)")
        // The peer's side: GnuTLS accepted the CA-signed chains, the SCT checks refused them and dropped the connections,
        // as a server checking the rogue's client certificates and as a client checking the rogue's server.
        func fingerprint(_ event: String) -> String? { attacks.first { $0.event == event }?.fingerprint }
        let atPeer = result.certificates.filter { $0.node == "edge-fra" && $0.event.hasSuffix("-failed") }
        XCTAssertEqual(Set(atPeer.map { "\($0.event) \($0.reason ?? "")" }),
                       ["client-failed bad_sct", "client-failed unknown_log", "peer-failed bad_sct"], "\(atPeer)")
        XCTAssertEqual(atPeer.count, 3)
        XCTAssertEqual(Set(atPeer.compactMap(\.fingerprint)),
                       Set([fingerprint("tampered-sct-refused"), fingerprint("foreign-log-refused"), fingerprint("tampered-server-refused")].compactMap { $0 }))
        // Nothing was issued for an attack: one certificate per node (and the CA's own).
        XCTAssertEqual(result.certificates.filter { ["enrolled", "renewed"].contains($0.event) }.count, 3)
        let c = try XCTUnwrap(result.summary.certificates)
        XCTAssertEqual([c.enrolled, c.failed], [3, 0], "attacks are not enrolment attempts")
        XCTAssertEqual(c.attacks?.map(\.reason).sorted(), ["foreign-log refused: unknown_log", "replay refused: replayed_request",
                                                           "stake-reuse refused: stake_proof_failed", "tampered-sct refused: bad_sct",
                                                           "tampered-server refused: bad_sct"])
        XCTAssertEqual(c.checkFailures?.map(\.reason).sorted(), ["bad_sct", "unknown_log"])
        XCTAssertTrue(RunReport.markdown(result.summary).contains("replay refused: replayed_request × 1"))
        XCTAssertEqual(result.trace, try run(text).trace, "same seed, same attacks")

        // Attacking before it has a certificate: the node attacks once enrolled.
        let early = try run(yaml(duration: "60s", extra: ", nodes: [edge-fra, client-sin-1], rogue: [{node: client-sin-1, peer: edge-fra, at: 0s}]"))
        XCTAssertEqual(early.summary.certificates?.attacks?.count, 5, "\(String(describing: early.summary.certificates?.attacks))")
        XCTAssertNil(early.summary.certificates?.attacks?.first { $0.reason.contains("accepted") })

        for (extra, expected) in [(", nodes: [edge-fra], rogue: [{node: edge-sin, peer: edge-fra, at: 1s}]", "does not enrol"),
                                  (", nodes: [edge-fra], rogue: [{node: edge-fra, peer: edge-fra, at: 1s}]", "another node"),
                                  (", mutual-tls: false, rogue: [{node: edge-fra, peer: ca, at: 1s}]", "needs mutual-tls"),
                                  (", rogue: [{node: edge-fra, peer: ca}]", "needs 'at'")] {
            XCTAssertThrowsError(try scenario(yaml: yaml(extra: extra)), extra) {
                XCTAssertTrue("\($0)".contains(expected), "\($0)")
            }
        }
    }

    func testBadFieldsNameTheirLine() {
        for (extra, expected) in [(", difficulty: 99", "'difficulty'"), (", renewal-margin: 30h", "'renewal-margin' must be"),
                                  (", nodes: [nobody]", "unknown node 'nobody'")] {
            XCTAssertThrowsError(try scenario(yaml: yaml(extra: extra)), extra) {
                XCTAssertTrue("\($0)".contains(expected) && "\($0)".contains("test.yaml:"), "\($0)")
            }
        }
        XCTAssertThrowsError(try scenario(yaml: yaml().replacingOccurrences(of: "ca: ca", with: "ca: role:client")))
    }
}
