import Foundation
import StoqEngine
import StoqTransport
import SwiftASN1
import X509

/// Carries API requests to a TrustChain CA. Abstract so the scenario can
/// carry them over STOQ streams (or HTTP/3) with real delays; `completion`
/// may run later, after the simulated round trip.
public protocol TrustChainClient: AnyObject {
    func send(_ request: TrustChainRequest, completion: @escaping (Result<TrustChainResponse, Error>) -> Void)
}

/// Calls the CA in-process and answers at once (tests, CLI, single-process runs).
public final class LocalTrustChainClient: TrustChainClient {
    public let api: TrustChainAPI
    /// The CA's current time (the scheduler's clock in a run).
    public var clock: () -> SimTime
    public private(set) var requests: [TrustChainRequest] = []

    public init(api: TrustChainAPI, clock: @escaping () -> SimTime) { self.api = api; self.clock = clock }

    public func send(_ request: TrustChainRequest, completion: @escaping (Result<TrustChainResponse, Error>) -> Void) {
        requests.append(request)
        completion(.success(api.handle(request, now: clock())))
    }
}

/// What a node trusts: the CA root and the log's key.
public struct TrustChainTrust: Sendable {
    public var root: Certificate
    public var logKey: Certificate.PublicKey
    public init(root: Certificate, logKey: Certificate.PublicKey) { self.root = root; self.logKey = logKey }
    public var rootPEM: String { (try? root.serializeAsPEM().pemString) ?? "" }
}

/// A node certificate in use, with its chain and validity on the SimTime axis.
public struct NodeCertificate: Sendable {
    public var certificate: Certificate
    public var der: [UInt8]
    /// CA certificates above the leaf (DER); empty for self-signed.
    public var chain: [[UInt8]]
    public var fingerprint: String
    public var notBefore: SimTime
    public var notAfter: SimTime
    public var sct: SignedCertificateTimestamp?
    /// The log's inclusion proof of this certificate checked out against a signed tree head.
    public var inclusionVerified: Bool
}

/// How a node gets its certificate.
public enum CertificateMode {
    /// Self-signed, made locally at once: for runs that do not exercise TrustChain.
    case localhostTesting
    /// Enrol at the CA through `client`, proving consensus with `prover`.
    case trustchain(client: TrustChainClient, trust: TrustChainTrust, prover: ConsensusProver)
}

/// Signature checks already done under one trust (root and log key): the
/// embedded SCTs of certificates, by fingerprint, with the log leaf hash each
/// SCT promised, and signed tree heads. In a run the same certificate is
/// checked by every node that meets it (an edge's by hundreds of clients) and
/// the same tree head comes with every proof while no certificate is issued,
/// so the nodes share one of these and verify each signature once. Only
/// successes are kept: a bad one is refused again, with its reason, each time.
public final class CheckedSignatures {
    private var leafHashes: [String: Hash] = [:]
    private var treeHeads: Set<TreeHeadKey> = []
    private struct TreeHeadKey: Hashable { var size: Int; var timestamp: Int64; var root: Hash; var signature: [UInt8] }
    public init() {}
    func leafHash(of fingerprint: String) -> Hash? { leafHashes[fingerprint] }
    func remember(_ fingerprint: String, leafHash: Hash) { leafHashes[fingerprint] = leafHash }
    /// `sth.verify(logKey:)`, once per distinct head.
    func verify(_ sth: SignedTreeHead, logKey: Certificate.PublicKey) -> Bool {
        let key = TreeHeadKey(size: sth.treeSize, timestamp: sth.timestamp, root: sth.rootHash, signature: sth.signature)
        if treeHeads.contains(key) { return true }
        guard sth.verify(logKey: logKey) else { return false }
        treeHeads.insert(key)
        return true
    }
}

/// One node's certificate: obtained at start-up, cached until it expires,
/// renewed when less than `renewalMargin` of validity remains, all on SimTime,
/// so a multi-day virtual run rotates certificates on schedule.
public final class CertificateManager {
    public let mode: CertificateMode
    public let identity: NodeIdentity
    public let key: SigningKey
    public let epoch: WallEpoch
    public var renewalMargin: SimDuration
    /// Lifetime of self-signed certificates (CA-issued ones get the CA's).
    public var selfSignedValidity: SimDuration = .seconds(24 * 3600)
    public private(set) var current: NodeCertificate?
    public private(set) var lastError: Rejection?
    public private(set) var renewals = 0
    /// Called whenever a new certificate is installed (rebuild TLS credentials here).
    public var onChange: ((NodeCertificate) -> Void)?
    private var inFlight = false
    /// The newest signed tree head this node has checked; later heads must be consistent with it.
    public private(set) var treeHead: SignedTreeHead?
    /// Fingerprints whose inclusion proofs verified (own and peers').
    public private(set) var verifiedFingerprints: Set<String> = []
    /// Embedded SCTs and tree heads already checked, shared by the managers that trust the same root and log (a run's nodes).
    public var checkedSignatures: CheckedSignatures?

    public init(mode: CertificateMode, identity: NodeIdentity, key: SigningKey, epoch: WallEpoch,
                renewalMargin: SimDuration = .seconds(6 * 3600)) {
        self.mode = mode; self.identity = identity; self.key = key; self.epoch = epoch; self.renewalMargin = renewalMargin
    }

    /// The cached certificate if still valid at `now`.
    public func certificate(now: SimTime) -> NodeCertificate? {
        guard let c = current, c.notBefore <= now, now < c.notAfter else { return nil }
        return c
    }

    public func needsRenewal(now: SimTime) -> Bool {
        guard let c = current else { return true }
        return c.notAfter - now < renewalMargin
    }

    /// When the next renewal is due (the scheduler can arm a timer for it).
    public var nextRenewal: SimTime? { current.map { $0.notAfter - renewalMargin } }

    /// Obtains or renews the certificate if needed; call at start-up and whenever `nextRenewal` passes.
    public func refresh(now: SimTime, completion: ((Result<NodeCertificate, Rejection>) -> Void)? = nil) {
        guard needsRenewal(now: now), !inFlight else {
            if let c = current { completion?(.success(c)) }
            return
        }
        let finish: (Result<NodeCertificate, Rejection>) -> Void = { [self] result in
            inFlight = false
            switch result {
            case let .success(c):
                if current != nil { renewals += 1 }
                current = c
                lastError = nil
                onChange?(c)
            case let .failure(r): lastError = r
            }
            completion?(result)
        }
        inFlight = true
        switch mode {
        case .localhostTesting:
            finish(Result { try selfSigned(now: now) }.mapError { Rejection(500, "self_signing_failed", "\($0)") })
        case let .trustchain(client, trust, prover):
            enrol(client: client, trust: trust, prover: prover, now: now, completion: finish)
        }
    }

    private func selfSigned(now: SimTime) throws -> NodeCertificate {
        let name = try DistinguishedName { CommonName(identity.dnsName) }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: [0x01]), publicKey: key.publicKey,
            notValidBefore: epoch.date(at: now), notValidAfter: epoch.date(at: now + selfSignedValidity),
            issuer: name, subject: name, signatureAlgorithm: key.publicKey.signatureAlgorithm,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(identity.generalNames)
            },
            issuerPrivateKey: key.privateKey)
        let der = try cert.derBytes()
        return NodeCertificate(certificate: cert, der: der, chain: [], fingerprint: Encoding.hex(Encoding.sha256(der)),
                               notBefore: now, notAfter: now + selfSignedValidity, sct: nil, inclusionVerified: false)
    }

    /// The CSR this node sends: its DNS name as subject, its names requested as SANs.
    public func makeCSR() throws -> [UInt8] {
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(identity.generalNames) }
        let csr = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName(identity.dnsName) }, privateKey: key.privateKey,
            attributes: CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: key.publicKey.signatureAlgorithm)
        var s = DER.Serializer()
        try s.serialize(csr)
        return s.serializedBytes
    }

    private func enrol(client: TrustChainClient, trust: TrustChainTrust, prover: ConsensusProver, now: SimTime,
                       completion: @escaping (Result<NodeCertificate, Rejection>) -> Void) {
        let body: [UInt8]
        do {
            let csr = try makeCSR()
            let request = EnrollmentRequest(commonName: identity.dnsName, nodeID: identity.nodeID,
                                            ipv6Addresses: identity.addresses.map(\.description), csrDER: csr,
                                            consensusProof: try prover.prove(csrDER: csr, timestamp: epoch.milliseconds(at: now)))
            body = try EnrollmentRequestBody(request).json()
        } catch { return completion(.failure(Rejection(500, "request_failed", "cannot build the request: \(error)"))) }
        client.send(TrustChainRequest(method: "POST", path: "/ca/certificate", body: body)) { [self] result in
            let issued: NodeCertificate
            do { issued = try accept(Self.decode(CertificateBody.self, result), trust: trust) } catch {
                return completion(.failure(Self.rejection(error)))
            }
            verifyInclusion(of: issued.der, client: client, trust: trust) { verified in
                switch verified {
                case .success:
                    var c = issued
                    c.inclusionVerified = true
                    completion(.success(c))
                case let .failure(r): completion(.failure(r))
                }
            }
        }
    }

    /// Checks an issued certificate before using it: signed by the trusted root,
    /// for this node's key and names, with a valid embedded SCT from the trusted log.
    private func accept(_ body: CertificateBody, trust: TrustChainTrust) throws -> NodeCertificate {
        guard let der = Encoding.unbase64(body.certificateDER) else { throw Rejection(502, "bad_response", "certificate_der is not base64") }
        let cert = try Certificate(derEncoded: der)
        guard trust.root.publicKey.isValidSignature(cert.signature, for: cert), cert.issuer == trust.root.subject else {
            throw Rejection(502, "untrusted_certificate", "the issued certificate is not signed by the trusted root")
        }
        guard cert.publicKey == key.publicKey else { throw Rejection(502, "wrong_key", "the issued certificate is not for this node's key") }
        let sct = try EmbeddedSCT.verify(cert, issuer: trust.root.publicKey, logKey: trust.logKey).sct
        return NodeCertificate(certificate: cert, der: der, chain: body.caChain.compactMap(Encoding.unbase64), fingerprint: body.fingerprint,
                               notBefore: epoch.simTime(unixMilliseconds: body.issuedAtMs), notAfter: epoch.simTime(unixMilliseconds: body.expiresAtMs),
                               sct: sct, inclusionVerified: false)
    }

    /// Checks a certificate (this node's or a peer's) in the log: first its
    /// embedded SCT against the trusted log key (no request needed; a missing,
    /// foreign or tampered SCT is refused at once), then the inclusion proof of
    /// the entry that SCT promised, against a tree head signed by the log.
    public func verifyInclusion(of der: [UInt8], client: TrustChainClient, trust: TrustChainTrust,
                                completion: @escaping (Result<Void, Rejection>) -> Void) {
        let fp = Encoding.hex(Encoding.sha256(der))
        if verifiedFingerprints.contains(fp) { return completion(.success(())) }
        let leafHash: Hash
        if let known = checkedSignatures?.leafHash(of: fp) {
            leafHash = known
        } else {
            do {
                let cert: Certificate
                do { cert = try Certificate(derEncoded: der) } catch { throw Rejection(403, "bad_certificate", "the certificate does not parse: \(error)") }
                leafHash = try EmbeddedSCT.verify(cert, issuer: trust.root.publicKey, logKey: trust.logKey).entry.leafHash
            } catch { return completion(.failure(Self.rejection(error))) }
            checkedSignatures?.remember(fp, leafHash: leafHash)
        }
        client.send(TrustChainRequest(method: "GET", path: "/ct/proof/" + fp)) { [self] result in
            do {
                let proof = try Self.decode(ProofBody.self, result)
                guard checkedSignatures?.verify(proof.sth, logKey: trust.logKey) ?? proof.sth.verify(logKey: trust.logKey) else { throw Rejection(502, "bad_sth", "the tree head's signature does not verify") }
                let path = proof.auditPath.compactMap(Encoding.unbase64)
                guard path.count == proof.auditPath.count, proof.treeSize == proof.sth.treeSize else { throw Rejection(502, "bad_proof", "malformed inclusion proof") }
                do {
                    try MerkleVerifier.verifyInclusion(leafHash: leafHash, leafIndex: proof.leafIndex, treeSize: proof.treeSize,
                                                       proof: path, rootHash: proof.sth.rootHash)
                } catch { throw Rejection(502, "bad_proof", "inclusion proof of \(fp) fails: \(error)") }
                advance(to: proof.sth, client: client) { advanced in
                    if case .success = advanced { self.verifiedFingerprints.insert(fp) }
                    completion(advanced)
                }
            } catch { completion(.failure(Self.rejection(error))) }
        }
    }

    /// Asks the CA whether a certificate (a peer's) is revoked: true, false,
    /// or the rejection when the CA cannot say.
    public func checkRevocation(fingerprint: String, client: TrustChainClient,
                                completion: @escaping (Result<Bool, Rejection>) -> Void) {
        client.send(TrustChainRequest(method: "GET", path: "/ca/revocation/" + fingerprint)) { result in
            do { completion(.success(try Self.decode(RevocationBody.self, result).revoked)) } catch {
                completion(.failure(Self.rejection(error)))
            }
        }
    }

    /// Moves `treeHead` forward to a newer signed head only after the log
    /// proves the new tree extends the old one (RFC 9162 consistency), so a
    /// log that rewrote history or shows this node a forked view is caught.
    private func advance(to sth: SignedTreeHead, client: TrustChainClient, completion: @escaping (Result<Void, Rejection>) -> Void) {
        guard let last = treeHead, last.treeSize > 0 else { treeHead = sth; return completion(.success(())) }
        if sth.treeSize <= last.treeSize {
            // An older or equal head: the same size must have the same root; smaller ones need no step back.
            if sth.treeSize == last.treeSize && sth.rootHash != last.rootHash {
                return completion(.failure(Rejection(502, "inconsistent_log", "two signed tree heads of size \(sth.treeSize) have different roots")))
            }
            return completion(.success(()))
        }
        client.send(TrustChainRequest(method: "GET", path: "/ct/consistency?first=\(last.treeSize)&second=\(sth.treeSize)")) { [self] result in
            do {
                let body = try Self.decode(ConsistencyProofBody.self, result)
                let path = body.consistency.compactMap(Encoding.unbase64)
                try MerkleVerifier.verifyConsistency(first: last.treeSize, second: sth.treeSize, firstHash: last.rootHash,
                                                     secondHash: sth.rootHash, proof: path)
                treeHead = sth
                completion(.success(()))
            } catch let r as Rejection {
                completion(.failure(r))
            } catch {
                completion(.failure(Rejection(502, "inconsistent_log", "the log's tree of size \(sth.treeSize) does not extend the one of size \(last.treeSize) this node saw: \(error)")))
            }
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ result: Result<TrustChainResponse, Error>) throws -> T {
        let response: TrustChainResponse
        do { response = try result.get() } catch { throw Rejection(503, "unreachable", "the CA could not be reached: \(error)") }
        guard response.status == 200 else {
            if let e = try? JSONDecoder().decode(ErrorBody.self, from: Data(response.body)) { throw Rejection(response.status, e.error, e.reason) }
            throw Rejection(response.status, "http_\(response.status)", response.text)
        }
        do { return try JSONDecoder().decode(T.self, from: Data(response.body)) } catch {
            throw Rejection(502, "bad_response", "cannot decode the CA's answer: \(error)")
        }
    }

    private static func rejection(_ error: Error) -> Rejection {
        (error as? Rejection) ?? Rejection(502, "bad_response", "\(error)")
    }

    // MARK: TLS

    /// The chain (leaf, then CA certificates that are not the root) and key as PEM, for StoqTransport.
    public func bundle(now: SimTime) throws -> CertificateBundle {
        guard let c = certificate(now: now) else { throw TrustChainError.invalid("node \(identity.nodeID) has no valid certificate at \(now)") }
        // The root is the client's trust anchor; sending it again would only add bytes.
        let intermediates = c.chain.dropLast()
        let pems = ([c.der] + intermediates).map { PEMDocument(type: "CERTIFICATE", derBytes: $0).pemString }
        return CertificateBundle(certificateChainPEM: pems.joined(separator: "\n") + "\n", privateKeyPEM: try key.pem())
    }

    public func serverCredentials(now: SimTime) throws -> TLSCredentials { try TLSCredentials.server(bundle(now: now)) }

    /// This node's key with `der` as its certificate, whatever the CA issued (a rogue node's tampered one, in runs).
    public func bundle(presenting der: [UInt8]) throws -> CertificateBundle {
        CertificateBundle(certificateChainPEM: PEMDocument(type: "CERTIFICATE", derBytes: der).pemString + "\n", privateKeyPEM: try key.pem())
    }
}

extension NodeIdentity {
    var generalNames: [GeneralName] {
        [.dnsName(dnsName)] + addresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0.bytes))) }
    }
}
