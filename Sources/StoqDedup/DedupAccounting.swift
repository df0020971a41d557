/// What to send a receiver for one object, and what deduplication saved.
public struct TransferPlan: Equatable, Sendable {
    /// Chunks the receiver lacks, each once, in first-occurrence order.
    public var missing: [ManifestEntry]
    /// The object's full size: what a transfer without dedup would send.
    public var bytesRequested: Int
    /// Payload bytes actually sent (manifest overhead not included).
    public var bytesToSend: Int
    public var chunksInObject: Int

    /// Fraction of the object's bytes not sent: 0 = no saving, 1 = nothing sent.
    public var dedupRatio: Double { bytesRequested == 0 ? 0 : 1 - Double(bytesToSend) / Double(bytesRequested) }
    public var bytesSaved: Int { bytesRequested - bytesToSend }
}

extension Manifest {
    /// Chunks to send to a receiver that already holds what `receiverHas` says;
    /// a chunk repeated inside the object is sent once.
    public func transferPlan(receiverHas: (ChunkID) -> Bool) -> TransferPlan {
        var queued = Set<ChunkID>()
        var missing: [ManifestEntry] = []
        for c in chunks where !receiverHas(c.id) && queued.insert(c.id).inserted { missing.append(c) }
        return TransferPlan(missing: missing, bytesRequested: totalSize,
                            bytesToSend: missing.reduce(0) { $0 + $1.size }, chunksInObject: chunks.count)
    }

    public func transferPlan(receiverHolds: Set<ChunkID>) -> TransferPlan {
        transferPlan { receiverHolds.contains($0) }
    }
}

/// Running dedup figures per (object, version) and overall.
public struct DedupLedger: Sendable {
    public struct Key: Hashable, Comparable, Sendable {
        public var objectID: String
        public var version: UInt64
        public static func < (a: Key, b: Key) -> Bool { (a.objectID, a.version) < (b.objectID, b.version) }
    }

    public struct Totals: Equatable, Sendable {
        public var transfers = 0
        public var bytesRequested = 0
        public var bytesSent = 0
        public var dedupRatio: Double { bytesRequested == 0 ? 0 : 1 - Double(bytesSent) / Double(bytesRequested) }
    }

    public private(set) var byVersion: [Key: Totals] = [:]
    public private(set) var total = Totals()

    public init() {}

    public mutating func record(_ plan: TransferPlan, for manifest: Manifest) {
        let key = Key(objectID: manifest.objectID, version: manifest.version)
        byVersion[key, default: Totals()].add(plan)
        total.add(plan)
    }

    public func totals(objectID: String, version: UInt64) -> Totals? {
        byVersion[Key(objectID: objectID, version: version)]
    }

    /// All versions of one object together.
    public func totals(objectID: String) -> Totals {
        byVersion.filter { $0.key.objectID == objectID }.values.reduce(into: Totals()) {
            $0.transfers += $1.transfers; $0.bytesRequested += $1.bytesRequested; $0.bytesSent += $1.bytesSent
        }
    }
}

extension DedupLedger.Totals {
    mutating func add(_ plan: TransferPlan) {
        transfers += 1
        bytesRequested += plan.bytesRequested
        bytesSent += plan.bytesToSend
    }
}
