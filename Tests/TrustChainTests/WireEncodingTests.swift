import Crypto
import Foundation
import StoqEngine
import SwiftASN1
import X509
import XCTest
@testable import TrustChain

/// The bytes on the wire, checked against the documents rather than against
/// TrustChain's own helpers (docs/trustchain.md, RFC 5280, RFC 8410, RFC 6962).
final class WireEncodingTests: XCTestCase {
    private func get(_ f: Fixture, _ path: String) throws -> [String: Any] {
        let r = f.api.handle(method: "GET", path: path, body: [], now: .zero)
        XCTAssertEqual(r.status, 200, r.text)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
    }

    /// One DER TLV (short or long definite length): tag, contents, rest.
    private func tlv(_ b: ArraySlice<UInt8>) throws -> (tag: UInt8, body: ArraySlice<UInt8>, rest: ArraySlice<UInt8>) {
        var i = b.startIndex
        let tag = b[i]; i += 1
        var len = Int(b[i]); i += 1
        if len & 0x80 != 0 {
            let n = len & 0x7f
            len = 0
            for _ in 0..<n { len = len << 8 | Int(b[i]); i += 1 }
        }
        guard i + len <= b.endIndex else { throw TrustChainError.invalid("DER length beyond the input") }
        return (tag, b[i..<i + len], b[(i + len)...])
    }

    /// /ca/info's log key is a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) for
    /// Ed25519 (RFC 8410: OID 1.3.101.112, no parameters, BIT STRING of the 32-byte key),
    /// and the log ID everywhere is SHA-256 of exactly those bytes (RFC 6962 §3.2).
    func testLogIDIsSHA256OfTheSPKIDER() throws {
        let f = try Fixture()
        let info = try get(f, "/ca/info")
        let spki = try XCTUnwrap(Encoding.unbase64(info["log_public_key"] as! String))
        let outer = try tlv(spki[...])
        XCTAssertEqual(outer.tag, 0x30)
        XCTAssertTrue(outer.rest.isEmpty)
        let algorithm = try tlv(outer.body)
        XCTAssertEqual(algorithm.tag, 0x30)
        let oid = try tlv(algorithm.body)
        XCTAssertEqual(oid.tag, 0x06)
        XCTAssertEqual(Array(oid.body), [0x2b, 0x65, 0x70], "id-Ed25519")
        XCTAssertTrue(oid.rest.isEmpty, "Ed25519 has no algorithm parameters")
        let bits = try tlv(algorithm.rest)
        XCTAssertEqual(bits.tag, 0x03)
        XCTAssertEqual(bits.body.first, 0, "no unused bits")
        let raw = Array(bits.body.dropFirst())
        XCTAssertEqual(raw, Array(Curve25519.Signing.PublicKey(f.ca.log.publicKey)!.rawRepresentation))

        let logID = Array(SHA256.hash(data: spki))
        XCTAssertEqual(info["log_id"] as? String, Data(logID).base64EncodedString())
        let issued = try XCTUnwrap(try? f.ca.enroll(try f.request(), now: .zero).get())
        XCTAssertEqual(issued.sct.logID, logID)
    }
}

/// A client written from docs/trustchain.md alone: raw CryptoKit keys, the
/// SPKI DER by its RFC 8410 bytes, every signed structure laid out by hand.
final class DocumentedRequestTests: XCTestCase {
    private let ed25519SPKIPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
    private func u64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: UInt64(bitPattern: v).bigEndian) { Array($0) } }
    private func sha(_ b: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: b)) }
    private func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
    private func b64(_ b: [UInt8]) -> String { Data(b).base64EncodedString() }

    func testARequestBuiltFromTheDocumentedEncodingsIsIssuedOnceAndItsReplayRefused() throws {
        let f = try Fixture()
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 7, count: 32))
        let spki = ed25519SPKIPrefix + key.publicKey.rawRepresentation
        let csr = try CertificateSigningRequest(version: .v1, subject: try DistinguishedName { CommonName("edge-1.stoq") },
                                                privateKey: Certificate.PrivateKey(key), attributes: .init(), signatureAlgorithm: .ed25519)
        var der = DER.Serializer()
        try der.serialize(csr)
        let csrDER = der.serializedBytes
        let ts = f.configuration.epoch.unixMilliseconds
        let nonce = (0..<16).map { UInt8($0 * 11) }

        let timeSignature = try key.signature(for: Array("STOQ-TrustChain-time-v2".utf8) + [0] + sha(csrDER) + u64(ts) + nonce)
        var work: Int64 = 0
        func zeroBits(_ d: [UInt8]) -> Int { var n = 0; for b in d { if b == 0 { n += 8 } else { return n + b.leadingZeroBitCount } }; return n }
        while zeroBits(sha(spki + nonce + u64(ts) + u64(work))) < Fixture.difficulty { work += 1 }
        let stakeRaw = Array(Curve25519.Signing.PublicKey(f.stake.key.publicKey)!.rawRepresentation)
        let node = Array("edge-1".utf8)
        let stakeSigned = Array("STOQ-TrustChain-stake-v2".utf8) + [0, 0, UInt8(node.count)] + node + sha(spki) + u64(5000) + u64(ts)
        let capacity: Int64 = 2 << 30
        let spaceSignature = try key.signature(for: Array("STOQ-TrustChain-space-v2".utf8) + [0] + sha(spki) + u64(capacity) + nonce)

        let proof: [String: Any] = [
            "version": 2,
            "work": ["nonce": work, "difficulty": Fixture.difficulty],
            "time": ["timestamp": ts, "csr_sha256": hex(sha(csrDER)), "nonce": hex(nonce), "signature": b64(Array(timeSignature))],
            "stake": ["authority": hex(sha(ed25519SPKIPrefix + stakeRaw)), "node_id": "edge-1", "key_sha256": hex(sha(spki)),
                      "amount": 5000, "timestamp": ts, "signature": b64(try f.stake.key.sign(stakeSigned))],
            "space": ["capacity_bytes": capacity, "signature": b64(Array(spaceSignature))],
        ]
        let body = Array(try JSONSerialization.data(withJSONObject: [
            "common_name": "edge-1.stoq", "node_id": "edge-1", "ipv6_addresses": ["fd00:5354:4f00::1"], "csr": b64(csrDER), "consensus_proof": proof,
        ] as [String: Any]))

        let first = f.api.handle(method: "POST", path: "/ca/certificate", body: body, now: .seconds(1))
        XCTAssertEqual(first.status, 200, first.text)
        let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(first.body)) as? [String: Any])
        let certificate = try XCTUnwrap(Data(base64Encoded: answer["certificate_der"] as! String))
        XCTAssertEqual(try Certificate(derEncoded: Array(certificate)).publicKey, Certificate.PublicKey(key.publicKey))

        // The same bytes again: refused as a replay, with a reason, and counted as a refusal; the log does not grow.
        let again = f.api.handle(method: "POST", path: "/ca/certificate", body: body, now: .seconds(2))
        XCTAssertEqual(again.status, 409, again.text)
        XCTAssertEqual(again.errorCode, "replayed_request")
        XCTAssertTrue(again.text.contains("already used"), again.text)
        XCTAssertEqual(f.ca.log.size, 1)
        XCTAssertEqual(f.ca.refusals["replayed_request"], 1)
    }
}
