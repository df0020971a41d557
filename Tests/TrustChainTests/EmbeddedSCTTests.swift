import Crypto
import Foundation
import StoqEngine
import SwiftASN1
import X509
import XCTest
@testable import TrustChain

/// RFC 6962 §3.1 embedded SCTs: issued certificates carry the log's SCT over
/// their precertificate entry, and a verifier refuses one that is missing,
/// from another log, or does not verify — before asking the log anything.
final class EmbeddedSCTTests: XCTestCase {
    /// A certificate like `issued` from the same CA, with its SCT list replaced.
    private func reissue(_ issued: Certificate, by ca: CertificateAuthority, scts: [SignedCertificateTimestamp]) throws -> Certificate {
        try EmbeddedSCT.reissue(issued, signedBy: ca.key, scts: scts)
    }

    private func failure(_ cert: Certificate, _ f: Fixture) -> Rejection? {
        do { _ = try EmbeddedSCT.verify(cert, issuer: f.ca.key.publicKey, logKey: f.ca.log.publicKey); return nil } catch { return error as? Rejection }
    }

    func testTheLogHoldsThePrecertificateEntryTheEmbeddedSCTSigns() throws {
        let f = try Fixture()
        let issued = try f.ca.enroll(try f.request(), now: .zero).get()
        let scts = try EmbeddedSCT.scts(in: issued.certificate)
        XCTAssertEqual(scts, [issued.sct])
        XCTAssertEqual(issued.certificate.extensions[oid: CTObjectIdentifier.sctList]?.critical, false)
        XCTAssertNil(issued.certificate.extensions[oid: CTObjectIdentifier.poison])
        let entry = f.ca.log.entries[0]
        XCTAssertEqual(entry.precertificate?.issuerKeyHash, Array(SHA256.hash(data: f.ca.key.publicKey.spki)))
        XCTAssertEqual(Array(entry.leafBytes[10..<12]), [0, 1], "entry_type precert_entry")
        XCTAssertEqual(try EmbeddedSCT.verify(issued.certificate, issuer: f.ca.key.publicKey, logKey: f.ca.log.publicKey).entry, entry)
        // The logged TBS parses as a TBS with the certificate's other six extensions.
        let tbs = try XCTUnwrap(entry.precertificate?.tbsCertificate)
        XCTAssertLessThan(tbs.count, issued.certificate.tbsCertificateBytes.count)
        XCTAssertEqual(try EmbeddedSCT.removingExtensions([CTObjectIdentifier.sctList], fromTBS: tbs[...]), tbs, "nothing more to remove")
    }

    func testTamperedForeignAndMissingSCTsAreRefusedWithTheirReasons() throws {
        let f = try Fixture()
        let issued = try f.ca.enroll(try f.request(), now: .zero).get()
        var bad = issued.sct
        bad.signature[5] ^= 1
        XCTAssertEqual(failure(try reissue(issued.certificate, by: f.ca, scts: [bad]), f)?.code, "bad_sct")
        var moved = issued.sct
        moved.timestamp += 1
        XCTAssertEqual(failure(try reissue(issued.certificate, by: f.ca, scts: [moved]), f)?.code, "bad_sct")
        // The same CA, its certificate logged in another log.
        let otherLog = try CertificateAuthority(configuration: f.configuration, key: f.ca.key, policies: f.policies)
        let elsewhere = try otherLog.enroll(try f.request(), now: .zero).get()
        XCTAssertEqual(failure(elsewhere.certificate, f)?.code, "unknown_log")
        XCTAssertEqual(failure(try reissue(issued.certificate, by: f.ca, scts: []), f)?.code, "missing_sct")
        // A peer refuses such a certificate without asking the log.
        let client = LocalTrustChainClient(api: f.api, clock: { .zero })
        let node = f.manager(key: f.key(5), mode: .localhostTesting)
        var outcome: Result<Void, Rejection>?
        node.verifyInclusion(of: try reissue(issued.certificate, by: f.ca, scts: [bad]).derBytes(), client: client, trust: f.trust) { outcome = $0 }
        XCTAssertEqual(try XCTUnwrap(outcome).failureCode, "bad_sct")
        XCTAssertTrue(client.requests.isEmpty)
    }

    /// Nodes sharing their signature checks (a run's) check each SCT once, still
    /// fetch and check every inclusion proof, and still refuse a tampered SCT.
    func testSharedSignatureChecksStillRefuseATamperedSCT() throws {
        let f = try Fixture()
        let issued = try f.ca.enroll(try f.request(), now: .zero).get()
        let client = LocalTrustChainClient(api: f.api, clock: { .zero })
        let shared = CheckedSignatures()
        func check(_ der: [UInt8], by key: UInt64) -> Result<Void, Rejection>? {
            let node = f.manager(key: f.key(key), mode: .localhostTesting)
            node.checkedSignatures = shared
            var outcome: Result<Void, Rejection>?
            node.verifyInclusion(of: der, client: client, trust: f.trust) { outcome = $0 }
            return outcome
        }
        XCTAssertNoThrow(try XCTUnwrap(check(issued.der, by: 5)).get())
        XCTAssertEqual(shared.leafHash(of: issued.fingerprint), f.ca.log.entries[0].leafHash)
        XCTAssertNoThrow(try XCTUnwrap(check(issued.der, by: 6)).get())
        XCTAssertEqual(client.requests.count, 2, "each node fetched the inclusion proof")
        var bad = issued.sct
        bad.signature[5] ^= 1
        XCTAssertEqual(check(try EmbeddedSCT.reissue(issued.certificate, signedBy: f.ca.key, scts: [bad]).derBytes(), by: 7)?.failureCode, "bad_sct")
    }

    /// openssl reads the extension as an RFC 6962 SCT list from a P-256 log (RFC 6962 §2.1.4
    /// allows only P-256 ECDSA and RSA; OpenSSL 3 parses no other SCT signature algorithm).
    func testOpenSSLShowsTheSCTListOfAP256Log() throws {
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else { throw XCTSkip("no \(openssl)") }
        let f = try Fixture()
        let ca = try CertificateAuthority(configuration: f.configuration, logKey: .generate(.ecdsaP256), policies: f.policies)
        let issued = try ca.enroll(try f.request(), now: .zero).get()
        XCTAssertEqual(issued.sct.algorithm, 0x0403)
        XCTAssertNoThrow(try EmbeddedSCT.verify(issued.certificate, issuer: ca.key.publicKey, logKey: ca.log.publicKey))
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(issued.der).write(to: dir.appendingPathComponent("leaf.der"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: openssl)
        p.arguments = ["x509", "-inform", "DER", "-in", dir.path + "/leaf.der", "-noout", "-text"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("CT Precertificate SCTs:"), text)
        XCTAssertTrue(text.contains("Signed Certificate Timestamp:"), text)
        XCTAssertTrue(text.contains("Signature : ecdsa-with-SHA256"), text)
        // openssl prints the log ID as colon-separated upper-case hex over two lines.
        let id = issued.sct.logID.map { String(format: "%02X", $0) }
        XCTAssertTrue(text.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: " ", with: "").contains(id.joined(separator: ":")), text)
    }
}
