import Foundation
import StoqEngine
import XCTest
@testable import StoqDedup

final class ChunkReportTests: XCTestCase {
    func encoderJSON(_ r: ChunkReport) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(r), as: UTF8.self)
    }

    /// The hand-written rows give exactly JSONEncoder's bytes, for odd file
    /// names (escaped slashes, quotes, non-ASCII), one chunk and none.
    func testJSONIsByteForByteJSONEncoders() throws {
        var data = ContentGenerator.randomBytes(300_000, seed: 5)
        data += data.prefix(100_000)   // repeated content: duplicate ids, a dedup ratio above 0
        let chunks = FastCDC(.small).chunks(data)
        for name in ["/tmp/a b/\"quoted\"\\x.bin", "données.bin", "plain"] {
            for subset in [chunks, Array(chunks.prefix(1)), []] {
                let report = ChunkReport(file: name, parameters: .small, chunks: subset)
                XCTAssertEqual(String(decoding: try report.json(), as: UTF8.self), try encoderJSON(report), "\(name), \(subset.count) chunks")
            }
        }
    }

    /// Boundaries only (`chunk --no-ids`): the same rows without ids, the
    /// unique-chunk figures left out, still JSONEncoder's bytes.
    func testReportWithoutIDsLeavesThoseKeysOut() throws {
        let data = ContentGenerator.randomBytes(300_000, seed: 6)
        let chunks = FastCDC(.small).chunks(data)
        let boundaries = FastCDC(.small).boundaries(data)
        for subset in [boundaries, Array(boundaries.prefix(1)), []] {
            let report = ChunkReport(file: "f.bin", parameters: .small, boundaries: subset)
            let json = String(decoding: try report.json(), as: UTF8.self)
            XCTAssertEqual(json, try encoderJSON(report), "\(subset.count) boundaries")
            XCTAssertFalse(json.contains("\"id\"") || json.contains("unique") || json.contains("dedupRatio"), json)
        }
        let full = ChunkReport(file: "f.bin", parameters: .small, chunks: chunks)
        let bare = ChunkReport(file: "f.bin", parameters: .small, boundaries: boundaries)
        XCTAssertEqual(bare.chunks.map { [$0.offset, $0.length] }, full.chunks.map { [$0.offset, $0.length] })
        var summary = full.summary
        summary.uniqueChunks = nil; summary.uniqueBytes = nil; summary.dedupRatio = nil
        XCTAssertEqual(bare.summary, summary)
    }

    func testSummaryCountsUniqueChunksOnce() {
        let a = ChunkID(words: (1, 2, 3, 4)), b = ChunkID(words: (5, 6, 7, 8))
        let chunks = [Chunk(offset: 0, length: 100, id: a), Chunk(offset: 100, length: 50, id: b), Chunk(offset: 150, length: 100, id: a)]
        let s = ChunkReport(file: "f", parameters: .default, chunks: chunks).summary
        XCTAssertEqual(s, ChunkReport.Summary(chunks: 3, bytes: 250, meanSize: 250.0 / 3, minSize: 50, maxSize: 100,
                                              uniqueChunks: 2, uniqueBytes: 150, dedupRatio: 1 - 150.0 / 250))
        XCTAssertEqual(ChunkReport(file: "f", parameters: .default, chunks: []).summary,
                       ChunkReport.Summary(chunks: 0, bytes: 0, meanSize: 0, minSize: 0, maxSize: 0, uniqueChunks: 0, uniqueBytes: 0, dedupRatio: 0))
    }
}
