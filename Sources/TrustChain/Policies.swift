import Crypto
import Foundation
import StoqEngine
import StoqTopology
import SwiftASN1
import X509

/// Why the CA said no: an HTTP status, a stable code and a sentence for people.
public struct Rejection: Error, Equatable, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var reason: String

    public init(_ status: Int, _ code: String, _ reason: String) {
        self.status = status; self.code = code; self.reason = reason
    }

    public var description: String { "\(code): \(reason)" }
}

/// A policy's answer, like swift-certificates' PolicyEvaluationResult.
public enum PolicyVerdict: Equatable, Sendable {
    case accept
    case reject(Rejection)
}

/// A certificate request as it arrives (JSON fields of POST /ca/certificate).
public struct EnrollmentRequest: Sendable {
    public var commonName: String
    public var nodeID: String
    /// As sent, so an IPv4 address can be named in the rejection.
    public var ipv6Addresses: [String]
    public var csrDER: [UInt8]
    public var consensusProof: ConsensusProof?

    public init(commonName: String, nodeID: String, ipv6Addresses: [String], csrDER: [UInt8], consensusProof: ConsensusProof?) {
        self.commonName = commonName; self.nodeID = nodeID; self.ipv6Addresses = ipv6Addresses
        self.csrDER = csrDER; self.consensusProof = consensusProof
    }
}

/// A request whose CSR parsed and carries a valid self-signature: what policies judge.
public struct EnrollmentCandidate: Sendable {
    public var request: EnrollmentRequest
    public var csr: CertificateSigningRequest
    /// The requested addresses that parsed as IPv6 (IPv6OnlyPolicy rejects the rest).
    public var addresses: [IPv6Address]
    /// Names the CSR itself asks for in an extensionRequest, if any.
    public var csrNames: [GeneralName]

    /// Parses the CSR and checks its signature; a failure is a 400 "bad_csr".
    public init(_ request: EnrollmentRequest) throws {
        self.request = request
        let csr: CertificateSigningRequest
        do { csr = try CertificateSigningRequest(derEncoded: request.csrDER) } catch {
            throw Rejection(400, "bad_csr", "the CSR is not a DER PKCS #10 request: \(error)")
        }
        // The key type first: verifying a signature under a huge RSA key a client chose would cost the CA seconds.
        guard isSupportedKey(csr.publicKey) else {
            throw Rejection(400, "bad_csr", "the CSR key must be Ed25519 or ECDSA P-256")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw Rejection(400, "bad_csr", "the CSR's signature does not verify with its own public key")
        }
        self.csr = csr
        addresses = request.ipv6Addresses.compactMap { try? IPv6Address.parse($0) }
        do {
            let sans = try csr.attributes.extensionRequest?.extensions.subjectAlternativeNames
            csrNames = sans.map { Array($0) } ?? []
        } catch {
            throw Rejection(400, "bad_csr", "the CSR's extensionRequest cannot be decoded: \(error)")
        }
    }
}

private func isSupportedKey(_ key: Certificate.PublicKey) -> Bool {
    Curve25519.Signing.PublicKey(key) != nil || P256.Signing.PublicKey(key) != nil
}

/// A check the CA runs on every candidate, at the CA's current time.
public protocol EnrollmentPolicy: Sendable {
    func check(_ candidate: EnrollmentCandidate, now: SimTime) -> PolicyVerdict
}

/// STOQ is IPv6-only: an IPv4 (or IPv4-mapped) address in the request or in
/// the CSR's requested names is refused, naming the address.
public struct IPv6OnlyPolicy: EnrollmentPolicy {
    public init() {}

    public func check(_ c: EnrollmentCandidate, now: SimTime) -> PolicyVerdict {
        if c.request.ipv6Addresses.isEmpty {
            return .reject(Rejection(400, "malformed_request", "ipv6_addresses is empty: a node certificate names at least one IPv6 address"))
        }
        for text in c.request.ipv6Addresses {
            do { _ = try IPv6Address.parse(text) } catch let e as IPv6Address.ParseError {
                switch e {
                case .ipv4, .ipv4Mapped: return .reject(Rejection(422, "ipv4_address", "ipv6_addresses: \(e)"))
                case .malformed: return .reject(Rejection(400, "malformed_request", "ipv6_addresses: \(e)"))
                }
            } catch { return .reject(Rejection(400, "malformed_request", "ipv6_addresses: \(error)")) }
        }
        for case let .ipAddress(octets) in c.csrNames where octets.bytes.count != 16 {
            return .reject(Rejection(422, "ipv4_address", "the CSR requests a \(octets.bytes.count)-byte (IPv4) iPAddress name; STOQ is IPv6-only"))
        }
        return .accept
    }
}

/// Who a node is: its id (topology name), DNS name and IPv6 addresses.
public struct NodeIdentity: Sendable, Equatable {
    public var nodeID: String
    public var dnsName: String
    public var addresses: [IPv6Address]

    public init(nodeID: String, dnsName: String, addresses: [IPv6Address]) {
        self.nodeID = nodeID; self.dnsName = dnsName; self.addresses = addresses
    }
}

/// The nodes the CA may certify.
public struct NodeDirectory: Sendable {
    public var nodes: [String: NodeIdentity]

    public init(_ identities: [NodeIdentity]) {
        nodes = Dictionary(identities.map { ($0.nodeID, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Every node of a topology as `NAME.stoq` with its address (the names StoqScenario's endpoints use).
    public init(topology: Topology) {
        self.init(topology.nodes.map { NodeIdentity(nodeID: $0.name, dnsName: $0.name + ".stoq", addresses: [$0.address]) })
    }
}

/// The requested common name, the CSR subject, the DNS name and addresses
/// must all belong to the node the request claims to be.
public struct NodeNamePolicy: EnrollmentPolicy {
    public var directory: NodeDirectory
    public init(directory: NodeDirectory) { self.directory = directory }

    public func check(_ c: EnrollmentCandidate, now: SimTime) -> PolicyVerdict {
        let r = c.request
        guard let node = directory.nodes[r.nodeID] else {
            return .reject(Rejection(403, "unknown_node", "node_id '\(r.nodeID)' is not a node this CA certifies"))
        }
        guard r.commonName == node.dnsName else {
            return .reject(Rejection(403, "name_mismatch", "common_name '\(r.commonName)' is not node \(r.nodeID)'s name '\(node.dnsName)'"))
        }
        // The subject must be exactly CN=<common_name>: nothing the CA did not check goes into a certificate.
        guard let expected = try? DistinguishedName(builder: { CommonName(r.commonName) }), c.csr.subject == expected else {
            return .reject(Rejection(403, "name_mismatch", "the CSR subject '\(c.csr.subject)' is not CN=\(r.commonName)"))
        }
        for a in c.addresses where !node.addresses.contains(a) {
            return .reject(Rejection(403, "address_mismatch", "\(a) is not an address of node \(r.nodeID) (\(node.addresses.map(\.description).joined(separator: ", ")))"))
        }
        for name in c.csrNames {
            switch name {
            case .dnsName(let dns) where dns == node.dnsName: continue
            case .ipAddress(let o) where o.bytes.count == 16 && node.addresses.contains(IPv6Address(bytes: Array(o.bytes))): continue
            default: return .reject(Rejection(403, "name_mismatch", "the CSR requests \(name), which node \(r.nodeID) does not own"))
            }
        }
        return .accept
    }
}

/// What the CA demands of consensus proofs.
public struct ConsensusRequirements: Sendable {
    /// Leading zero bits of the work hash.
    public var workDifficulty: Int
    /// How far the time proof may be from the CA's clock, either way.
    public var timeWindow: SimDuration
    /// Stake authorities by key id (hex SHA-256 of the SPKI).
    public var stakeAuthorities: [String: Certificate.PublicKey]
    public var minimumStake: UInt64
    /// Oldest stake attestation accepted: a ledger's word is good for this long.
    public var maximumStakeAge: SimDuration
    public var minimumSpaceBytes: UInt64

    public static let defaultMaximumStakeAge = SimDuration.seconds(30 * 86400)

    public init(workDifficulty: Int = 12, timeWindow: SimDuration = .seconds(300), stakeAuthorities: [Certificate.PublicKey],
                minimumStake: UInt64 = 1_000, maximumStakeAge: SimDuration = defaultMaximumStakeAge, minimumSpaceBytes: UInt64 = 1 << 30) {
        self.workDifficulty = workDifficulty
        self.timeWindow = timeWindow
        self.stakeAuthorities = Dictionary(stakeAuthorities.map { (Encoding.hex($0.keyID), $0) }, uniquingKeysWith: { a, _ in a })
        self.minimumStake = minimumStake
        self.maximumStakeAge = maximumStakeAge
        self.minimumSpaceBytes = minimumSpaceBytes
    }
}

/// The proof must be present and in a version this CA reads.
public struct ConsensusVersionPolicy: EnrollmentPolicy {
    public init() {}
    public func check(_ c: EnrollmentCandidate, now: SimTime) -> PolicyVerdict {
        guard let p = c.request.consensusProof else {
            return .reject(Rejection(403, "missing_consensus_proof", "the request carries no consensus_proof"))
        }
        guard p.version == ConsensusProof.currentVersion else {
            return .reject(Rejection(422, "unsupported_proof_version", "consensus_proof version \(p.version) is not supported (this CA reads version \(ConsensusProof.currentVersion))"))
        }
        return .accept
    }
}

public struct WorkProofPolicy: EnrollmentPolicy {
    public var difficulty: Int
    public init(difficulty: Int) { self.difficulty = difficulty }
    public func check(_ c: EnrollmentCandidate, now: SimTime) -> PolicyVerdict {
        guard let p = c.request.consensusProof else { return .accept }
        guard let fresh = p.time.freshness else { return .reject(Rejection(403, "work_proof_failed", "the time proof's nonce is not 32 hex digits")) }
        let bits = WorkProof.leadingZeroBits(WorkProof.digest(spki: c.csr.publicKey.spki, time: fresh, nonce: p.work.nonce))
        guard bits >= difficulty else {
            return .reject(Rejection(403, "work_proof_failed", "SHA-256(SPKI || time nonce || time timestamp || nonce \(p.work.nonce)) has \(bits) leading zero bits; \(difficulty) required"))
        }
        return .accept
    }
}

public struct TimeProofPolicy: EnrollmentPolicy {
    public var window: SimDuration
    public var epoch: WallEpoch
    public init(window: SimDuration, epoch: WallEpoch) { self.window = window; self.epoch = epoch }
    public func check(_ c: EnrollmentCandidate, now: SimTime) -> PolicyVerdict {
        guard let t = c.request.consensusProof?.time else { return .accept }
        let csrHash = Encoding.hex(Encoding.sha256(c.request.csrDER))
        guard t.csrSHA256.lowercased() == csrHash else {
            return .reject(Rejection(403, "time_proof_failed", "the time proof is bound to CSR hash \(t.csrSHA256), not this CSR (\(csrHash))"))
        }
        guard let fresh = t.freshness else { return .reject(Rejection(403, "time_proof_failed", "the time proof's nonce is not 32 hex digits")) }
        guard let sig = Encoding.unbase64(t.signature),
              c.csr.publicKey.verify(signature: sig, over: TimeProof.signedBytes(csrSHA256: Encoding.sha256(c.request.csrDER), time: fresh)) else {
            return .reject(Rejection(403, "time_proof_failed", "the time proof is not signed by the CSR's key"))
        }
        // Any Int64 may arrive here: the skew is computed without trapping and
        // compared in milliseconds (a nanosecond product would overflow).
        let clock = epoch.milliseconds(at: now)
        let (skewMs, overflow) = t.timestamp.subtractingReportingOverflow(clock)
        guard !overflow, skewMs.magnitude <= window.nanoseconds.magnitude / 1_000_000 else {
            let skew = overflow ? "more than 2^63 ms" : "\(skewMs) ms"
            return .reject(Rejection(403, "time_proof_failed", "the time proof (\(t.timestamp) ms) is \(skew) away from the CA's clock (\(clock) ms); the window is ±\(window)"))
        }
        return .accept
    }
}

/// The stake must be attested by a trusted authority for this node and this
/// CSR key, be recent (at most `maximumAge` old, not from the future beyond
/// `window`), and be large enough.
public struct StakeProofPolicy: EnrollmentPolicy {
    public var authorities: [String: Certificate.PublicKey]
    public var minimum: UInt64
    public var maximumAge: SimDuration
    public var window: SimDuration
    public var epoch: WallEpoch
    public init(authorities: [String: Certificate.PublicKey], minimum: UInt64, maximumAge: SimDuration, window: SimDuration, epoch: WallEpoch) {
        self.authorities = authorities; self.minimum = minimum; self.maximumAge = maximumAge; self.window = window; self.epoch = epoch
    }
    public func check(_ c: EnrollmentCandidate, now: SimTime) -> PolicyVerdict {
        guard let s = c.request.consensusProof?.stake else { return .accept }
        func fail(_ why: String) -> PolicyVerdict { .reject(Rejection(403, "stake_proof_failed", why)) }
        guard let key = authorities[s.authority.lowercased()] else { return fail("stake authority \(s.authority) is not trusted by this CA") }
        guard s.nodeID == c.request.nodeID else { return fail("the stake is for node '\(s.nodeID)', not '\(c.request.nodeID)'") }
        let csrKey = c.csr.publicKey.keyID
        guard s.keySHA256.lowercased() == Encoding.hex(csrKey) else {
            return fail("the stake is for key \(s.keySHA256), not the CSR's key (\(Encoding.hex(csrKey)))")
        }
        guard let sig = Encoding.unbase64(s.signature),
              let signed = StakeProof.signedBytes(nodeID: s.nodeID, keySHA256: csrKey, amount: s.amount, timestamp: s.timestamp),
              key.verify(signature: sig, over: signed) else {
            return fail("the stake authority's signature does not verify")
        }
        // Compared in milliseconds without trapping: any Int64 may arrive (as in TimeProofPolicy).
        let clock = epoch.milliseconds(at: now)
        let (ageMs, overflow) = clock.subtractingReportingOverflow(s.timestamp)
        let maxAgeMs = maximumAge.nanoseconds / 1_000_000, windowMs = window.nanoseconds / 1_000_000
        guard !overflow else { return fail("the stake attestation's timestamp \(s.timestamp) ms is out of range") }
        guard ageMs >= -windowMs else { return fail("the stake attestation (\(s.timestamp) ms) is dated after the CA's clock (\(clock) ms) by more than \(window)") }
        guard ageMs <= maxAgeMs else { return fail("the stake attestation is \(ageMs / 1000) s old; at most \(maximumAge) is accepted") }
        guard s.amount >= minimum else { return fail("stake \(s.amount) is below the minimum \(minimum)") }
        return .accept
    }
}

public struct SpaceProofPolicy: EnrollmentPolicy {
    public var minimumBytes: UInt64
    public init(minimumBytes: UInt64) { self.minimumBytes = minimumBytes }
    public func check(_ c: EnrollmentCandidate, now: SimTime) -> PolicyVerdict {
        guard let p = c.request.consensusProof else { return .accept }
        let s = p.space
        func fail(_ why: String) -> PolicyVerdict { .reject(Rejection(403, "space_proof_failed", why)) }
        guard let fresh = p.time.freshness, let sig = Encoding.unbase64(s.signature),
              c.csr.publicKey.verify(signature: sig, over: SpaceProof.signedBytes(spki: c.csr.publicKey.spki, capacityBytes: s.capacityBytes, timeNonce: fresh.nonce)) else {
            return fail("the space claim is not signed by the CSR's key over this request's time nonce")
        }
        guard s.capacityBytes >= minimumBytes else { return fail("claimed capacity \(s.capacityBytes) bytes is below the minimum \(minimumBytes)") }
        return .accept
    }
}

extension IPv6Address {
    init(bytes b: [UInt8]) {
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(b[i]) }
        for i in 8..<16 { lo = lo << 8 | UInt64(b[i]) }
        self.init(high: hi, low: lo)
    }
}

/// The CA's standard checks, in the order they run: address family, names, then each consensus proof
/// (time first: the others are bound to its nonce, so a changed time proof is reported as such).
public func standardEnrollmentPolicies(directory: NodeDirectory, consensus: ConsensusRequirements, epoch: WallEpoch) -> [any EnrollmentPolicy] {
    [IPv6OnlyPolicy(), NodeNamePolicy(directory: directory), ConsensusVersionPolicy(),
     TimeProofPolicy(window: consensus.timeWindow, epoch: epoch),
     WorkProofPolicy(difficulty: consensus.workDifficulty),
     StakeProofPolicy(authorities: consensus.stakeAuthorities, minimum: consensus.minimumStake, maximumAge: consensus.maximumStakeAge,
                      window: consensus.timeWindow, epoch: epoch),
     SpaceProofPolicy(minimumBytes: consensus.minimumSpaceBytes)]
}
