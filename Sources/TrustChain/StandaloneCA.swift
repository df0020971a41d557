import Foundation
import StoqEngine
import SwiftASN1
import StoqTransport
import X509

// Pieces a CA outside the simulator (`stoqsim trustchain ca serve/enroll/verify`)
// needs, kept here so the CLI and the in-simulation workload can share them.

extension ConsensusRequirements {
    /// The requirements of a standard run: work at `difficulty`, ±300 s time
    /// window, stake signed by `stakeAuthority` (default minimum stake and space).
    public static func standard(stakeAuthority: Certificate.PublicKey, difficulty: Int) -> ConsensusRequirements {
        ConsensusRequirements(workDifficulty: difficulty, timeWindow: .seconds(300), stakeAuthorities: [stakeAuthority])
    }
}

extension ConsensusProver {
    /// A prover whose claims meet `requirements` with room to spare (stake
    /// 5× the minimum, attested by `stake` at `stakeTimestamp`; space 2× the minimum).
    public static func meeting(_ requirements: ConsensusRequirements, nodeID: String, key: SigningKey, stake: StakeAuthority,
                               stakeTimestamp: Int64, difficulty: Int, seed: UInt64) throws -> ConsensusProver {
        ConsensusProver(nodeID: nodeID, key: key,
                        stake: try stake.attest(nodeID: nodeID, nodeKey: key.publicKey, amount: requirements.minimumStake * 5, timestamp: stakeTimestamp),
                        capacityBytes: requirements.minimumSpaceBytes * 2, difficulty: difficulty, seed: seed)
    }
}

extension StakeAuthority {
    /// File name of the stake authority's key in a CA state directory.
    public static let stateFileName = "stake-authority-key.pem"

    /// The stake authority a standalone CA trusts, kept in its state directory
    /// (mode 0600): made on first use, the same one after restarts. A stand-in
    /// for a stake ledger; nodes on the same machine may read it (the
    /// documented testing shortcut of `ca enroll --state`).
    public static func loadOrCreate(stateDirectory: URL) throws -> StakeAuthority {
        let file = stateDirectory.appendingPathComponent(stateFileName)
        if FileManager.default.fileExists(atPath: file.path) { return try load(stateDirectory: stateDirectory) }
        let key = SigningKey.generate(.ed25519)
        try writeSecretFile(try key.pem(), to: file)
        return StakeAuthority(key: key)
    }

    public static func load(stateDirectory: URL) throws -> StakeAuthority {
        let file = stateDirectory.appendingPathComponent(stateFileName)
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw TrustChainError.invalid("\(file.path) is missing: start `stoqsim trustchain ca serve --state \(stateDirectory.path)` once (or run `ca init`) to create the stake authority")
        }
        return StakeAuthority(key: try SigningKey(pem: String(decoding: data, as: UTF8.self)))
    }
}

extension WallEpoch {
    /// SimTime of the wall clock now on this epoch's axis (real sockets run on wall time).
    public func wallNow() -> SimTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return simTime(unixMilliseconds: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }
}

/// Writes a private key: created with mode 0600 (an existing file is refused
/// unless `replacing`, which removes it first, so it is never left looser).
public func writeSecretFile(_ text: String, to url: URL, replacing: Bool = false) throws {
    if replacing, FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
    try writeNewFile(Array(text.utf8), to: url, mode: 0o600)
}

/// Creates `url` (O_EXCL: never overwrites) with exactly `mode`, writes
/// `bytes` and syncs the file and its directory: a CA's keys, root and
/// settings survive a power loss as surely as its log.
func writeNewFile(_ bytes: [UInt8], to url: URL, mode: mode_t) throws {
    let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw TrustChainError.io("cannot create \(url.path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    fchmod(fd, mode)   // in case the umask was stricter than needed; never looser
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 { if errno == EINTR { continue }; throw TrustChainError.io("write to \(url.path): \(String(cString: strerror(errno)))") }
        done += n
    }
    guard fsync(fd) == 0 else { throw TrustChainError.io("fsync of \(url.path): \(String(cString: strerror(errno)))") }
    try syncDirectory(of: url)
}

extension TrustChainTrust {
    /// What a node on the CA's own machine trusts: the root and the log's key
    /// from the CA state directory (the testing shortcut of `ca enroll/verify --state`).
    public static func load(stateDirectory: URL) throws -> TrustChainTrust {
        let (_, _, logKey, root) = try CAStore(directory: stateDirectory).load()
        return TrustChainTrust(root: root, logKey: logKey.publicKey)
    }

    /// The DER of the first certificate in `pem`, checked to be issued and signed by the trusted root.
    public func leafIssuedByRoot(pem: String) throws -> [UInt8] {
        let documents: [PEMDocument]
        do { documents = try PEMDocument.parseMultiple(pemString: pem) } catch {
            throw TrustChainError.invalid("not a PEM file: \(error)")
        }
        guard let first = documents.first(where: { $0.discriminator == "CERTIFICATE" }) else {
            throw TrustChainError.invalid("no CERTIFICATE block in the PEM file")
        }
        let cert: Certificate
        do { cert = try Certificate(derEncoded: first.derBytes) } catch {
            throw TrustChainError.invalid("the first certificate does not parse: \(error)")
        }
        guard cert.issuer == root.subject, root.publicKey.isValidSignature(cert.signature, for: cert) else {
            throw TrustChainError.invalid("the certificate (subject \(cert.subject)) is not signed by the trusted root \(root.subject)")
        }
        return first.derBytes
    }
}

extension NodeCertificate {
    /// The leaf then the CA certificates above it (root last), as PEM: what
    /// `certtool --verify-chain` and `openssl verify -CAfile root.pem` read.
    public var chainPEM: String {
        ([der] + chain).map { PEMDocument(type: "CERTIFICATE", derBytes: $0).pemString }.joined(separator: "\n") + "\n"
    }
}

extension CertificateAuthority {
    /// The CA's own TLS certificate for serving its API on a real socket. It is
    /// enrolled through the CA's own API in process (CSR, consensus proof,
    /// logged like every other certificate) and cached in the state directory
    /// (`serve-cert.pem`, `serve-key.pem` mode 0600); a restart reuses it
    /// while it names `identity`, is logged, not revoked and valid for at
    /// least `minimumRemaining`, so restarts do not grow the log.
    public func servingCertificate(identity: NodeIdentity, api: TrustChainAPI, stake: StakeAuthority, requirements: ConsensusRequirements,
                                   stateDirectory: URL, now: @escaping () -> SimTime,
                                   minimumRemaining: SimDuration = .seconds(3600)) throws -> (bundle: CertificateBundle, fingerprint: String, reused: Bool) {
        let certFile = stateDirectory.appendingPathComponent("serve-cert.pem")
        let keyFile = stateDirectory.appendingPathComponent("serve-key.pem")
        if let cached = cachedServingCertificate(certFile: certFile, keyFile: keyFile, identity: identity, now: now(), minimumRemaining: minimumRemaining) {
            return (cached.0, cached.1, true)
        }
        let key = SigningKey.generate(.ed25519)
        let trust = TrustChainTrust(root: certificate, logKey: log.publicKey)
        let prover = try ConsensusProver.meeting(requirements, nodeID: identity.nodeID, key: key, stake: stake,
                                                 stakeTimestamp: epoch.milliseconds(at: now()), difficulty: requirements.workDifficulty,
                                                 seed: UInt64.random(in: .min ... .max))
        let manager = CertificateManager(mode: .trustchain(client: LocalTrustChainClient(api: api, clock: now), trust: trust, prover: prover),
                                         identity: identity, key: key, epoch: epoch)
        var outcome: Result<NodeCertificate, Rejection>?
        manager.refresh(now: now()) { outcome = $0 }   // the local client answers at once
        guard let outcome else { throw TrustChainError.invalid("self-enrolment did not complete") }
        let issued: NodeCertificate
        switch outcome {
        case let .success(c): issued = c
        case let .failure(r): throw TrustChainError.invalid("the CA refused its own serving certificate: \(r)")
        }
        let bundle = try manager.bundle(now: now())
        try writeSecretFile(bundle.privateKeyPEM, to: keyFile, replacing: true)
        try Data(bundle.certificateChainPEM.utf8).write(to: certFile)
        return (bundle, issued.fingerprint, false)
    }

    private func cachedServingCertificate(certFile: URL, keyFile: URL, identity: NodeIdentity, now: SimTime,
                                          minimumRemaining: SimDuration) -> (CertificateBundle, String)? {
        guard let certPEM = FileManager.default.contents(atPath: certFile.path).map({ String(decoding: $0, as: UTF8.self) }),
              let keyPEM = FileManager.default.contents(atPath: keyFile.path).map({ String(decoding: $0, as: UTF8.self) }),
              let cert = try? Certificate(pemEncoded: certPEM), let der = try? cert.derBytes(),
              let key = try? SigningKey(pem: keyPEM), key.publicKey == cert.publicKey else { return nil }
        let fingerprint = Encoding.hex(Encoding.sha256(der))
        guard log.index(ofFingerprint: fingerprint) != nil, revocations[fingerprint] == nil,
              cert.notValidAfter >= epoch.date(at: now + minimumRemaining), cert.notValidBefore <= epoch.date(at: now),
              let names = try? cert.extensions.subjectAlternativeNames, Set(identity.generalNames).isSubset(of: Set(names)) else { return nil }
        return (CertificateBundle(certificateChainPEM: certPEM, privateKeyPEM: keyPEM), fingerprint)
    }
}
