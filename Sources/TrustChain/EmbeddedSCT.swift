import Crypto
import Foundation
import SwiftASN1
import X509

// Embedded SCTs, RFC 6962 §3.1–3.3 (CT v1), not RFC 9162's TransItem forms:
// the v1 X.509 extension is what openssl, GnuTLS and browsers read, and v2's
// precertificates are CMS objects that no tool on these machines understands.
// The CA signs a precertificate (the final TBS plus the critical poison
// extension), the log timestamps its `PreCert` entry (issuer key hash and the
// TBS without the poison), and the final certificate carries that SCT in the
// SCT list extension, placed where the poison was, so removing either
// extension from either certificate gives the same logged TBS.

/// RFC 6962 object identifiers.
public enum CTObjectIdentifier {
    /// Precertificate poison (critical, value ASN.1 NULL): no TLS stack accepts a precertificate.
    public static let poison: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 11129, 2, 4, 3]
    /// SignedCertificateTimestampList in a certificate (non-critical).
    public static let sctList: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 11129, 2, 4, 2]
}

/// The `PreCert` a log entry and an SCT cover (RFC 6962 §3.2): the issuer's key
/// hash and the certificate's TBS without the poison or SCT list extension.
public struct PrecertificateEntry: Sendable, Equatable {
    /// SHA-256 of the issuing CA's SubjectPublicKeyInfo DER.
    public var issuerKeyHash: [UInt8]
    public var tbsCertificate: [UInt8]

    /// The logged entry of a certificate with embedded SCTs (or of a precertificate).
    public init(certificate: Certificate, issuer: Certificate.PublicKey) throws {
        issuerKeyHash = issuer.keyID
        tbsCertificate = try EmbeddedSCT.removingExtensions([CTObjectIdentifier.sctList, CTObjectIdentifier.poison],
                                                           fromTBS: certificate.tbsCertificateBytes)
    }

    init(issuerKeyHash: [UInt8], tbsCertificate: [UInt8]) { self.issuerKeyHash = issuerKeyHash; self.tbsCertificate = tbsCertificate }
}

public enum EmbeddedSCT {
    /// The critical poison extension of a precertificate.
    static var poisonExtension: Certificate.Extension {
        Certificate.Extension(oid: CTObjectIdentifier.poison, critical: true, value: [0x05, 0x00])
    }

    /// The SCT list extension: extnValue is an OCTET STRING holding the TLS-encoded
    /// `SignedCertificateTimestampList` (RFC 6962 §3.3): uint16 length, then each SCT with its uint16 length.
    static func listExtension(_ scts: [SignedCertificateTimestamp]) -> Certificate.Extension {
        var list = TLSWriter()
        for sct in scts { let b = sct.serialized; list.u16(UInt16(b.count)); list.raw(b) }
        var w = TLSWriter()
        w.u16(UInt16(list.bytes.count)); w.raw(list.bytes)
        return Certificate.Extension(oid: CTObjectIdentifier.sctList, critical: false, value: ArraySlice(derTLV(0x04, w.bytes)))
    }

    /// A certificate like `certificate`, signed by `issuerKey`, with its SCT list
    /// replaced: what a CA key used outside the log (stolen, or a mis-issuance)
    /// gives. Chains verify as before; the SCT check is what catches it (rogue
    /// nodes in runs, tests).
    public static func reissue(_ certificate: Certificate, signedBy issuerKey: SigningKey, scts: [SignedCertificateTimestamp]) throws -> Certificate {
        let kept = certificate.extensions.filter { $0.oid != CTObjectIdentifier.sctList }
        return try Certificate(version: .v3, serialNumber: certificate.serialNumber, publicKey: certificate.publicKey,
                               notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter,
                               issuer: certificate.issuer, subject: certificate.subject, signatureAlgorithm: certificate.signatureAlgorithm,
                               extensions: try Certificate.Extensions(kept + [listExtension(scts)]), issuerPrivateKey: issuerKey.privateKey)
    }

    /// The SCTs a certificate carries (empty without the extension).
    public static func scts(in certificate: Certificate) throws -> [SignedCertificateTimestamp] {
        guard let ext = certificate.extensions[oid: CTObjectIdentifier.sctList] else { return [] }
        let octets = try ASN1OctetString(derEncoded: ext.value)
        var r = TLSReader(octets.bytes)
        var list = TLSReader(try r.opaque16())
        guard r.atEnd else { throw TrustChainError.invalid("bytes after the SCT list") }
        var out: [SignedCertificateTimestamp] = []
        while !list.atEnd { out.append(try SignedCertificateTimestamp(serialized: try list.opaque16())) }
        return out
    }

    /// Checks a CA-issued certificate's embedded SCT: one from the trusted log
    /// whose signature covers this certificate's `PreCert` under `issuer`.
    /// Returns the SCT and the entry the log holds; throws a `Rejection` saying why not.
    public static func verify(_ certificate: Certificate, issuer: Certificate.PublicKey, logKey: Certificate.PublicKey) throws
        -> (sct: SignedCertificateTimestamp, entry: LogEntry) {
        let scts: [SignedCertificateTimestamp]
        do { scts = try Self.scts(in: certificate) } catch {
            throw Rejection(403, "bad_sct", "the certificate's SCT list cannot be decoded: \(error)")
        }
        guard !scts.isEmpty else { throw Rejection(403, "missing_sct", "the certificate carries no signed certificate timestamp") }
        let logID = logKey.keyID
        guard let sct = scts.first(where: { $0.logID == logID }) else {
            throw Rejection(403, "unknown_log", "the certificate's SCTs are from other logs (\(scts.map { Encoding.hex($0.logID.prefix(8)) }.joined(separator: ", ")), not the trusted log \(Encoding.hex(logID.prefix(8))))")
        }
        let precert: PrecertificateEntry
        do { precert = try PrecertificateEntry(certificate: certificate, issuer: issuer) } catch {
            throw Rejection(403, "bad_sct", "the certificate's TBS cannot be decoded: \(error)")
        }
        let entry = LogEntry(timestamp: sct.timestamp, certificateDER: try certificate.derBytes(), precertificate: precert)
        guard sct.verify(entry: entry, logKey: logKey) else {
            throw Rejection(403, "bad_sct", "the embedded SCT's signature does not verify under the trusted log key")
        }
        return (sct, entry)
    }

    /// The TBSCertificate DER with the named extensions taken out of its
    /// extensions field (RFC 6962 §3.2: how a log and a verifier get the PreCert's TBS).
    static func removingExtensions(_ oids: [ASN1ObjectIdentifier], fromTBS tbs: ArraySlice<UInt8>) throws -> [UInt8] {
        let root = try DER.parse(Array(tbs))
        guard root.identifier == .sequence, case let .constructed(fields) = root.content else {
            throw TrustChainError.invalid("a TBSCertificate is not a SEQUENCE")
        }
        let extensionsTag = ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific)
        var out: [UInt8] = []
        for field in fields {
            guard field.identifier == extensionsTag else { out += field.encodedBytes; continue }
            guard case let .constructed(wrapper) = field.content, let list = wrapper.first(where: { _ in true }),
                  case let .constructed(extensions) = list.content else { throw TrustChainError.invalid("malformed extensions field") }
            var kept: [UInt8] = []
            for ext in extensions {
                guard case let .constructed(parts) = ext.content, let oidNode = parts.first(where: { _ in true }) else {
                    throw TrustChainError.invalid("malformed extension")
                }
                if try !oids.contains(ASN1ObjectIdentifier(derEncoded: oidNode)) { kept += ext.encodedBytes }
            }
            // A certificate without extensions has no extensions field (RFC 5280 §4.1: SEQUENCE SIZE (1..MAX)).
            if !kept.isEmpty { out += derTLV(0xa3, derTLV(0x30, kept)) }
        }
        return derTLV(0x30, out)
    }

    /// One DER TLV with a definite length.
    static func derTLV(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var out = [tag]
        let n = content.count
        if n < 0x80 { out.append(UInt8(n)) } else {
            var len: [UInt8] = []
            var v = n
            while v > 0 { len.insert(UInt8(v & 0xff), at: 0); v >>= 8 }
            out.append(0x80 | UInt8(len.count)); out += len
        }
        return out + content
    }
}

/// Reads TLS presentation-language fields (the counterpart of TLSWriter).
struct TLSReader {
    private var bytes: ArraySlice<UInt8>
    init(_ b: ArraySlice<UInt8>) { bytes = b }
    var atEnd: Bool { bytes.isEmpty }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard bytes.count >= n else { throw TrustChainError.invalid("truncated TLS structure (\(n) bytes wanted, \(bytes.count) left)") }
        defer { bytes = bytes.dropFirst(n) }
        return bytes.prefix(n)
    }
    mutating func u8() throws -> UInt8 { try take(1).first! }
    mutating func u16() throws -> UInt16 { try take(2).reduce(0) { $0 << 8 | UInt16($1) } }
    mutating func u64() throws -> UInt64 { try take(8).reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func opaque16() throws -> ArraySlice<UInt8> { try take(Int(try u16())) }
}

extension SignedCertificateTimestamp {
    /// TLS `DigitallySigned` algorithm (hash byte, signature byte). Ed25519 is RFC 8446's
    /// SignatureScheme 0x0807 (the same two bytes); ECDSA with SHA-256 is sha256(4), ecdsa(3).
    static func algorithm(of key: Certificate.PublicKey) -> UInt16 {
        key.keyAlgorithm == .ed25519 ? 0x0807 : 0x0403
    }

    /// The RFC 6962 §3.2 `SignedCertificateTimestamp` structure: version 0, log id,
    /// timestamp, no extensions, then the signature as `DigitallySigned`.
    var serialized: [UInt8] {
        var w = TLSWriter()
        w.u8(0); w.raw(logID); w.u64(UInt64(bitPattern: timestamp)); w.u16(0)
        w.u16(algorithm)
        w.u16(UInt16(signature.count)); w.raw(signature)
        return w.bytes
    }

    init(serialized b: ArraySlice<UInt8>) throws {
        var r = TLSReader(b)
        guard try r.u8() == 0 else { throw TrustChainError.invalid("SCT version is not v1") }
        let id = Array(try r.take(32))
        let ts = Int64(bitPattern: try r.u64())
        _ = try r.opaque16()   // extensions: none are defined
        let algorithm = try r.u16()
        let sig = Array(try r.opaque16())
        guard r.atEnd else { throw TrustChainError.invalid("bytes after an SCT") }
        self.init(logID: id, timestamp: ts, signature: sig, algorithm: algorithm)
    }
}
