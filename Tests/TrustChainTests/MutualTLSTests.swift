import Foundation
import StoqEngine
import StoqTestSupport
import StoqTransport
import XCTest
@testable import TrustChain

/// Mutual TLS with TrustChain certificates through GnuTLS: the server asks
/// for the client's certificate and verifies its chain, purpose and validity
/// on the simulated timeline in the handshake.
final class MutualTLSTests: XCTestCase {
    /// What the server endpoint's `onHandshakeFailed` reported.
    private var serverRefusals: [(QuicConnection, String)] = []

    private func enrolled(_ f: Fixture, _ node: NodeIdentity, key: SigningKey, at now: SimTime) throws -> CertificateManager {
        let client = LocalTrustChainClient(api: f.api, clock: { now })
        let m = f.manager(node, key: key, mode: .trustchain(client: client, trust: f.trust, prover: try f.prover(node, key: key)))
        m.refresh(now: now)
        XCTAssertNotNil(m.current, "\(String(describing: m.lastError))")
        return m
    }

    /// Runs one handshake; returns the client's and the server's connection.
    private func handshake(_ f: Fixture, server: CertificateManager, client identity: CertificateBundle?, policy: ClientCertificatePolicy,
                           at now: SimTime) throws -> (client: QuicConnection, server: QuicConnection?) {
        let epoch = f.configuration.epoch.unixMilliseconds
        let serverTLS = ServerTLSConfiguration(credentials: try .server(try server.bundle(now: now), clientTrustAnchorsPEM: f.trust.rootPEM),
                                               clientCertificates: policy, certificateEpochUnixMilliseconds: epoch)
        let clientTLS = ClientTLSConfiguration(verification: .verify(trustAnchors: try .client(trustAnchorsPEM: f.trust.rootPEM, certificate: identity)),
                                               certificateEpochUnixMilliseconds: epoch)
        let pair = try InMemoryPair(clientTLS: clientTLS, serverTLS: serverTLS)
        pair.run(for: now - pair.now)
        var accepted: QuicConnection?
        pair.server.onNewConnection = { c in accepted = c; c.onEvent = { _ in } }
        pair.server.onHandshakeFailed = { [unowned self] c, why in self.serverRefusals.append((c, why)) }
        let c = try pair.connect(serverName: "edge-1.stoq")
        pair.run(until: { (c.isHandshakeComplete && accepted?.isHandshakeComplete == true) || c.isClosed || accepted?.isClosed == true })
        pair.run(for: .milliseconds(50))   // let a refusal's CONNECTION_CLOSE arrive
        return (c, accepted)
    }

    private func failure(_ c: QuicConnection?) -> String? {
        switch c?.state {
        case let .closed(.handshakeFailed(m))?: return m
        case let .closed(.transport(_, reason, _))?: return reason
        default: return nil
        }
    }

    func testBothSidesVerifyEachOthersTrustChainCertificates() throws {
        let f = try Fixture()
        let now = SimTime.seconds(3600)
        let server = try enrolled(f, Fixture.node, key: f.key(1), at: now)
        let client = try enrolled(f, Fixture.other, key: f.key(2), at: now)
        let r = try handshake(f, server: server, client: try client.bundle(now: now), policy: .require, at: now)
        XCTAssertEqual(r.client.state, .established)
        XCTAssertEqual(r.server?.state, .established)
        XCTAssertEqual(r.server?.peerCertificate, client.current?.der, "the server sees the client's certificate")
        XCTAssertEqual(r.client.peerCertificate, server.current?.der)
    }

    func testAClientWithoutACertificateIsRefusedWhenRequiredAndAcceptedWhenOnlyRequested() throws {
        let f = try Fixture()
        let now = SimTime.seconds(60)
        let server = try enrolled(f, Fixture.node, key: f.key(1), at: now)
        let refused = try handshake(f, server: server, client: nil, policy: .require, at: now)
        XCTAssertNotEqual(refused.client.state, .established)
        XCTAssertNotEqual(refused.server?.state, .established)
        XCTAssertTrue(failure(refused.server)?.contains("certificate") ?? false, "\(String(describing: refused.server?.state))")
        // The server's endpoint hears of it (onHandshakeFailed), with the same words.
        XCTAssertEqual(serverRefusals.count, 1)
        XCTAssertTrue(serverRefusals.first?.0 === refused.server)
        XCTAssertEqual(serverRefusals.first?.1, failure(refused.server))
        let requested = try handshake(f, server: server, client: nil, policy: .request, at: now)
        XCTAssertEqual(requested.server?.state, .established)
        XCTAssertNil(requested.server?.peerCertificate)
        XCTAssertEqual(serverRefusals.count, 1, "an accepted client is no refusal")
    }

    func testAnUntrustedOrExpiredClientCertificateFailsTheHandshake() throws {
        let f = try Fixture()
        let now = SimTime.seconds(60)
        let server = try enrolled(f, Fixture.node, key: f.key(1), at: now)
        // Self-signed: the server's trust anchors do not reach it.
        let stranger = f.manager(Fixture.other, key: f.key(3), mode: .localhostTesting)
        stranger.refresh(now: now)
        let untrusted = try handshake(f, server: server, client: try stranger.bundle(now: now), policy: .require, at: now)
        XCTAssertNotEqual(untrusted.server?.state, .established)
        XCTAssertTrue(failure(untrusted.server)?.contains("certificate verification failed") ?? false, "\(String(describing: untrusted.server?.state))")
        // Only requested (the CA node's endpoint): the server never ends up holding an unverified certificate
        // (GnuTLS's client does not even send one whose issuer the server's CertificateRequest does not name).
        let requested = try handshake(f, server: server, client: try stranger.bundle(now: now), policy: .request, at: now)
        if requested.server?.state == .established { XCTAssertNil(requested.server?.peerCertificate) }
        // Issued for a day from t = 60 s: on day 2 of the run it has expired (the server's own is renewed).
        let client = try enrolled(f, Fixture.other, key: f.key(2), at: now)
        let later = SimTime.seconds(2 * 86400)
        let renewedServer = try enrolled(f, Fixture.node, key: f.key(1), at: later)
        let expired = try handshake(f, server: renewedServer, client: try client.bundle(now: now), policy: .require, at: later)
        XCTAssertNotEqual(expired.server?.state, .established)
        XCTAssertTrue(failure(expired.server)?.contains("expired") ?? false, "\(String(describing: expired.server?.state))")
    }
}
