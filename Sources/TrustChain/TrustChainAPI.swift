import Foundation
import StoqEngine
import StoqTransport

/// An HTTP-shaped request and response, independent of any transport: the
/// lead can carry them over QUIC streams now and HTTP/3 later.
public struct TrustChainRequest: Sendable, Equatable {
    public var method: String
    public var path: String
    public var body: [UInt8]
    public init(method: String, path: String, body: [UInt8] = []) { self.method = method; self.path = path; self.body = body }
}

public struct TrustChainResponse: Sendable, Equatable {
    public var status: Int
    /// JSON, keys sorted, so the same state gives the same bytes.
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
    public init(status: Int, body: [UInt8]) { self.status = status; self.body = body }

    /// The `error` code of an error answer (nil for a success or a body without one).
    public var errorCode: String? {
        guard status >= 400, let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return o["error"] as? String
    }
}

/// Bounds on what one request may carry. The HTTP/3 layer enforces the same
/// body and path limits before buffering (`stoqsim trustchain ca serve` flags);
/// the handler checks them again so every caller of `handle` gets them.
public struct TrustChainLimits: Sendable, Equatable {
    /// Largest request body (413 `body_too_large` above it).
    public var maxBodyBytes = 64 << 10
    /// Longest request path including the query (414 `path_too_long` above it).
    public var maxPathBytes = 2048
    /// Largest HTTP/3 header section (431 `headers_too_large`); only the HTTP/3 layer sees headers.
    public var maxHeaderBytes = 16 << 10
    public init(maxBodyBytes: Int = 64 << 10, maxPathBytes: Int = 2048, maxHeaderBytes: Int = 16 << 10) {
        self.maxBodyBytes = maxBodyBytes; self.maxPathBytes = maxPathBytes; self.maxHeaderBytes = maxHeaderBytes
    }

    /// The same bounds for the HTTP/3 layer, which applies them before buffering a request.
    public var http3: HTTP3ServerLimits {
        HTTP3ServerLimits(maxBodyBytes: maxBodyBytes, maxPathBytes: maxPathBytes, maxHeaderBytes: maxHeaderBytes)
    }
}

/// The CA's HTTP API as a pure function of (method, path, body, now) and the CA's state.
public final class TrustChainAPI {
    public let ca: CertificateAuthority
    /// Most entries one GET /ct/entries returns (RFC 6962 lets logs cap it).
    public var maximumEntriesPerRequest = 1000
    public var limits: TrustChainLimits

    public init(ca: CertificateAuthority, limits: TrustChainLimits = TrustChainLimits()) { self.ca = ca; self.limits = limits }

    public func handle(_ request: TrustChainRequest, now: SimTime) -> TrustChainResponse {
        handle(method: request.method, path: request.path, body: request.body, now: now)
    }

    public func handle(method: String, path: String, body: [UInt8], now: SimTime) -> TrustChainResponse {
        do {
            return try route(method: method, path: path, body: body, now: now)
        } catch let r as Rejection {
            return Self.error(r)
        } catch {
            return Self.error(Rejection(500, "internal_error", "\(error)"))
        }
    }

    private func route(method: String, path: String, body: [UInt8], now: SimTime) throws -> TrustChainResponse {
        guard path.utf8.count <= limits.maxPathBytes else {
            throw Rejection(414, "path_too_long", "the path is \(path.utf8.count) bytes; this CA accepts at most \(limits.maxPathBytes)")
        }
        guard body.count <= limits.maxBodyBytes else {
            throw Rejection(413, "body_too_large", "the body is \(body.count) bytes; this CA accepts at most \(limits.maxBodyBytes)")
        }
        guard path.hasPrefix("/") else { throw Rejection(400, "malformed_request", "the path must start with '/', got \(Self.quoted(path))") }
        let (route, query) = try Self.split(path)
        // "ct/proof/<fp>" → key "ct/proof/*" with the last segment as the parameter.
        var parts = route.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let parameter = parts.count == 3 ? parts[2] : ""
        if parts.count == 3 { parts[2] = "*" }
        let key = parts.joined(separator: "/")
        switch (method, key) {
        case ("POST", "ca/certificate"): return try certificate(body, now: now)
        case ("GET", "ca/info"): return ok(CAInfoBody(ca))
        case ("GET", "ca/revocation/*"): return try revocation(parameter)
        case ("GET", "ct/sth"): return try sth()
        case ("GET", "ct/proof/*"): return try proof(parameter)
        case ("GET", "ct/consistency"): return try consistency(query)
        case ("GET", "ct/entries"): return try entries(query)
        case (_, _) where Self.routes.contains(key):
            throw Rejection(405, "method_not_allowed", "\(Self.quoted(method)) is not allowed on \(Self.quoted(route))")
        default:
            throw Rejection(404, "not_found", "no such endpoint: \(Self.quoted(route))")
        }
    }

    private static let routes: Set = ["ca/certificate", "ca/info", "ca/revocation/*", "ct/sth", "ct/proof/*", "ct/consistency", "ct/entries"]

    /// A client-supplied string for a reason: quoted and cut short, so an answer stays small.
    static func quoted(_ s: some StringProtocol) -> String {
        s.count <= 80 ? "'\(s)'" : "'\(s.prefix(80))…' (\(s.utf8.count) bytes)"
    }

    /// An HTTP/3 server whose handler is this API (JSON answers, also for requests
    /// the HTTP/3 layer refuses under `limits`). `clock` gives each request's "now";
    /// `observe` sees every answer (e.g. to log it).
    public func http3Server(limits: HTTP3ServerLimits, clock: @escaping (HTTP3Request) -> SimTime,
                            observe: ((HTTP3Request?, TrustChainResponse) -> Void)? = nil) -> HTTP3Server {
        func http(_ r: TrustChainResponse) -> HTTP3Response {
            HTTP3Response(status: r.status, headers: [HTTP3Header("content-type", "application/json")], body: r.body)
        }
        let server = HTTP3Server { request in
            let r = self.handle(method: request.method, path: request.path, body: request.body, now: clock(request))
            observe?(request, r)
            return http(r)
        }
        server.limits = limits
        server.refusalResponse = { refusal in
            let r = Self.refusal(refusal)
            observe?(nil, r)
            return http(r)
        }
        return server
    }

    /// The JSON answer to a request the HTTP/3 layer refused before it reached `handle`.
    public static func refusal(_ r: HTTP3Refusal) -> TrustChainResponse {
        let code: String
        switch r {
        case .bodyTooLarge: code = "body_too_large"
        case .pathTooLong: code = "path_too_long"
        case .headersTooLarge: code = "headers_too_large"
        case .timedOut: code = "request_timeout"
        }
        return error(Rejection(r.status, code, r.description))
    }

    public static func error(_ r: Rejection) -> TrustChainResponse {
        TrustChainResponse(status: r.status, body: (try? Self.encode(ErrorBody(error: r.code, reason: r.reason))) ?? [])
    }

    private func ok<T: Encodable>(_ value: T) -> TrustChainResponse { TrustChainResponse(status: 200, body: (try? Self.encode(value)) ?? []) }

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try e.encode(value))
    }

    /// Route and query parameters. `a=1&&b=` is fine (empty pairs are skipped,
    /// a missing value is ""); an empty name, bad percent-encoding or a name
    /// given twice is a 400 naming the pair.
    static func split(_ path: String) throws -> (String, [String: String]) {
        guard let q = path.firstIndex(of: "?") else { return (path, [:]) }
        var query: [String: String] = [:]
        for pair in path[path.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = kv[0].removingPercentEncoding, let value = (kv.count > 1 ? kv[1] : "").removingPercentEncoding else {
                throw Rejection(400, "malformed_request", "query pair \(quoted(pair)) is not valid percent-encoding")
            }
            guard !name.isEmpty else { throw Rejection(400, "malformed_request", "query pair \(quoted(pair)) has no name") }
            guard query[name] == nil else { throw Rejection(400, "malformed_request", "query parameter \(quoted(name)) is given twice") }
            query[name] = value
        }
        return (String(path[..<q]), query)
    }

    // MARK: endpoints

    private func certificate(_ body: [UInt8], now: SimTime) throws -> TrustChainResponse {
        let request = try Self.parseEnrollment(body)
        switch ca.enroll(request, now: now) {
        case let .failure(r): throw r
        case let .success(issued): return ok(CertificateBody(issued))
        }
    }

    /// Decodes the POST body; a proof of another version is reported as such, not as malformed JSON.
    static func parseEnrollment(_ body: [UInt8]) throws -> EnrollmentRequest {
        guard (try? JSONSerialization.jsonObject(with: Data(body))) is [String: Any] else {
            throw Rejection(400, "malformed_request", "the body is not a JSON object")
        }
        // JSONDecoder reads the version exactly (JSONSerialization would round 2^63 + 1 through a double).
        struct VersionProbe: Decodable {
            struct Proof: Decodable { var version: Int }
            var consensus_proof: Proof?
        }
        if let v = (try? JSONDecoder().decode(VersionProbe.self, from: Data(body)))?.consensus_proof?.version, v != ConsensusProof.currentVersion {
            throw Rejection(422, "unsupported_proof_version", "consensus_proof version \(v) is not supported (this CA reads version \(ConsensusProof.currentVersion))")
        }
        let fields: CertificateRequestBody
        do { fields = try JSONDecoder().decode(CertificateRequestBody.self, from: Data(body)) } catch {
            throw Rejection(400, "malformed_request", "the request does not match the schema: \(Self.describe(error))")
        }
        try fields.checkRanges()
        guard let der = Encoding.unbase64(fields.csr) else { throw Rejection(400, "bad_csr", "csr is not base64") }
        return EnrollmentRequest(commonName: fields.commonName, nodeID: fields.nodeID, ipv6Addresses: fields.ipv6Addresses,
                                 csrDER: der, consensusProof: fields.consensusProof)
    }

    private static func describe(_ error: Error) -> String {
        switch error as? DecodingError {
        case let .keyNotFound(key, ctx)?: return "missing field '\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case let .typeMismatch(_, ctx)?, let .valueNotFound(_, ctx)?, let .dataCorrupted(ctx)?:
            return "bad value at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)"
        default: return "\(error)"
        }
    }

    private func knownFingerprint(_ fp: String) throws -> String {
        let f = fp.lowercased()
        guard f.utf8.count == 64, Encoding.unhex(f) != nil else {
            throw Rejection(400, "malformed_request", "\(Self.quoted(fp)) is not a SHA-256 fingerprint (64 hex digits)")
        }
        guard ca.log.index(ofFingerprint: f) != nil else { throw Rejection(404, "unknown_fingerprint", "no logged certificate has fingerprint \(f)") }
        return f
    }

    private func revocation(_ fp: String) throws -> TrustChainResponse {
        let f = try knownFingerprint(fp)
        let r = ca.revocations[f]
        return ok(RevocationBody(fingerprint: f, revoked: r != nil, reason: r?.reason, revokedAt: r?.revokedAt))
    }

    private func sth() throws -> TrustChainResponse {
        guard let sth = ca.log.latestTreeHead else { throw Rejection(404, "no_tree_head", "the log has not signed a tree head yet") }
        return ok(sth)
    }

    private func proof(_ fp: String) throws -> TrustChainResponse {
        let f = try knownFingerprint(fp)
        guard let p = ca.log.inclusionProof(fingerprint: f) else { throw Rejection(404, "not_yet_in_tree", "certificate \(f) is not covered by a tree head yet") }
        return ok(ProofBody(leafIndex: p.leafIndex, treeSize: p.treeSize, rootHash: Encoding.base64(p.treeHead.rootHash),
                            auditPath: p.auditPath.map(Encoding.base64), sth: p.treeHead,
                            timestamp: ca.log.entries[p.leafIndex].timestamp))
    }

    private func integer(_ query: [String: String], _ name: String) throws -> Int {
        guard let text = query[name] else { throw Rejection(400, "malformed_request", "query parameter '\(name)' is missing") }
        // Digits only: no sign, no spaces; Int() also refuses values beyond Int.max.
        guard !text.isEmpty, text.utf8.allSatisfy({ (48...57).contains($0) }), let v = Int(text) else {
            throw Rejection(400, "malformed_request", "query parameter '\(name)' must be a non-negative integer below 2^63, got \(Self.quoted(text))")
        }
        return v
    }

    private func consistency(_ query: [String: String]) throws -> TrustChainResponse {
        let first = try integer(query, "first"), second = try integer(query, "second")
        guard first > 0, first <= second, second <= ca.log.size else {
            throw Rejection(400, "malformed_request", "need 0 < first ≤ second ≤ tree size \(ca.log.size), got first=\(first) second=\(second)")
        }
        return ok(ConsistencyBody(first: first, second: second, consistency: (ca.log.consistencyProof(first: first, second: second) ?? []).map(Encoding.base64)))
    }

    private func entries(_ query: [String: String]) throws -> TrustChainResponse {
        let start = try integer(query, "start"), end = try integer(query, "end")
        guard start <= end, start < ca.log.size else {
            throw Rejection(400, "malformed_request", "need start ≤ end and start below tree size \(ca.log.size), got start=\(start) end=\(end)")
        }
        // Inclusive end, clipped to the log and the per-request cap (RFC 6962 §4.6).
        let last = min(end, ca.log.size - 1, start + max(1, maximumEntriesPerRequest) - 1)
        return ok(EntriesBody(entries: (start...last).map { i in
            let e = ca.log.entries[i]
            return EntryBody(leafIndex: i, leafInput: Encoding.base64(e.leafBytes), timestamp: e.timestamp, fingerprint: e.fingerprint)
        }))
    }
}

// MARK: JSON bodies (field names are the wire format; see docs/trustchain.md)

/// Range checks on every field of POST /ca/certificate, before any policy
/// sees the request: bounded strings and lists, timestamps within years
/// 1970…9999, key ids and hashes of the right shape. A failure is 400
/// `invalid_field` naming the field; values in range but wrong (a stale
/// timestamp, a bad signature) are the policies' 403s.
enum FieldRange {
    /// 9999-12-31T23:59:59.999Z in Unix ms: no meaningful date lies beyond.
    static let maxTimestampMs: Int64 = 253_402_300_799_999
    static let maxName = 253, maxAddresses = 16, maxAddress = 64, maxCSRBase64 = 24 << 10, maxSignatureBase64 = 1024
    static let maxDifficulty = 256

    static func fail(_ field: String, _ why: String) -> Rejection { Rejection(400, "invalid_field", "\(field): \(why)") }

    static func text(_ s: String, _ field: String, max: Int, allowEmpty: Bool = false) throws {
        if s.isEmpty && !allowEmpty { throw fail(field, "is empty") }
        if s.utf8.count > max { throw fail(field, "is \(s.utf8.count) bytes; at most \(max)") }
    }

    static func timestamp(_ t: Int64, _ field: String) throws {
        guard (0...maxTimestampMs).contains(t) else { throw fail(field, "\(t) is not a Unix millisecond time in 1970…9999") }
    }

    static func hexDigest(_ s: String, _ field: String) throws {
        guard s.utf8.count == 64, Encoding.unhex(s) != nil else { throw fail(field, "must be 64 hex digits (a SHA-256), got \(TrustChainAPI.quoted(s))") }
    }
}

extension CertificateRequestBody {
    func checkRanges() throws {
        try FieldRange.text(commonName, "common_name", max: FieldRange.maxName)
        try FieldRange.text(nodeID, "node_id", max: FieldRange.maxName)
        if ipv6Addresses.count > FieldRange.maxAddresses {
            throw FieldRange.fail("ipv6_addresses", "has \(ipv6Addresses.count) entries; at most \(FieldRange.maxAddresses)")
        }
        for (i, a) in ipv6Addresses.enumerated() { try FieldRange.text(a, "ipv6_addresses[\(i)]", max: FieldRange.maxAddress) }
        try FieldRange.text(csr, "csr", max: FieldRange.maxCSRBase64)
        guard let p = consensusProof else { return }
        guard (0...FieldRange.maxDifficulty).contains(p.work.difficulty) else {
            throw FieldRange.fail("consensus_proof.work.difficulty", "\(p.work.difficulty) is not 0…\(FieldRange.maxDifficulty)")
        }
        try FieldRange.timestamp(p.time.timestamp, "consensus_proof.time.timestamp")
        try FieldRange.hexDigest(p.time.csrSHA256, "consensus_proof.time.csr_sha256")
        guard p.time.nonce.utf8.count == 2 * TimeProof.nonceBytes, Encoding.unhex(p.time.nonce) != nil else {
            throw FieldRange.fail("consensus_proof.time.nonce", "must be \(2 * TimeProof.nonceBytes) hex digits, got \(TrustChainAPI.quoted(p.time.nonce))")
        }
        try FieldRange.text(p.time.signature, "consensus_proof.time.signature", max: FieldRange.maxSignatureBase64)
        try FieldRange.hexDigest(p.stake.keySHA256, "consensus_proof.stake.key_sha256")
        try FieldRange.hexDigest(p.stake.authority, "consensus_proof.stake.authority")
        try FieldRange.text(p.stake.nodeID, "consensus_proof.stake.node_id", max: FieldRange.maxName)
        try FieldRange.timestamp(p.stake.timestamp, "consensus_proof.stake.timestamp")
        try FieldRange.text(p.stake.signature, "consensus_proof.stake.signature", max: FieldRange.maxSignatureBase64)
        try FieldRange.text(p.space.signature, "consensus_proof.space.signature", max: FieldRange.maxSignatureBase64)
    }
}

struct CertificateRequestBody: Decodable {
    var commonName: String
    var nodeID: String
    var ipv6Addresses: [String]
    var csr: String
    var consensusProof: ConsensusProof?
    enum CodingKeys: String, CodingKey {
        case commonName = "common_name", nodeID = "node_id", ipv6Addresses = "ipv6_addresses", csr, consensusProof = "consensus_proof"
    }
}

/// The POST /ca/certificate body a node sends.
public struct EnrollmentRequestBody: Encodable {
    public var commonName: String
    public var nodeID: String
    public var ipv6Addresses: [String]
    public var csr: String
    public var consensusProof: ConsensusProof?
    enum CodingKeys: String, CodingKey {
        case commonName = "common_name", nodeID = "node_id", ipv6Addresses = "ipv6_addresses", csr, consensusProof = "consensus_proof"
    }

    public init(_ r: EnrollmentRequest) {
        commonName = r.commonName; nodeID = r.nodeID; ipv6Addresses = r.ipv6Addresses
        csr = Encoding.base64(r.csrDER); consensusProof = r.consensusProof
    }

    public func json() throws -> [UInt8] { try TrustChainAPI.encode(self) }
}

struct ErrorBody: Codable { var error: String; var reason: String }

public struct SCTBody: Codable, Sendable {
    public var version: Int
    public var logID: String
    public var timestamp: Int64
    public var signature: String
    enum CodingKeys: String, CodingKey { case version = "sct_version", logID = "id", timestamp, signature }

    init(_ s: SignedCertificateTimestamp) {
        version = 0; logID = Encoding.base64(s.logID); timestamp = s.timestamp; signature = Encoding.base64(s.signature)
    }

    public var sct: SignedCertificateTimestamp? {
        guard let id = Encoding.unbase64(logID), let sig = Encoding.unbase64(signature) else { return nil }
        return SignedCertificateTimestamp(logID: id, timestamp: timestamp, signature: sig)
    }
}

/// The answer to POST /ca/certificate.
public struct CertificateBody: Codable, Sendable {
    public var certificateDER: String
    public var fingerprint: String
    public var serialNumber: String
    public var issuedAt: String
    public var expiresAt: String
    public var issuedAtMs: Int64
    public var expiresAtMs: Int64
    public var caChain: [String]
    public var sct: SCTBody
    public var leafIndex: Int
    enum CodingKeys: String, CodingKey {
        case certificateDER = "certificate_der", fingerprint, serialNumber = "serial_number", issuedAt = "issued_at",
             expiresAt = "expires_at", issuedAtMs = "issued_at_ms", expiresAtMs = "expires_at_ms", caChain = "ca_chain", sct, leafIndex = "leaf_index"
    }

    init(_ i: IssuedCertificate) {
        certificateDER = Encoding.base64(i.der); fingerprint = i.fingerprint; serialNumber = i.serialNumber
        issuedAt = Encoding.rfc3339(unixMilliseconds: i.issuedAt); expiresAt = Encoding.rfc3339(unixMilliseconds: i.expiresAt)
        issuedAtMs = i.issuedAt; expiresAtMs = i.expiresAt
        caChain = i.chain.map(Encoding.base64); sct = SCTBody(i.sct); leafIndex = i.leafIndex
    }
}

public struct ProofBody: Codable, Sendable {
    public var leafIndex: Int
    public var treeSize: Int
    public var rootHash: String
    public var auditPath: [String]
    public var sth: SignedTreeHead
    /// The log entry's timestamp (ms): with the certificate it makes the leaf, so a
    /// peer that has only the certificate from a handshake can check the proof.
    public var timestamp: Int64?
    enum CodingKeys: String, CodingKey {
        case leafIndex = "leaf_index", treeSize = "tree_size", rootHash = "root_hash", auditPath = "audit_path", sth, timestamp
    }
}

struct ConsistencyBody: Codable { var first: Int; var second: Int; var consistency: [String] }
typealias ConsistencyProofBody = ConsistencyBody

struct EntryBody: Codable {
    var leafIndex: Int; var leafInput: String; var timestamp: Int64; var fingerprint: String
    enum CodingKeys: String, CodingKey { case leafIndex = "leaf_index", leafInput = "leaf_input", timestamp, fingerprint }
}

struct EntriesBody: Codable { var entries: [EntryBody] }

struct RevocationBody: Codable {
    var fingerprint: String; var revoked: Bool; var reason: String?; var revokedAt: Int64?
    enum CodingKeys: String, CodingKey { case fingerprint, revoked, reason, revokedAt = "revoked_at" }
}

/// GET /ca/info: what a node needs to trust this CA and its log.
public struct CAInfoBody: Codable, Sendable {
    public var caCertificate: String
    public var logID: String
    public var logPublicKey: String
    public var epochUnixMs: Int64
    public var validitySeconds: Int64
    enum CodingKeys: String, CodingKey {
        case caCertificate = "ca_certificate", logID = "log_id", logPublicKey = "log_public_key", epochUnixMs = "epoch_unix_ms", validitySeconds = "validity_seconds"
    }

    init(_ ca: CertificateAuthority) {
        caCertificate = Encoding.base64(ca.certificateDER); logID = Encoding.base64(ca.log.logID)
        logPublicKey = Encoding.base64(ca.log.publicKey.spki); epochUnixMs = ca.epoch.unixMilliseconds
        validitySeconds = ca.configuration.validitySeconds
    }
}
