import StoqEngine
import XCTest
@testable import StoqDedup

/// Chunking on several cores (segments chunked on their own, then joined
/// where their chunk ends meet the true ones) gives exactly the sequential
/// boundaries and ids.
final class ParallelChunkingTests: XCTestCase {
    func sequential(_ cdc: FastCDC, _ data: [UInt8]) -> [ChunkBoundary] { data.withUnsafeBytes { cdc.serialBoundaries($0) } }

    func parallel(_ cdc: FastCDC, _ data: [UInt8], threads: Int, segmentLength: Int? = nil) -> [ChunkBoundary] {
        data.withUnsafeBufferPointer {
            SegmentedChunking(cdc, $0.baseAddress!, count: $0.count, threads: threads, segmentLength: segmentLength).boundaries()
        }
    }

    func testSameBoundariesForEveryPresetAndOddSizes() throws {
        let random = ContentGenerator.randomBytes(3 << 20, seed: 9)
        // Runs of one byte value and repeated blocks: long stretches without a cut, so max-size cuts and segments that meet late or never.
        var repetitive = [UInt8](repeating: 7, count: 1 << 20) + Array(random.prefix(1 << 19))
        repetitive += repetitive
        let params = ChunkerParameters.presets.map(\.parameters) + [
            try ChunkerParameters(minSize: 64, avgSize: 256, maxSize: 1024, normalization: 3),   // min + a 64-byte window crosses the normal size
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

    /// Many random sizes and thread counts. With the default segment length
    /// the tiny parameters' segments (count / (8 × threads)) end at odd
    /// offsets: inside chunks' minimum sizes, next to cuts; the small preset's
    /// are 64 KiB, so its rounds vary the object's end instead.
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

    /// Short segments, so every join is exercised many times: segments whose
    /// lists meet the true chunks at once, a chunk or more later, or never
    /// (runs of one byte value: maximum-size chunks out of step), segment
    /// ends inside the minimum size, and lengths that are no multiple of anything.
    func testSegmentsJoinWhereTheirChunksMeetTheTrueOnes() throws {
        let random = ContentGenerator.randomBytes(1 << 20, seed: 5)
        var runs = [UInt8](repeating: 0, count: 300_000) + Array(random.prefix(200_000))
        runs += [UInt8](repeating: 0xAB, count: 250_001)
        let tiny = try ChunkerParameters(minSize: 64, avgSize: 256, maxSize: 1024, normalization: 3)
        // Each segment chunks on to its first end past its own: segments far
        // shorter than a chunk cost a chunk each, so those get little data.
        let cases: [(ChunkerParameters, [[UInt8]], [Int])] = [
            (tiny, [Array(random.prefix(20_000)), Array(runs.prefix(3000)) + Array(random.prefix(3000))], [1, 100, 333]),
            (tiny, [random, runs], [4097, 65_536]),
            (.small, [random, runs], [4097, 65_536, 300_001]),
            (.default, [random, runs], [65_536, 300_001]),
        ]
        for (p, inputs, lengths) in cases {
            let cdc = FastCDC(p)
            for data in inputs {
                let reference = sequential(cdc, data)
                for length in lengths {
                    XCTAssertEqual(parallel(cdc, data, threads: 2, segmentLength: length), reference,
                                   "\(p), \(data.count) bytes, segments of \(length)")
                }
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
