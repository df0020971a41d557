import Crypto
import Foundation
import StoqEngine
import SwiftASN1
import X509

/// Settings of a CA, persisted as `ca.json` in its state directory.
public struct CAConfiguration: Codable, Sendable, Equatable {
    public var commonName: String
    /// Wall-clock instant of SimTime zero: certificate dates are epoch + SimTime.
    public var epoch: WallEpoch
    /// Lifetime of issued certificates, in seconds.
    public var validitySeconds: Int64
    public var keyAlgorithm: KeyAlgorithm

    enum CodingKeys: String, CodingKey {
        case commonName = "common_name", epoch = "epoch_unix_ms", validitySeconds = "validity_seconds", keyAlgorithm = "key_algorithm"
    }

    public init(commonName: String = "STOQ TrustChain Root CA", epoch: WallEpoch = .default2026,
                validity: SimDuration = .seconds(24 * 3600), keyAlgorithm: KeyAlgorithm = .ed25519) {
        self.commonName = commonName
        self.epoch = epoch
        validitySeconds = validity.nanoseconds / 1_000_000_000
        self.keyAlgorithm = keyAlgorithm
    }

    public var validity: SimDuration { .seconds(validitySeconds) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        commonName = try c.decode(String.self, forKey: .commonName)
        epoch = WallEpoch(unixMilliseconds: try c.decode(Int64.self, forKey: .epoch))
        validitySeconds = try c.decode(Int64.self, forKey: .validitySeconds)
        keyAlgorithm = try c.decode(KeyAlgorithm.self, forKey: .keyAlgorithm)
        if let problem = Self.rangeProblem(epochUnixMs: epoch.unixMilliseconds, validitySeconds: validitySeconds) {
            throw DecodingError.dataCorruptedError(forKey: .validitySeconds, in: c, debugDescription: problem)
        }
    }

    /// Longest certificate validity: 100 years keeps every date arithmetic far from Int64 limits.
    public static let maximumValiditySeconds: Int64 = 100 * 365 * 86400

    /// Why an epoch or validity cannot be used (nil: both fine). Dates are
    /// epoch + SimTime in Int64 ms/ns, so both must be bounded.
    public static func rangeProblem(epochUnixMs: Int64, validitySeconds: Int64) -> String? {
        if !(0...FieldRange.maxTimestampMs).contains(epochUnixMs) {
            return "epoch_unix_ms \(epochUnixMs) is not a Unix millisecond time in 1970…9999"
        }
        if !(1...maximumValiditySeconds).contains(validitySeconds) {
            return "validity_seconds \(validitySeconds) is not 1…\(maximumValiditySeconds) (100 years)"
        }
        return nil
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(commonName, forKey: .commonName)
        try c.encode(epoch.unixMilliseconds, forKey: .epoch)
        try c.encode(validitySeconds, forKey: .validitySeconds)
        try c.encode(keyAlgorithm, forKey: .keyAlgorithm)
    }
}

/// What the CA hands back for an accepted request.
public struct IssuedCertificate: Sendable {
    public var certificate: Certificate
    public var der: [UInt8]
    /// SHA-256 of the DER, lowercase hex.
    public var fingerprint: String
    /// Lowercase hex of the serial number's bytes.
    public var serialNumber: String
    /// Unix milliseconds.
    public var issuedAt: Int64
    public var expiresAt: Int64
    /// DER of the CA certificates above the leaf (here: the root).
    public var chain: [[UInt8]]
    public var sct: SignedCertificateTimestamp
    public var leafIndex: Int
}

public struct Revocation: Codable, Sendable, Equatable {
    public var fingerprint: String
    public var reason: String
    /// Unix milliseconds.
    public var revokedAt: Int64
    enum CodingKeys: String, CodingKey { case fingerprint, reason, revokedAt = "revoked_at" }
}

/// The TrustChain certificate authority: checks requests with its policies,
/// issues X.509 v3 leaves, logs every issued certificate, keeps a revocation list.
public final class CertificateAuthority {
    public let configuration: CAConfiguration
    public let key: SigningKey
    public let certificate: Certificate
    public let certificateDER: [UInt8]
    public let log: TransparencyLog
    public var policies: [any EnrollmentPolicy]
    public private(set) var revocations: [String: Revocation] = [:]
    /// Refused enrolment requests by rejection code (replays included): nothing was issued for them.
    public private(set) var refusals: [String: Int] = [:]
    /// Time proofs of issued requests (in the state directory when there is one, so a restart remembers them).
    private var replays: ReplayMemory
    private let store: CAStore?

    public var epoch: WallEpoch { configuration.epoch }
    public var certificatePEM: String { (try? certificate.serializeAsPEM().pemString) ?? "" }

    /// A CA in memory with a fresh self-signed root made at `now`.
    public convenience init(configuration: CAConfiguration = CAConfiguration(), key: SigningKey? = nil, logKey: SigningKey? = nil,
                            policies: [any EnrollmentPolicy], now: SimTime = .zero) throws {
        let key = key ?? .generate(configuration.keyAlgorithm)
        let root = try Self.makeRoot(configuration: configuration, key: key)
        try self.init(configuration: configuration, key: key, certificate: root,
                      log: TransparencyLog(key: logKey ?? .generate(.ed25519)), policies: policies, store: nil, now: now)
    }

    private init(configuration: CAConfiguration, key: SigningKey, certificate: Certificate, log: TransparencyLog,
                 policies: [any EnrollmentPolicy], store: CAStore?, now: SimTime) throws {
        self.configuration = configuration
        self.key = key
        self.certificate = certificate
        certificateDER = try certificate.derBytes()
        self.log = log
        self.policies = policies
        self.store = store
        replays = try ReplayMemory(file: store?.acceptedProofsFile)
        if let store { for r in try store.loadRevocations() { revocations[r.fingerprint] = r } }
        // A new log starts with a signed head for the empty tree, so GET /ct/sth always has an answer.
        if log.treeHeads.isEmpty { try log.signTreeHead(timestamp: configuration.epoch.milliseconds(at: now)) }
    }

    /// Creates a CA state directory (refuses one that already holds a CA): keys
    /// (mode 0600), root certificate, configuration, and an empty log.
    /// The log key is ECDSA P-256 by default: RFC 6962 §2.1.4 allows only
    /// P-256 and RSA, and OpenSSL parses SCTs of no other algorithm. Simulated
    /// runs use Ed25519 (RFC 9162 registers it), whose signatures are
    /// deterministic, so seeded runs give the same certificates.
    public static func create(stateDirectory: URL, configuration: CAConfiguration = CAConfiguration(), logKeyAlgorithm: KeyAlgorithm = .ecdsaP256,
                              policies: [any EnrollmentPolicy], now: SimTime = .zero) throws -> CertificateAuthority {
        let store = CAStore(directory: stateDirectory)
        try store.prepareNew()
        let key = SigningKey.generate(configuration.keyAlgorithm)
        let logKey = SigningKey.generate(logKeyAlgorithm)
        let root = try makeRoot(configuration: configuration, key: key)
        try store.save(configuration: configuration, key: key, logKey: logKey, root: root)
        return try CertificateAuthority(configuration: configuration, key: key, certificate: root,
                                        log: TransparencyLog(key: logKey, store: store.logStore), policies: policies, store: store, now: now)
    }

    /// Reopens a CA state directory: the same keys, root, log and revocations.
    public static func open(stateDirectory: URL, policies: [any EnrollmentPolicy]) throws -> CertificateAuthority {
        let store = CAStore(directory: stateDirectory)
        let (configuration, key, logKey, root) = try store.load()
        return try CertificateAuthority(configuration: configuration, key: key, certificate: root,
                                        log: TransparencyLog(key: logKey, store: store.logStore), policies: policies, store: store, now: .zero)
    }

    /// The root is valid from this long before the configured epoch (SimTime 0),
    /// whenever it is made: certificates are dated on the epoch's axis, and the
    /// hour covers verifiers whose clocks lag the run's start.
    public static let rootNotBeforeSlack = SimDuration.seconds(3600)
    /// …until this long after the epoch: ten years is plenty for a simulation root.
    public static let rootLifetime = SimDuration.seconds(10 * 365 * 86400)

    private static func makeRoot(configuration: CAConfiguration, key: SigningKey) throws -> Certificate {
        let name = try DistinguishedName { CommonName(configuration.commonName); OrganizationName("STOQ TrustChain") }
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: [0x01]), publicKey: key.publicKey,
            notValidBefore: configuration.epoch.date(at: SimTime.zero - rootNotBeforeSlack),
            notValidAfter: configuration.epoch.date(at: SimTime.zero + rootLifetime),
            issuer: name, subject: name, signatureAlgorithm: key.publicKey.signatureAlgorithm,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key.privateKey)
    }

    /// Runs the policies in order; the first rejection wins. Nothing is issued
    /// or logged unless every policy accepts.
    public func evaluate(_ request: EnrollmentRequest, now: SimTime) -> Result<EnrollmentCandidate, Rejection> {
        let candidate: EnrollmentCandidate
        do { candidate = try EnrollmentCandidate(request) } catch let r as Rejection { return .failure(r) } catch {
            return .failure(Rejection(400, "bad_csr", "\(error)"))
        }
        for policy in policies {
            if case let .reject(r) = policy.check(candidate, now: now) { return .failure(r) }
        }
        return .success(candidate)
    }

    /// Checks, issues and logs. A request whose time proof (CSR hash and nonce)
    /// was already accepted is a replay: refused 409, nothing issued. The proof
    /// is remembered (synced to the state directory) before the certificate is
    /// issued, so no crash lets the same request be issued twice.
    public func enroll(_ request: EnrollmentRequest, now: SimTime) -> Result<IssuedCertificate, Rejection> {
        let result: Result<IssuedCertificate, Rejection>
        switch evaluate(request, now: now) {
        case let .failure(r): result = .failure(r)
        case let .success(candidate):
            let time = candidate.request.consensusProof?.time
            let replayKey = time.map { $0.csrSHA256.lowercased() + ":" + $0.nonce.lowercased() }
            if let key = replayKey, let first = replays.firstUse(of: key) {
                result = .failure(Rejection(409, "replayed_request", "this request's time proof (CSR \(key.prefix(16))…, nonce \(key.suffix(32)), "
                                            + "timestamp \(first) ms) was already used for a certificate; a new request needs a new nonce"))
            } else {
                do {
                    if let key = replayKey, let time {
                        // Proofs older than the time window are refused by TimeProofPolicy anyway: those are forgotten.
                        let window = policies.compactMap { ($0 as? TimeProofPolicy)?.window.nanoseconds }.max().map { $0 / 1_000_000 }
                        try replays.remember(key, timestamp: time.timestamp, nowMs: epoch.milliseconds(at: now), windowMs: window)
                    }
                    result = .success(try issue(candidate, now: now))
                } catch { result = .failure(Rejection(500, "internal_error", "issuing failed: \(error)")) }
            }
        }
        if case let .failure(r) = result { refusals[r.code, default: 0] += 1 }
        return result
    }

    /// notBefore is set this far before issuance: verifiers whose clocks lag
    /// (or that round to whole seconds, as X.509 times do) still accept a fresh certificate.
    public static let notBeforeSlack = SimDuration.seconds(60)

    private func issue(_ c: EnrollmentCandidate, now: SimTime) throws -> IssuedCertificate {
        let issuedAt = epoch.milliseconds(at: now)
        let expiresAt = epoch.milliseconds(at: now + configuration.validity)
        let index = log.size
        // Unique per CA and reproducible: a tag byte then the log index this certificate will take.
        var serialBytes: [UInt8] = [0x40]
        withUnsafeBytes(of: UInt64(index).bigEndian) { serialBytes.append(contentsOf: $0) }
        let names = [GeneralName.dnsName(c.request.commonName)] + c.addresses.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: ArraySlice($0.bytes))) }
        let caSKI = try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        // The precertificate and the final certificate differ only in their last
        // extension: the poison, then the SCT list (RFC 6962 §3.1).
        func leaf(_ ct: Certificate.Extension) throws -> Certificate {
            try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(bytes: serialBytes), publicKey: c.csr.publicKey,
                notValidBefore: epoch.date(at: now - Self.notBeforeSlack), notValidAfter: epoch.date(at: now + configuration.validity),
                issuer: certificate.subject,
                subject: try DistinguishedName { CommonName(c.request.commonName) },
                signatureAlgorithm: key.publicKey.signatureAlgorithm,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([.serverAuth, .clientAuth])
                    SubjectAlternativeNames(names)
                    AuthorityKeyIdentifier(keyIdentifier: caSKI)
                    SubjectKeyIdentifier(hash: c.csr.publicKey)
                    ct
                },
                issuerPrivateKey: key.privateKey)
        }
        let precertificate = try PrecertificateEntry(certificate: try leaf(EmbeddedSCT.poisonExtension), issuer: key.publicKey)
        let sct = try log.timestamp(LogEntry(timestamp: issuedAt, certificateDER: [], precertificate: precertificate))
        let final = try leaf(EmbeddedSCT.listExtension([sct]))
        guard try PrecertificateEntry(certificate: final, issuer: key.publicKey) == precertificate else {
            throw TrustChainError.invalid("the final certificate's TBS without its SCT list differs from the precertificate's")
        }
        let der = try final.derBytes()
        let logged = try log.append(LogEntry(timestamp: issuedAt, certificateDER: der, precertificate: precertificate))
        return IssuedCertificate(certificate: final, der: der, fingerprint: Encoding.hex(Encoding.sha256(der)),
                                 serialNumber: Encoding.hex(serialBytes), issuedAt: issuedAt, expiresAt: expiresAt,
                                 chain: [certificateDER], sct: sct, leafIndex: logged.index)
    }

    /// Revokes a certificate this CA logged. Throws for an unknown fingerprint.
    public func revoke(fingerprint: String, reason: String, now: SimTime) throws {
        let fp = fingerprint.lowercased()
        guard log.index(ofFingerprint: fp) != nil else { throw TrustChainError.invalid("no logged certificate has fingerprint \(fp)") }
        guard revocations[fp] == nil else { return }
        let r = Revocation(fingerprint: fp, reason: reason, revokedAt: epoch.milliseconds(at: now))
        try store?.append(r)
        revocations[fp] = r
    }
}

extension Certificate {
    public func derBytes() throws -> [UInt8] {
        var s = DER.Serializer()
        try s.serialize(self)
        return s.serializedBytes
    }
}

/// The files of a CA state directory.
struct CAStore {
    let directory: URL
    var logStore: LogStore { LogStore(directory: directory) }
    private func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    func prepareNew() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in ["ca.json", "ca-key.pem", "log.jsonl"] where FileManager.default.fileExists(atPath: file(name).path) {
            throw TrustChainError.invalid("\(directory.path) already holds a CA (\(name) exists); use another directory or open it")
        }
    }

    func save(configuration: CAConfiguration, key: SigningKey, logKey: SigningKey, root: Certificate) throws {
        try writeSecret(try key.pem(), to: file("ca-key.pem"))
        try writeSecret(try logKey.pem(), to: file("log-key.pem"))
        try writeNewFile(Array(try root.serializeAsPEM().pemString.utf8), to: file("ca-cert.pem"), mode: 0o644)
        try writeNewFile(Array((try JSONLines.encode(configuration) + "\n").utf8), to: file("ca.json"), mode: 0o644)
    }

    func load() throws -> (CAConfiguration, SigningKey, SigningKey, Certificate) {
        func read(_ name: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: file(name).path) else {
                throw TrustChainError.invalid("\(file(name).path) is missing: is \(directory.path) a CA state directory (made by `stoqsim trustchain ca init`)?")
            }
            return String(decoding: data, as: UTF8.self)
        }
        let configuration = try JSONDecoder().decode(CAConfiguration.self, from: Data(try read("ca.json").utf8))
        return (configuration, try SigningKey(pem: try read("ca-key.pem")), try SigningKey(pem: try read("log-key.pem")),
                try Certificate(pemEncoded: try read("ca-cert.pem")))
    }

    var revocationsFile: URL { file("revocations.jsonl") }
    var acceptedProofsFile: URL { file(ReplayMemory.fileName) }
    func loadRevocations() throws -> [Revocation] { try JSONLines.read(revocationsFile, as: Revocation.self) }
    func append(_ r: Revocation) throws { try appendLine(try JSONLines.encode(r), to: revocationsFile) }

    /// Private keys are created with mode 0600 and never overwritten.
    private func writeSecret(_ text: String, to url: URL) throws { try writeSecretFile(text, to: url) }
}
