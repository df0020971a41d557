import XCTest
import StoqEngine
import StoqTestSupport
import StoqTopology

final class CertificateTests: XCTestCase {
    private func handshake(serverName: String, clientTLS: ClientTLSConfiguration, serverTLS: ServerTLSConfiguration)
        throws -> (client: QuicConnection, server: QuicConnection?) {
        let pair = try InMemoryPair(clientTLS: clientTLS, serverTLS: serverTLS)
        var accepted: QuicConnection?
        pair.server.onNewConnection = { accepted = $0 }
        let c = try pair.connect(serverName: serverName)
        pair.run(until: { (c.isHandshakeComplete && accepted?.isHandshakeComplete == true) || (c.isClosed && accepted?.isClosed != false) })
        return (c, accepted)
    }

    private func failureMessage(_ c: QuicConnection) -> String? {
        if case let .closed(.handshakeFailed(message)) = c.state { return message }
        return nil
    }

    func testChainVerifiesForDNSNameAndIPv6Addresses() throws {
        for name in ["localhost", "::1", "fd00::2", "[::1]"] {
            let r = try handshake(serverName: name, clientTLS: try TestTLS.client(), serverTLS: try TestTLS.server())
            XCTAssertEqual(r.client.state, .established, "name \(name): \(r.client.state)")
        }
    }

    func testWrongDNSNameFailsWithReadableError() throws {
        let r = try handshake(serverName: "example.com", clientTLS: try TestTLS.client(), serverTLS: try TestTLS.server())
        let message = try XCTUnwrap(failureMessage(r.client), "\(r.client.state)")
        XCTAssertTrue(message.contains("name in the certificate does not match"), message)
        // The server learns of it through the TLS alert carried in CONNECTION_CLOSE.
        guard case let .closed(.transport(code, _, byPeer: true))? = r.server?.state else {
            return XCTFail("server state \(String(describing: r.server?.state))")
        }
        XCTAssertTrue((0x100...0x1ff).contains(code), "expected a CRYPTO_ERROR, got \(code)")
    }

    func testIPv6AddressNotInCertificateFails() throws {
        let r = try handshake(serverName: "fd00::99", clientTLS: try TestTLS.client(), serverTLS: try TestTLS.server())
        XCTAssertNotNil(failureMessage(r.client), "\(r.client.state)")
    }

    func testUntrustedCAFails() throws {
        let other = try RunCertificateAuthority(commonName: "Some Other Root")
        let client = ClientTLSConfiguration(verification: .verify(trustAnchors: try .client(trustAnchorsPEM: other.rootCertificatePEM)))
        let r = try handshake(serverName: "localhost", clientTLS: client, serverTLS: try TestTLS.server())
        let message = try XCTUnwrap(failureMessage(r.client), "\(r.client.state)")
        XCTAssertTrue(message.contains("NOT trusted") || message.contains("issuer"), message)
    }

    func testSelfSignedNeedsTrustOrTheExplicitSkip() throws {
        let bundle = try RunCertificateAuthority.selfSigned(names: [.dns("localhost"), .ipv6(try IPv6Address.parse("::1"))])
        let server = ServerTLSConfiguration(credentials: try .server(bundle))
        // Trusted directly: works.
        let trusting = ClientTLSConfiguration(verification: .verify(trustAnchors: try .client(trustAnchorsPEM: bundle.certificateChainPEM)))
        XCTAssertEqual(try handshake(serverName: "::1", clientTLS: trusting, serverTLS: server).client.state, .established)
        // Not trusted: fails.
        XCTAssertNotNil(failureMessage(try handshake(serverName: "localhost", clientTLS: try TestTLS.client(), serverTLS: server).client))
        // The loudly named skip: works without any trust anchor.
        let skipping = ClientTLSConfiguration(verification: .insecureSkipVerificationForLocalTesting)
        XCTAssertEqual(try handshake(serverName: "localhost", clientTLS: skipping, serverTLS: server).client.state, .established)
    }

    func testECDSAChainWorks() throws {
        let root = try RunCertificateAuthority(commonName: "ECDSA Root", algorithm: .ecdsaP256)
        let bundle = try root.issueLeaf(names: [.dns("edge.example")], algorithm: .ecdsaP256)
        let client = ClientTLSConfiguration(verification: .verify(trustAnchors: try .client(trustAnchorsPEM: root.rootCertificatePEM)))
        let r = try handshake(serverName: "edge.example", clientTLS: client, serverTLS: ServerTLSConfiguration(credentials: try .server(bundle)))
        XCTAssertEqual(r.client.state, .established)
    }

    func testALPNMismatchFailsAndMatchIsReported() throws {
        let r = try handshake(serverName: "localhost", clientTLS: try TestTLS.client(alpn: ["h3"]), serverTLS: try TestTLS.server(alpn: ["stoq"]))
        XCTAssertFalse(r.client.isHandshakeComplete)
        XCTAssertTrue(r.client.isClosed)
        let ok = try handshake(serverName: "localhost", clientTLS: try TestTLS.client(alpn: ["h3", "stoq"]),
                               serverTLS: try TestTLS.server(alpn: ["stoq"]))
        XCTAssertEqual(ok.client.negotiatedALPN, "stoq")
    }

    func testBadPEMIsReported() {
        XCTAssertThrowsError(try TLSCredentials.server(certificateChainPEM: "nonsense", privateKeyPEM: "nonsense")) { error in
            XCTAssertTrue("\(error)".contains("cannot load"), "\(error)")
        }
        XCTAssertThrowsError(try TLSCredentials.client(trustAnchorsPEM: "no certificates here"))
    }
}
