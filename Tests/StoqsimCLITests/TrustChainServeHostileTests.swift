import Foundation
import XCTest

/// Hostile requests to a running `ca serve` over the network (gtlsclient,
/// HTTP/3 on ::1), its limit flags, and `log verify --repair` on a torn log.
extension TrustChainServeTests {
    /// One request with gtlsclient: the status it printed and the error code of the JSON body, if it saved one.
    func gtlsRequest(port: UInt16, method: String = "GET", path: String, body: String? = nil, in dir: String) throws -> (status: Int?, code: String?) {
        let downloads = dir + "/dl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        var args = ["--exit-on-all-streams-close", "--timeout=5s", "--download=\(downloads)", "-m", method]
        if let body {
            let file = downloads + ".body"
            try body.write(toFile: file, atomically: true, encoding: .utf8)
            args += ["-d", file]
        }
        let r = try run(URL(fileURLWithPath: Self.gtlsclient), args + ["::1", "\(port)", "https://[::1]:\(port)\(path)"])
        let status = (r.stdout + r.stderr).components(separatedBy: "[:status: ").dropFirst().first.flatMap { Int($0.prefix(3)) }
        let saved = try FileManager.default.contentsOfDirectory(atPath: downloads).first
        let json = saved.flatMap { FileManager.default.contents(atPath: downloads + "/" + $0) }
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        return (status, json?["error"] as? String)
    }

    func testServeAnswersHostileRequestsOverTheNetworkAndKeepsServing() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.gtlsclient) else {
            throw XCTSkip("\(Self.gtlsclient) missing: install Debian package ngtcp2-client (tools/setup.sh)")
        }
        try withTemporaryDirectory { dir in
            let state = dir + "/state"
            XCTAssertEqual(try stoqsim(["trustchain", "ca", "init", "--state", state]).status, 0)
            let port = try freePort()
            let server = try startServer(state: state, port: port, nodes: ["--allow", "n1=2001:db8::1", "--max-body-bytes", "4096",
                                                                           "--max-path-bytes", "256"])
            defer { server.stop() }
            let cases: [(method: String, path: String, body: String?, status: Int, code: String?)] = [
                ("GET", "/ct/sth?=", nil, 400, "malformed_request"),          // crashed the CA before (issue 13)
                ("GET", "/ct/sth?&=&", nil, 400, "malformed_request"),
                ("GET", "/ct/entries?start=-1&end=99999999999999999999", nil, 400, "malformed_request"),
                ("GET", "/ct/consistency?first=%zz&second=1", nil, 400, "malformed_request"),
                ("DELETE", "/ct/sth", nil, 405, "method_not_allowed"),
                ("POST", "/ca/certificate", "not json", 400, "malformed_request"),
                ("POST", "/ca/certificate", "{\"consensus_proof\":{\"version\":2,\"time\":{\"timestamp\":9223372036854775807}}}", 400, "malformed_request"),
                ("POST", "/ca/certificate", String(repeating: "{", count: 10_000), 413, "body_too_large"),
                ("GET", "/" + String(repeating: "a", count: 300), nil, 414, nil),   // too long a name for gtlsclient to save the body
            ]
            for c in cases {
                let r = try gtlsRequest(port: port, method: c.method, path: c.path, body: c.body, in: dir)
                XCTAssertEqual(r.status, c.status, "\(c.method) \(c.path.prefix(60))\nserver:\n\(server.output.suffix(2000))")
                if let code = c.code { XCTAssertEqual(r.code, code, "\(c.method) \(c.path.prefix(60))") }
                XCTAssertTrue(server.process.isRunning, "ca serve died after \(c.method) \(c.path.prefix(60)):\n\(server.output.suffix(2000))")
            }
            XCTAssertEqual(try gtlsRequest(port: port, path: "/ct/sth", in: dir).status, 200)
            // And a node still enrols.
            let enrol = try stoqsim(["trustchain", "ca", "enroll", "--ca", "[::1]:\(port)", "--state", state, "--node", "n1",
                                     "--address", "2001:db8::1", "--key-out", dir + "/n1.key", "--cert-out", dir + "/n1.pem"])
            XCTAssertEqual(enrol.status, 0, enrol.stderr + "\nserver:\n" + server.output.suffix(2000))
        }
    }

    func testLogVerifyReportsAndRepairsATornLastLine() throws {
        try withTemporaryDirectory { dir in
            let state = dir + "/state"
            XCTAssertEqual(try stoqsim(["trustchain", "ca", "init", "--state", state]).status, 0)
            let log = state + "/log.jsonl"
            // A crash in the middle of appending the first entry: part of a line, no newline.
            try "{\"certificate\":\"MIIB".write(toFile: log, atomically: false, encoding: .utf8)

            let verify = try stoqsim(["trustchain", "log", "verify", state])
            XCTAssertEqual(verify.status, 1, verify.stderr)
            XCTAssertTrue(verify.stderr.contains("ends in a torn line (20 bytes"), verify.stderr)
            XCTAssertTrue(verify.stderr.contains("truncate -s 0 \(log)"), verify.stderr)
            XCTAssertTrue(verify.stdout.hasPrefix("0 entries, 1 tree heads"), verify.stdout)

            // ca serve refuses to start on it, naming the repair (exit 2, bad state).
            let serve = try stoqsim(["trustchain", "ca", "serve", "--listen", "[::1]:\(try freePort())", "--state", state, "--allow", "n1=2001:db8::1"])
            XCTAssertEqual(serve.status, 2, serve.stderr)
            XCTAssertTrue(serve.stderr.contains("log verify --repair"), serve.stderr)

            let repair = try stoqsim(["trustchain", "log", "verify", "--repair", state])
            XCTAssertEqual(repair.status, 0, repair.stderr)
            XCTAssertTrue(repair.stdout.contains("repaired: truncated \(log) from 20 to 0 bytes"), repair.stdout)
            XCTAssertTrue(repair.stdout.contains(": OK"), repair.stdout)
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: log)[.size] as? NSNumber, 0)
            let again = try stoqsim(["trustchain", "log", "verify", state])
            XCTAssertEqual(again.status, 0, again.stderr)
        }
    }

    func testOutOfRangeFlagsAreBadInput() throws {
        try withTemporaryDirectory { dir in
            let state = dir + "/state"
            XCTAssertEqual(try stoqsim(["trustchain", "ca", "init", "--state", state]).status, 0)
            let serve = ["trustchain", "ca", "serve", "--listen", "[::1]:4433", "--state", state, "--allow", "n1=2001:db8::1"]
            let enroll = ["trustchain", "ca", "enroll", "--ca", "[::1]:4433", "--state", state, "--node", "n1", "--address", "2001:db8::1",
                          "--key-out", dir + "/k", "--cert-out", dir + "/c"]
            let cases: [([String], String)] = [
                (serve + ["--max-body-bytes", "0"], "--max-body-bytes must be"),
                (serve + ["--max-path-bytes", "99999999999"], "--max-path-bytes must be"),
                (serve + ["--max-header-bytes=-1"], "--max-header-bytes must be"),
                (serve + ["--request-timeout", "0"], "--request-timeout must be"),
                (serve + ["--max-connections-per-peer", "0"], "--max-connections-per-peer must be"),
                (serve + ["--max-streams-per-connection", "100000"], "--max-streams-per-connection must be"),
                (enroll + ["--timeout", "1e300"], "--timeout must be"),
                (enroll + ["--timeout", "nan"], "--timeout must be"),
                (["trustchain", "ca", "init", "--state", dir + "/s2", "--epoch-unix-ms", "9223372036854775807"], "--epoch-unix-ms"),
                (["trustchain", "ca", "init", "--state", dir + "/s3", "--validity", "9223372036854775807"], "--validity"),
                (["trustchain", "ca", "init", "--state", dir + "/s4", "--epoch-unix-ms=-1"], "--epoch-unix-ms"),
            ]
            for (args, message) in cases {
                let r = try stoqsim(args)
                XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(message), "\(args): expected '\(message)' in: \(r.stderr)")
            }
        }
    }
}
