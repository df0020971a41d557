import StoqEngine
import XCTest
@testable import StoqDedup

final class AccountingTests: XCTestCase {
    func id(_ n: UInt64) -> ChunkID { ChunkID(words: (n, 0, 0, 0)) }

    func testOnlyMissingChunksAreListedOnce() {
        let m = Manifest(objectID: "o", parameters: .small, chunks: [
            .init(id: id(1), size: 100), .init(id: id(2), size: 200), .init(id: id(3), size: 300),
            .init(id: id(2), size: 200), .init(id: id(4), size: 400),
        ])
        let plan = m.transferPlan(receiverHolds: [id(1), id(4)])
        XCTAssertEqual(plan.missing.map(\.id), [id(2), id(3)])
        XCTAssertEqual(plan.bytesRequested, 1200)
        XCTAssertEqual(plan.bytesToSend, 500)
        XCTAssertEqual(plan.bytesSaved, 700)
        XCTAssertEqual(plan.dedupRatio, 1 - 500.0 / 1200, accuracy: 1e-12)
        XCTAssertEqual(m.transferPlan(receiverHolds: Set((1...4).map(id))).missing, [])
        XCTAssertEqual(m.transferPlan(receiverHolds: []).bytesToSend, 1000, "the repeated chunk goes once")
    }

    func testLedgerPerObjectAndVersion() {
        var ledger = DedupLedger()
        let v1 = Manifest(objectID: "f", version: 1, parameters: .small, chunks: [.init(id: id(1), size: 100), .init(id: id(2), size: 100)])
        let v2 = Manifest(objectID: "f", version: 2, parameters: .small, chunks: [.init(id: id(1), size: 100), .init(id: id(3), size: 100)])
        ledger.record(v1.transferPlan(receiverHolds: []), for: v1)
        ledger.record(v2.transferPlan(receiverHolds: Set(v1.uniqueChunkIDs)), for: v2)
        XCTAssertEqual(ledger.totals(objectID: "f", version: 1)?.dedupRatio, 0)
        XCTAssertEqual(ledger.totals(objectID: "f", version: 2)?.dedupRatio, 0.5)
        XCTAssertEqual(ledger.totals(objectID: "f").bytesSent, 300)
        XCTAssertEqual(ledger.total.dedupRatio, 0.25)
        XCTAssertNil(ledger.totals(objectID: "f", version: 3))
    }
}

final class GeneratorTests: XCTestCase {
    func testDeterministicForASeed() {
        let a = ContentGenerator.versions(seed: 1, baseSize: 50_000, count: 3)
        XCTAssertEqual(a, ContentGenerator.versions(seed: 1, baseSize: 50_000, count: 3))
        XCTAssertNotEqual(a, ContentGenerator.versions(seed: 2, baseSize: 50_000, count: 3))
        XCTAssertEqual(ContentGenerator.randomBytes(13, seed: 4), ContentGenerator.randomBytes(13, seed: 4))
        XCTAssertEqual(ContentGenerator.randomBytes(13, seed: 4).count, 13)
    }

    func testEditKindsChangeTheSizeAsExpected() {
        let insertOnly = ContentGenerator.versions(seed: 3, baseSize: 10_000, count: 2,
                                                   edits: .init(editsPerVersion: 5, maxEditSize: 10, kinds: [.insert]))
        XCTAssertTrue((10_005...10_050).contains(insertOnly[1].count))
        let replaceOnly = ContentGenerator.versions(seed: 3, baseSize: 10_000, count: 2, edits: .init(kinds: [.replace]))
        XCTAssertEqual(replaceOnly[1].count, 10_000)
        XCTAssertNotEqual(replaceOnly[1], replaceOnly[0])
        let deleteOnly = ContentGenerator.versions(seed: 3, baseSize: 10_000, count: 2,
                                                   edits: .init(editsPerVersion: 5, maxEditSize: 10, kinds: [.delete]))
        XCTAssertTrue((9_950...9_995).contains(deleteOnly[1].count))
    }

    /// Each next version shares most of its chunks with the previous one.
    func testNextVersionDeduplicatesWell() {
        let versions = ContentGenerator.versions(seed: 8, baseSize: 2 << 20, count: 4,
                                                 edits: .init(editsPerVersion: 4, maxEditSize: 512))
        var ledger = DedupLedger()
        for n in 1..<versions.count {
            let prev = Manifest(objectID: "f", version: UInt64(n - 1), data: versions[n - 1], parameters: .small)
            let next = Manifest(objectID: "f", version: UInt64(n), data: versions[n], parameters: .small)
            let plan = next.transferPlan(receiverHolds: Set(prev.uniqueChunkIDs))
            ledger.record(plan, for: next)
            XCTAssertGreaterThan(plan.dedupRatio, 0.8, "version \(n)")
        }
        XCTAssertGreaterThan(ledger.total.dedupRatio, 0.8)
    }

    func testSharedBlockFilesShareChunks() {
        let files = ContentGenerator.sharedBlockFiles(seed: 2, files: 6, blocksPerFile: 8, blockSize: 32 << 10, distinctBlocks: 10)
        XCTAssertEqual(files.count, 6)
        XCTAssertTrue(files.allSatisfy { $0.count == 8 * (32 << 10) })
        XCTAssertEqual(files, ContentGenerator.sharedBlockFiles(seed: 2, files: 6, blocksPerFile: 8, blockSize: 32 << 10, distinctBlocks: 10))
        var held = Set<ChunkID>()
        var requested = 0, sent = 0
        for (i, f) in files.enumerated() {
            let m = Manifest(objectID: "file\(i)", data: f, parameters: .small)
            let plan = m.transferPlan(receiverHolds: held)
            requested += plan.bytesRequested
            sent += plan.bytesToSend
            held.formUnion(m.uniqueChunkIDs)
        }
        // 48 blocks drawn from 10 distinct ones: most bytes are repeats.
        XCTAssertLessThan(Double(sent) / Double(requested), 0.5)
    }
}
