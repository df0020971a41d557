import Crypto
import Foundation
import StoqEngine
import SwiftASN1
import X509
import XCTest
@testable import TrustChain

final class CertificateAuthorityTests: XCTestCase {
    func testIssuesALoggedCertificateWithTheRequiredExtensions() throws {
        let f = try Fixture()
        let key = f.key()
        let issued = try f.ca.enroll(try f.request(key: key, now: .seconds(60)), now: .seconds(60)).get()
        let cert = issued.certificate
        XCTAssertEqual(cert.version, .v3)
        XCTAssertEqual(cert.publicKey, key.publicKey)
        XCTAssertEqual(cert.issuer, f.ca.certificate.subject)
        XCTAssertTrue(f.ca.certificate.publicKey.isValidSignature(cert.signature, for: cert))
        XCTAssertEqual(cert.notValidBefore, f.configuration.epoch.date(at: .seconds(60)) - 60, "backdated by the slack")
        XCTAssertEqual(cert.notValidAfter, f.configuration.epoch.date(at: .seconds(60 + 24 * 3600)))
        XCTAssertEqual(issued.expiresAt - issued.issuedAt, 24 * 3600 * 1000)
        let ext = cert.extensions
        XCTAssertEqual(try ext.basicConstraints, .notCertificateAuthority)
        XCTAssertEqual(try ext.keyUsage, KeyUsage(digitalSignature: true))
        XCTAssertEqual(try ext.extendedKeyUsage.map(Array.init), [.serverAuth, .clientAuth])
        let sans = try XCTUnwrap(try ext.subjectAlternativeNames).map { $0 }
        XCTAssertEqual(sans, [.dnsName("edge-1.stoq"), .ipAddress(ASN1OctetString(contentBytes: ArraySlice(Fixture.node.addresses[0].bytes)))])
        XCTAssertEqual(try ext.authorityKeyIdentifier?.keyIdentifier, try f.ca.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        XCTAssertEqual(try ext.subjectKeyIdentifier, SubjectKeyIdentifier(hash: key.publicKey))
        XCTAssertEqual(issued.fingerprint, Encoding.hex(SHA256.hash(data: issued.der)))
        XCTAssertEqual(issued.serialNumber, "400000000000000000")
        // Logged, with an SCT and an inclusion proof that verify under the log key.
        XCTAssertEqual(f.ca.log.size, 1)
        let embedded = try EmbeddedSCT.verify(issued.certificate, issuer: f.ca.key.publicKey, logKey: f.ca.log.publicKey)
        XCTAssertEqual(embedded.sct, issued.sct)
        let proof = try XCTUnwrap(f.ca.log.inclusionProof(fingerprint: issued.fingerprint))
        XCTAssertTrue(proof.treeHead.verify(logKey: f.ca.log.publicKey))
        try MerkleVerifier.verifyInclusion(leafHash: embedded.entry.leafHash,
                                           leafIndex: proof.leafIndex, treeSize: proof.treeSize, proof: proof.auditPath, rootHash: proof.treeHead.rootHash)
    }

    func testP256CAAndNodeKeys() throws {
        let f = try Fixture(caAlgorithm: .ecdsaP256)
        let key = f.key(3, .ecdsaP256)
        let issued = try f.ca.enroll(try f.request(key: key), now: .zero).get()
        XCTAssertEqual(issued.certificate.signatureAlgorithm, .ecdsaWithSHA256)
        XCTAssertTrue(f.ca.certificate.publicKey.isValidSignature(issued.certificate.signature, for: issued.certificate))
    }

    func testRejectsBadCSRs() throws {
        let f = try Fixture()
        var r = try f.request()
        r.csrDER = [0x30, 0x03, 0x02, 0x01, 0x00]
        XCTAssertEqual(f.rejection(r)?.code, "bad_csr")
        r = try f.request()
        r.csrDER[r.csrDER.count - 3] ^= 0xff      // inside the signature
        XCTAssertEqual(f.rejection(r)?.code, "bad_csr")
        XCTAssertEqual(f.rejection(r)?.status, 400)
    }

    func testRejectsNamesAndAddressesThatAreNotTheNodes() throws {
        let f = try Fixture()
        var r = try f.request()
        r.commonName = "edge-2.stoq"
        XCTAssertEqual(f.rejection(r)?.code, "name_mismatch")
        r = try f.request()
        r.nodeID = "ghost"
        XCTAssertEqual(f.rejection(r)?.code, "unknown_node")
        r = try f.request()
        r.ipv6Addresses = ["fd00:5354:4f00::2"]
        XCTAssertEqual(f.rejection(r)?.code, "address_mismatch")
        XCTAssertEqual(f.rejection(r)?.status, 403)
        // A CSR for edge-2 sent as edge-1: the CSR's subject gives it away.
        let key = f.key()
        r = try f.request(key: key)
        r.csrDER = try f.manager(Fixture.other, key: key, mode: .localhostTesting).makeCSR()
        XCTAssertEqual(f.rejection(r)?.code, "name_mismatch")
    }

    func testRejectsIPv4Addresses() throws {
        let f = try Fixture()
        for bad in ["192.0.2.1", "::ffff:192.0.2.1"] {
            var r = try f.request()
            r.ipv6Addresses.append(bad)
            let rejection = try XCTUnwrap(f.rejection(r))
            XCTAssertEqual(rejection.code, "ipv4_address")
            XCTAssertEqual(rejection.status, 422)
            XCTAssertTrue(rejection.reason.contains(bad), rejection.reason)
        }
    }

    func testEachConsensusProofHasItsOwnRejection() throws {
        let f = try Fixture()
        let key = f.key()
        func spoiled(_ change: (inout ConsensusProof) throws -> Void) throws -> Rejection? {
            var r = try f.request(key: key)
            try change(&r.consensusProof!)
            return f.rejection(r)
        }
        // Work: find a nonce that misses the difficulty.
        XCTAssertEqual(try spoiled { p in
            var n: UInt64 = 0
            while WorkProof.leadingZeroBits(WorkProof.digest(spki: key.publicKey.spki, time: p.time.freshness!, nonce: n)) >= Fixture.difficulty { n += 1 }
            p.work.nonce = n
        }?.code, "work_proof_failed")
        // Time: too far from the CA's clock; bound to another CSR; a timestamp or nonce changed after signing.
        XCTAssertTrue(f.rejection(try f.request(key: key, now: .seconds(301)))?.reason.contains("away from the CA's clock") ?? false)
        XCTAssertEqual(try spoiled { $0.time.csrSHA256 = String(repeating: "0", count: 64) }?.code, "time_proof_failed")
        XCTAssertTrue(try spoiled { $0.time.timestamp += 1 }?.reason.contains("not signed by the CSR's key") ?? false)
        XCTAssertEqual(try spoiled { $0.time.nonce = String(repeating: "0", count: 32) }?.code, "time_proof_failed")
        XCTAssertNoThrow(try f.ca.enroll(try f.request(key: key, now: .seconds(299)), now: .zero).get())
        // Stake: untrusted authority, too little, another node's, another key's, too old, from the future, forged.
        var random = RandomStream(seed: 9)
        let rogue = StakeAuthority(key: .generate(.ed25519, using: &random))
        let t0 = f.configuration.epoch.unixMilliseconds
        func stake(_ s: StakeAuthority = f.stake, node: String = "edge-1", key k: SigningKey = key, amount: UInt64 = 5000, at t: Int64 = t0) throws -> StakeProof {
            try s.attest(nodeID: node, nodeKey: k.publicKey, amount: amount, timestamp: t)
        }
        XCTAssertEqual(try spoiled { $0.stake = try stake(rogue) }?.code, "stake_proof_failed")
        XCTAssertEqual(try spoiled { $0.stake = try stake(amount: 999) }?.code, "stake_proof_failed")
        XCTAssertEqual(try spoiled { $0.stake = try stake(node: "edge-2") }?.code, "stake_proof_failed")
        XCTAssertTrue(try spoiled { $0.stake = try stake(key: f.key(99)) }?.reason.contains("not the CSR's key") ?? false)
        XCTAssertTrue(try spoiled { $0.stake = try stake(at: t0 - 31 * 86_400_000) }?.reason.contains("old") ?? false)
        XCTAssertTrue(try spoiled { $0.stake = try stake(at: t0 + 301_000) }?.reason.contains("after the CA's clock") ?? false)
        XCTAssertEqual(try spoiled { $0.stake.amount = 1_000_000 }?.code, "stake_proof_failed")
        // Space: below the minimum; signed by another key; signed over another request's nonce.
        XCTAssertEqual(try spoiled { $0.space = try f.prover(key: key, capacity: 1 << 20).prove(csrDER: [], timestamp: $0.time.timestamp).space }?.code, "space_proof_failed")
        XCTAssertEqual(try spoiled { $0.space = try f.prover(key: f.key(99)).prove(csrDER: [], timestamp: $0.time.timestamp).space }?.code, "space_proof_failed")
        XCTAssertEqual(try spoiled { $0.space = try f.prover(key: key).prove(csrDER: [], timestamp: $0.time.timestamp + 1).space }?.code, "space_proof_failed")
        XCTAssertEqual(try spoiled { $0.version = 3 }?.code, "unsupported_proof_version")
        var r = try f.request(key: key)
        r.consensusProof = nil
        XCTAssertEqual(f.rejection(r)?.code, "missing_consensus_proof")
        var monthOld = try f.request(key: key)
        monthOld.consensusProof!.stake = try stake(at: t0 - 29 * 86_400_000)
        XCTAssertNoThrow(try f.ca.enroll(monthOld, now: .zero).get(), "a 29-day-old stake is still good")
        XCTAssertEqual(f.ca.log.size, 2, "only the in-window request and the 29-day stake were issued")
    }

    func testProverIsDeterministicForASeed() throws {
        let f = try Fixture()
        let key = f.key()
        let a = try f.prover(key: key).prove(csrDER: [1, 2, 3], timestamp: 5)
        let b = try f.prover(key: key).prove(csrDER: [1, 2, 3], timestamp: 5)
        XCTAssertEqual(a, b)
        XCTAssertGreaterThanOrEqual(WorkProof.leadingZeroBits(WorkProof.digest(spki: key.publicKey.spki, time: a.time.freshness!, nonce: a.work.nonce)), Fixture.difficulty)
        XCTAssertNotEqual(a.time.nonce, try f.prover(key: key).prove(csrDER: [1, 2, 3], timestamp: 6).time.nonce, "a new instant, a new nonce")
    }

    func testStateDirectoryPersistsAndARestartedCAContinuesTheLog() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Fixture(stateDirectory: dir)
        var fingerprints: [String] = []
        for i in 0..<3 {
            fingerprints.append(try f.ca.enroll(try f.request(key: f.key(UInt64(i))), now: .zero).get().fingerprint)
        }
        try f.ca.revoke(fingerprint: fingerprints[1], reason: "keyCompromise", now: .seconds(5))
        for name in ["ca-key.pem", "log-key.pem"] {
            let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path)[.posixPermissions] as? Int)
            XCTAssertEqual(mode & 0o777, 0o600, name)
        }
        let rootBefore = f.ca.certificateDER, rootHash = f.ca.log.tree.rootHash()
        XCTAssertThrowsError(try CertificateAuthority.create(stateDirectory: dir, policies: []), "a second init must not clobber the CA")

        let reopened = try CertificateAuthority.open(stateDirectory: dir, policies: f.policies)
        XCTAssertEqual(reopened.certificateDER, rootBefore)
        XCTAssertEqual(reopened.log.size, 3)
        XCTAssertEqual(reopened.log.tree.rootHash(), rootHash)
        XCTAssertEqual(reopened.log.logID, f.ca.log.logID)
        XCTAssertEqual(reopened.revocations[fingerprints[1]]?.reason, "keyCompromise")
        XCTAssertEqual(reopened.configuration, f.configuration)
        let next = try reopened.enroll(try f.request(key: f.key(10), now: .seconds(10)), now: .seconds(10)).get()
        XCTAssertEqual(next.leafIndex, 3)
        XCTAssertEqual(reopened.log.verifyHistory(), [])
        let again = try CertificateAuthority.open(stateDirectory: dir, policies: [])
        XCTAssertEqual(again.log.size, 4)
        XCTAssertEqual(again.log.treeHeads.count, 5, "empty head plus one per issuance")
        XCTAssertEqual(again.log.verifyHistory(), [])
    }

    func testHistoryVerificationCatchesATamperedLog() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Fixture(stateDirectory: dir)
        for i in 0..<3 { _ = try f.ca.enroll(try f.request(key: f.key(UInt64(i))), now: .zero).get() }
        // Swap the first two entries' certificates: every head from size 1 on must now fail.
        let file = dir.appendingPathComponent("log.jsonl")
        var lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
        func cert(_ line: String) -> String { String(line.split(separator: "\"certificate\":\"")[1].split(separator: "\"")[0]) }
        let (a, b) = (cert(lines[0]), cert(lines[1]))
        lines[0] = lines[0].replacingOccurrences(of: a, with: b)
        lines[1] = lines[1].replacingOccurrences(of: b, with: a)
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let reopened = try CertificateAuthority.open(stateDirectory: dir, policies: [])
        XCTAssertFalse(reopened.log.verifyHistory().isEmpty)
    }

    func testRFC3339() {
        XCTAssertEqual(Encoding.rfc3339(unixMilliseconds: 0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(Encoding.rfc3339(unixMilliseconds: WallEpoch.default2026.unixMilliseconds + 86_400_123), "2026-01-02T00:00:00.123Z")
        XCTAssertEqual(Encoding.rfc3339(unixMilliseconds: 951_782_400_000), "2000-02-29T00:00:00.000Z")
    }
}

final class RootValidityTests: XCTestCase {
    /// The root's dates hang on the configured epoch, not on when the CA object was made.
    func testTheRootIsValidFromAnHourBeforeTheEpochForTenYears() throws {
        let epoch = WallEpoch.default2026
        let later = try CertificateAuthority(configuration: CAConfiguration(epoch: epoch), policies: [], now: .seconds(5 * 86400))
        XCTAssertEqual(later.certificate.notValidBefore, Date(timeIntervalSince1970: 1_767_225_600 - 3600))
        XCTAssertEqual(later.certificate.notValidAfter, Date(timeIntervalSince1970: 1_767_225_600 + 10 * 365 * 86400))
    }
}
