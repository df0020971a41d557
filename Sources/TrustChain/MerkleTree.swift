import Crypto

/// A SHA-256 digest (32 bytes).
public typealias Hash = [UInt8]

/// RFC 9162 §2.1.1 hashing: a 0x00 prefix for leaves and 0x01 for interior
/// nodes, so a leaf can never be passed off as an interior node.
public enum MerkleHash {
    /// MTH({}) = SHA-256 of the empty string.
    public static let empty: Hash = Array(SHA256.hash(data: [UInt8]()))

    public static func leaf(_ data: [UInt8]) -> Hash {
        var h = SHA256()
        h.update(data: [0x00])
        h.update(data: data)
        return Array(h.finalize())
    }

    public static func node(_ left: Hash, _ right: Hash) -> Hash {
        var h = SHA256()
        h.update(data: [0x01])
        h.update(data: left)
        h.update(data: right)
        return Array(h.finalize())
    }
}

/// The largest power of two strictly smaller than `n` (n ≥ 2): the split point k of RFC 9162 §2.1.1.
@inline(__always) func largestPowerOfTwo(below n: Int) -> Int {
    precondition(n >= 2)
    return 1 << (Int.bitWidth - 1 - (n - 1).leadingZeroBitCount)
}

/// An append-only Merkle tree over leaf hashes.
///
/// Besides the leaf hashes it keeps, per level, the hash of every complete
/// aligned subtree (2^k leaves starting at a multiple of 2^k). Every left
/// child in RFC 9162's decomposition is such a subtree, so a subtree hash is
/// one lookup on the left plus one recursion on the right: O(log n). Proofs
/// precompute the right-edge hashes once, so they cost O(log n) hashes too.
/// Append is amortised O(1) (a carry chain), memory about 2n hashes.
public struct MerkleTree: Sendable {
    /// levels[k][i] = hash of leaves [i·2^k, (i+1)·2^k).
    private var levels: [[Hash]] = [[]]

    public init() {}

    public init<S: Sequence>(leafHashes: S) where S.Element == Hash {
        for h in leafHashes { append(leafHash: h) }
    }

    public var size: Int { levels[0].count }

    public func leafHash(at index: Int) -> Hash { levels[0][index] }

    public mutating func append(leafHash: Hash) {
        precondition(leafHash.count == 32, "leaf hashes are SHA-256 digests")
        levels[0].append(leafHash)
        var k = 0
        // A level whose count became even completed a subtree one level up.
        while levels[k].count % 2 == 0 {
            let n = levels[k].count
            let parent = MerkleHash.node(levels[k][n - 2], levels[k][n - 1])
            if levels.count == k + 1 { levels.append([]) }
            levels[k + 1].append(parent)
            k += 1
        }
    }

    /// MTH of the first `treeSize` leaves (RFC 9162 §2.1.1).
    public func rootHash(treeSize: Int? = nil) -> Hash {
        let n = treeSize ?? size
        precondition(n >= 0 && n <= size)
        return n == 0 ? MerkleHash.empty : subtreeHash(start: 0, count: n)
    }

    /// MTH(D[start : start+count]) where `start` is a multiple of the largest
    /// power of two ≤ count, which holds for every subtree RFC 9162 recurses into.
    func subtreeHash(start: Int, count: Int) -> Hash {
        if count & (count - 1) == 0 {
            let level = count.trailingZeroBitCount
            return levels[level][start >> level]
        }
        let k = largestPowerOfTwo(below: count)
        return MerkleHash.node(subtreeHash(start: start, count: k), subtreeHash(start: start + k, count: count - k))
    }

    /// Hashes of the right-edge subtrees [b, n) of the tree of size n, by b,
    /// where b runs over the boundaries of n's binary decomposition. Every
    /// subtree a proof needs is either complete (a lookup) or one of these,
    /// so with them a proof costs O(log n) hashes instead of O(log² n).
    private func rightEdges(_ n: Int) -> [Int: Hash] {
        var bounds: [Int] = []
        var b = 0
        while b < n { bounds.append(b); b += 1 << (Int.bitWidth - 1 - (n - b).leadingZeroBitCount) }
        var edges: [Int: Hash] = [:]
        var suffix: Hash?
        for b in bounds.reversed() {
            let count = 1 << (Int.bitWidth - 1 - (n - b).leadingZeroBitCount)
            let head = subtreeHash(start: b, count: count)  // complete: a lookup
            suffix = suffix.map { MerkleHash.node(head, $0) } ?? head
            edges[b] = suffix
        }
        return edges
    }

    /// MTH(D[start : start+count]) for a subtree ending at n, through the right-edge table.
    private func hash(start: Int, count: Int, edges: [Int: Hash]) -> Hash {
        count & (count - 1) == 0 ? subtreeHash(start: start, count: count) : edges[start]!
    }

    /// The audit path of leaf `index` in the tree of the first `treeSize` leaves
    /// (RFC 9162 §2.1.3.1 PATH), leaf-side first.
    public func inclusionProof(leafIndex index: Int, treeSize n: Int) -> [Hash]? {
        guard n <= size, index >= 0, index < n else { return nil }
        var path: [Hash] = []
        path.reserveCapacity(Int.bitWidth - n.leadingZeroBitCount)
        let edges = rightEdges(n)
        // Iterative PATH: walk from the root down, collecting siblings, then reverse.
        var start = 0, count = n, m = index
        while count > 1 {
            let k = largestPowerOfTwo(below: count)
            if m < k {
                // The right sibling ends where the current subtree ends: at n, or complete.
                path.append(hash(start: start + k, count: count - k, edges: edges))
                count = k
            } else {
                path.append(subtreeHash(start: start, count: k))
                start += k; count -= k; m -= k
            }
        }
        return path.reversed()
    }

    /// The consistency proof between the trees of the first `first` and
    /// `second` leaves (RFC 9162 §2.1.4.1 PROOF/SUBPROOF), leaf-side first.
    public func consistencyProof(first m: Int, second n: Int) -> [Hash]? {
        guard m > 0, m <= n, n <= size else { return nil }
        if m == n { return [] }
        var path: [Hash] = []
        let edges = rightEdges(n)
        var start = 0, count = n, mm = m, whole = true
        while mm != count {
            let k = largestPowerOfTwo(below: count)
            if mm <= k {
                path.append(hash(start: start + k, count: count - k, edges: edges))
                count = k
            } else {
                path.append(subtreeHash(start: start, count: k))
                start += k; count -= k; mm -= k
                whole = false
            }
        }
        // SUBPROOF(m, D[m], false) = {MTH(D[m])}; with b = true (m is a whole left subtree) it is empty.
        if !whole { path.append(hash(start: start, count: count, edges: edges)) }
        return path.reversed()
    }
}

/// RFC 9162 verification algorithms; each failure says why.
public enum MerkleProofError: Error, Equatable, CustomStringConvertible {
    case indexOutOfRange(index: Int, treeSize: Int)
    case wrongPathLength
    case rootMismatch
    case badSizes(first: Int, second: Int)
    case emptyPath

    public var description: String {
        switch self {
        case let .indexOutOfRange(i, n): return "leaf index \(i) is not below tree size \(n)"
        case .wrongPathLength: return "the proof has the wrong number of hashes for these sizes"
        case .rootMismatch: return "the recomputed root hash does not match"
        case let .badSizes(m, n): return "consistency needs 0 < first ≤ second, got first=\(m) second=\(n)"
        case .emptyPath: return "the consistency proof is empty but the sizes differ"
        }
    }
}

public enum MerkleVerifier {
    /// RFC 9162 §2.1.3.2.
    public static func verifyInclusion(leafHash: Hash, leafIndex: Int, treeSize: Int,
                                       proof: [Hash], rootHash: Hash) throws {
        guard leafIndex >= 0, leafIndex < treeSize else {
            throw MerkleProofError.indexOutOfRange(index: leafIndex, treeSize: treeSize)
        }
        var fn = leafIndex, sn = treeSize - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { throw MerkleProofError.wrongPathLength }
            if fn & 1 == 1 || fn == sn {
                r = MerkleHash.node(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                r = MerkleHash.node(r, p)
            }
            fn >>= 1; sn >>= 1
        }
        guard sn == 0 else { throw MerkleProofError.wrongPathLength }
        guard r == rootHash else { throw MerkleProofError.rootMismatch }
    }

    /// RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots.
    public static func verifyConsistency(first: Int, second: Int, firstHash: Hash, secondHash: Hash,
                                         proof: [Hash]) throws {
        guard first > 0, first <= second else { throw MerkleProofError.badSizes(first: first, second: second) }
        if first == second {
            guard proof.isEmpty else { throw MerkleProofError.wrongPathLength }
            guard firstHash == secondHash else { throw MerkleProofError.rootMismatch }
            return
        }
        guard !proof.isEmpty else { throw MerkleProofError.emptyPath }
        var path = proof
        if first & (first - 1) == 0 { path.insert(firstHash, at: 0) }
        var fn = first - 1, sn = second - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { throw MerkleProofError.wrongPathLength }
            if fn & 1 == 1 || fn == sn {
                fr = MerkleHash.node(c, fr)
                sr = MerkleHash.node(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                sr = MerkleHash.node(sr, c)
            }
            fn >>= 1; sn >>= 1
        }
        guard sn == 0 else { throw MerkleProofError.wrongPathLength }
        guard fr == firstHash, sr == secondHash else { throw MerkleProofError.rootMismatch }
    }
}
