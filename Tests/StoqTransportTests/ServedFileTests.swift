import Foundation
import StoqTransport
import XCTest

/// A served directory with every kind of way out, and a secret beside it:
///
///     base/outside/secret.txt
///     base/www/present.txt, sub/nested.txt, fifo
///     base/www/same.txt -> present.txt          (relative, stays inside)
///     base/www/absolute-inside.txt -> base/www/sub/nested.txt
///     base/www/dir-in -> sub
///     base/www/out.txt -> ../outside/secret.txt (a file outside)
///     base/www/out-absolute.txt -> base/outside/secret.txt
///     base/www/dir-out -> ../outside           (a directory outside)
///     base/www/sub/up -> ..                     (climbs, but stays inside)
///     base/www/loop-a -> loop-b -> loop-a
///     base/www-link -> www                      (the root itself a link)
struct ServedTree {
    let base: String
    var root: String { base + "/www" }
    static let secret = "secret outside the root\n"

    init() throws {
        base = NSTemporaryDirectory() + "stoq-served-\(getpid())-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: base + "/www/sub", withIntermediateDirectories: true)
        try Self.secret.write(toFile: base + "/outside/secret.txt", atomically: true, encoding: .utf8)
        try "present\n".write(toFile: base + "/www/present.txt", atomically: true, encoding: .utf8)
        try "nested\n".write(toFile: base + "/www/sub/nested.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(mkfifo(base + "/www/fifo", 0o600), 0)
        let links = [("www/same.txt", "present.txt"), ("www/absolute-inside.txt", base + "/www/sub/nested.txt"),
                     ("www/dir-in", "sub"), ("www/out.txt", "../outside/secret.txt"),
                     ("www/out-absolute.txt", base + "/outside/secret.txt"), ("www/dir-out", "../outside"),
                     ("www/sub/up", ".."), ("www/loop-a", "loop-b"), ("www/loop-b", "loop-a"), ("www-link", "www")]
        for (at, to) in links { try fm.createSymbolicLink(atPath: base + "/" + at, withDestinationPath: to) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: base) }
}

final class ServedFileTests: XCTestCase {
    private func content(_ path: String, under root: String) -> Result<String, ServedFile.Refusal> {
        ServedFile.open(Substring(path), under: root).map { fd in
            defer { close(fd) }
            return String(decoding: ServedFile.readAll(fd) ?? [], as: UTF8.self)
        }
    }

    func testLinksOutOfTheRootAreRefusedAndEverythingInsideIsServed() throws {
        let tree = try ServedTree()
        defer { tree.remove() }
        for root in [tree.root, tree.base + "/www-link", tree.root + "/"] {
            XCTAssertEqual(content("/present.txt", under: root), .success("present\n"), root)
            XCTAssertEqual(content("/same.txt", under: root), .success("present\n"), root)
            XCTAssertEqual(content("/absolute-inside.txt", under: root), .success("nested\n"), root)
            XCTAssertEqual(content("/dir-in/nested.txt", under: root), .success("nested\n"), root)
            XCTAssertEqual(content("/sub/up/present.txt", under: root), .success("present\n"), root)
            XCTAssertEqual(content("//sub///nested.txt", under: root), .success("nested\n"), root)

            XCTAssertEqual(content("/out.txt", under: root), .failure(.outsideRoot), root)
            XCTAssertEqual(content("/out-absolute.txt", under: root), .failure(.outsideRoot), root)
            XCTAssertEqual(content("/dir-out/secret.txt", under: root), .failure(.outsideRoot), root)
            XCTAssertEqual(content("/sub/up/dir-out/secret.txt", under: root), .failure(.outsideRoot), root)

            XCTAssertEqual(content("/../outside/secret.txt", under: root), .failure(.badPath), root)
            XCTAssertEqual(content("/sub/../../outside/secret.txt", under: root), .failure(.badPath), root)
            XCTAssertEqual(content("/./present.txt", under: root), .failure(.badPath), root)
            XCTAssertEqual(content("/", under: root), .failure(.badPath), root)
            XCTAssertEqual(content("present.txt", under: root), .failure(.badPath), root)
            XCTAssertEqual(content("/present.txt\0", under: root), .failure(.badPath), root)

            // An absolute-looking request path is still under the root.
            XCTAssertEqual(content("/" + tree.base + "/outside/secret.txt", under: root), .failure(.notFound), root)
            XCTAssertEqual(content("/absent.txt", under: root), .failure(.notFound), root)
            XCTAssertEqual(content("/loop-a", under: root), .failure(.notFound), root)
            XCTAssertEqual(content("/present.txt/x", under: root), .failure(.notFound), root)
            XCTAssertEqual(content("/sub", under: root), .failure(.notAFile), root)
            XCTAssertEqual(content("/fifo", under: root), .failure(.notAFile), "opening a FIFO must neither hang nor serve it")
        }
        XCTAssertEqual(content("/present.txt", under: tree.base + "/missing"), .failure(.notFound))
    }
}
