import Crypto
import XCTest
@testable import TrustChain

/// Straight transcriptions of RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 over
/// slices, kept apart from the production tree (which caches subtrees).
enum Reference {
    static func mth(_ d: ArraySlice<[UInt8]>) -> Hash {
        switch d.count {
        case 0: return Array(SHA256.hash(data: [UInt8]()))
        case 1: return Array(SHA256.hash(data: [0x00] + d.first!))
        default:
            var k = 1
            while k * 2 < d.count { k *= 2 }
            let left = mth(d.prefix(k)), right = mth(d.dropFirst(k))
            return Array(SHA256.hash(data: [0x01] + left + right))
        }
    }

    static func split(_ n: Int) -> Int { var k = 1; while k * 2 < n { k *= 2 }; return k }

    static func path(_ m: Int, _ d: ArraySlice<[UInt8]>) -> [Hash] {
        guard d.count > 1 else { return [] }
        let k = split(d.count)
        return m < k ? path(m, d.prefix(k)) + [mth(d.dropFirst(k))] : path(m - k, d.dropFirst(k)) + [mth(d.prefix(k))]
    }

    static func subproof(_ m: Int, _ d: ArraySlice<[UInt8]>, _ b: Bool) -> [Hash] {
        if m == d.count { return b ? [] : [mth(d)] }
        let k = split(d.count)
        return m <= k ? subproof(m, d.prefix(k), b) + [mth(d.dropFirst(k))]
                      : subproof(m - k, d.dropFirst(k), false) + [mth(d.prefix(k))]
    }
}

final class MerkleTreeTests: XCTestCase {
    /// Leaves i → bytes [i, i*7, …] of varying length, so no two leaves are equal.
    static let leaves: [[UInt8]] = (0..<70).map { i in (0...(i % 5)).map { UInt8(truncatingIfNeeded: i &* ($0 + 7)) } }

    func tree(_ n: Int) -> MerkleTree { MerkleTree(leafHashes: Self.leaves.prefix(n).map(MerkleHash.leaf)) }

    func testRootMatchesBruteForceForEverySize() {
        var t = MerkleTree()
        XCTAssertEqual(t.rootHash(), Reference.mth([]))
        for n in 1...Self.leaves.count {
            t.append(leafHash: MerkleHash.leaf(Self.leaves[n - 1]))
            XCTAssertEqual(t.rootHash(), Reference.mth(Self.leaves.prefix(n)), "size \(n)")
            // Older sizes stay answerable after appends.
            XCTAssertEqual(t.rootHash(treeSize: n / 2), Reference.mth(Self.leaves.prefix(n / 2)), "size \(n / 2) of \(n)")
        }
    }

    /// The RFC 6962 test vectors used by the reference CT implementations.
    func testKnownAnswerVectors() {
        let leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .map { Encoding.unhex($0)! }
        let t = MerkleTree(leafHashes: leaves.map(MerkleHash.leaf))
        XCTAssertEqual(Encoding.hex(MerkleHash.empty), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(Encoding.hex(t.rootHash(treeSize: 1)), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        XCTAssertEqual(Encoding.hex(t.rootHash(treeSize: 8)), "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
        for n in 0...8 { XCTAssertEqual(t.rootHash(treeSize: n), Reference.mth(leaves.prefix(n))) }
    }

    func testInclusionProofsForEveryIndexAndSize() throws {
        let t = tree(64)
        for n in 1...64 {
            let root = t.rootHash(treeSize: n)
            for m in 0..<n {
                let proof = try XCTUnwrap(t.inclusionProof(leafIndex: m, treeSize: n))
                XCTAssertEqual(proof, Reference.path(m, Self.leaves.prefix(n)), "PATH(\(m), D[\(n)])")
                let leaf = t.leafHash(at: m)
                XCTAssertNoThrow(try MerkleVerifier.verifyInclusion(leafHash: leaf, leafIndex: m, treeSize: n, proof: proof, rootHash: root))
                assertInclusionTamperingRejected(leaf: leaf, m: m, n: n, proof: proof, root: root, other: t.leafHash(at: (m + 1) % 64))
            }
        }
        XCTAssertNil(t.inclusionProof(leafIndex: 5, treeSize: 5))
        XCTAssertNil(t.inclusionProof(leafIndex: 0, treeSize: 65))
    }

    private func assertInclusionTamperingRejected(leaf: Hash, m: Int, n: Int, proof: [Hash], root: Hash, other: Hash) {
        func rejects(_ leaf: Hash, _ m: Int, _ n: Int, _ p: [Hash], _ r: Hash, _ what: String) {
            XCTAssertThrowsError(try MerkleVerifier.verifyInclusion(leafHash: leaf, leafIndex: m, treeSize: n, proof: p, rootHash: r),
                                 "\(what) accepted for m=\(m) n=\(n)")
        }
        for i in proof.indices {
            var p = proof
            p[i][i % 32] ^= 0x01
            rejects(leaf, m, n, p, root, "flipped bit in hash \(i)")
        }
        if n > 1 { rejects(other, m, n, proof, root, "another leaf") }
        rejects(leaf, m, n, proof + [root], root, "extended proof")
        if !proof.isEmpty { rejects(leaf, m, n, Array(proof.dropLast()), root, "truncated proof") }
        rejects(leaf, n, n, proof, root, "index at size")
        var badRoot = root
        badRoot[0] ^= 0x80
        rejects(leaf, m, n, proof, badRoot, "wrong root")
        // A different index only verifies if it walks the same path, which with distinct siblings it never does.
        if n > 1 { rejects(leaf, (m + 1) % n, n, proof, root, "wrong index") }
    }

    func testConsistencyProofsForEveryPairOfSizes() throws {
        let t = tree(64)
        for n in 1...64 {
            let second = t.rootHash(treeSize: n)
            for m in 1...n {
                let first = t.rootHash(treeSize: m)
                let proof = try XCTUnwrap(t.consistencyProof(first: m, second: n))
                XCTAssertEqual(proof, m == n ? [] : Reference.subproof(m, Self.leaves.prefix(n), true), "PROOF(\(m), D[\(n)])")
                XCTAssertNoThrow(try MerkleVerifier.verifyConsistency(first: m, second: n, firstHash: first, secondHash: second, proof: proof),
                                 "m=\(m) n=\(n)")
                for i in proof.indices {
                    var p = proof
                    p[i][31 - i % 32] ^= 0x04
                    XCTAssertThrowsError(try MerkleVerifier.verifyConsistency(first: m, second: n, firstHash: first, secondHash: second, proof: p),
                                         "tampered hash \(i) accepted for m=\(m) n=\(n)")
                }
                if m < n {
                    var wrongFirst = first
                    wrongFirst[3] ^= 1
                    XCTAssertThrowsError(try MerkleVerifier.verifyConsistency(first: m, second: n, firstHash: wrongFirst, secondHash: second, proof: proof))
                    XCTAssertThrowsError(try MerkleVerifier.verifyConsistency(first: m, second: n, firstHash: first, secondHash: second, proof: []))
                    XCTAssertThrowsError(try MerkleVerifier.verifyConsistency(first: m, second: n, firstHash: first, secondHash: second, proof: proof + [first]))
                    if n < 64 {
                        XCTAssertThrowsError(try MerkleVerifier.verifyConsistency(first: m, second: n + 1, firstHash: first,
                                                                                  secondHash: t.rootHash(treeSize: n + 1), proof: proof),
                                             "proof for \(n) accepted for \(n + 1) (m=\(m))")
                    }
                }
            }
        }
        XCTAssertThrowsError(try MerkleVerifier.verifyConsistency(first: 0, second: 3, firstHash: MerkleHash.empty, secondHash: t.rootHash(treeSize: 3), proof: []))
        XCTAssertNil(t.consistencyProof(first: 4, second: 3))
    }

    /// 10^5 leaves: appends stay cheap and proofs at the far ends verify (behaviour, not timing).
    func testLargeTreeProofs() throws {
        var t = MerkleTree()
        var leaves: [Hash] = []
        for i in 0..<100_003 {
            var x = UInt64(i)
            let h = MerkleHash.leaf(withUnsafeBytes(of: &x) { Array($0) })
            leaves.append(h)
            t.append(leafHash: h)
        }
        let n = t.size, root = t.rootHash()
        for m in [0, 1, 65_535, 65_536, 99_999, n - 1] {
            let p = try XCTUnwrap(t.inclusionProof(leafIndex: m, treeSize: n))
            XCTAssertLessThanOrEqual(p.count, 17)
            XCTAssertNoThrow(try MerkleVerifier.verifyInclusion(leafHash: leaves[m], leafIndex: m, treeSize: n, proof: p, rootHash: root))
        }
        for m in [1, 777, 65_536, 99_000] {
            let p = try XCTUnwrap(t.consistencyProof(first: m, second: n))
            XCTAssertNoThrow(try MerkleVerifier.verifyConsistency(first: m, second: n, firstHash: t.rootHash(treeSize: m), secondHash: root, proof: p))
        }
    }
}
