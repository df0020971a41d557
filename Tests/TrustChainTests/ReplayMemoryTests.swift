import Foundation
import StoqEngine
import XCTest
@testable import TrustChain

/// Accepted time proofs survive a restart of the CA (its state directory), so a
/// request replayed to the restarted CA is still refused; the memory is pruned
/// to the time window.
final class ReplayMemoryTests: XCTestCase {
    func testARequestReplayedToARestartedCAIsRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Fixture(stateDirectory: dir)
        let request = try f.request(now: .seconds(10))
        XCTAssertNoThrow(try f.ca.enroll(request, now: .seconds(10)).get())
        let file = dir.appendingPathComponent(ReplayMemory.fileName)
        XCTAssertEqual(try JSONLines.read(file, as: ReplayMemory.Entry.self).count, 1, "synced before the certificate was issued")

        // `ca serve` stopped and started again on the same directory, within the time window.
        let restarted = try CertificateAuthority.open(stateDirectory: dir, policies: f.policies)
        guard case let .failure(r) = restarted.enroll(request, now: .seconds(20)) else { return XCTFail("the replay was issued") }
        XCTAssertEqual([r.code, "\(r.status)"], ["replayed_request", "409"])
        XCTAssertEqual(restarted.log.size, 1, "nothing issued or logged")
        XCTAssertEqual(restarted.refusals["replayed_request"], 1)
        // A fresh request from the same node (new nonce) is issued as usual, and remembered too.
        XCTAssertNoThrow(try restarted.enroll(try f.request(now: .seconds(21)), now: .seconds(21)).get())
        XCTAssertEqual(try JSONLines.read(file, as: ReplayMemory.Entry.self).count, 2)
    }

    func testATornLastLineIsIgnoredAndCutBeforeTheNextAppend() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent(ReplayMemory.fileName)
        var memory = try ReplayMemory(file: file)
        try memory.remember("a:1", timestamp: 1000, nowMs: 1000, windowMs: 300_000)
        // A crash while appending the next proof: its certificate was never issued.
        let h = try FileHandle(forWritingTo: file)
        try h.seekToEnd()
        try h.write(contentsOf: Data("{\"key\":\"b:".utf8))
        try h.close()
        var reopened = try ReplayMemory(file: file)
        XCTAssertEqual(reopened.firstUse(of: "a:1"), 1000)
        XCTAssertNil(reopened.firstUse(of: "b:2"))
        try reopened.remember("c:3", timestamp: 2000, nowMs: 2000, windowMs: 300_000)
        XCTAssertEqual(try JSONLines.read(file, as: ReplayMemory.Entry.self).map(\.key), ["a:1", "c:3"])
    }

    func testProofsOlderThanTheWindowArePrunedFromMemoryAndFile() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent(ReplayMemory.fileName)
        var memory = try ReplayMemory(file: file, pruneAt: 4)
        let window: Int64 = 300_000
        for i in 0..<3 { try memory.remember("old:\(i)", timestamp: Int64(i) * 1000, nowMs: Int64(i) * 1000, windowMs: window) }
        // Ten minutes on: the first three are outside the ±5 min window, which TimeProofPolicy refuses anyway.
        let now: Int64 = 600_000
        try memory.remember("new:0", timestamp: now, nowMs: now, windowMs: window)
        XCTAssertEqual(memory.timestamps, ["new:0": now])
        XCTAssertEqual(try JSONLines.read(file, as: ReplayMemory.Entry.self), [ReplayMemory.Entry(key: "new:0", timestamp: now)])
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path + ".tmp"))
        // A restart loads only what was kept; appends continue after it.
        var reopened = try ReplayMemory(file: file, pruneAt: 4)
        try reopened.remember("new:1", timestamp: now + 1, nowMs: now + 1, windowMs: window)
        XCTAssertEqual(try JSONLines.read(file, as: ReplayMemory.Entry.self).map(\.key), ["new:0", "new:1"])
    }
}
