import StoqEngine

/// Why a chunk left the store.
public enum EvictionReason: Sendable, Hashable {
    /// Least recently used, pushed out to make room.
    case capacity
    /// Older than the TTL.
    case expired
}

/// An edge node's chunk cache: LRU under a byte limit, plus a TTL counted from
/// when a chunk was (last) inserted. Time is passed in, never read. Every
/// operation is O(1) (amortised for expiry): a hash map to slots in arrays,
/// threaded by two intrusive doubly linked lists — recency, and insertion
/// order, which is expiry order because the TTL is the same for every entry.
public struct ChunkStore {
    public struct Stats: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public var hitBytes = 0
        public var insertions = 0
        public var insertedBytes = 0
        /// Chunks larger than the whole store.
        public var rejected = 0
        public var evictedForCapacity = 0
        public var evictedExpired = 0
        public var evictedBytes = 0
        public var hitRatio: Double { hits + misses == 0 ? 0 : Double(hits) / Double(hits + misses) }
    }

    public let capacityBytes: Int
    public let ttl: SimDuration
    public private(set) var stats = Stats()
    public private(set) var bytesStored = 0
    public var count: Int { index.count }

    private static let none = -1
    private var index: [ChunkID: Int] = [:]
    private var ids: [ChunkID] = []
    private var sizes: [Int] = []
    private var expiries: [SimTime] = []
    private var payloads: [[UInt8]?] = []
    // Recency list: head = most recently used.
    private var lruPrev: [Int] = [], lruNext: [Int] = []
    private var lruHead = none, lruTail = none
    // Insertion list: head = oldest insertion = first to expire.
    private var agePrev: [Int] = [], ageNext: [Int] = []
    private var ageHead = none, ageTail = none
    private var free: [Int] = []

    public init(capacityBytes: Int, ttl: SimDuration = .seconds(3600)) {
        precondition(capacityBytes > 0 && ttl > .zero)
        self.capacityBytes = capacityBytes
        self.ttl = ttl
    }

    /// Looks a chunk up for serving: counts a hit or a miss and marks it used.
    public mutating func lookup(_ id: ChunkID, now: SimTime) -> (size: Int, payload: [UInt8]?)? {
        expire(now: now)
        guard let s = index[id] else { stats.misses += 1; return nil }
        stats.hits += 1
        stats.hitBytes += sizes[s]
        unlinkLRU(s); pushLRU(s)
        return (sizes[s], payloads[s])
    }

    /// Whether the chunk is held, without touching statistics or recency
    /// (for replica selection and for computing what a receiver is missing).
    public func contains(_ id: ChunkID, now: SimTime) -> Bool {
        guard let s = index[id] else { return false }
        return expiries[s] > now
    }

    /// Stores a chunk (size only in simulation, or its bytes too), evicting
    /// least recently used chunks as needed. Re-inserting refreshes the TTL.
    /// Returns the evictions it caused; a chunk larger than the store is refused.
    @discardableResult
    public mutating func insert(_ id: ChunkID, size: Int, payload: [UInt8]? = nil, now: SimTime) -> [(ChunkID, EvictionReason)] {
        precondition(size > 0 && (payload == nil || payload!.count == size))
        var evicted = expire(now: now)
        guard size <= capacityBytes else { stats.rejected += 1; return evicted }
        if let s = index[id] {
            bytesStored -= sizes[s]
            remove(slot: s)
        }
        while bytesStored + size > capacityBytes {
            let victim = lruTail
            evicted.append((ids[victim], .capacity))
            stats.evictedForCapacity += 1
            stats.evictedBytes += sizes[victim]
            bytesStored -= sizes[victim]
            remove(slot: victim)
        }
        let s: Int
        if let f = free.popLast() {
            s = f
            ids[s] = id; sizes[s] = size; expiries[s] = now + ttl; payloads[s] = payload
        } else {
            s = ids.count
            ids.append(id); sizes.append(size); expiries.append(now + ttl); payloads.append(payload)
            lruPrev.append(Self.none); lruNext.append(Self.none); agePrev.append(Self.none); ageNext.append(Self.none)
        }
        index[id] = s
        pushLRU(s)
        pushAge(s)
        bytesStored += size
        stats.insertions += 1
        stats.insertedBytes += size
        return evicted
    }

    /// Drops a chunk without counting an eviction (e.g. the origin deleted it).
    @discardableResult
    public mutating func remove(_ id: ChunkID) -> Bool {
        guard let s = index[id] else { return false }
        bytesStored -= sizes[s]
        remove(slot: s)
        return true
    }

    /// Evicts every chunk whose TTL has run out at `now`. The other operations
    /// call it too; call it directly to reclaim space on a timer.
    @discardableResult
    public mutating func expire(now: SimTime) -> [(ChunkID, EvictionReason)] {
        var out: [(ChunkID, EvictionReason)] = []
        while ageHead != Self.none, expiries[ageHead] <= now {
            let s = ageHead
            out.append((ids[s], .expired))
            stats.evictedExpired += 1
            stats.evictedBytes += sizes[s]
            bytesStored -= sizes[s]
            remove(slot: s)
        }
        return out
    }

    /// Chunk IDs from most to least recently used.
    public var recencyOrder: [ChunkID] {
        var out: [ChunkID] = []
        var s = lruHead
        while s != Self.none { out.append(ids[s]); s = lruNext[s] }
        return out
    }

    private mutating func remove(slot s: Int) {
        index[ids[s]] = nil
        unlinkLRU(s)
        unlinkAge(s)
        payloads[s] = nil
        free.append(s)
    }

    private mutating func pushLRU(_ s: Int) {
        lruPrev[s] = Self.none; lruNext[s] = lruHead
        if lruHead != Self.none { lruPrev[lruHead] = s } else { lruTail = s }
        lruHead = s
    }

    private mutating func unlinkLRU(_ s: Int) {
        let p = lruPrev[s], n = lruNext[s]
        if p != Self.none { lruNext[p] = n } else { lruHead = n }
        if n != Self.none { lruPrev[n] = p } else { lruTail = p }
    }

    private mutating func pushAge(_ s: Int) {
        ageNext[s] = Self.none; agePrev[s] = ageTail
        if ageTail != Self.none { ageNext[ageTail] = s } else { ageHead = s }
        ageTail = s
    }

    private mutating func unlinkAge(_ s: Int) {
        let p = agePrev[s], n = ageNext[s]
        if p != Self.none { ageNext[p] = n } else { ageHead = n }
        if n != Self.none { agePrev[n] = p } else { ageTail = p }
    }
}
