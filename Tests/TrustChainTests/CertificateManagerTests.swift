import Foundation
import StoqEngine
import StoqTestSupport
import X509
import XCTest
@testable import TrustChain

final class CertificateManagerTests: XCTestCase {
    private func enrolling(_ f: Fixture, key: SigningKey, clock: @escaping () -> SimTime = { .zero }) throws -> (CertificateManager, LocalTrustChainClient) {
        let client = LocalTrustChainClient(api: f.api, clock: clock)
        let m = f.manager(key: key, mode: .trustchain(client: client, trust: f.trust, prover: try f.prover(key: key)))
        return (m, client)
    }

    func testLocalhostTestingIsSelfSignedAndImmediate() throws {
        let f = try Fixture()
        let m = f.manager(key: f.key(), mode: .localhostTesting)
        m.refresh(now: .zero)
        let c = try XCTUnwrap(m.certificate(now: .seconds(1)))
        XCTAssertEqual(c.certificate.issuer, c.certificate.subject)
        XCTAssertTrue(c.certificate.publicKey.isValidSignature(c.certificate.signature, for: c.certificate))
        XCTAssertEqual(f.ca.log.size, 0)
        XCTAssertNoThrow(try m.serverCredentials(now: .seconds(1)))
    }

    func testEnrolmentChecksTheCertificateSCTAndInclusionProof() throws {
        let f = try Fixture()
        let (m, client) = try enrolling(f, key: f.key())
        var result: Result<NodeCertificate, Rejection>?
        m.refresh(now: .zero) { result = $0 }
        let c = try XCTUnwrap(try result?.get())
        XCTAssertTrue(c.inclusionVerified)
        XCTAssertEqual(c.notAfter, .seconds(24 * 3600))
        XCTAssertEqual(client.requests.map(\.path), ["/ca/certificate", "/ct/proof/" + c.fingerprint])
        XCTAssertTrue(m.verifiedFingerprints.contains(c.fingerprint))
        // Cached: asking again within validity sends nothing.
        m.refresh(now: .seconds(3600))
        XCTAssertEqual(client.requests.count, 2)
    }

    func testRotatesBeforeExpiryOverAMultiDayVirtualRun() throws {
        let f = try Fixture()
        var now = SimTime.zero
        let (m, _) = try enrolling(f, key: f.key(), clock: { now })
        var fingerprints: [String] = []
        m.onChange = { fingerprints.append($0.fingerprint) }
        // A scheduler would arm a timer at nextRenewal; stepping hourly exercises the same rule.
        while now <= .seconds(3 * 24 * 3600) {
            m.refresh(now: now)
            XCTAssertNotNil(m.certificate(now: now), "no valid certificate at \(now)")
            if let due = m.nextRenewal { XCTAssertGreaterThan(m.current!.notAfter, due) }
            now += .seconds(3600)
        }
        // 24 h validity, renewed with 6 h left: renewals at 19 h, 38 h and 57 h (strictly less than 6 h left, checked hourly).
        XCTAssertEqual(m.renewals, 3)
        XCTAssertEqual(Set(fingerprints).count, 4)
        XCTAssertEqual(f.ca.log.size, 4)
        XCTAssertEqual(f.ca.log.verifyHistory(), [])
    }

    func testEnrolmentFailureIsReportedWithTheCAsReason() throws {
        let f = try Fixture()
        let key = f.key()
        let client = LocalTrustChainClient(api: f.api, clock: { .zero })
        // Too little stake: the CA refuses, the manager reports the CA's code.
        let m = f.manager(key: key, mode: .trustchain(client: client, trust: f.trust, prover: try f.prover(key: key, amount: 10)))
        m.refresh(now: .zero)
        XCTAssertNil(m.current)
        XCTAssertEqual(m.lastError?.code, "stake_proof_failed")
        XCTAssertEqual(m.lastError?.status, 403)
    }

    func testRefusesACertificateFromAnUntrustedRoot() throws {
        let f = try Fixture(), impostor = try Fixture()
        let key = f.key()
        let client = LocalTrustChainClient(api: impostor.api, clock: { .zero })
        let m = f.manager(key: key, mode: .trustchain(client: client, trust: f.trust, prover: try impostor.prover(key: key)))
        m.refresh(now: .zero)
        XCTAssertNil(m.current)
        XCTAssertEqual(m.lastError?.code, "untrusted_certificate")
    }

    func testVerifiesAPeersInclusionProof() throws {
        let f = try Fixture()
        let (m, client) = try enrolling(f, key: f.key())
        m.refresh(now: .zero)
        let peerKey = f.key(2)
        let peer = f.manager(Fixture.other, key: peerKey, mode: .trustchain(client: client, trust: f.trust, prover: try f.prover(Fixture.other, key: peerKey)))
        peer.refresh(now: .zero)
        let p = try XCTUnwrap(peer.current)
        var ok: Result<Void, Rejection>?
        m.verifyInclusion(of: p.der, client: client, trust: f.trust) { ok = $0 }
        XCTAssertNoThrow(try XCTUnwrap(ok).get())
        // Bytes that are not a certificate are refused before asking the log.
        var garbled: Result<Void, Rejection>?
        let before = client.requests.count
        m.verifyInclusion(of: p.der + [0], client: client, trust: f.trust) { garbled = $0 }
        XCTAssertEqual(try XCTUnwrap(garbled).failureCode, "bad_certificate")
        XCTAssertEqual(client.requests.count, before)
    }

    /// End to end: GnuTLS loads the TrustChain-issued chain and key, and a
    /// client that trusts only the TrustChain root completes a QUIC handshake.
    /// GnuTLS checks validity against the wall clock, so this CA's epoch is the
    /// wall clock at the start of the test (see docs/trustchain.md).
    func testGnuTLSHandshakeWithAnIssuedCertificate() throws {
        for algorithm in KeyAlgorithm.allCases {
            let epoch = WallEpoch(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
            let f = try Fixture(epoch: epoch, caAlgorithm: algorithm)
            let key = f.key(5, algorithm)
            let (m, _) = try enrolling(f, key: key)
            m.refresh(now: .zero)
            XCTAssertNotNil(m.current, "\(algorithm): \(String(describing: m.lastError))")
            let server = ServerTLSConfiguration(credentials: try m.serverCredentials(now: .zero))
            let client = ClientTLSConfiguration(verification: .verify(trustAnchors: try .client(trustAnchorsPEM: f.trust.rootPEM)))
            let pair = try InMemoryPair(clientTLS: client, serverTLS: server)
            let c = try pair.connect(serverName: "edge-1.stoq")
            pair.run(until: { c.isHandshakeComplete || c.isClosed })
            XCTAssertEqual(c.state, .established, "\(algorithm): handshake failed")

            // The same chain for the wrong name must fail verification.
            let wrong = try InMemoryPair(clientTLS: client, serverTLS: ServerTLSConfiguration(credentials: try m.serverCredentials(now: .zero)))
            XCTAssertNil(try wrong.establish(serverName: "edge-2.stoq"), "\(algorithm): wrong name accepted")
        }
    }
}

extension CertificateManagerTests {
    /// A CA dated on the fixed 2026-01-01 epoch issues 24-hour certificates the
    /// machine's clock sees as expired: with the client's certificate epoch set,
    /// GnuTLS checks validity on the simulated timeline instead (a 3-day virtual
    /// run's third-day certificate verifies on day 3, and not on day 5).
    func testCertificateValidityIsCheckedOnTheSimulatedTimeline() throws {
        let f = try Fixture()            // epoch 2026-01-01: long past on the real clock
        var now = SimTime.seconds(2 * 24 * 3600)
        let (m, _) = try enrolling(f, key: f.key(9), clock: { now })
        m.refresh(now: now)
        let server = ServerTLSConfiguration(credentials: try m.serverCredentials(now: now))
        let anchors = try TLSCredentials.client(trustAnchorsPEM: f.trust.rootPEM)
        func handshake(_ client: ClientTLSConfiguration, at t: SimTime) throws -> Bool {
            let pair = try InMemoryPair(clientTLS: client, serverTLS: server)
            pair.run(for: t - pair.now)     // an idle pair: the clock just moves
            return try pair.establish(serverName: "edge-1.stoq") != nil
        }
        let realClock = ClientTLSConfiguration(verification: .verify(trustAnchors: anchors))
        let simulated = ClientTLSConfiguration(verification: .verify(trustAnchors: anchors),
                                               certificateEpochUnixMilliseconds: f.configuration.epoch.unixMilliseconds)
        XCTAssertFalse(try handshake(realClock, at: now), "the real clock sees a certificate from January as expired")
        XCTAssertTrue(try handshake(simulated, at: now + .seconds(3600)))
        now = .seconds(4 * 24 * 3600)
        XCTAssertFalse(try handshake(simulated, at: now), "a day after it expired on the simulated timeline")
    }
}

extension Result where Failure == Rejection {
    var failureCode: String? { if case let .failure(r) = self { return r.code }; return nil }
}

final class LogConsistencyTests: XCTestCase {
    /// A node remembers the newest tree head it checked and accepts a newer
    /// one only with a consistency proof, so a forked log (same keys,
    /// different history) is caught.
    func testNodeDetectsAForkedLog() throws {
        let honest = try Fixture()
        let key = honest.key()
        let client = LocalTrustChainClient(api: honest.api, clock: { .zero })
        let m = honest.manager(key: key, mode: .trustchain(client: client, trust: honest.trust, prover: try honest.prover(key: key)))
        m.refresh(now: .zero)
        XCTAssertEqual(m.treeHead?.treeSize, 1)

        // Honest growth: a peer enrols; checking it moves the node from size 1 to 2 with a consistency proof.
        let peerKey = honest.key(2)
        let peer = honest.manager(Fixture.other, key: peerKey, mode: .trustchain(client: client, trust: honest.trust, prover: try honest.prover(Fixture.other, key: peerKey)))
        peer.refresh(now: .zero)
        var ok: Result<Void, Rejection>?
        m.verifyInclusion(of: peer.current!.der, client: client, trust: honest.trust) { ok = $0 }
        XCTAssertNoThrow(try XCTUnwrap(ok).get())
        XCTAssertEqual(m.treeHead?.treeSize, 2)

        // The same CA and log keys, another history of four entries.
        let forked = try CertificateAuthority(configuration: honest.configuration, key: honest.ca.key, logKey: honest.ca.log.key,
                                              policies: honest.policies)
        for i in 10..<14 { _ = try forked.enroll(try honest.request(key: honest.key(UInt64(i))), now: .zero).get() }
        let forkedAPI = TrustChainAPI(ca: forked)
        let forkedClient = LocalTrustChainClient(api: forkedAPI, clock: { .zero })
        let victim = forked.log.entries[3]
        var result: Result<Void, Rejection>?
        m.verifyInclusion(of: victim.certificateDER, client: forkedClient, trust: honest.trust) { result = $0 }
        XCTAssertEqual(try XCTUnwrap(result).failureCode, "inconsistent_log")
        XCTAssertEqual(m.treeHead?.treeSize, honest.ca.log.size, "the node keeps the head it trusted")
    }
}
