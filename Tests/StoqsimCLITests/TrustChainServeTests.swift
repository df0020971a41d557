import Foundation
import XCTest

/// `stoqsim trustchain ca serve|enroll|verify` as separate processes on real
/// UDP sockets on ::1: the issued chain verifies with certtool/openssl,
/// gtlsclient (ngtcp2-client) fetches the log's JSON over HTTP/3, and a
/// restarted CA keeps its log.
final class TrustChainServeTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let gtlsclient = "/usr/bin/gtlsclient"
    static let certtool = "/usr/bin/certtool"
    static let openssl = "/usr/bin/openssl"

    var binary: URL { get throws { try StoqsimProcess.binary(near: TrustChainServeTests.self) } }

    func run(_ executable: URL, _ args: [String]) throws -> StoqsimProcess.Outcome { try StoqsimProcess.run(executable, args) }

    func stoqsim(_ args: [String]) throws -> StoqsimProcess.Outcome { try run(try binary, args) }

    /// A running `ca serve`: its stderr is collected as it comes.
    final class Server {
        let process = Process()
        private let lock = NSLock()
        private var text = ""
        private let ready = DispatchSemaphore(value: 0)
        private var signalled = false

        var output: String { lock.lock(); defer { lock.unlock() }; return text }

        init(binary: URL, args: [String]) throws {
            process.executableURL = binary
            process.arguments = args
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            err.fileHandleForReading.readabilityHandler = { [unowned self] handle in
                let data = handle.availableData
                lock.lock()
                text += String(decoding: data, as: UTF8.self)
                // Ready once it says it serves; at EOF (it exited) there is nothing more to wait for.
                let wake = !signalled && (text.contains("serving TrustChain CA") || data.isEmpty)
                if wake { signalled = true }
                lock.unlock()
                if data.isEmpty { handle.readabilityHandler = nil }
                if wake { ready.signal() }
            }
            try process.run()
        }

        /// Waits until the server has bound its socket and said so (or exited).
        func waitUntilServing() -> Bool {
            _ = ready.wait(timeout: .now() + 120)   // a safety net for a hung child, not a timing check
            return process.isRunning && output.contains("serving TrustChain CA")
        }

        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
    }

    /// A free UDP port on ::1 (bound then released; the server binds it right after).
    func freePort() throws -> UInt16 {
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw XCTSkip("no IPv6 UDP socket") }
        defer { close(fd) }
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_addr = in6addr_loopback
        var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let bound = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw XCTSkip("cannot bind a UDP socket on ::1") }
        return UInt16(bigEndian: a.sin6_port)
    }

    func startServer(state: String, port: UInt16,
                     nodes: [String] = ["--allow", "n1=2001:db8::1", "--allow", "n2=2001:db8::2"]) throws -> Server {
        let server = try Server(binary: try binary, args: ["trustchain", "ca", "serve", "--listen", "[::1]:\(port)", "--state", state] + nodes)
        guard server.waitUntilServing() else {
            server.stop()
            XCTFail("ca serve did not start:\n\(server.output)")
            throw XCTSkip("ca serve did not start")
        }
        return server
    }

    /// Fetches paths with gtlsclient over HTTP/3 and returns each downloaded body as JSON.
    func fetchWithGtlsclient(port: UInt16, paths: [String], into dir: String) throws -> [String: [String: Any]] {
        let downloads = dir + "/downloads-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        let r = try run(URL(fileURLWithPath: Self.gtlsclient),
                        ["-q", "--download=\(downloads)", "--exit-on-all-streams-close", "--timeout=5s", "::1", "\(port)"]
                            + paths.map { "https://[::1]:\(port)\($0)" })
        XCTAssertEqual(r.status, 0, "gtlsclient: \(r.stdout)\n\(r.stderr)")
        var bodies: [String: [String: Any]] = [:]
        for path in paths {
            let file = downloads + "/" + (path.split(separator: "/").last.map(String.init) ?? "")
            guard let data = FileManager.default.contents(atPath: file) else {
                XCTFail("gtlsclient downloaded nothing for \(path): \(r.stderr.suffix(1000))")
                continue
            }
            guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                XCTFail("\(path) is not a JSON object: \(String(decoding: data, as: UTF8.self))")
                continue
            }
            bodies[path] = json
        }
        return bodies
    }

    func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "stoqsim-ca-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }

    func testServeEnrollVerifyWithStandardToolsAndRestart() throws {
        try withTemporaryDirectory { dir in
            let state = dir + "/state"
            let initOut = try stoqsim(["trustchain", "ca", "init", "--state", state])
            XCTAssertEqual(initOut.status, 0, initOut.stderr)
            let port = try freePort()
            var server = try startServer(state: state, port: port)
            defer { server.stop() }
            XCTAssertTrue(server.output.contains("(new)"), server.output)

            // Enrol n1 over HTTP/3: key and chain written, inclusion proof checked.
            let key = dir + "/n1.key", cert = dir + "/n1.pem"
            let enrol = try stoqsim(["trustchain", "ca", "enroll", "--ca", "[::1]:\(port)", "--state", state, "--node", "n1",
                                     "--address", "2001:db8::1", "--key-out", key, "--cert-out", cert])
            XCTAssertEqual(enrol.status, 0, enrol.stderr + "\nserver:\n" + server.output)
            XCTAssertTrue(enrol.stdout.contains("inclusion    verified"), enrol.stdout)
            let fingerprint = enrol.stdout.split(separator: "\n").first { $0.hasPrefix("fingerprint") }?
                .split(separator: " ").last.map(String.init) ?? ""
            XCTAssertEqual(fingerprint.count, 64, enrol.stdout)
            let mode = (try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? NSNumber)?.intValue
            XCTAssertEqual(mode, 0o600)

            // Standard tools accept the chain against the CA's root.
            if FileManager.default.isExecutableFile(atPath: Self.openssl) {
                let o = try run(URL(fileURLWithPath: Self.openssl), ["verify", "-CAfile", state + "/ca-cert.pem", cert])
                XCTAssertEqual(o.status, 0, o.stdout + o.stderr)
                XCTAssertTrue(o.stdout.contains("\(cert): OK"), o.stdout)
            }
            let haveCerttool = FileManager.default.isExecutableFile(atPath: Self.certtool)
            if haveCerttool {
                let c = try run(URL(fileURLWithPath: Self.certtool), ["--verify-chain", "--infile", cert])
                XCTAssertEqual(c.status, 0, c.stdout + c.stderr)
                XCTAssertTrue(c.stdout.contains("Chain verification output: Verified"), c.stdout)
            }

            // ca verify fetches the proof and checks it against a signed tree head.
            let verify = try stoqsim(["trustchain", "ca", "verify", "--ca", "[::1]:\(port)", "--state", state, cert])
            XCTAssertEqual(verify.status, 0, verify.stderr)
            XCTAssertTrue(verify.stdout.contains("inclusion    verified against the log's signed tree head of size 2"), verify.stdout)

            // A certificate from another root is refused before any network call.
            let otherState = dir + "/other"
            XCTAssertEqual(try stoqsim(["trustchain", "ca", "init", "--state", otherState]).status, 0)
            let foreign = try stoqsim(["trustchain", "ca", "verify", "--ca", "[::1]:\(port)", "--state", otherState, cert])
            XCTAssertEqual(foreign.status, 1)
            XCTAssertTrue(foreign.stderr.contains("not signed by the trusted root"), foreign.stderr)

            // A node the CA does not certify is refused, and says why.
            let unknown = try stoqsim(["trustchain", "ca", "enroll", "--ca", "[::1]:\(port)", "--state", state, "--node", "n3",
                                       "--address", "2001:db8::3", "--key-out", dir + "/n3.key", "--cert-out", dir + "/n3.pem"])
            XCTAssertEqual(unknown.status, 1)
            XCTAssertTrue(unknown.stderr.contains("unknown_node"), unknown.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/n3.key"))
            // n2 is allowed, but not at n1's address.
            let wrongAddress = try stoqsim(["trustchain", "ca", "enroll", "--ca", "[::1]:\(port)", "--state", state, "--node", "n2",
                                            "--address", "2001:db8::1", "--key-out", dir + "/n2.key", "--cert-out", dir + "/n2.pem"])
            XCTAssertEqual(wrongAddress.status, 1)
            XCTAssertTrue(wrongAddress.stderr.contains("address_mismatch"), wrongAddress.stderr)

            // gtlsclient (ngtcp2 + GnuTLS, HTTP/3) reads the tree head and the proof.
            let haveGtlsclient = FileManager.default.isExecutableFile(atPath: Self.gtlsclient)
            var sizeBefore: Int?
            var rootBefore: String?
            if haveGtlsclient {
                let bodies = try fetchWithGtlsclient(port: port, paths: ["/ct/sth", "/ct/proof/" + fingerprint], into: dir)
                let sth = bodies["/ct/sth"] ?? [:]
                XCTAssertEqual(sth["tree_size"] as? Int, 2, "\(sth)")
                XCTAssertNotNil(sth["sha256_root_hash"] as? String, "\(sth)")
                XCTAssertNotNil(sth["tree_head_signature"] as? String, "\(sth)")
                XCTAssertNotNil(sth["timestamp"] as? Int, "\(sth)")
                let proof = bodies["/ct/proof/" + fingerprint] ?? [:]
                XCTAssertEqual(proof["leaf_index"] as? Int, 1, "\(proof)")
                XCTAssertEqual(proof["tree_size"] as? Int, 2, "\(proof)")
                XCTAssertEqual((proof["audit_path"] as? [String])?.count, 1, "\(proof)")
                XCTAssertEqual((proof["sth"] as? [String: Any])?["sha256_root_hash"] as? String, sth["sha256_root_hash"] as? String)
                sizeBefore = sth["tree_size"] as? Int
                rootBefore = sth["sha256_root_hash"] as? String
            }

            // Restarted on the same state directory: same log, same serving certificate, proofs still verify.
            server.stop()
            let port2 = try freePort()
            server = try startServer(state: state, port: port2)
            XCTAssertTrue(server.output.contains("2 log entries"), server.output)
            XCTAssertTrue(server.output.contains("(reused)"), server.output)
            let again = try stoqsim(["trustchain", "ca", "verify", "--ca", "[::1]:\(port2)", "--state", state, cert])
            XCTAssertEqual(again.status, 0, again.stderr)
            if haveGtlsclient {
                let sth = try fetchWithGtlsclient(port: port2, paths: ["/ct/sth"], into: dir)["/ct/sth"] ?? [:]
                XCTAssertEqual(sth["tree_size"] as? Int, sizeBefore)
                XCTAssertEqual(sth["sha256_root_hash"] as? String, rootBefore)
            }
            server.stop()
            let audit = try stoqsim(["trustchain", "log", "verify", state])
            XCTAssertEqual(audit.status, 0, audit.stderr)
            XCTAssertTrue(audit.stdout.hasPrefix("2 entries"), audit.stdout)

            if !haveGtlsclient { throw XCTSkip("\(Self.gtlsclient) missing: install Debian package ngtcp2-client (tools/setup.sh)") }
            if !haveCerttool { throw XCTSkip("\(Self.certtool) missing: install Debian package gnutls-bin (tools/setup.sh); openssl checked the chain") }
        }
    }

    func testServeCertifiesTheNodesOfATopologyFile() throws {
        try withTemporaryDirectory { dir in
            let state = dir + "/state", topology = dir + "/t.yaml"
            try """
            name: ca-serve-test
            duration: 10s
            sites:
              - {name: fra, city: Frankfurt}
            nodes:
              - {name: core-fra, site: fra, role: core, address: "2001:db8:7::1"}
              - {name: edge-a, site: fra, role: edge, address: "2001:db8:7::a", uplink: {to: core-fra, tier: 1gbps}}
            """.write(toFile: topology, atomically: true, encoding: .utf8)
            XCTAssertEqual(try stoqsim(["trustchain", "ca", "init", "--state", state]).status, 0)
            let port = try freePort()
            let server = try startServer(state: state, port: port, nodes: ["--topology", topology])
            defer { server.stop() }
            XCTAssertTrue(server.output.contains("edge-a=2001:db8:7::a"), server.output)
            let enrol = try stoqsim(["trustchain", "ca", "enroll", "--ca", "[::1]:\(port)", "--state", state, "--node", "edge-a",
                                     "--address", "2001:db8:7::a", "--key-out", dir + "/a.key", "--cert-out", dir + "/a.pem"])
            XCTAssertEqual(enrol.status, 0, enrol.stderr + "\nserver:\n" + server.output)
            let moved = try stoqsim(["trustchain", "ca", "enroll", "--ca", "[::1]:\(port)", "--state", state, "--node", "core-fra",
                                     "--address", "2001:db8:7::a", "--key-out", dir + "/c.key", "--cert-out", dir + "/c.pem"])
            XCTAssertEqual(moved.status, 1)
            XCTAssertTrue(moved.stderr.contains("address_mismatch"), moved.stderr)
        }
    }

    func testServeEnrollAndVerifyRejectBadInputWithExitTwo() throws {
        try withTemporaryDirectory { dir in
            let state = dir + "/state"
            XCTAssertEqual(try stoqsim(["trustchain", "ca", "init", "--state", state]).status, 0)
            let cases: [([String], String)] = [
                (["serve", "--listen", "127.0.0.1:4433", "--state", state], "IPv6-only"),
                (["serve", "--listen", "[::1]:4433", "--state", dir + "/missing", "--allow", "n1=::1"], "ca.json is missing"),
                (["serve", "--listen", "[::1]:4433", "--state", state, "--allow", "n1"], "--allow 'n1' must be NAME=IPV6"),
                (["serve", "--listen", "[::1]:4433", "--state", state, "--allow", "n1=10.0.0.1"], "IPv4"),
                (["serve", "--listen", "[::1]:4433", "--state", state, "--difficulty", "40"], "--difficulty"),
                (["serve", "--listen", "[::1]:4433", "--state", state], "no node to certify"),
                (["serve", "--listen", "[::1]:4433", "--state", state, "--topology", dir + "/missing.yaml"], "cannot read topology file"),
                (["enroll", "--ca", "[::1]:4433", "--state", state, "--node", "n1", "--address", "10.0.0.1",
                  "--key-out", dir + "/k", "--cert-out", dir + "/c"], "IPv6-only"),
                (["enroll", "--ca", "localhost:4433", "--state", state, "--node", "n1", "--address", "::1",
                  "--key-out", dir + "/k", "--cert-out", dir + "/c"], "[ADDRESS]:PORT"),
                (["enroll", "--ca", "[::1]:4433", "--state", state, "--node", "n 1", "--address", "::1",
                  "--key-out", dir + "/k", "--cert-out", dir + "/c"], "--node 'n 1'"),
                (["enroll", "--ca", "[::1]:4433", "--state", state, "--node", "n1", "--address", "::1",
                  "--key-out", state + "/ca-key.pem", "--cert-out", dir + "/c"], "already exists"),
                (["verify", "--ca", "[::1]:4433", "--state", state, dir + "/nothing.pem"], "cannot read"),
            ]
            for (args, message) in cases {
                let r = try stoqsim(["trustchain", "ca"] + args)
                XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(message), "\(args): expected '\(message)' in: \(r.stderr)")
            }
            // Nobody listening: a runtime failure (exit 1) that says so, and nothing written.
            let port = try freePort()
            let r = try stoqsim(["trustchain", "ca", "enroll", "--ca", "[::1]:\(port)", "--state", state, "--node", "n1", "--address", "::1",
                                 "--key-out", dir + "/k", "--cert-out", dir + "/c", "--timeout", "1"])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("no answer from the CA at [::1]:\(port)"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/k"))
        }
    }
}
