import Foundation

/// What an audit of a CA state directory found (`stoqsim trustchain log verify`).
public struct LogAudit: Sendable {
    public var entries: Int
    public var treeHeads: Int
    /// Root of the whole log as its entries stand (torn tails left out).
    public var rootHash: [UInt8]
    /// Lines cut short at the end of a state file; `repair` truncates them.
    public var tornTails: [TornTail]
    /// Everything else wrong: roots, signatures, consistency, entries no head covers.
    public var problems: [String]
    /// Entries after the latest signed tree head (a crash between logging and signing).
    public var uncoveredEntries: Int

    public var isClean: Bool { tornTails.isEmpty && problems.isEmpty }
}

extension CertificateAuthority {
    /// Reads a state directory without writing to it: torn last lines are
    /// reported (and the rest is checked without them), every root is
    /// recomputed and every signed tree head checked. A corrupt line that is
    /// not the last one throws: that is not something a crash leaves behind.
    public static func audit(stateDirectory: URL) throws -> LogAudit {
        let store = CAStore(directory: stateDirectory)
        let (_, _, logKey, _) = try store.load()
        let logStore = store.logStore
        let files = [logStore.entriesFile, logStore.treeHeadsFile, store.revocationsFile]
        let torn = files.compactMap { url -> TornTail? in
            guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
            let kept = JSONLines.completeLength(data)
            return kept < data.count ? TornTail(path: url.path, keptBytes: kept, tornBytes: data.count - kept) : nil
        }
        let entries = try logStore.loadEntries(ignoringTornTail: true)
        let heads = try logStore.loadTreeHeads(ignoringTornTail: true)
        _ = try JSONLines.read(store.revocationsFile, as: Revocation.self, ignoringTornTail: true)
        let log = TransparencyLog(key: logKey, entries: entries, treeHeads: heads)
        var problems = log.verifyHistory()
        let covered = heads.last?.treeSize ?? 0
        let uncovered = max(0, entries.count - covered)
        if heads.isEmpty { problems.append("no signed tree head: --repair signs one for size \(entries.count)") }
        else if uncovered > 0 {
            problems.append("entries \(covered)…\(entries.count - 1) are not covered by a signed tree head (a crash between logging "
                + "and signing; they were never answered): --repair signs a head for size \(entries.count)")
        }
        return LogAudit(entries: entries.count, treeHeads: heads.count, rootHash: log.tree.rootHash(), tornTails: torn,
                        problems: problems, uncoveredEntries: heads.isEmpty ? entries.count : uncovered)
    }

    /// Repairs what a crash can leave behind and audits again: truncates torn
    /// last lines, then signs a tree head for entries no head covers. Returns
    /// what it did, one sentence per action, and the audit after the repair.
    public static func repair(stateDirectory: URL) throws -> (actions: [String], audit: LogAudit) {
        let before = try audit(stateDirectory: stateDirectory)
        var actions: [String] = []
        for t in before.tornTails {
            try t.repair()
            actions.append("truncated \(t.path) from \(t.keptBytes + t.tornBytes) to \(t.keptBytes) bytes (dropped a torn line of \(t.tornBytes) bytes)")
        }
        if before.uncoveredEntries > 0 || before.treeHeads == 0 {
            let store = CAStore(directory: stateDirectory)
            let (_, _, logKey, _) = try store.load()
            let log = try TransparencyLog(key: logKey, store: store.logStore)
            // Never earlier than what the log already holds, so timestamps stay monotone.
            let timestamp = max(log.latestTreeHead?.timestamp ?? 0, log.entries.last?.timestamp ?? 0)
            let sth = try log.signTreeHead(timestamp: timestamp)
            actions.append("signed a tree head for size \(sth.treeSize) (timestamp \(sth.timestamp))")
        }
        return (actions, try audit(stateDirectory: stateDirectory))
    }
}
