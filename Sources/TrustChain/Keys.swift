import Crypto
import Foundation
import StoqEngine
import SwiftASN1
import X509

/// Key algorithms TrustChain signs with. Ed25519 is the default: its
/// signatures are deterministic, so a seeded run produces the same bytes.
public enum KeyAlgorithm: String, Sendable, Codable, CaseIterable {
    case ed25519
    case ecdsaP256 = "ecdsa-p256"
}

/// A private key (CA, log, stake authority or node) with the few operations
/// TrustChain needs: raw signatures, PEM round trips, the public key.
public struct SigningKey: Sendable {
    public let privateKey: Certificate.PrivateKey
    public let algorithm: KeyAlgorithm

    public init(_ key: Certificate.PrivateKey) {
        privateKey = key
        algorithm = key.publicKey.keyAlgorithm
    }

    /// A fresh key from the system generator (CA set-up, `ca init`).
    public static func generate(_ algorithm: KeyAlgorithm = .ed25519) -> SigningKey {
        switch algorithm {
        case .ed25519: return SigningKey(Certificate.PrivateKey(Curve25519.Signing.PrivateKey()))
        case .ecdsaP256: return SigningKey(Certificate.PrivateKey(P256.Signing.PrivateKey()))
        }
    }

    /// A key derived from a seeded stream, so simulated nodes get the same keys for the same seed.
    public static func generate(_ algorithm: KeyAlgorithm = .ed25519, using random: inout RandomStream) -> SigningKey {
        while true {
            var raw = [UInt8]()
            for _ in 0..<4 { withUnsafeBytes(of: random.next().bigEndian) { raw.append(contentsOf: $0) } }
            switch algorithm {
            case .ed25519:
                return SigningKey(Certificate.PrivateKey(try! Curve25519.Signing.PrivateKey(rawRepresentation: raw)))
            case .ecdsaP256:
                // A 32-byte scalar is out of range (≥ the group order) with probability ~2^-32: draw again.
                if let k = try? P256.Signing.PrivateKey(rawRepresentation: raw) { return SigningKey(Certificate.PrivateKey(k)) }
            }
        }
    }

    public init(pem: String) throws {
        self.init(try Certificate.PrivateKey(pemEncoded: pem))
    }

    /// Unencrypted PKCS #8 PEM ("BEGIN PRIVATE KEY"), which GnuTLS reads (tested with both algorithms).
    public func pem() throws -> String { try privateKey.serializeAsPEM().pemString }

    public var publicKey: Certificate.PublicKey { privateKey.publicKey }

    /// The signature bytes over `bytes` (Ed25519: 64 bytes; ECDSA: DER).
    public func sign(_ bytes: [UInt8]) throws -> [UInt8] {
        try privateKey.sign(bytes: bytes, signatureAlgorithm: publicKey.signatureAlgorithm).rawRepresentation
    }
}

extension Certificate.PublicKey {
    var keyAlgorithm: KeyAlgorithm { Curve25519.Signing.PublicKey(self) != nil ? .ed25519 : .ecdsaP256 }

    /// The signature algorithm TrustChain uses with this key.
    public var signatureAlgorithm: Certificate.SignatureAlgorithm {
        keyAlgorithm == .ed25519 ? .ed25519 : .ecdsaWithSHA256
    }

    /// DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7): what work proofs and key ids hash.
    /// Not `subjectPublicKeyInfoBytes`, which despite its name is only the raw key
    /// (32 bytes for Ed25519, the X9.63 point for P-256).
    public var spki: [UInt8] {
        var s = DER.Serializer()
        // Serializing a key that swift-certificates itself parsed or made cannot fail.
        try! s.serialize(self)
        return s.serializedBytes
    }

    /// SHA-256 of the SubjectPublicKeyInfo (RFC 6962 log id; stake authority id).
    public var keyID: [UInt8] { Array(SHA256.hash(data: spki)) }

    public func verify(signature: [UInt8], over bytes: [UInt8]) -> Bool {
        isValidSignature(signature, for: bytes, signatureAlgorithm: signatureAlgorithm)
    }

    public init(spki: [UInt8]) throws {
        try self.init(derEncoded: spki)
    }
}

/// Maps simulated time onto wall-clock time: certificates carry real dates,
/// computed as epoch + SimTime, never read from the machine's clock.
public struct WallEpoch: Sendable, Equatable, Codable {
    /// Unix time in milliseconds at SimTime zero (the run's "wall" start).
    public var unixMilliseconds: Int64

    public init(unixMilliseconds: Int64) { self.unixMilliseconds = unixMilliseconds }

    /// 2026-01-01T00:00:00Z: a fixed default so runs are reproducible.
    public static let default2026 = WallEpoch(unixMilliseconds: 1_767_225_600_000)

    public func milliseconds(at t: SimTime) -> Int64 { unixMilliseconds + t.nanosecondsSinceStart / 1_000_000 }
    public func date(at t: SimTime) -> Date { Date(timeIntervalSince1970: Double(milliseconds(at: t)) / 1000) }
    /// The SimTime of a Unix millisecond instant.
    /// Saturates at the ends of SimTime (±292 years from the epoch) rather than trapping.
    public func simTime(unixMilliseconds ms: Int64) -> SimTime {
        let (delta, o1) = ms.subtractingReportingOverflow(unixMilliseconds)
        let (ns, o2) = delta.multipliedReportingOverflow(by: 1_000_000)
        return SimTime(nanosecondsSinceStart: o1 || o2 ? (ms < unixMilliseconds ? .min : .max) : ns)
    }
}

/// Byte and text encodings shared by the log, the CA and the API.
enum Encoding {
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xf)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < chars.count {
            guard let h = nibble(chars[i]), let l = nibble(chars[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    static func unbase64(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map { Array($0) } }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

    /// RFC 3339 UTC with milliseconds, computed by hand (no locale, no formatter state).
    static func rfc3339(unixMilliseconds ms: Int64) -> String {
        let secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = Int(ms - secs * 1000)
        var days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let rem = Int(secs - days * 86400)
        // Howard Hinnant's civil_from_days.
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        if m <= 2 { y += 1 }
        func pad(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(pad(Int(y), 4))-\(pad(Int(m), 2))-\(pad(Int(d), 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2)).\(pad(millis, 3))Z"
    }
}

/// Big-endian TLS-presentation-language encoding (RFC 8446 §3) for signed structures.
struct TLSWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func u24(_ v: Int) { bytes.append(contentsOf: [UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]) }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    /// A string with a 2-byte length prefix.
    mutating func string16(_ s: String) { let b = Array(s.utf8); u16(UInt16(b.count)); raw(b) }
}
