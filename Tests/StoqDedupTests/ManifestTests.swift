import Foundation
import XCTest
@testable import StoqDedup

final class ManifestTests: XCTestCase {
    let data = ContentGenerator.randomBytes(300_000, seed: 5)

    func testBuildsFromData() {
        let m = Manifest(objectID: "videos/intro.mp4", version: 3, data: data, parameters: .small)
        XCTAssertEqual(m.totalSize, data.count)
        XCTAssertEqual(m.chunks.map(\.size), FastCDC(.small).boundaries(data).map(\.length))
        XCTAssertEqual(m.chunks.first?.id, SHA256.hash(Array(data.prefix(m.chunks[0].size))))
    }

    func testBinaryRoundTrip() throws {
        let m = Manifest(objectID: "ünïcode/object", version: 1 << 40, data: data, parameters: .small)
        let bytes = m.encoded()
        XCTAssertEqual(try Manifest(decoding: bytes), m)
        // ~33-36 bytes per chunk plus a small header: compact.
        XCTAssertLessThan(bytes.count, 40 + m.objectID.utf8.count + 36 * m.chunks.count)
    }

    func testJSONRoundTrip() throws {
        let m = Manifest(objectID: "a", version: 2, data: data, parameters: .small)
        let json = try m.jsonData(pretty: true)
        XCTAssertEqual(try Manifest(json: json), m)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains(m.chunks[0].id.hex))
    }

    func testEmptyObjectRoundTrips() throws {
        let m = Manifest(objectID: "", data: [], parameters: .default)
        XCTAssertEqual(m.chunks, [])
        XCTAssertEqual(try Manifest(decoding: m.encoded()), m)
        XCTAssertEqual(try Manifest(json: m.jsonData()), m)
    }

    func testCorruptBinaryIsRejected() {
        let good = Manifest(objectID: "x", data: data, parameters: .small).encoded()
        XCTAssertThrowsError(try Manifest(decoding: Array("NOPE".utf8) + good.dropFirst(4))) {
            XCTAssertEqual($0 as? ManifestError, .badMagic)
        }
        XCTAssertThrowsError(try Manifest(decoding: Array(good.dropLast(3)))) {
            XCTAssertEqual($0 as? ManifestError, .truncated)
        }
        XCTAssertThrowsError(try Manifest(decoding: good + [0])) {
            XCTAssertEqual($0 as? ManifestError, .invalid("1 trailing bytes"))
        }
        var badVersion = good
        badVersion[4] = 9
        XCTAssertThrowsError(try Manifest(decoding: badVersion)) {
            XCTAssertEqual($0 as? ManifestError, .unsupportedFormat(9))
        }
    }

    func testJSONWithWrongTotalOrBadParametersIsRejected() throws {
        var m = Manifest(objectID: "x", data: data, parameters: .small)
        m.totalSize += 1
        XCTAssertThrowsError(try Manifest(json: m.jsonData()))
        var badParameters = Manifest(objectID: "x", data: data, parameters: .small)
        badParameters.parameters.avgSize = 6000
        XCTAssertThrowsError(try Manifest(json: badParameters.jsonData())) {
            XCTAssertEqual("\($0)", "invalid manifest: chunker parameters: avg size 6000 is not a power of two (the masks take its log2); try 4096")
        }
    }

    func testUniqueChunksAndBytes() {
        let block = ContentGenerator.randomBytes(200_000, seed: 9)
        let a = ChunkID(words: (1, 0, 0, 0)), b = ChunkID(words: (2, 0, 0, 0))
        let m = Manifest(objectID: "r", parameters: .small,
                         chunks: [.init(id: a, size: 10), .init(id: b, size: 20), .init(id: a, size: 10)])
        XCTAssertEqual(m.uniqueChunkIDs, [a, b])
        XCTAssertEqual(m.uniqueBytes, 30)
        XCTAssertEqual(m.totalSize, 40)
        // The same 200 KB block three times over: after the first chunk of each
        // copy the boundaries resynchronise and the IDs repeat.
        let repeated = Manifest(objectID: "rep", data: block + block + block, parameters: .small)
        XCTAssertLessThan(repeated.uniqueBytes, repeated.totalSize / 2)
    }
}
