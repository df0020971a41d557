import StoqEngine
import XCTest
@testable import StoqDedup

/// Chunking on several cores (cut candidates scanned per segment, then one
/// walk over the chunks) gives exactly the sequential boundaries and ids.
final class ParallelChunkingTests: XCTestCase {
    func sequential(_ cdc: FastCDC, _ data: [UInt8]) -> [ChunkBoundary] { data.withUnsafeBytes { cdc.serialBoundaries($0) } }

    func parallel(_ cdc: FastCDC, _ data: [UInt8], threads: Int) -> [ChunkBoundary] {
        data.withUnsafeBufferPointer { CutCandidates(cdc, $0.baseAddress!, count: $0.count, threads: threads).boundaries() }
    }

    func testSameBoundariesForEveryPresetAndOddSizes() throws {
        let random = ContentGenerator.randomBytes(3 << 20, seed: 9)
        // Runs of one byte value and repeated blocks: long stretches without a cut, so max-size cuts and empty segments.
        var repetitive = [UInt8](repeating: 7, count: 1 << 20) + Array(random.prefix(1 << 19))
        repetitive += repetitive
        let params = ChunkerParameters.presets.map(\.parameters) + [
            try ChunkerParameters(minSize: 64, avgSize: 256, maxSize: 1024, normalization: 3),   // warm-up crosses the normal size
            try ChunkerParameters(minSize: 333, avgSize: 1024, maxSize: 4097, normalization: 1),
            try ChunkerParameters(minSize: 4096, avgSize: 8192, maxSize: 8192, normalization: 0),
        ]
        for p in params {
            let cdc = FastCDC(p)
            for data in [random, repetitive, Array(random.prefix(5000)), Array(random.prefix(p.minSize + 70))] {
                let reference = sequential(cdc, data)
                for threads in [1, 2, 3, 8] {
                    XCTAssertEqual(parallel(cdc, data, threads: threads), reference, "\(p), \(data.count) bytes, \(threads) threads")
                }
            }
        }
    }

    /// Many random sizes (up to four blocks) and thread counts, so the last,
    /// short block and the thread's share fall everywhere: inside warm-ups,
    /// next to cuts, at odd offsets.
    func testSameBoundariesForRandomSizesAndSplits() throws {
        var rng = RandomStream(seed: 20)
        let source = ContentGenerator.randomBytes(1 << 20, seed: 21)
        let params = [ChunkerParameters.small, try ChunkerParameters(minSize: 64, avgSize: 256, maxSize: 1024, normalization: 3)]
        for round in 0..<40 {
            let count = Int(rng.next() % UInt64(source.count))
            let data = Array(source.prefix(count))
            let threads = 1 + Int(rng.next() % 7)
            let cdc = FastCDC(params[round % params.count])
            XCTAssertEqual(parallel(cdc, data, threads: threads), sequential(cdc, data), "\(count) bytes, \(threads) threads")
        }
    }

    /// The scan rolls each block as four chains that start from a 63-byte
    /// warm-up; with small sizes candidates are dense (one position in 32 or
    /// 256), so many fall inside those warm-ups and on chain and block borders.
    /// One parameter set takes the shared-bits filter, the other tests both masks.
    func testSameBoundariesAcrossChainAndBlockBorders() throws {
        let data = ContentGenerator.randomBytes(2 * CutCandidates.blockLength + 777, seed: 5)
        for p in [try ChunkerParameters(minSize: 64, avgSize: 256, maxSize: 1024, normalization: 0),
                  try ChunkerParameters(minSize: 64, avgSize: 256, maxSize: 1024, normalization: 3)] {
            let cdc = FastCDC(p)
            let reference = sequential(cdc, data)
            for threads in [1, 2, 3] {
                XCTAssertEqual(parallel(cdc, data, threads: threads), reference, "\(p), \(threads) threads")
            }
        }
    }

    func testLargeObjectsTakeTheParallelPathWithTheSameChunks() {
        let data = ContentGenerator.randomBytes(FastCDC.parallelFromBytes + 12345, seed: 3)
        let cdc = FastCDC(.small)
        XCTAssertEqual(cdc.boundaries(data, threads: 2), sequential(cdc, data))
        XCTAssertEqual(cdc.boundaries(data, threads: 1), sequential(cdc, data))
        let chunks = cdc.chunks(data, threads: 2)
        XCTAssertEqual(chunks, cdc.chunks(data, threads: 1))
        XCTAssertEqual(chunks.map(\.id), chunks.map { c in data.withUnsafeBytes { SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[c.offset..<(c.offset + c.length)])) } })
    }
}
