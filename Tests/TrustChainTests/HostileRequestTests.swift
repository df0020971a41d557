import Foundation
import StoqEngine
import XCTest
@testable import TrustChain

/// Malformed and hostile requests to the CA's API (issue 13, section 2): each
/// gets its status and error code as a JSON answer, nothing is logged, and the
/// CA answers a good request afterwards.
final class HostileRequestTests: XCTestCase {
    /// One CA for the whole suite, holding one logged certificate.
    private static let shared: (Fixture, String) = {
        let f = try! Fixture()
        let issued = try! f.ca.enroll(try! f.request(), now: .zero).get()
        return (f, issued.fingerprint)
    }()

    private var f: Fixture { Self.shared.0 }
    private var fingerprint: String { Self.shared.1 }

    struct Case {
        var method = "GET"
        var path: String
        var body: [UInt8] = []
        var status: Int
        var code: String?
        /// A substring the reason must contain.
        var reason: String?
    }

    /// Sends `c`, checks the answer, that the log did not change, and that a good request still works.
    private func check(_ c: Case, file: StaticString = #filePath, line: UInt = #line) {
        let before = f.ca.log.size
        let r = f.api.handle(method: c.method, path: c.path, body: c.body, now: .seconds(1))
        let label = "\(c.method) \(c.path.prefix(100)) [\(c.body.count) bytes]"
        XCTAssertEqual(r.status, c.status, "\(label): \(r.text.prefix(300))", file: file, line: line)
        let json = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        XCTAssertNotNil(json, "\(label): not a JSON object: \(r.text.prefix(300))", file: file, line: line)
        if let code = c.code {
            XCTAssertEqual(json?["error"] as? String, code, "\(label): \(r.text.prefix(300))", file: file, line: line)
            let reason = json?["reason"] as? String ?? ""
            XCTAssertFalse(reason.isEmpty, "\(label): no reason", file: file, line: line)
            XCTAssertLessThan(reason.utf8.count, 1000, "\(label): the reason echoes too much input", file: file, line: line)
            if let want = c.reason { XCTAssertTrue(reason.contains(want), "\(label): reason '\(reason)' lacks '\(want)'", file: file, line: line) }
        }
        XCTAssertEqual(f.ca.log.size, before, "\(label) changed the log", file: file, line: line)
        XCTAssertEqual(f.api.handle(method: "GET", path: "/ct/sth", body: [], now: .seconds(1)).status, 200,
                       "the CA stopped answering after \(label)", file: file, line: line)
    }

    /// A valid enrolment body with one value replaced by raw JSON text (which may be
    /// out of any Swift integer's range): `path` names the field, e.g. "consensus_proof.time.timestamp".
    private func body(setting path: String, to rawJSON: String) throws -> [UInt8] {
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try EnrollmentRequestBody(try f.request(now: .seconds(1))).json())) as? [String: Any])
        let marker = "@@REPLACED@@"
        func set(_ dict: inout [String: Any], _ keys: ArraySlice<Substring>) {
            guard let k = keys.first.map(String.init) else { return }
            if keys.count == 1 { dict[k] = marker; return }
            var inner = dict[k] as? [String: Any] ?? [:]
            set(&inner, keys.dropFirst())
            dict[k] = inner
        }
        set(&object, path.split(separator: ".")[...])
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        return Array(text.replacingOccurrences(of: "\"\(marker)\"", with: rawJSON).utf8)
    }

    private func post(_ body: [UInt8], _ status: Int, _ code: String, reason: String? = nil) -> Case {
        Case(method: "POST", path: "/ca/certificate", body: body, status: status, code: code, reason: reason)
    }

    func testPathsAndQueries() {
        let fp = fingerprint
        let cases: [Case] = [
            // The crash of issue 13: a query pair with an empty name.
            Case(path: "/ct/sth?=", status: 400, code: "malformed_request", reason: "has no name"),
            Case(path: "/ct/sth?=x", status: 400, code: "malformed_request"),
            Case(path: "/ct/sth?&&", status: 200),
            Case(path: "/ct/sth?&=&", status: 400, code: "malformed_request"),
            Case(path: "/ct/sth?a", status: 200),
            Case(path: "/ct/sth?", status: 200),
            Case(path: "/ct/consistency?=1&first=1&second=1", status: 400, code: "malformed_request"),
            Case(path: "/ct/entries?start=%zz&end=1", status: 400, code: "malformed_request", reason: "percent-encoding"),
            Case(path: "/ct/entries?st%ZZart=0&end=0", status: 400, code: "malformed_request", reason: "percent-encoding"),
            Case(path: "/ct/entries?start=%&end=0", status: 400, code: "malformed_request"),
            Case(path: "/ct/entries?start=%30&end=%30", status: 200),
            Case(path: "/ct/entries?start=0&end=99999999999999999999999", status: 400, code: "malformed_request", reason: "below 2^63"),
            Case(path: "/ct/entries?start=9223372036854775807&end=9223372036854775807", status: 400, code: "malformed_request"),
            Case(path: "/ct/entries?start=0&end=9223372036854775807", status: 200),
            Case(path: "/ct/entries?start=-1&end=5", status: 400, code: "malformed_request"),
            Case(path: "/ct/entries?start=-9223372036854775808&end=-1", status: 400, code: "malformed_request"),
            Case(path: "/ct/entries?start=5&end=2", status: 400, code: "malformed_request"),
            Case(path: "/ct/entries?start=+0&end=0", status: 400, code: "malformed_request"),
            Case(path: "/ct/entries?start=0x0&end=0", status: 400, code: "malformed_request"),
            Case(path: "/ct/entries?start=&end=", status: 400, code: "malformed_request"),
            Case(path: "/ct/entries?start=0", status: 400, code: "malformed_request", reason: "'end' is missing"),
            Case(path: "/ct/consistency?first=-3&second=-1", status: 400, code: "malformed_request"),
            Case(path: "/ct/consistency?first=0&second=0", status: 400, code: "malformed_request"),
            Case(path: "/ct/consistency?first=1&second=9223372036854775807", status: 400, code: "malformed_request"),
            Case(path: "/ct/consistency?first=1&first=1&second=1", status: 400, code: "malformed_request", reason: "twice"),
            Case(path: "/ct/consistency?first=1&second=1", status: 200),
            Case(path: "/ct/proof/zzzz", status: 400, code: "malformed_request"),
            Case(path: "/ct/proof/" + String(repeating: "g", count: 64), status: 400, code: "malformed_request"),
            Case(path: "/ct/proof/" + String(repeating: "é", count: 64), status: 400, code: "malformed_request"),
            Case(path: "/ct/proof/" + String(repeating: "ab", count: 32), status: 404, code: "unknown_fingerprint"),
            Case(path: "/ct/proof/" + fp.uppercased(), status: 200),
            Case(path: "/ct/proof/" + fp + "?x=%00", status: 200),
            Case(path: "/ca/revocation/%00", status: 400, code: "malformed_request"),
            Case(path: "/ca/revocation/" + String(repeating: "%", count: 64), status: 400, code: "malformed_request"),
            Case(path: "/ca/revocation/" + fp, status: 200),
            Case(path: "", status: 400, code: "malformed_request"),
            Case(path: "ct/sth", status: 400, code: "malformed_request"),
            Case(path: "?", status: 400, code: "malformed_request"),
            Case(path: "/", status: 404, code: "not_found"),
            Case(path: "//ct//sth", status: 200),
            Case(path: "/ct/../ct/sth", status: 404, code: "not_found"),
            Case(path: "/ct/sth/extra/more", status: 404, code: "not_found"),
            Case(path: "/ct/proof/" + fp + "/x", status: 404, code: "not_found"),
            Case(path: "/\u{0}\u{1}\u{7f}", status: 404, code: "not_found"),
            Case(path: "/" + String(repeating: "a", count: 2047), status: 404, code: "not_found"),
            Case(path: "/" + String(repeating: "a", count: 2048), status: 414, code: "path_too_long"),
            Case(path: "/ct/sth?" + String(repeating: "&", count: 100_000), status: 414, code: "path_too_long"),
        ]
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        for c in cases { check(c) }
    }

    func testMethods() {
        let cases: [Case] = [
            Case(method: "DELETE", path: "/ct/sth", status: 405, code: "method_not_allowed"),
            Case(method: "GET", path: "/ca/certificate", status: 405, code: "method_not_allowed"),
            Case(method: "PUT", path: "/ca/certificate", body: [1, 2, 3], status: 405, code: "method_not_allowed"),
            Case(method: "get", path: "/ct/sth", status: 405, code: "method_not_allowed"),
            Case(method: "", path: "/ca/info", status: 405, code: "method_not_allowed"),
            Case(method: String(repeating: "X", count: 10_000), path: "/ca/info", status: 405, code: "method_not_allowed"),
            Case(method: "POST", path: "/nowhere", body: [0xff], status: 404, code: "not_found"),
            Case(method: "GET", path: "/ct/sth", body: Array(repeating: 0, count: 100), status: 200),
        ]
        for c in cases { check(c) }
    }

    func testBodies() throws {
        let deepArray = Array(String(repeating: "[", count: 60_000).utf8)
        let deepObject = Array((String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000)).utf8)
        let cases: [Case] = [
            post(Array("not json".utf8), 400, "malformed_request"),
            post([], 400, "malformed_request"),
            post(Array("[1,2]".utf8), 400, "malformed_request"),
            post(Array("null".utf8), 400, "malformed_request"),
            post([0xff, 0xfe, 0x00, 0x7b], 400, "malformed_request"),
            post(Array("{\"common_name\":\"edge-1.stoq\"".utf8), 400, "malformed_request"),
            post(deepArray, 400, "malformed_request"),
            post(deepObject, 400, "malformed_request"),
            post(Array(repeating: 0x20, count: 64 << 10), 400, "malformed_request"),
            post(Array(repeating: 0x20, count: (64 << 10) + 1), 413, "body_too_large"),
            post(Array(repeating: 0x7b, count: 1 << 20), 413, "body_too_large"),
            // Wrong JSON types.
            post(try body(setting: "common_name", to: "5"), 400, "malformed_request", reason: "common_name"),
            post(try body(setting: "ipv6_addresses", to: "\"fd00:5354:4f00::1\""), 400, "malformed_request"),
            post(try body(setting: "ipv6_addresses", to: "[1]"), 400, "malformed_request"),
            post(try body(setting: "csr", to: "null"), 400, "malformed_request"),
            post(try body(setting: "consensus_proof", to: "[]"), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.version", to: "\"1\""), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.version", to: "99"), 422, "unsupported_proof_version"),
            post(try body(setting: "consensus_proof.version", to: "1e300"), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.version", to: "-9223372036854775809"), 400, "malformed_request"),
            // base64 garbage and oversize fields.
            post(try body(setting: "csr", to: "\"%%%\""), 400, "bad_csr"),
            post(try body(setting: "csr", to: "\"AAAA\""), 400, "bad_csr"),
            post(try body(setting: "csr", to: "\"MAA=\""), 400, "bad_csr"),
            post(try body(setting: "csr", to: "\"" + String(repeating: "A", count: 30_000) + "\""), 400, "invalid_field", reason: "csr"),
            post(try body(setting: "common_name", to: "\"\""), 400, "invalid_field", reason: "common_name"),
            post(try body(setting: "node_id", to: "\"" + String(repeating: "n", count: 10_000) + "\""), 400, "invalid_field", reason: "node_id"),
            post(try body(setting: "ipv6_addresses", to: "[" + Array(repeating: "\"fd00::1\"", count: 17).joined(separator: ",") + "]"),
                 400, "invalid_field", reason: "ipv6_addresses"),
            post(try body(setting: "ipv6_addresses", to: "[\"" + String(repeating: ":", count: 500) + "\"]"), 400, "invalid_field"),
            post(try body(setting: "ipv6_addresses", to: "[\"::ffff:1.2.3.4\"]"), 422, "ipv4_address"),
            post(try body(setting: "ipv6_addresses", to: "[\"fd00::1%eth0\"]"), 400, "malformed_request"),
            post(try body(setting: "ipv6_addresses", to: "[\"[\"]"), 400, "malformed_request"),
            post(try body(setting: "ipv6_addresses", to: "[]"), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.stake.signature", to: "\"!!!\""), 403, "stake_proof_failed"),
            post(try body(setting: "consensus_proof.space.signature", to: "\"" + String(repeating: "Q", count: 2000) + "\""), 400, "invalid_field"),
            post(try body(setting: "consensus_proof.stake.authority", to: "\"not-hex\""), 400, "invalid_field", reason: "authority"),
            post(try body(setting: "consensus_proof.time.csr_sha256", to: "\"\""), 400, "invalid_field", reason: "csr_sha256"),
        ]
        XCTAssertGreaterThanOrEqual(cases.count, 30)
        for c in cases { check(c) }
    }

    /// Numbers at and beyond every integer range in the consensus proof.
    func testProofNumbers() throws {
        let t = "consensus_proof.time.timestamp"
        let cases: [Case] = [
            // Overflowed the skew computation in TimeProofPolicy (issue 13).
            post(try body(setting: t, to: "9223372036854775807"), 400, "invalid_field", reason: "1970…9999"),
            post(try body(setting: t, to: "-9223372036854775808"), 400, "invalid_field"),
            post(try body(setting: t, to: "100000000000000000"), 400, "invalid_field"),
            post(try body(setting: t, to: "-1"), 400, "invalid_field"),
            // In range but far from the CA's clock: a skew of 9.3e12…1.8e13 ms once overflowed SimDuration.milliseconds in the reason.
            post(try body(setting: t, to: "10000000000000"), 403, "time_proof_failed"),
            post(try body(setting: t, to: "15000000000000"), 403, "time_proof_failed"),
            post(try body(setting: t, to: "253402300799999"), 403, "time_proof_failed"),
            post(try body(setting: t, to: "0"), 403, "time_proof_failed"),
            post(try body(setting: t, to: "9223372036854775808"), 400, "malformed_request"),
            post(try body(setting: t, to: "1e30"), 400, "malformed_request"),
            post(try body(setting: t, to: "1.5"), 400, "malformed_request"),
            post(try body(setting: t, to: "\"soon\""), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.work.difficulty", to: "-1"), 400, "invalid_field", reason: "difficulty"),
            post(try body(setting: "consensus_proof.work.difficulty", to: "9223372036854775807"), 400, "invalid_field"),
            post(try body(setting: "consensus_proof.work.difficulty", to: "1e30"), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.work.nonce", to: "-1"), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.work.nonce", to: "18446744073709551616"), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.work.nonce", to: "18446744073709551615"), 403, "work_proof_failed"),
            post(try body(setting: "consensus_proof.stake.amount", to: "18446744073709551615"), 403, "stake_proof_failed"),
            post(try body(setting: "consensus_proof.stake.amount", to: "-5"), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.stake.timestamp", to: "-9223372036854775808"), 400, "invalid_field"),
            post(try body(setting: "consensus_proof.space.capacity_bytes", to: "-5"), 400, "malformed_request"),
            post(try body(setting: "consensus_proof.space.capacity_bytes", to: "0"), 403, "space_proof_failed"),
        ]
        for c in cases { check(c) }
        // And the request they were made from is fine: the CA issues it.
        let good = f.api.handle(method: "POST", path: "/ca/certificate", body: try EnrollmentRequestBody(try f.request(key: f.key(77), now: .seconds(1))).json(), now: .seconds(1))
        XCTAssertEqual(good.status, 200, good.text)
    }

    /// The policies themselves take any Int64 (callers of `enroll` skip the API's range checks).
    func testTimeProofPolicyTakesAnyTimestamp() throws {
        let f = try Fixture()
        // Int64.max/min overflowed the skew, ±1e17 its nanosecond product, ±1.5e13 the reason's SimDuration.
        for timestamp: Int64 in [.max, .min, .max - 1, .min + 1, 100_000_000_000_000_000, -100_000_000_000_000_000,
                                 15_000_000_000_000, -15_000_000_000_000, 10_000_000_000_000, -1] {
            var r = try f.request()
            r.consensusProof!.time.timestamp = timestamp
            let rejection = f.rejection(r)
            XCTAssertEqual(rejection?.code, "time_proof_failed", "timestamp \(timestamp)")
            XCTAssertEqual(rejection?.status, 403)
        }
        XCTAssertNoThrow(try f.ca.enroll(try f.request(), now: .zero).get())
    }

    func testStakeProofWithAnOverlongNodeIDIsRefusedNotSigned() throws {
        let f = try Fixture()
        let long = String(repeating: "n", count: 70_000)
        XCTAssertThrowsError(try f.stake.attest(nodeID: long, nodeKey: f.key().publicKey, amount: 5000, timestamp: 0))
        var r = try f.request()
        r.consensusProof!.stake.nodeID = long
        XCTAssertEqual(f.rejection(r)?.code, "stake_proof_failed")
    }

    func testAnEntriesCapOfZeroStillAnswersOneEntry() throws {
        let f = try Fixture()
        _ = try f.ca.enroll(try f.request(), now: .zero).get()
        f.api.maximumEntriesPerRequest = 0
        let r = f.api.handle(method: "GET", path: "/ct/entries?start=0&end=5", body: [], now: .zero)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])?["entries"].map { ($0 as? [Any])?.count }, 1)
    }

    /// A node reading a hostile CA's answers: numbers at the edges of their
    /// types (even under a valid log signature) are rejections, not traps.
    func testHostileAnswersToANodeAreRejections() throws {
        final class Canned: TrustChainClient {
            var body: [UInt8] = []
            func send(_ request: TrustChainRequest, completion: @escaping (Result<TrustChainResponse, Error>) -> Void) {
                completion(.success(TrustChainResponse(status: 200, body: body)))
            }
        }
        let f = try Fixture()
        let issued = try f.ca.enroll(try f.request(), now: .zero).get()
        let key = f.ca.log.key
        func signedHead(size: Int, timestamp: Int64, root: [UInt8]) throws -> String {
            let sig = try key.sign(SignedTreeHead.signedBytes(treeSize: size, timestamp: timestamp, rootHash: root))
            return "{\"tree_size\":\(size),\"timestamp\":\(timestamp),\"sha256_root_hash\":\"\(Encoding.base64(root))\",\"tree_head_signature\":\"\(Encoding.base64(sig))\"}"
        }
        let root = f.ca.log.tree.rootHash()
        let answers = [
            "{\"leaf_index\":-5,\"tree_size\":-1,\"root_hash\":\"\",\"audit_path\":[\"%%\"],\"sth\":{\"tree_size\":-1,\"timestamp\":-1,\"sha256_root_hash\":\"\",\"tree_head_signature\":\"\"},\"timestamp\":-9223372036854775808}",
            "{\"leaf_index\":9223372036854775807,\"tree_size\":1,\"root_hash\":\"\",\"audit_path\":[],\"sth\":\(try signedHead(size: 1, timestamp: 0, root: root)),\"timestamp\":-9223372036854775808}",
            // (The proof's own "timestamp" is not read: the leaf's comes from the certificate's embedded SCT.)
            "{\"leaf_index\":1,\"tree_size\":1,\"root_hash\":\"\",\"audit_path\":[],\"sth\":\(try signedHead(size: 1, timestamp: 0, root: root)),\"timestamp\":-1}",
            "{\"leaf_index\":-9223372036854775808,\"tree_size\":-9223372036854775808,\"root_hash\":\"\",\"audit_path\":[\"AAAA\"],\"sth\":\(try signedHead(size: 1, timestamp: 0, root: root))}",
        ]
        let client = Canned()
        for answer in answers {
            client.body = Array(answer.utf8)
            let node = f.manager(key: f.key(), mode: .localhostTesting)
            var outcome: Result<Void, Rejection>?
            node.verifyInclusion(of: issued.der, client: client, trust: f.trust) { outcome = $0 }
            guard case let .failure(r)? = outcome else { XCTFail("accepted: \(answer)"); continue }
            XCTAssertEqual(r.status, 502, "\(r)")
        }
    }

    /// The key type is checked before the signature, so a CSR under a large RSA key costs no RSA verification.
    func testAnRSACSRIsRefusedByKeyType() throws {
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else { throw XCTSkip("no \(openssl) to make an RSA CSR") }
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: openssl)
        p.arguments = ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=edge-1.stoq", "-keyout", dir.path + "/k.pem",
                       "-outform", "DER", "-out", dir.path + "/csr.der"]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let der = try XCTUnwrap(FileManager.default.contents(atPath: dir.path + "/csr.der"))
        var r = try f.request()
        r.csrDER = Array(der)
        let rejection = f.rejection(r)
        XCTAssertEqual(rejection?.code, "bad_csr")
        XCTAssertTrue(rejection?.reason.contains("Ed25519 or ECDSA P-256") ?? false, "\(String(describing: rejection))")
    }

    func testQuerySplitting() throws {
        XCTAssertEqual(try TrustChainAPI.split("/a?x=1&&y=&z").1, ["x": "1", "y": "", "z": ""])
        XCTAssertEqual(try TrustChainAPI.split("/a?x=%41%2F").1, ["x": "A/"])
        XCTAssertEqual(try TrustChainAPI.split("/a?x==").1, ["x": "="])
        for bad in ["/a?=", "/a?=1", "/a?x=%", "/a?x=1&x=2", "/a?%G0=1"] {
            XCTAssertThrowsError(try TrustChainAPI.split(bad), bad) { XCTAssertEqual(($0 as? Rejection)?.status, 400, bad) }
        }
    }
}
