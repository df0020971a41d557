import Foundation

/// The time proofs (CSR hash and nonce) a CA has accepted, so the same
/// request is refused the second time. Kept while TimeProofPolicy would still
/// accept them; older ones it refuses anyway, so they are pruned.
///
/// With a file (a CA state directory's `accepted-proofs.jsonl`), every proof is
/// appended and fsynced *before* its certificate is issued, so a restarted
/// `ca serve` still refuses a replay of anything it answered; pruning rewrites
/// the file (temporary file, fsync, rename, fsync of the directory). A torn last
/// line (a crash in mid-append) was never followed by an issuance: it is
/// ignored, and cut off before the next append.
struct ReplayMemory {
    struct Entry: Codable, Equatable {
        /// `csr_sha256:nonce`, lowercase hex.
        var key: String
        /// The time proof's timestamp, Unix ms.
        var timestamp: Int64
    }

    static let fileName = "accepted-proofs.jsonl"
    private(set) var timestamps: [String: Int64] = [:]
    private let file: URL?
    private var tornTail: TornTail?
    /// Prune when this many are kept (amortised: doubles with what survives).
    private var pruneAt: Int
    private let minimumPruneAt: Int

    init(file: URL?, pruneAt: Int = 1024) throws {
        self.file = file
        self.pruneAt = pruneAt
        minimumPruneAt = pruneAt
        guard let file, let data = FileManager.default.contents(atPath: file.path) else { return }
        let complete = JSONLines.completeLength(data)
        if complete < data.count { tornTail = TornTail(path: file.path, keptBytes: complete, tornBytes: data.count - complete) }
        for e in try JSONLines.read(file, as: Entry.self, ignoringTornTail: true) { timestamps[e.key] = e.timestamp }
    }

    /// The timestamp of the accepted proof with this key, if any.
    func firstUse(of key: String) -> Int64? { timestamps[key] }

    /// Records an accepted proof (durably, when there is a file); prunes those
    /// older than `nowMs − windowMs` once enough have gathered.
    mutating func remember(_ key: String, timestamp: Int64, nowMs: Int64, windowMs: Int64?) throws {
        if let file {
            if let t = tornTail { try t.repair(); tornTail = nil }
            try appendLine(try JSONLines.encode(Entry(key: key, timestamp: timestamp)), to: file)
        }
        timestamps[key] = timestamp
        guard timestamps.count >= pruneAt, let windowMs else { return }
        let oldest = nowMs - windowMs
        timestamps = timestamps.filter { $0.value >= oldest }
        pruneAt = max(minimumPruneAt, timestamps.count * 2)
        if let file { try rewrite(file) }
    }

    /// Replaces the file with the proofs kept, atomically.
    private func rewrite(_ file: URL) throws {
        let lines = try timestamps.sorted { $0.key < $1.key }.map { try JSONLines.encode(Entry(key: $0.key, timestamp: $0.value)) + "\n" }
        let temporary = file.appendingPathExtension("tmp")
        try? FileManager.default.removeItem(at: temporary)
        try writeNewFile(Array(lines.joined().utf8), to: temporary, mode: 0o644)
        guard rename(temporary.path, file.path) == 0 else {
            throw TrustChainError.io("cannot rename \(temporary.path) to \(file.path): \(String(cString: strerror(errno)))")
        }
        try syncDirectory(of: file)
    }
}
