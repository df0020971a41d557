import Foundation
import XCTest

/// `stoqsim node serve --root` never serves a file outside the root, however
/// a symbolic link inside it points; `node get` says why it was refused.
final class NodeServeRootTests: XCTestCase {
    func testLinksOutOfTheRootAreRefused() throws {
        let base = NSTemporaryDirectory() + "stoqsim-serve-root-" + UUID().uuidString
        let fm = FileManager.default
        try fm.createDirectory(atPath: base + "/www", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: base) }
        let secret = "secret beside the root\n"
        try secret.write(toFile: base + "/secret.txt", atomically: true, encoding: .utf8)
        try "hello\n".write(toFile: base + "/www/hello.txt", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: base + "/www/out.txt", withDestinationPath: "../secret.txt")
        try fm.createSymbolicLink(atPath: base + "/www/dir-out", withDestinationPath: "..")

        let server = try ChildStoqsim(["node", "serve", "--listen", "[::1]:0", "--root", base + "/www", "--self-signed"])
        defer { server.signal(SIGINT); server.finish() }
        guard server.wait(until: { server.stderr.contains("serving") }),
              let port = server.stderr.split(separator: "\n").first(where: { $0.hasPrefix("serving") })?
                .split(separator: "]:").last?.split(separator: " ").first else {
            return XCTFail("node serve did not start:\n\(server.stderr)")
        }

        func get(_ path: String) throws -> (status: Int32, stderr: String, body: String) {
            let out = base + "/got-" + UUID().uuidString
            let client = try ChildStoqsim(["node", "get", "[::1]:\(port)\(path)", "--out", out, "--timeout", "20",
                                           "--insecure-skip-verify-for-local-testing"])
            let status = client.finish()
            let body = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            try? fm.removeItem(atPath: out)
            return (status, client.stderr, body)
        }

        let hello = try get("/hello.txt")
        XCTAssertEqual(hello.status, 0, hello.stderr)
        XCTAssertEqual(hello.body, "hello\n")
        for path in ["/out.txt", "/dir-out/secret.txt"] {
            let r = try get(path)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("\(path): refused by the server (it leads outside the served directory)"), r.stderr)
            XCTAssertFalse(r.body.contains(secret))
        }
        let climbing = try get("/../secret.txt")
        XCTAssertEqual(climbing.status, 1, climbing.stderr)
        XCTAssertTrue(climbing.stderr.contains("refused by the server as a malformed path"), climbing.stderr)
        XCTAssertFalse(climbing.body.contains(secret))
    }
}
