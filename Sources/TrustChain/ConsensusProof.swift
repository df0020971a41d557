import Crypto
import Foundation
import StoqEngine
import X509

/// The consensus proof a node sends with its certificate request, format
/// version 1 (docs/trustchain.md). Four independent proofs, each checked by
/// its own policy with its own rejection reason.
public struct ConsensusProof: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public var version: Int
    public var work: WorkProof
    public var time: TimeProof
    public var stake: StakeProof
    public var space: SpaceProof

    public init(work: WorkProof, time: TimeProof, stake: StakeProof, space: SpaceProof) {
        version = Self.currentVersion
        self.work = work; self.time = time; self.stake = stake; self.space = space
    }
}

/// Hashcash-style: SHA-256(node SPKI DER || nonce as 8 bytes big-endian) has
/// at least `difficulty` leading zero bits.
public struct WorkProof: Codable, Sendable, Equatable {
    public var nonce: UInt64
    /// The difficulty the prover aimed at (informational; the CA applies its own).
    public var difficulty: Int

    public static func digest(spki: [UInt8], nonce: UInt64) -> [UInt8] {
        var h = SHA256()
        h.update(data: spki)
        withUnsafeBytes(of: nonce.bigEndian) { h.update(bufferPointer: $0) }
        return Array(h.finalize())
    }

    public static func leadingZeroBits(_ digest: [UInt8]) -> Int {
        var n = 0
        for b in digest {
            if b == 0 { n += 8; continue }
            return n + b.leadingZeroBitCount
        }
        return n
    }

    /// Searches nonces upward from `start` (seed-derived by the prover, so the result is deterministic).
    public static func solve(spki: [UInt8], difficulty: Int, start: UInt64) -> WorkProof {
        var nonce = start
        while leadingZeroBits(digest(spki: spki, nonce: nonce)) < difficulty { nonce &+= 1 }
        return WorkProof(nonce: nonce, difficulty: difficulty)
    }
}

/// A timestamp close to the CA's clock, bound to this request by the CSR's hash.
public struct TimeProof: Codable, Sendable, Equatable {
    /// Unix milliseconds.
    public var timestamp: Int64
    /// SHA-256 of the CSR DER, lowercase hex.
    public var csrSHA256: String

    enum CodingKeys: String, CodingKey { case timestamp, csrSHA256 = "csr_sha256" }
}

/// A stake authority's signature over node id, amount and time.
public struct StakeProof: Codable, Sendable, Equatable {
    /// Key id (SHA-256 of the SPKI, hex) of the stake authority.
    public var authority: String
    public var nodeID: String
    public var amount: UInt64
    public var timestamp: Int64
    /// base64
    public var signature: String

    enum CodingKeys: String, CodingKey { case authority, nodeID = "node_id", amount, timestamp, signature }

    /// nil when the node id does not fit its 16-bit length prefix (nothing to sign or verify).
    static func signedBytes(nodeID: String, amount: UInt64, timestamp: Int64) -> [UInt8]? {
        guard nodeID.utf8.count <= UInt16.max else { return nil }
        var w = TLSWriter()
        w.raw(Array("STOQ-TrustChain-stake-v1".utf8)); w.u8(0)
        w.string16(nodeID); w.u64(amount); w.u64(UInt64(bitPattern: timestamp))
        return w.bytes
    }
}

/// A claim of storage capacity signed by the node's own key (the CSR key), so
/// it cannot be moved to another key. A simulation stand-in for proof of
/// space: the capacity is attested, not measured.
public struct SpaceProof: Codable, Sendable, Equatable {
    public var capacityBytes: UInt64
    /// base64
    public var signature: String

    enum CodingKeys: String, CodingKey { case capacityBytes = "capacity_bytes", signature }

    static func signedBytes(spki: [UInt8], capacityBytes: UInt64) -> [UInt8] {
        var w = TLSWriter()
        w.raw(Array("STOQ-TrustChain-space-v1".utf8)); w.u8(0)
        w.raw(Encoding.sha256(spki)); w.u64(capacityBytes)
        return w.bytes
    }
}

/// Issues stake proofs (a stand-in for a stake ledger the CA trusts).
public struct StakeAuthority: Sendable {
    public let key: SigningKey
    public init(key: SigningKey) { self.key = key }
    public var id: String { Encoding.hex(key.publicKey.keyID) }

    public func attest(nodeID: String, amount: UInt64, timestamp: Int64) throws -> StakeProof {
        guard let signed = StakeProof.signedBytes(nodeID: nodeID, amount: amount, timestamp: timestamp) else {
            throw TrustChainError.invalid("node id of \(nodeID.utf8.count) bytes is too long for a stake proof (at most \(UInt16.max))")
        }
        return StakeProof(authority: id, nodeID: nodeID, amount: amount, timestamp: timestamp, signature: Encoding.base64(try key.sign(signed)))
    }
}

/// The node side: builds a consensus proof for a CSR. Deterministic given the
/// seed, the key and the time (Ed25519 keys sign deterministically).
public struct ConsensusProver: Sendable {
    public var nodeID: String
    public var key: SigningKey
    public var stake: StakeProof
    public var capacityBytes: UInt64
    public var difficulty: Int
    public var seed: UInt64

    public init(nodeID: String, key: SigningKey, stake: StakeProof, capacityBytes: UInt64, difficulty: Int, seed: UInt64) {
        self.nodeID = nodeID; self.key = key; self.stake = stake
        self.capacityBytes = capacityBytes; self.difficulty = difficulty; self.seed = seed
    }

    public func prove(csrDER: [UInt8], timestamp: Int64) throws -> ConsensusProof {
        let spki = key.publicKey.spki
        var random = RandomStream(seed: seed, stream: "work:" + nodeID)
        return ConsensusProof(
            work: WorkProof.solve(spki: spki, difficulty: difficulty, start: random.next()),
            time: TimeProof(timestamp: timestamp, csrSHA256: Encoding.hex(Encoding.sha256(csrDER))),
            stake: stake,
            space: SpaceProof(capacityBytes: capacityBytes,
                              signature: Encoding.base64(try key.sign(SpaceProof.signedBytes(spki: spki, capacityBytes: capacityBytes)))))
    }
}
