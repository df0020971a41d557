import Foundation
import StoqEngine
import XCTest
@testable import TrustChain

final class APITests: XCTestCase {
    private func json(_ r: TrustChainResponse) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any], r.text)
    }

    private func post(_ f: Fixture, _ request: EnrollmentRequest, now: SimTime = .zero) throws -> TrustChainResponse {
        f.api.handle(method: "POST", path: "/ca/certificate", body: try EnrollmentRequestBody(request).json(), now: now)
    }

    func testCertificateEndpointAnswersWithEveryField() throws {
        let f = try Fixture()
        let r = try post(f, try f.request())
        XCTAssertEqual(r.status, 200, r.text)
        let body = try json(r)
        for field in ["certificate_der", "fingerprint", "serial_number", "issued_at", "expires_at", "ca_chain", "sct", "leaf_index"] {
            XCTAssertNotNil(body[field], field)
        }
        XCTAssertEqual(body["issued_at"] as? String, "2026-01-01T00:00:00.000Z")
        XCTAssertEqual(body["expires_at"] as? String, "2026-01-02T00:00:00.000Z")
        let der = try XCTUnwrap(Encoding.unbase64(body["certificate_der"] as! String))
        XCTAssertEqual(body["fingerprint"] as? String, Encoding.hex(Encoding.sha256(der)))
        XCTAssertEqual((body["ca_chain"] as? [String])?.first, Encoding.base64(f.ca.certificateDER))
        // Keys come out sorted, so equal state gives equal bytes.
        XCTAssertTrue(r.text.hasPrefix("{\"ca_chain\":"), r.text)
    }

    func testRejectionsAreJSONErrorsAndLeaveTheLogAlone() throws {
        let f = try Fixture()
        func expect(_ status: Int, _ code: String, body: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws {
            let r = f.api.handle(method: "POST", path: "/ca/certificate", body: body, now: .zero)
            XCTAssertEqual(r.status, status, r.text, file: file, line: line)
            let j = try json(r)
            XCTAssertEqual(j["error"] as? String, code, file: file, line: line)
            XCTAssertFalse((j["reason"] as? String ?? "").isEmpty, file: file, line: line)
            XCTAssertEqual(f.ca.log.size, 0, file: file, line: line)
        }
        try expect(400, "malformed_request", body: Array("not json".utf8))
        try expect(400, "malformed_request", body: Array("{\"common_name\":\"edge-1.stoq\"}".utf8))
        var r = try f.request()
        r.ipv6Addresses = ["203.0.113.9"]
        try expect(422, "ipv4_address", body: try EnrollmentRequestBody(r).json())
        r = try f.request()
        r.commonName = "other.stoq"
        try expect(403, "name_mismatch", body: try EnrollmentRequestBody(r).json())
        r = try f.request()
        r.consensusProof!.space.capacityBytes = 1
        try expect(403, "space_proof_failed", body: try EnrollmentRequestBody(r).json())
        var object = try JSONSerialization.jsonObject(with: Data(try EnrollmentRequestBody(try f.request()).json())) as! [String: Any]
        object["consensus_proof"] = ["version": 3, "something": "else"]
        try expect(422, "unsupported_proof_version", body: Array(try JSONSerialization.data(withJSONObject: object)))
        object["csr"] = "%%%"
        object["consensus_proof"] = nil
        try expect(400, "bad_csr", body: Array(try JSONSerialization.data(withJSONObject: object)))
    }

    func testTransparencyEndpoints() throws {
        let f = try Fixture()
        var fingerprints: [String] = []
        for i in 0..<5 {
            let r = try post(f, try f.request(key: f.key(UInt64(i)), now: .seconds(Int64(i))), now: .seconds(Int64(i)))
            fingerprints.append(try json(r)["fingerprint"] as! String)
        }
        let sth = f.api.handle(method: "GET", path: "/ct/sth", body: [], now: .seconds(9))
        XCTAssertEqual(sth.status, 200)
        XCTAssertEqual(try json(sth)["tree_size"] as? Int, 5)
        XCTAssertEqual(sth, f.api.handle(method: "GET", path: "/ct/sth", body: [], now: .seconds(10)), "GET has no side effects")

        let proof = f.api.handle(method: "GET", path: "/ct/proof/" + fingerprints[2], body: [], now: .zero)
        let p = try JSONDecoder().decode(ProofBody.self, from: Data(proof.body))
        XCTAssertEqual(p.leafIndex, 2)
        XCTAssertEqual(p.treeSize, 5)
        XCTAssertTrue(p.sth.verify(logKey: f.ca.log.publicKey))
        let entry = f.ca.log.entries[2]
        try MerkleVerifier.verifyInclusion(leafHash: entry.leafHash, leafIndex: 2, treeSize: 5, proof: p.auditPath.map { Encoding.unbase64($0)! }, rootHash: p.sth.rootHash)

        let c = try json(f.api.handle(method: "GET", path: "/ct/consistency?first=2&second=5", body: [], now: .zero))
        let hashes = (c["consistency"] as! [String]).map { Encoding.unbase64($0)! }
        try MerkleVerifier.verifyConsistency(first: 2, second: 5, firstHash: f.ca.log.treeHeads[2].rootHash, secondHash: p.sth.rootHash, proof: hashes)

        let e = try json(f.api.handle(method: "GET", path: "/ct/entries?start=1&end=3", body: [], now: .zero))
        let entries = e["entries"] as! [[String: Any]]
        XCTAssertEqual(entries.map { $0["leaf_index"] as! Int }, [1, 2, 3])
        XCTAssertEqual(entries[1]["leaf_input"] as? String, Encoding.base64(entry.leafBytes))

        try f.ca.revoke(fingerprint: fingerprints[4], reason: "superseded", now: .seconds(20))
        let rev = try json(f.api.handle(method: "GET", path: "/ca/revocation/" + fingerprints[4], body: [], now: .zero))
        XCTAssertEqual(rev["revoked"] as? Bool, true)
        XCTAssertEqual(rev["reason"] as? String, "superseded")
        XCTAssertEqual(try json(f.api.handle(method: "GET", path: "/ca/revocation/" + fingerprints[0], body: [], now: .zero))["revoked"] as? Bool, false)

        let unknown = String(repeating: "ab", count: 32)
        for path in ["/ct/proof/" + unknown, "/ca/revocation/" + unknown] {
            let r = f.api.handle(method: "GET", path: path, body: [], now: .zero)
            XCTAssertEqual(r.status, 404, path)
            XCTAssertEqual(try json(r)["error"] as? String, "unknown_fingerprint")
        }
        for (path, status) in [("/ct/consistency?first=0&second=3", 400), ("/ct/consistency?first=3&second=9", 400),
                               ("/ct/consistency?first=x&second=3", 400), ("/ct/entries?start=7&end=9", 400),
                               ("/ct/proof/xyz", 400), ("/nowhere", 404)] {
            XCTAssertEqual(f.api.handle(method: "GET", path: path, body: [], now: .zero).status, status, path)
        }
        XCTAssertEqual(f.api.handle(method: "DELETE", path: "/ct/sth", body: [], now: .zero).status, 405)
    }
}
