import Foundation
import StoqEngine
import X509

/// A signed tree head (RFC 6962 §3.5 shape): the log's signature over
/// version 0, signature type tree_hash (1), timestamp, tree size and root hash.
public struct SignedTreeHead: Sendable, Equatable, Codable {
    public var treeSize: Int
    /// Unix milliseconds (the CA's epoch-mapped SimTime).
    public var timestamp: Int64
    public var rootHash: Hash
    public var signature: [UInt8]

    enum CodingKeys: String, CodingKey { case treeSize = "tree_size", timestamp, rootHash = "sha256_root_hash", signature = "tree_head_signature" }

    public init(treeSize: Int, timestamp: Int64, rootHash: Hash, signature: [UInt8]) {
        self.treeSize = treeSize; self.timestamp = timestamp; self.rootHash = rootHash; self.signature = signature
    }

    static func signedBytes(treeSize: Int, timestamp: Int64, rootHash: Hash) -> [UInt8] {
        var w = TLSWriter()
        w.u8(0); w.u8(1)
        w.u64(UInt64(bitPattern: timestamp)); w.u64(UInt64(truncatingIfNeeded: treeSize)); w.raw(rootHash)
        return w.bytes
    }

    public func verify(logKey: Certificate.PublicKey) -> Bool {
        logKey.verify(signature: signature, over: Self.signedBytes(treeSize: treeSize, timestamp: timestamp, rootHash: rootHash))
    }

    // JSON carries bytes as base64 (RFC 6962 §4.3 get-sth).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        treeSize = try c.decode(Int.self, forKey: .treeSize)
        timestamp = try c.decode(Int64.self, forKey: .timestamp)
        guard treeSize >= 0, timestamp >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .treeSize, in: c, debugDescription: "negative tree size or timestamp in STH")
        }
        guard let r = Encoding.unbase64(try c.decode(String.self, forKey: .rootHash)), r.count == 32,
              let s = Encoding.unbase64(try c.decode(String.self, forKey: .signature)) else {
            throw DecodingError.dataCorruptedError(forKey: .rootHash, in: c, debugDescription: "bad base64 in STH")
        }
        rootHash = r; signature = s
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(treeSize, forKey: .treeSize)
        try c.encode(timestamp, forKey: .timestamp)
        try c.encode(Encoding.base64(rootHash), forKey: .rootHash)
        try c.encode(Encoding.base64(signature), forKey: .signature)
    }
}

/// A signed certificate timestamp (RFC 6962 §3.2): the log's promise to
/// include this certificate, signed over the same fields as the leaf.
public struct SignedCertificateTimestamp: Sendable, Equatable {
    public var logID: [UInt8]
    public var timestamp: Int64
    public var signature: [UInt8]
    /// The TLS SignatureAndHashAlgorithm of `signature` (0x0807: Ed25519).
    public var algorithm: UInt16

    public init(logID: [UInt8], timestamp: Int64, signature: [UInt8], algorithm: UInt16 = 0x0807) {
        self.logID = logID; self.timestamp = timestamp; self.signature = signature; self.algorithm = algorithm
    }

    /// The signed input: v1 (0), certificate_timestamp (0), then the entry's
    /// timestamp, type, signed entry and extensions, byte for byte the
    /// MerkleTreeLeaf (whose second byte, leaf_type timestamped_entry, is also 0).
    static func signedBytes(_ entry: LogEntry) -> [UInt8] { entry.leafBytes }

    /// For a certificate logged as an x509_entry (no embedded SCTs).
    public func verify(certificateDER: [UInt8], logKey: Certificate.PublicKey) -> Bool {
        verify(entry: LogEntry(timestamp: timestamp, certificateDER: certificateDER), logKey: logKey)
    }

    /// `entry` must carry this SCT's timestamp.
    public func verify(entry: LogEntry, logKey: Certificate.PublicKey) -> Bool {
        logID == logKey.keyID && algorithm == Self.algorithm(of: logKey) && entry.timestamp == timestamp
            && logKey.verify(signature: signature, over: Self.signedBytes(entry))
    }
}

/// One log entry: the RFC 6962 MerkleTreeLeaf of an X.509 certificate, as an
/// x509_entry or (certificates with embedded SCTs) a precert_entry.
public struct LogEntry: Sendable, Equatable {
    public var timestamp: Int64
    /// The certificate as issued (for a precert entry: the final certificate,
    /// which names the entry by its fingerprint; the leaf covers `precertificate`).
    public var certificateDER: [UInt8]
    public var precertificate: PrecertificateEntry?

    public init(timestamp: Int64, certificateDER: [UInt8], precertificate: PrecertificateEntry? = nil) {
        self.timestamp = timestamp
        self.certificateDER = certificateDER
        self.precertificate = precertificate
    }

    /// version 0, leaf_type timestamped_entry (0), timestamp, then x509_entry (0)
    /// and the DER, or precert_entry (1), issuer key hash and TBS; no extensions.
    public var leafBytes: [UInt8] {
        var w = TLSWriter()
        w.u8(0); w.u8(0)
        w.u64(UInt64(bitPattern: timestamp))   // any Int64 (a value from a file or a peer) encodes; the signature decides
        if let p = precertificate {
            w.u16(1); w.raw(p.issuerKeyHash); w.u24(p.tbsCertificate.count); w.raw(p.tbsCertificate)
        } else {
            w.u16(0); w.u24(certificateDER.count); w.raw(certificateDER)
        }
        w.u16(0)
        return w.bytes
    }

    public var leafHash: Hash { MerkleHash.leaf(leafBytes) }
    /// SHA-256 of the certificate DER, lowercase hex: how the API names a certificate.
    public var fingerprint: String { Encoding.hex(Encoding.sha256(certificateDER)) }
}

/// An inclusion proof with the tree head it was computed against.
public struct InclusionProof: Sendable, Equatable {
    public var leafIndex: Int
    public var treeSize: Int
    public var auditPath: [Hash]
    public var treeHead: SignedTreeHead
}

/// The CT-style log: entries, their Merkle tree, the log key, and every
/// signed tree head issued. One STH is signed per append, so every tree size
/// the log ever had has an STH that `verifyHistory` can check.
public final class TransparencyLog {
    public let key: SigningKey
    public var publicKey: Certificate.PublicKey { key.publicKey }
    public var logID: [UInt8] { key.publicKey.keyID }
    public private(set) var tree = MerkleTree()
    public private(set) var entries: [LogEntry] = []
    public private(set) var treeHeads: [SignedTreeHead] = []
    private var indexByFingerprint: [String: Int] = [:]
    private let store: LogStore?

    /// A log in memory, or continuing the one persisted in `store`.
    public init(key: SigningKey, store: LogStore? = nil) throws {
        self.key = key
        self.store = store
        if let store {
            for entry in try store.loadEntries() { add(entry) }
            treeHeads = try store.loadTreeHeads()
        }
    }

    /// A read-only copy of a log's contents (an audit of files that may not be opened for writing).
    init(key: SigningKey, entries: [LogEntry], treeHeads: [SignedTreeHead]) {
        self.key = key
        store = nil
        for entry in entries { add(entry) }
        self.treeHeads = treeHeads
    }

    public var size: Int { tree.size }
    public var latestTreeHead: SignedTreeHead? { treeHeads.last }

    private func add(_ entry: LogEntry) {
        indexByFingerprint[entry.fingerprint] = entries.count
        entries.append(entry)
        tree.append(leafHash: entry.leafHash)
    }

    /// Appends a certificate as an x509_entry; returns its index, its SCT and the new tree head.
    @discardableResult
    public func append(certificateDER: [UInt8], timestamp: Int64) throws -> (index: Int, sct: SignedCertificateTimestamp, treeHead: SignedTreeHead) {
        let entry = LogEntry(timestamp: timestamp, certificateDER: certificateDER)
        let sct = try self.timestamp(entry)
        let (index, sth) = try append(entry)
        return (index, sct, sth)
    }

    /// The log's promise to include `entry` (its SCT). The CA embeds it in the
    /// final certificate before `append`, which must follow.
    public func timestamp(_ entry: LogEntry) throws -> SignedCertificateTimestamp {
        SignedCertificateTimestamp(logID: logID, timestamp: entry.timestamp, signature: try key.sign(SignedCertificateTimestamp.signedBytes(entry)),
                                   algorithm: SignedCertificateTimestamp.algorithm(of: publicKey))
    }

    /// Appends an entry (persisted first) and signs the new tree head.
    @discardableResult
    public func append(_ entry: LogEntry) throws -> (index: Int, treeHead: SignedTreeHead) {
        let index = entries.count
        try store?.append(entry, index: index)
        add(entry)
        return (index, try signTreeHead(timestamp: entry.timestamp))
    }

    /// Signs (and records) a tree head for the current size.
    @discardableResult
    public func signTreeHead(timestamp: Int64) throws -> SignedTreeHead {
        let root = tree.rootHash()
        let sth = SignedTreeHead(treeSize: size, timestamp: timestamp, rootHash: root,
                                 signature: try key.sign(SignedTreeHead.signedBytes(treeSize: size, timestamp: timestamp, rootHash: root)))
        try store?.append(sth)
        treeHeads.append(sth)
        return sth
    }

    public func index(ofFingerprint fingerprint: String) -> Int? { indexByFingerprint[fingerprint.lowercased()] }

    /// The inclusion proof of `fingerprint` against the latest tree head.
    public func inclusionProof(fingerprint: String) -> InclusionProof? {
        guard let i = index(ofFingerprint: fingerprint), let sth = latestTreeHead, i < sth.treeSize,
              let path = tree.inclusionProof(leafIndex: i, treeSize: sth.treeSize) else { return nil }
        return InclusionProof(leafIndex: i, treeSize: sth.treeSize, auditPath: path, treeHead: sth)
    }

    public func consistencyProof(first: Int, second: Int) -> [Hash]? { tree.consistencyProof(first: first, second: second) }

    /// Recomputes every root from the entries and checks every tree head:
    /// signature, root at its size, timestamps never going back, and consistency
    /// between consecutive heads. Returns the problems found (empty: all good).
    public func verifyHistory() -> [String] {
        var problems: [String] = []
        var previous: SignedTreeHead?
        for (i, sth) in treeHeads.enumerated() {
            let name = "tree head #\(i) (size \(sth.treeSize))"
            if !sth.verify(logKey: publicKey) { problems.append("\(name): bad signature") }
            guard sth.treeSize >= 0, sth.treeSize <= size else { problems.append("\(name): not a size of the log (\(size) entries)"); continue }
            if tree.rootHash(treeSize: sth.treeSize) != sth.rootHash { problems.append("\(name): root hash does not match the entries") }
            if let p = previous {
                if sth.timestamp < p.timestamp { problems.append("\(name): timestamp goes back") }
                if p.treeSize > sth.treeSize { problems.append("\(name): tree shrank from \(p.treeSize)") }
                else if p.treeSize > 0, let proof = tree.consistencyProof(first: p.treeSize, second: sth.treeSize) {
                    do {
                        try MerkleVerifier.verifyConsistency(first: p.treeSize, second: sth.treeSize, firstHash: p.rootHash,
                                                             secondHash: sth.rootHash, proof: proof)
                    } catch { problems.append("\(name): not consistent with the previous head: \(error)") }
                }
            }
            previous = sth
        }
        return problems
    }
}

/// Append-only files of a log: `log.jsonl` (one entry per line) and
/// `sth.jsonl` (one tree head per line). Appends go straight to the end of
/// the file, so a restarted log continues where it stopped.
public struct LogStore: Sendable {
    public let directory: URL
    var entriesFile: URL { directory.appendingPathComponent("log.jsonl") }
    var treeHeadsFile: URL { directory.appendingPathComponent("sth.jsonl") }

    public init(directory: URL) { self.directory = directory }

    struct EntryLine: Codable {
        var index: Int
        var timestamp: Int64
        var certificate: String
        /// base64 SHA-256 of the issuer's SPKI, for a precert_entry (its TBS is the certificate's without the SCT list).
        var issuerKeyHash: String?
        enum CodingKeys: String, CodingKey { case index, timestamp, certificate, issuerKeyHash = "issuer_key_hash" }
    }

    func append(_ entry: LogEntry, index: Int) throws {
        try appendLine(JSONLines.encode(EntryLine(index: index, timestamp: entry.timestamp, certificate: Encoding.base64(entry.certificateDER),
                                                  issuerKeyHash: entry.precertificate.map { Encoding.base64($0.issuerKeyHash) })), to: entriesFile)
    }

    func append(_ sth: SignedTreeHead) throws { try appendLine(JSONLines.encode(sth), to: treeHeadsFile) }

    func loadEntries(ignoringTornTail: Bool = false) throws -> [LogEntry] {
        try JSONLines.read(entriesFile, as: EntryLine.self, ignoringTornTail: ignoringTornTail).enumerated().map { i, line in
            guard line.index == i, let der = Encoding.unbase64(line.certificate) else {
                throw TrustChainError.corruptState("\(entriesFile.path) line \(i + 1): index or certificate is wrong")
            }
            guard let keyHash = line.issuerKeyHash else { return LogEntry(timestamp: line.timestamp, certificateDER: der) }
            do {
                guard let hash = Encoding.unbase64(keyHash), hash.count == 32 else { throw TrustChainError.invalid("issuer_key_hash is not 32 bytes of base64") }
                let tbs = try EmbeddedSCT.removingExtensions([CTObjectIdentifier.sctList], fromTBS: try Certificate(derEncoded: der).tbsCertificateBytes)
                return LogEntry(timestamp: line.timestamp, certificateDER: der, precertificate: PrecertificateEntry(issuerKeyHash: hash, tbsCertificate: tbs))
            } catch {
                throw TrustChainError.corruptState("\(entriesFile.path) line \(i + 1): precertificate entry: \(error)")
            }
        }
    }

    func loadTreeHeads(ignoringTornTail: Bool = false) throws -> [SignedTreeHead] {
        try JSONLines.read(treeHeadsFile, as: SignedTreeHead.self, ignoringTornTail: ignoringTornTail)
    }
}

/// One JSON object per line, sorted keys.
enum JSONLines {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    /// The lines of `url` (none if it does not exist). Bytes after the last
    /// newline are a torn line: every append writes its line and newline in
    /// one write and is answered only after fsync, so such bytes were never
    /// acknowledged. They are an error naming the repair unless `ignoringTornTail`.
    static func read<T: Decodable>(_ url: URL, as: T.Type, ignoringTornTail: Bool = false) throws -> [T] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        let complete = completeLength(data)
        if complete < data.count && !ignoringTornTail { throw TrustChainError.tornTail(TornTail(path: url.path, keptBytes: complete, tornBytes: data.count - complete)) }
        let d = JSONDecoder()
        return try data.prefix(complete).split(separator: 0x0a).enumerated().map { i, line in
            do { return try d.decode(T.self, from: Data(line)) } catch {
                throw TrustChainError.corruptState("\(url.path) line \(i + 1): \(error)")
            }
        }
    }

    /// Bytes up to and including the last newline.
    static func completeLength(_ data: Data) -> Int {
        guard let last = data.lastIndex(of: 0x0a) else { return 0 }
        return data.distance(from: data.startIndex, to: last) + 1
    }
}

/// A line cut short at the end of an append-only state file (a crash in mid-write).
public struct TornTail: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    /// Length of the file without the torn line (the size to truncate to).
    public var keptBytes: Int
    public var tornBytes: Int

    public var description: String {
        "\(path) ends in a torn line (\(tornBytes) bytes after the last newline, from a write cut short by a crash; it was never answered). "
            + "Repair: `stoqsim trustchain log verify --repair \((path as NSString).deletingLastPathComponent)` truncates it to \(keptBytes) bytes "
            + "(the same as `truncate -s \(keptBytes) \(path)`)"
    }

    /// Cuts the file back to its last complete line and syncs it.
    func repair() throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TrustChainError.io("cannot open \(path) to repair it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(keptBytes)) == 0, fsync(fd) == 0 else {
            throw TrustChainError.io("cannot truncate \(path) to \(keptBytes) bytes: \(String(cString: strerror(errno)))")
        }
    }
}

/// Appends one line with O_APPEND (never rewrites what is there) and returns
/// only once it is on stable storage: the file is fsynced, and so is its
/// directory when the append created the file. A failed write or sync cuts
/// the file back to its old length, so no partial line stays behind.
func appendLine(_ line: String, to url: URL, mode: mode_t = 0o644) throws {
    var created = false
    var fd = open(url.path, O_WRONLY | O_APPEND | O_CLOEXEC)
    if fd < 0 && errno == ENOENT {
        fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        created = fd >= 0
        if fd < 0 && errno == EEXIST { fd = open(url.path, O_WRONLY | O_APPEND | O_CLOEXEC) }
    }
    guard fd >= 0 else { throw TrustChainError.io("cannot open \(url.path) for appending: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let start = lseek(fd, 0, SEEK_END)
    func fail(_ what: String) -> TrustChainError {
        let message = "\(what) \(url.path): \(String(cString: strerror(errno)))"
        if start >= 0 { _ = ftruncate(fd, start) }
        return .io(message)
    }
    let bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 { if errno == EINTR { continue }; throw fail("write to") }
        done += n
    }
    guard fsync(fd) == 0 else { throw fail("fsync of") }
    if created { try syncDirectory(of: url) }
}

/// fsync of the directory holding `url`: makes a newly created file's name durable.
func syncDirectory(of url: URL) throws {
    let dir = url.deletingLastPathComponent().path
    let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw TrustChainError.io("cannot open directory \(dir) to sync it: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw TrustChainError.io("fsync of directory \(dir): \(String(cString: strerror(errno)))") }
}

public enum TrustChainError: Error, CustomStringConvertible {
    case corruptState(String)
    case tornTail(TornTail)
    case io(String)
    case invalid(String)

    public var description: String {
        switch self {
        case let .corruptState(s): return "corrupt TrustChain state: \(s)"
        case let .tornTail(t): return "corrupt TrustChain state: \(t)"
        case let .io(s): return s
        case let .invalid(s): return s
        }
    }
}
