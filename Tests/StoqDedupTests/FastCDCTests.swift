import StoqEngine
import XCTest
@testable import StoqDedup

final class FastCDCTests: XCTestCase {
    static let fourMiB = ContentGenerator.randomBytes(4 << 20, seed: 42)

    func assertLimits(_ b: [ChunkBoundary], total: Int, _ p: ChunkerParameters, file: StaticString = #filePath, line: UInt = #line) {
        var offset = 0
        for (i, c) in b.enumerated() {
            XCTAssertEqual(c.offset, offset, file: file, line: line)
            XCTAssertLessThanOrEqual(c.length, p.maxSize, file: file, line: line)
            if i < b.count - 1 { XCTAssertGreaterThanOrEqual(c.length, p.minSize, file: file, line: line) }
            offset += c.length
        }
        XCTAssertEqual(offset, total, file: file, line: line)
    }

    func testMinAndMaxRespectedForEveryPreset() {
        for (_, p) in ChunkerParameters.presets {
            assertLimits(FastCDC(p).boundaries(Self.fourMiB), total: Self.fourMiB.count, p)
        }
    }

    func testAllZeroInputGivesMaxSizeChunks() {
        let p = ChunkerParameters.small
        let data = [UInt8](repeating: 0, count: 10 * p.maxSize + 123)
        let b = FastCDC(p).boundaries(data)
        XCTAssertEqual(b.count, 11)
        XCTAssertTrue(b.dropLast().allSatisfy { $0.length == p.maxSize })
        XCTAssertEqual(b.last?.length, 123)
    }

    func testShortAndEmptyInputs() {
        let cdc = FastCDC(.small)
        XCTAssertEqual(cdc.boundaries([]), [])
        XCTAssertEqual(cdc.boundaries([1, 2, 3]), [ChunkBoundary(offset: 0, length: 3)])
    }

    /// On random data the mean sits near the target (normalized chunking
    /// concentrates sizes around it).
    func testAverageSizeNearTarget() {
        for p in [ChunkerParameters.small, .default] {
            let b = FastCDC(p).boundaries(Self.fourMiB)
            let mean = Double(Self.fourMiB.count) / Double(b.count)
            XCTAssertGreaterThan(mean, 0.6 * Double(p.avgSize), "\(p)")
            XCTAssertLessThan(mean, 1.6 * Double(p.avgSize), "\(p)")
        }
    }

    func testStreamingMatchesOneShotForRandomFeedSizes() {
        let data = Array(Self.fourMiB.prefix(600_000))
        let p = ChunkerParameters.small
        let expected = FastCDC(p).chunks(data)
        var rng = RandomStream(seed: 3)
        for round in 0..<6 {
            var s = StreamingChunker(p)
            var got: [Chunk] = []
            var i = 0
            // Feed sizes from single bytes up to several max sizes.
            let cap = [1, 100, 5_000, p.maxSize, 3 * p.maxSize, 1 << 20][round]
            while i < data.count {
                let n = min(data.count - i, 1 + Int(rng.next() % UInt64(cap)))
                s.feed(Array(data[i..<(i + n)])) { c, bytes in
                    XCTAssertEqual(bytes.count, c.length)
                    got.append(c)
                }
                i += n
            }
            got += s.finish()
            XCTAssertEqual(got, expected, "feed sizes up to \(cap)")
        }
    }

    func testStreamingHandsOutTheChunkBytes() {
        let data = Array(Self.fourMiB.prefix(300_000))
        var s = StreamingChunker(.small)
        var rebuilt: [UInt8] = []
        s.feed(data) { _, bytes in rebuilt += bytes }
        s.finish { _, bytes in rebuilt += bytes }
        XCTAssertEqual(rebuilt, data)
    }

    /// A faster SHA-256 can be plugged in; both APIs must use it.
    func testInjectedHasherIsUsed() {
        let data = Array(Self.fourMiB.prefix(100_000))
        let byLength: ChunkHasher = { ChunkID(words: (UInt64($0.count), 0, 0, 0)) }
        let oneShot = FastCDC(.small).chunks(data, hash: byLength)
        XCTAssertTrue(oneShot.allSatisfy { $0.id.words.0 == UInt64($0.length) })
        var s = StreamingChunker(.small, hash: byLength)
        XCTAssertEqual(s.feed(data) + s.finish(), oneShot)
    }

    func testInsertAtFrontKeepsAllButTheFirstChunks() {
        let p = ChunkerParameters.default
        let before = FastCDC(p).chunks(Self.fourMiB)
        let edited = [UInt8](repeating: 0xab, count: 100) + Self.fourMiB
        let after = FastCDC(p).chunks(edited)
        let old = Set(before.map(\.id))
        let changed = after.filter { !old.contains($0.id) }
        XCTAssertGreaterThan(before.count, 30)
        XCTAssertLessThanOrEqual(changed.count, 2)
        XCTAssertTrue(changed.allSatisfy { $0.offset < 2 * p.maxSize })
    }

    func testEditInTheMiddleChangesOnlyNearbyChunks() {
        let p = ChunkerParameters.small
        var edited = Self.fourMiB
        let at = 2 << 20
        edited.replaceSubrange(at..<(at + 50), with: [UInt8](repeating: 7, count: 80))
        let before = FastCDC(p).chunks(Self.fourMiB)
        let after = FastCDC(p).chunks(edited)
        let old = Set(before.map(\.id))
        let changed = after.filter { !old.contains($0.id) }
        XCTAssertGreaterThan(before.count, 300)
        XCTAssertGreaterThanOrEqual(changed.count, 1)
        XCTAssertLessThanOrEqual(changed.count, 3)
        for c in changed {
            XCTAssertLessThanOrEqual(c.offset, at + 80, "changed chunk starts after the edit")
            XCTAssertGreaterThanOrEqual(c.offset + c.length, at - p.maxSize, "changed chunk far before the edit")
        }
    }

    func testMasksCarryTheNormalizedBitCounts() {
        let cdc = FastCDC(.default)  // avg 2^16, level 2
        XCTAssertEqual(cdc.maskS.nonzeroBitCount, 18)
        XCTAssertEqual(cdc.maskL.nonzeroBitCount, 14)
        XCTAssertEqual(cdc.maskS >> 63, 0, "bit 63 must stay clear for the two-byte loop")
        XCTAssertEqual(cdc.maskS.trailingZeroBitCount, 14)
    }

    /// The two-byte loop must agree with the textbook one-byte gear loop.
    func testTwoByteLoopMatchesReferenceLoop() {
        for p in [ChunkerParameters.small, try! ChunkerParameters(minSize: 333, avgSize: 1024, maxSize: 4097, normalization: 1)] {
            let cdc = FastCDC(p)
            let data = Array(Self.fourMiB.prefix(1 << 20))
            var reference: [ChunkBoundary] = []
            var offset = 0
            while offset < data.count {
                let len = referenceCut(Array(data[offset...].prefix(p.maxSize)), cdc)
                reference.append(ChunkBoundary(offset: offset, length: len))
                offset += len
            }
            XCTAssertEqual(cdc.boundaries(data), reference)
        }
    }

    func referenceCut(_ d: [UInt8], _ cdc: FastCDC) -> Int {
        let p = cdc.parameters
        if d.count <= p.minSize { return d.count }
        var h: UInt64 = 0
        for i in p.minSize..<d.count {
            h = (h << 1) &+ gearTable[Int(d[i])]
            if h & (i < p.avgSize ? cdc.maskS : cdc.maskL) == 0 { return i + 1 }
        }
        return d.count
    }

    /// Pins the gear table and masks: a change here silently breaks dedup
    /// against every manifest already published.
    func testBoundariesArePinned() {
        let b = FastCDC(.small).boundaries(ContentGenerator.randomBytes(100_000, seed: 1))
        XCTAssertEqual(b.prefix(4).map(\.length), Self.pinnedSmall)
    }
    static let pinnedSmall = [8902, 10191, 4386, 4968]

    func testParameterValidation() {
        func message(_ min: Int, _ avg: Int, _ max: Int, _ level: Int = 2) -> String? {
            do { _ = try ChunkerParameters(minSize: min, avgSize: avg, maxSize: max, normalization: level); return nil } catch {
                return "\(error)"
            }
        }
        XCTAssertNil(message(4096, 65536, 1 << 20))
        XCTAssertEqual(message(8192, 4096, 65536), "min size 8192 is larger than avg size 4096")
        XCTAssertEqual(message(1024, 65536, 32768), "avg size 65536 is larger than max size 32768")
        XCTAssertEqual(message(1024, 6000, 65536), "avg size 6000 is not a power of two (the masks take its log2); try 4096")
        XCTAssertNotNil(message(16, 4096, 65536))
        XCTAssertNotNil(message(1024, 4096, 65536, 5))
        XCTAssertEqual(ChunkerParameters.preset(named: "large")?.avgSize, 1 << 20)
        XCTAssertNil(ChunkerParameters.preset(named: "huge"))
        for (_, p) in ChunkerParameters.presets { XCTAssertNoThrow(try p.validate()) }
    }
}
