import Crypto
import Foundation
import StoqEngine
import X509

/// The consensus proof a node sends with its certificate request, format
/// version 2 (docs/trustchain.md). Four proofs, each checked by its own
/// policy with its own rejection reason. Version 2 binds every part to the
/// CSR's key and to the time proof's fresh nonce, so no part can be moved to
/// another key or reused for another request (version 1 could be replayed).
public struct ConsensusProof: Codable, Sendable, Equatable {
    public static let currentVersion = 2

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

/// Hashcash-style: SHA-256(node SPKI DER ‖ time nonce (16) ‖ time timestamp
/// (u64) ‖ nonce (u64), all big-endian) has at least `difficulty` leading zero
/// bits. The time proof's nonce and timestamp make the work fresh per request.
public struct WorkProof: Codable, Sendable, Equatable {
    public var nonce: UInt64
    /// The difficulty the prover aimed at (informational; the CA applies its own).
    public var difficulty: Int

    public static func digest(spki: [UInt8], time: TimeProof.Freshness, nonce: UInt64) -> [UInt8] {
        var h = SHA256()
        h.update(data: spki)
        h.update(data: time.nonce)
        withUnsafeBytes(of: UInt64(bitPattern: time.timestamp).bigEndian) { h.update(bufferPointer: $0) }
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
    public static func solve(spki: [UInt8], time: TimeProof.Freshness, difficulty: Int, start: UInt64) -> WorkProof {
        var nonce = start
        while leadingZeroBits(digest(spki: spki, time: time, nonce: nonce)) < difficulty { nonce &+= 1 }
        return WorkProof(nonce: nonce, difficulty: difficulty)
    }
}

/// A timestamp close to the CA's clock and a fresh nonce, bound to this CSR
/// by its hash and signed by the CSR's key: only the key's holder can make a
/// new one, and the CA refuses one it has already accepted (409 replayed_request).
public struct TimeProof: Codable, Sendable, Equatable {
    /// Unix milliseconds.
    public var timestamp: Int64
    /// SHA-256 of the CSR DER, lowercase hex.
    public var csrSHA256: String
    /// 16 random bytes, lowercase hex (32 digits).
    public var nonce: String
    /// base64: the CSR key's signature over `signedBytes`.
    public var signature: String

    enum CodingKeys: String, CodingKey { case timestamp, csrSHA256 = "csr_sha256", nonce, signature }

    public static let nonceBytes = 16

    /// What the other proofs bind to: the nonce bytes and the timestamp.
    public struct Freshness: Sendable, Equatable {
        public var nonce: [UInt8]
        public var timestamp: Int64
    }

    /// nil when the nonce is not 32 hex digits.
    public var freshness: Freshness? {
        guard let n = Encoding.unhex(nonce), n.count == Self.nonceBytes else { return nil }
        return Freshness(nonce: n, timestamp: timestamp)
    }

    /// "STOQ-TrustChain-time-v2" ‖ 0x00 ‖ SHA-256(CSR DER) ‖ timestamp (u64) ‖ nonce (16).
    static func signedBytes(csrSHA256: [UInt8], time: Freshness) -> [UInt8] {
        var w = TLSWriter()
        w.raw(Array("STOQ-TrustChain-time-v2".utf8)); w.u8(0)
        w.raw(csrSHA256); w.u64(UInt64(bitPattern: time.timestamp)); w.raw(time.nonce)
        return w.bytes
    }
}

/// A stake authority's signature over node id, the node's key, amount and
/// time: bound to one key (another key cannot use it) and dated (the CA
/// refuses one older than its maximum stake age).
public struct StakeProof: Codable, Sendable, Equatable {
    /// Key id (SHA-256 of the SPKI, hex) of the stake authority.
    public var authority: String
    public var nodeID: String
    /// SHA-256 of the staked node key's SPKI DER, lowercase hex.
    public var keySHA256: String
    public var amount: UInt64
    public var timestamp: Int64
    /// base64
    public var signature: String

    enum CodingKeys: String, CodingKey { case authority, nodeID = "node_id", keySHA256 = "key_sha256", amount, timestamp, signature }

    /// "STOQ-TrustChain-stake-v2" ‖ 0x00 ‖ uint16 len ‖ node_id ‖ SHA-256(node SPKI) ‖ amount (u64) ‖ timestamp (u64);
    /// nil when the node id does not fit its 16-bit length prefix (nothing to sign or verify).
    static func signedBytes(nodeID: String, keySHA256: [UInt8], amount: UInt64, timestamp: Int64) -> [UInt8]? {
        guard nodeID.utf8.count <= UInt16.max else { return nil }
        var w = TLSWriter()
        w.raw(Array("STOQ-TrustChain-stake-v2".utf8)); w.u8(0)
        w.string16(nodeID); w.raw(keySHA256); w.u64(amount); w.u64(UInt64(bitPattern: timestamp))
        return w.bytes
    }
}

/// A claim of storage capacity signed by the node's own key (the CSR key) over
/// the time proof's nonce, so it cannot be moved to another key or request. A
/// simulation stand-in for proof of space: the capacity is attested, not measured.
public struct SpaceProof: Codable, Sendable, Equatable {
    public var capacityBytes: UInt64
    /// base64
    public var signature: String

    enum CodingKeys: String, CodingKey { case capacityBytes = "capacity_bytes", signature }

    /// "STOQ-TrustChain-space-v2" ‖ 0x00 ‖ SHA-256(SPKI) ‖ capacity (u64) ‖ time nonce (16).
    static func signedBytes(spki: [UInt8], capacityBytes: UInt64, timeNonce: [UInt8]) -> [UInt8] {
        var w = TLSWriter()
        w.raw(Array("STOQ-TrustChain-space-v2".utf8)); w.u8(0)
        w.raw(Encoding.sha256(spki)); w.u64(capacityBytes); w.raw(timeNonce)
        return w.bytes
    }
}

/// Issues stake proofs (a stand-in for a stake ledger the CA trusts).
public struct StakeAuthority: Sendable {
    public let key: SigningKey
    public init(key: SigningKey) { self.key = key }
    public var id: String { Encoding.hex(key.publicKey.keyID) }

    /// Stake of `nodeID` for the node key `nodeKey`, as of `timestamp` (Unix ms).
    public func attest(nodeID: String, nodeKey: Certificate.PublicKey, amount: UInt64, timestamp: Int64) throws -> StakeProof {
        let keyHash = nodeKey.keyID
        guard let signed = StakeProof.signedBytes(nodeID: nodeID, keySHA256: keyHash, amount: amount, timestamp: timestamp) else {
            throw TrustChainError.invalid("node id of \(nodeID.utf8.count) bytes is too long for a stake proof (at most \(UInt16.max))")
        }
        return StakeProof(authority: id, nodeID: nodeID, keySHA256: Encoding.hex(keyHash), amount: amount, timestamp: timestamp,
                          signature: Encoding.base64(try key.sign(signed)))
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

    /// The nonce comes from the seeded stream of this node and timestamp, so a
    /// run is reproducible and every attempt at a new instant is a new request.
    public func prove(csrDER: [UInt8], timestamp: Int64) throws -> ConsensusProof {
        let spki = key.publicKey.spki
        var random = RandomStream(seed: seed, stream: "proof:\(nodeID):\(timestamp)")
        var nonce = [UInt8]()
        for _ in 0..<(TimeProof.nonceBytes / 8) { withUnsafeBytes(of: random.next().bigEndian) { nonce.append(contentsOf: $0) } }
        let fresh = TimeProof.Freshness(nonce: nonce, timestamp: timestamp)
        let csrHash = Encoding.sha256(csrDER)
        return ConsensusProof(
            work: WorkProof.solve(spki: spki, time: fresh, difficulty: difficulty, start: random.next()),
            time: TimeProof(timestamp: timestamp, csrSHA256: Encoding.hex(csrHash), nonce: Encoding.hex(nonce),
                            signature: Encoding.base64(try key.sign(TimeProof.signedBytes(csrSHA256: csrHash, time: fresh)))),
            stake: stake,
            space: SpaceProof(capacityBytes: capacityBytes,
                              signature: Encoding.base64(try key.sign(SpaceProof.signedBytes(spki: spki, capacityBytes: capacityBytes, timeNonce: nonce)))))
    }
}
