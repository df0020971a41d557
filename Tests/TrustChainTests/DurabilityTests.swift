import Foundation
import StoqEngine
import XCTest
@testable import TrustChain

/// What a crash in mid-append leaves in a CA state directory, and its repair.
final class DurabilityTests: XCTestCase {
    private func fileSize(_ url: URL) throws -> Int {
        try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber).intValue
    }

    private func append(_ text: String, to url: URL) throws {
        let h = try FileHandle(forWritingTo: url)
        try h.seekToEnd()
        try h.write(contentsOf: Data(text.utf8))
        try h.close()
    }

    /// A state directory with `count` certificates logged.
    private func stateWithEntries(_ count: Int) throws -> (URL, Fixture, [String]) {
        let dir = temporaryDirectory()
        let f = try Fixture(stateDirectory: dir)
        var fingerprints: [String] = []
        for i in 0..<count {
            fingerprints.append(try f.ca.enroll(try f.request(key: f.key(UInt64(i + 1)), now: .seconds(Int64(i))), now: .seconds(Int64(i))).get().fingerprint)
        }
        return (dir, f, fingerprints)
    }

    func testATornLastEntryIsReportedAndRepaired() throws {
        let (dir, f, fingerprints) = try stateWithEntries(3)
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("log.jsonl")
        let sound = try fileSize(log)
        // A crash while appending the 4th entry: part of its line, no newline.
        let torn = "{\"certificate\":\"MIIBhTCCATeg"
        try append(torn, to: log)

        XCTAssertThrowsError(try CertificateAuthority.open(stateDirectory: dir, policies: f.policies)) { error in
            guard case let .tornTail(t)? = error as? TrustChainError else { return XCTFail("\(error)") }
            XCTAssertEqual(t.keptBytes, sound)
            XCTAssertEqual(t.tornBytes, torn.utf8.count)
            XCTAssertTrue("\(error)".contains("truncate -s \(sound) \(log.path)"), "\(error)")
            XCTAssertTrue("\(error)".contains("log verify --repair"), "\(error)")
        }
        let audit = try CertificateAuthority.audit(stateDirectory: dir)
        XCTAssertEqual(audit.tornTails.map(\.path), [log.path])
        XCTAssertEqual(audit.entries, 3)
        XCTAssertEqual(audit.problems, [], "the rest of the log checks out")
        XCTAssertFalse(audit.isClean)
        XCTAssertEqual(try fileSize(log), sound + torn.utf8.count, "an audit writes nothing")

        let repaired = try CertificateAuthority.repair(stateDirectory: dir)
        XCTAssertEqual(repaired.actions.count, 1)
        XCTAssertTrue(repaired.actions[0].contains("truncated \(log.path) from \(sound + torn.utf8.count) to \(sound) bytes"), repaired.actions[0])
        XCTAssertTrue(repaired.audit.isClean, "\(repaired.audit.problems)")
        XCTAssertEqual(try fileSize(log), sound)

        let ca = try CertificateAuthority.open(stateDirectory: dir, policies: f.policies)
        XCTAssertEqual(ca.log.size, 3)
        XCTAssertEqual(ca.log.verifyHistory(), [])
        XCTAssertNotNil(ca.log.inclusionProof(fingerprint: fingerprints[2]))
        // The log goes on from there.
        XCTAssertEqual(try ca.enroll(try f.request(key: f.key(9), now: .seconds(5)), now: .seconds(5)).get().leafIndex, 3)
        XCTAssertTrue(try CertificateAuthority.audit(stateDirectory: dir).isClean)
    }

    func testACrashBetweenLoggingAndSigningIsRepairedWithANewTreeHead() throws {
        let (dir, f, fingerprints) = try stateWithEntries(2)
        defer { try? FileManager.default.removeItem(at: dir) }
        let heads = dir.appendingPathComponent("sth.jsonl")
        // The entry of the 2nd certificate reached the disk, its tree head only half.
        let text = try String(contentsOf: heads, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let last = lines.removeLast()
        try (lines.joined(separator: "\n") + "\n" + last.prefix(last.count / 2)).write(to: heads, atomically: false, encoding: .utf8)

        let audit = try CertificateAuthority.audit(stateDirectory: dir)
        XCTAssertEqual(audit.tornTails.count, 1)
        XCTAssertEqual(audit.uncoveredEntries, 1)
        XCTAssertTrue(audit.problems.contains { $0.contains("entries 1…1 are not covered") }, "\(audit.problems)")

        let repaired = try CertificateAuthority.repair(stateDirectory: dir)
        XCTAssertEqual(repaired.actions.count, 2, "\(repaired.actions)")
        XCTAssertTrue(repaired.actions[1].hasPrefix("signed a tree head for size 2"), repaired.actions[1])
        XCTAssertTrue(repaired.audit.isClean, "\(repaired.audit.problems)")
        let ca = try CertificateAuthority.open(stateDirectory: dir, policies: f.policies)
        let proof = try XCTUnwrap(ca.log.inclusionProof(fingerprint: fingerprints[1]))
        XCTAssertEqual(proof.treeSize, 2)
        XCTAssertTrue(proof.treeHead.verify(logKey: ca.log.publicKey))
        XCTAssertEqual(ca.log.verifyHistory(), [])
    }

    func testACorruptLineInTheMiddleIsNotTakenForATornTail() throws {
        let (dir, f, _) = try stateWithEntries(2)
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("log.jsonl")
        let text = try String(contentsOf: log, encoding: .utf8)
        try ("garbage\n" + text).write(to: log, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try CertificateAuthority.open(stateDirectory: dir, policies: f.policies)) {
            XCTAssertTrue("\($0)".contains("line 1"), "\($0)")
        }
        XCTAssertThrowsError(try CertificateAuthority.repair(stateDirectory: dir))
        XCTAssertTrue(try String(contentsOf: log, encoding: .utf8).hasPrefix("garbage\n"), "nothing was cut")
    }

    func testAppendsAreWholeLinesAndANewFileIsCreated() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("x.jsonl")
        try appendLine("{\"a\":1}", to: file)
        try appendLine("{\"a\":2}", to: file)
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "{\"a\":1}\n{\"a\":2}\n")
        XCTAssertThrowsError(try appendLine("x", to: dir.appendingPathComponent("missing/x.jsonl")))
    }
}
