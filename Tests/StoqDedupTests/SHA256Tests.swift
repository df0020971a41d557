import StoqEngine
import XCTest
@testable import StoqDedup

final class SHA256Tests: XCTestCase {
    // FIPS 180-4 / NIST CSRC example vectors.
    func testFIPSVectors() {
        XCTAssertEqual(SHA256.hash([]).hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hash(Array("abc".utf8)).hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).hex,
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hex,
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths around the 55/56/64-byte padding edges.
    func testPaddingEdges() {
        XCTAssertEqual(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 55)).hex,
                       "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        XCTAssertEqual(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 56)).hex,
                       "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        XCTAssertEqual(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 64)).hex,
                       "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }

    func testIncrementalUpdatesMatchOneShot() {
        var rng = RandomStream(seed: 7)
        let data = ContentGenerator.randomBytes(10_000, using: &rng)
        let expected = SHA256.hash(data)
        for _ in 0..<20 {
            var s = SHA256()
            var i = 0
            while i < data.count {
                let n = min(data.count - i, Int(rng.next() % 200))
                s.update(Array(data[i..<(i + n)]))
                i += n
            }
            XCTAssertEqual(s.finalize(), expected)
        }
    }

    func testChunkIDHexRoundTrip() {
        let id = SHA256.hash(Array("abc".utf8))
        XCTAssertEqual(ChunkID(hex: id.hex), id)
        XCTAssertEqual(ChunkID(hex: id.hex.uppercased()), id)
        XCTAssertEqual(ChunkID(bytes: id.bytes), id)
        XCTAssertNil(ChunkID(hex: "abc"))
        XCTAssertNil(ChunkID(hex: String(repeating: "g", count: 64)))
        XCTAssertEqual(id.shortHex, "ba7816bf8f01")
    }
}

final class ChunkHashTests: XCTestCase {
    /// The default hasher (swift-crypto) and the portable reference give the same ids.
    func testSwiftCryptoAndPortableSHA256Agree() {
        var rng = RandomStream(seed: 3, stream: "hash")
        for size in [0, 1, 55, 56, 63, 64, 65, 1000, 4096, 65_537, 1 << 20] {
            let data = ContentGenerator.randomBytes(size, using: &rng)
            XCTAssertEqual(ChunkHash.sha256(data), SHA256.hash(data), "size \(size)")
        }
        XCTAssertEqual(ChunkHash.sha256(Array("abc".utf8)).hex,
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
