import Foundation
import StoqEngine
import XCTest
@testable import TrustChain

/// A seeded mutation fuzz of the CA's request handler: valid requests with
/// their paths, queries, methods and JSON bodies mutated, thousands of times.
/// Every answer must be a JSON object with an expected status (errors with a
/// code and a reason), and nothing may trap. Deterministic: a fixed seed and
/// a fixed number of iterations (no clock involved).
final class RequestFuzzTests: XCTestCase {
    /// CI runs this fixed seed and count (about a second in a debug build); set
    /// STOQ_FUZZ_SEED / STOQ_FUZZ_ITERATIONS to explore further by hand.
    static let environment = ProcessInfo.processInfo.environment
    static let iterations = environment["STOQ_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 12_000
    static let seed = environment["STOQ_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x5eed_13
    static let allowed: Set = [200, 400, 403, 404, 405, 409, 413, 414, 422]

    /// Values at the edges of every type a field could be read as.
    static let interestingJSON: [String] = [
        "0", "-1", "1", "255", "256", "65535", "65536", "2147483648", "4294967296",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "99999999999999999999999999", "1e308", "-1e308", "1e400", "1.5", "-0",
        "true", "null", "[]", "{}", "[[[[[[[[]]]]]]]]", "\"\"", "\"%\"", "\"AAAA\"", "\"!!!\"", "\"\\u0000\"", "\"::ffff:1.2.3.4\"", "\"fd00::1\"",
        "\"" + String(repeating: "A", count: 5000) + "\"", "[\"fd00::1\"]", "{\"version\":1}",
    ]
    static let interestingNumbers = ["-1", "0", "1", "2", "9223372036854775807", "9223372036854775808", "99999999999999999999", "+1", "0x10", "1e3", "", "%30", "%"]
    static let pathBytes: [String] = ["?", "=", "&", "%", "%2", "%zz", "/", "//", "..", "\u{0}", "é", "+", " ", "#", "?=", "?&&", "*", "\u{7f}"]
    static let methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "get", "", "OPTIONS", "POST\r\n"]

    struct Rng {
        var stream: RandomStream
        mutating func below(_ n: Int) -> Int { Int(stream.next() % UInt64(n)) }
        mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    }

    func testMutatedRequestsAlwaysGetAWellFormedAnswer() throws {
        let f = try Fixture()
        // Valid requests to mutate: every endpoint, two enrolments, the proofs of what they logged.
        let bodies = try (1...2).map { try EnrollmentRequestBody(try f.request(key: f.key(UInt64($0)), now: .seconds(1))).json() }
        var fingerprints: [String] = []
        for b in bodies {
            let r = f.api.handle(method: "POST", path: "/ca/certificate", body: b, now: .seconds(1))
            XCTAssertEqual(r.status, 200, r.text)
            fingerprints.append(try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])["fingerprint"] as? String ?? "")
        }
        let paths = ["/ct/sth", "/ca/info", "/ct/proof/" + fingerprints[0], "/ca/revocation/" + fingerprints[1],
                     "/ct/consistency?first=1&second=2", "/ct/entries?start=0&end=1", "/ca/certificate"]
        var rng = Rng(stream: RandomStream(seed: Self.seed, stream: "trustchain-request-fuzz"))
        var statuses: [Int: Int] = [:]

        for i in 0..<Self.iterations {
            var method = "GET", path = rng.pick(paths), body: [UInt8] = []
            if path == "/ca/certificate" || rng.chance(20) {
                method = "POST"
                path = "/ca/certificate"
                body = mutateBody(rng.pick(bodies), &rng)
            }
            if method == "GET" || rng.chance(10) { path = mutatePath(path, &rng) }
            if rng.chance(5) { method = rng.pick(Self.methods) }

            let r = f.api.handle(method: method, path: path, body: body, now: .seconds(1))
            statuses[r.status, default: 0] += 1
            let label = "#\(i) \(method) \(path.prefix(120)) body \(String(decoding: body.prefix(200), as: UTF8.self))"
            XCTAssertTrue(Self.allowed.contains(r.status), "\(label): status \(r.status) \(r.text.prefix(300))")
            guard let json = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
                XCTFail("\(label): the answer is not a JSON object: \(r.text.prefix(300))")
                continue
            }
            if r.status != 200 {
                XCTAssertFalse((json["error"] as? String ?? "").isEmpty, "\(label): no error code: \(r.text.prefix(300))")
                XCTAssertFalse((json["reason"] as? String ?? "").isEmpty, "\(label): no reason: \(r.text.prefix(300))")
            }
        }
        print("request fuzz: seed \(Self.seed), \(Self.iterations) requests, answers by status \(statuses.sorted { $0.key < $1.key })")
        // The mutations reached deep enough to hit every kind of answer (a fuzz that only made 404s would prove little).
        for status in [200, 400, 403, 404, 405, 413, 414, 422] { XCTAssertGreaterThan(statuses[status] ?? 0, 0, "no \(status) in \(statuses)") }
        XCTAssertEqual(f.ca.log.verifyHistory(), [], "the log is sound after the fuzz")
        XCTAssertEqual(f.api.handle(method: "GET", path: "/ct/sth", body: [], now: .seconds(1)).status, 200)
    }

    private func mutatePath(_ path: String, _ rng: inout Rng) -> String {
        var p = path
        for _ in 0...rng.below(3) {
            var chars = Array(p)
            switch rng.below(8) {
            case 0: chars.insert(contentsOf: rng.pick(Self.pathBytes), at: rng.below(chars.count + 1))
            case 1: if !chars.isEmpty { chars.remove(at: rng.below(chars.count)) }
            case 2: chars = Array(chars.prefix(rng.below(chars.count + 1)))
            case 3: chars += Array((p.contains("?") ? "&" : "?") + rng.pick(["first", "second", "start", "end", "", "x"]) + "=" + rng.pick(Self.interestingNumbers))
            case 4:
                // Replace a number in the query with an edge value.
                if let eq = chars.lastIndex(of: "=") {
                    let end = chars[eq...].firstIndex(of: "&") ?? chars.endIndex
                    chars.replaceSubrange(chars.index(after: eq)..<end, with: Array(rng.pick(Self.interestingNumbers)))
                }
            case 5: chars += Array(String(repeating: rng.pick(Self.pathBytes), count: rng.pick([10, 500, 2100])))
            case 6: if !chars.isEmpty { chars[rng.below(chars.count)] = Character(rng.pick(Self.pathBytes).first.map(String.init) ?? "?") }
            default: p = rng.pick(["/ct/proof/", "/ca/revocation/", "/ct/", "/"]) + String(repeating: rng.pick(["a", "F", "0", "é"]), count: rng.pick([1, 63, 64, 65])); continue
            }
            p = String(chars)
        }
        return p
    }

    private func mutateBody(_ body: [UInt8], _ rng: inout Rng) -> [UInt8] {
        if rng.chance(35) {
            // Byte-level: flips, cuts, insertions, repeats.
            var b = body
            for _ in 0...rng.below(4) {
                switch rng.below(5) {
                case 0: if !b.isEmpty { b[rng.below(b.count)] ^= UInt8(1 << rng.below(8)) }
                case 1: b = Array(b.prefix(rng.below(b.count + 1)))
                case 2: b.insert(contentsOf: Array(rng.pick(["{", "}", "[", "\"", ",", ":", "\\", "\u{0}", "é", "9999999999999999999"]).utf8), at: rng.below(b.count + 1))
                case 3: if !b.isEmpty { let at = rng.below(b.count); b.insert(contentsOf: b[at..<min(b.count, at + rng.below(200))], at: at) }
                default: b += Array(repeating: UInt8(rng.below(256)), count: rng.pick([1, 100, 70_000]))
                }
            }
            return b
        }
        var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        if rng.chance(30), let csr = (object["csr"] as? String).flatMap({ Data(base64Encoded: $0) }) {
            // The CSR's DER with bytes flipped, cut or repeated: the certificate parser's turn.
            var der = Array(csr)
            for _ in 0...rng.below(3) {
                switch rng.below(3) {
                case 0: der[rng.below(der.count)] ^= UInt8(1 << rng.below(8))
                case 1: der = Array(der.prefix(rng.below(der.count) + 1))
                default: der[rng.below(der.count)] = rng.pick([0x00, 0x7f, 0x80, 0x81, 0x84, 0xff])
                }
            }
            object["csr"] = Data(der).base64EncodedString()
            return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
        }
        // JSON-level: one field (at any depth) replaced by an edge value, or removed.
        let marker = "@@FUZZ@@"
        var leaves: [[String]] = []
        func collect(_ o: [String: Any], _ prefix: [String]) {
            for (k, v) in o.sorted(by: { $0.key < $1.key }) {
                leaves.append(prefix + [k])
                if let inner = v as? [String: Any] { collect(inner, prefix + [k]) }
            }
        }
        collect(object, [])
        let target = rng.pick(leaves)
        let remove = rng.chance(15)
        func set(_ o: [String: Any], _ keys: ArraySlice<String>) -> [String: Any] {
            var o = o
            guard let k = keys.first else { return o }
            if keys.count == 1 { o[k] = remove ? nil : marker } else { o[k] = set(o[k] as? [String: Any] ?? [:], keys.dropFirst()) }
            return o
        }
        let data = (try? JSONSerialization.data(withJSONObject: set(object, target[...]), options: [.sortedKeys])) ?? Data()
        return Array(String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\"\(marker)\"", with: rng.pick(Self.interestingJSON)).utf8)
    }
}
