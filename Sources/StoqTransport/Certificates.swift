#if canImport(Glibc)
import Glibc
#endif
import CStoq
import StoqCore

/// A name a certificate is valid for: what the client checks against the
/// name it dialled.
public enum SubjectAlternativeName: Hashable, Sendable, CustomStringConvertible {
    case dns(String)
    case ipv6(IPv6Address)

    public var description: String {
        switch self {
        case let .dns(name): return "DNS:\(name)"
        case let .ipv6(address): return "IP:\(address)"
        }
    }
}

/// Signature algorithm of a generated key. Ed25519 signatures are always 64
/// bytes, so handshake packet sizes do not vary from run to run; ECDSA DER
/// signatures vary by a byte or two.
public enum CertificateKeyAlgorithm: Sendable {
    case ed25519
    case ecdsaP256
}

/// A certificate chain (leaf first, then intermediates; PEM) and its private key (PEM).
public struct CertificateBundle: Sendable {
    public var certificateChainPEM: String
    public var privateKeyPEM: String

    public init(certificateChainPEM: String, privateKeyPEM: String) {
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
    }
}

/// Owns one GnuTLS private key.
final class X509PrivateKey {
    let handle: gnutls_x509_privkey_t
    let algorithm: CertificateKeyAlgorithm

    init(generating algorithm: CertificateKeyAlgorithm) throws {
        var key: gnutls_x509_privkey_t?
        try checkTLS("gnutls_x509_privkey_init", gnutls_x509_privkey_init(&key))
        handle = key!
        self.algorithm = algorithm
        // GNUTLS_CURVE_TO_BITS is a macro: the curve id with the top bit set.
        let (pk, curve): (gnutls_pk_algorithm_t, gnutls_ecc_curve_t) = algorithm == .ed25519
            ? (GNUTLS_PK_EDDSA_ED25519, GNUTLS_ECC_CURVE_ED25519)
            : (GNUTLS_PK_ECDSA, GNUTLS_ECC_CURVE_SECP256R1)
        try checkTLS("gnutls_x509_privkey_generate2",
                     gnutls_x509_privkey_generate2(handle, pk, (1 << 31) | curve.rawValue, 0, nil, 0))
    }

    deinit { gnutls_x509_privkey_deinit(handle) }

    /// Unencrypted PKCS #8 ("BEGIN PRIVATE KEY"), which every tool reads.
    func pem() throws -> String {
        var datum = gnutls_datum_t()
        try checkTLS("gnutls_x509_privkey_export2_pkcs8",
                     gnutls_x509_privkey_export2_pkcs8(handle, GNUTLS_X509_FMT_PEM, nil, GNUTLS_PKCS_PLAIN.rawValue, &datum))
        return takeString(&datum)
    }

    /// Digest to sign with: Ed25519 has its own (SHA-512 inside EdDSA).
    var signingDigest: gnutls_digest_algorithm_t { algorithm == .ed25519 ? GNUTLS_DIG_SHA512 : GNUTLS_DIG_SHA256 }
}

/// Owns one GnuTLS X.509 certificate.
final class X509Certificate {
    let handle: gnutls_x509_crt_t

    init() throws {
        var crt: gnutls_x509_crt_t?
        try checkTLS("gnutls_x509_crt_init", gnutls_x509_crt_init(&crt))
        handle = crt!
    }

    deinit { gnutls_x509_crt_deinit(handle) }

    func pem() throws -> String {
        var datum = gnutls_datum_t()
        try checkTLS("gnutls_x509_crt_export2", gnutls_x509_crt_export2(handle, GNUTLS_X509_FMT_PEM, &datum))
        return takeString(&datum)
    }
}

/// Copies a GnuTLS-allocated datum into a String and frees it.
func takeString(_ datum: inout gnutls_datum_t) -> String {
    defer { cstoq_gnutls_free(datum.data); datum.data = nil }
    guard let data = datum.data else { return "" }
    return String(decoding: UnsafeBufferPointer(start: data, count: Int(datum.size)), as: UTF8.self)
}

/// The certificate authority a run makes in-process: every run's nodes get
/// their certificates from one (StoqNodeRuntime's `RunCertificates`: a root
/// that issues each node a leaf for its DNS name and IPv6 address), and
/// `stoqsim node serve --self-signed`, the transport benchmarks and the tests
/// make theirs with it. It issues real chains (root → intermediates → leaf)
/// that clients verify the normal way, never a bypass.
///
/// Validity is set from the wall clock (one hour back, thirty days ahead)
/// because GnuTLS checks certificates against the wall clock, not SimTime.
public final class RunCertificateAuthority {
    /// This CA's own certificate.
    public let certificatePEM: String
    /// The root certificate at the top of this CA's chain: the trust anchor.
    public let rootCertificatePEM: String
    private let key: X509PrivateKey
    private let certificate: X509Certificate
    /// Intermediates from this CA up to (not including) the root: appended to issued leaves.
    private let intermediatesPEM: String
    private var nextSerial: UInt64 = 1

    /// A new self-signed root CA.
    public init(commonName: String = "STOQ Test Root CA", algorithm: CertificateKeyAlgorithm = .ed25519) throws {
        key = try X509PrivateKey(generating: algorithm)
        certificate = try X509Certificate()
        try Self.fill(certificate, key: key, commonName: commonName, serial: 1, isCA: true, names: [])
        try checkTLS("gnutls_x509_crt_sign2 (root)",
                     gnutls_x509_crt_sign2(certificate.handle, certificate.handle, key.handle, key.signingDigest, 0))
        certificatePEM = try certificate.pem()
        rootCertificatePEM = certificatePEM
        intermediatesPEM = ""
        nextSerial = 2
    }

    private init(key: X509PrivateKey, certificate: X509Certificate, root: String, intermediates: String) throws {
        self.key = key
        self.certificate = certificate
        certificatePEM = try certificate.pem()
        rootCertificatePEM = root
        intermediatesPEM = certificatePEM + intermediates
    }

    /// A subordinate CA signed by this one; leaves it issues carry the whole intermediate chain.
    public func issueIntermediate(commonName: String, algorithm: CertificateKeyAlgorithm = .ed25519) throws -> RunCertificateAuthority {
        let childKey = try X509PrivateKey(generating: algorithm)
        let child = try issue(key: childKey, commonName: commonName, isCA: true, names: [])
        return try RunCertificateAuthority(key: childKey, certificate: child, root: rootCertificatePEM,
                                           intermediates: intermediatesPEM)
    }

    /// A server certificate for `names`, with this CA's intermediates appended.
    public func issueLeaf(names: [SubjectAlternativeName], commonName: String? = nil,
                          algorithm: CertificateKeyAlgorithm = .ed25519) throws -> CertificateBundle {
        guard !names.isEmpty else { throw TransportError.certificate("a server certificate needs at least one DNS or IPv6 name") }
        let leafKey = try X509PrivateKey(generating: algorithm)
        let leaf = try issue(key: leafKey, commonName: commonName ?? names[0].commonName, isCA: false, names: names)
        return CertificateBundle(certificateChainPEM: try leaf.pem() + intermediatesPEM, privateKeyPEM: try leafKey.pem())
    }

    /// A self-signed server certificate (its own trust anchor), for localhost testing.
    public static func selfSigned(names: [SubjectAlternativeName], algorithm: CertificateKeyAlgorithm = .ed25519) throws -> CertificateBundle {
        guard !names.isEmpty else { throw TransportError.certificate("a server certificate needs at least one DNS or IPv6 name") }
        let key = try X509PrivateKey(generating: algorithm)
        let crt = try X509Certificate()
        try fill(crt, key: key, commonName: names[0].commonName, serial: 1, isCA: false, names: names)
        try checkTLS("gnutls_x509_crt_sign2 (self-signed)",
                     gnutls_x509_crt_sign2(crt.handle, crt.handle, key.handle, key.signingDigest, 0))
        return CertificateBundle(certificateChainPEM: try crt.pem(), privateKeyPEM: try key.pem())
    }

    private func issue(key subjectKey: X509PrivateKey, commonName: String, isCA: Bool,
                       names: [SubjectAlternativeName]) throws -> X509Certificate {
        let crt = try X509Certificate()
        try Self.fill(crt, key: subjectKey, commonName: commonName, serial: nextSerial, isCA: isCA, names: names)
        nextSerial += 1
        try checkTLS("gnutls_x509_crt_sign2", gnutls_x509_crt_sign2(crt.handle, certificate.handle, key.handle, key.signingDigest, 0))
        return crt
    }

    private static func fill(_ crt: X509Certificate, key: X509PrivateKey, commonName: String, serial: UInt64,
                             isCA: Bool, names: [SubjectAlternativeName]) throws {
        let h = crt.handle
        try checkTLS("gnutls_x509_crt_set_version", gnutls_x509_crt_set_version(h, 3))
        var serialBytes = withUnsafeBytes(of: serial.bigEndian) { Array($0) }
        serialBytes[0] &= 0x7f   // positive INTEGER
        try checkTLS("gnutls_x509_crt_set_serial", gnutls_x509_crt_set_serial(h, serialBytes, serialBytes.count))
        // Commas and backslashes would change the DN's structure: escape them (RFC 4514).
        var escaped = ""
        for ch in commonName {
            if ch == "\\" || ch == "," || ch == "+" || ch == "=" { escaped.append("\\") }
            escaped.append(ch)
        }
        try checkTLS("gnutls_x509_crt_set_dn(CN=\(commonName))", gnutls_x509_crt_set_dn(h, "CN=\(escaped)", nil))
        let now = time(nil)
        try checkTLS("gnutls_x509_crt_set_activation_time", gnutls_x509_crt_set_activation_time(h, now - 3600))
        try checkTLS("gnutls_x509_crt_set_expiration_time", gnutls_x509_crt_set_expiration_time(h, now + 30 * 86400))
        try checkTLS("gnutls_x509_crt_set_key", gnutls_x509_crt_set_key(h, key.handle))
        try checkTLS("gnutls_x509_crt_set_basic_constraints", gnutls_x509_crt_set_basic_constraints(h, isCA ? 1 : 0, -1))
        let usage = isCA ? UInt32(GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN) : UInt32(GNUTLS_KEY_DIGITAL_SIGNATURE)
        try checkTLS("gnutls_x509_crt_set_key_usage", gnutls_x509_crt_set_key_usage(h, usage))
        if !isCA {
            try checkTLS("gnutls_x509_crt_set_key_purpose_oid",
                         gnutls_x509_crt_set_key_purpose_oid(h, "1.3.6.1.5.5.7.3.1", 0))   // id-kp-serverAuth
        }
        for name in names {
            switch name {
            case let .dns(dns):
                try checkTLS("gnutls_x509_crt_set_subject_alt_name(\(name))",
                             gnutls_x509_crt_set_subject_alt_name(h, GNUTLS_SAN_DNSNAME, dns, UInt32(dns.utf8.count), UInt32(GNUTLS_FSAN_APPEND)))
            case let .ipv6(address):
                let bytes = address.bytes
                try checkTLS("gnutls_x509_crt_set_subject_alt_name(\(name))",
                             gnutls_x509_crt_set_subject_alt_name(h, GNUTLS_SAN_IPADDRESS, bytes, UInt32(bytes.count), UInt32(GNUTLS_FSAN_APPEND)))
            }
        }
        var keyID = [UInt8](repeating: 0, count: 64)
        var keyIDSize = keyID.count
        try checkTLS("gnutls_x509_crt_get_key_id", gnutls_x509_crt_get_key_id(h, 0, &keyID, &keyIDSize))
        try checkTLS("gnutls_x509_crt_set_subject_key_id", gnutls_x509_crt_set_subject_key_id(h, keyID, keyIDSize))
    }
}

extension SubjectAlternativeName {
    var commonName: String {
        switch self {
        case let .dns(name): return name
        case let .ipv6(address): return address.description
        }
    }
}
