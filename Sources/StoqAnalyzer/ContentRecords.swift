/// Trace records of content distribution (publish / fetch / update workloads).
/// "Requested" bytes are what the exchange would have moved without
/// deduplication; "sent" bytes are the chunk payload that did cross.
extension TraceRecord {
    /// A version of an object made available at its origin.
    public struct PublishRecord: Equatable, TraceRecordFields {
        public var t: Int64 = 0
        public var workload: String = ""
        public var object: String = ""
        public var version: UInt64 = 0
        public var origin: String = ""
        public var bytes: Int = 0
        public var chunks: Int = 0
        /// Bytes of chunks the previous version did not have (all of them for version 0).
        public var newBytes: Int = 0
        /// Edges the object is replicated to (comma-separated in the trace).
        public var replicas: [String] = []
        public init(t: Int64, workload: String, object: String, version: UInt64, origin: String, bytes: Int, chunks: Int,
                    newBytes: Int, replicas: [String]) {
            self.t = t; self.workload = workload; self.object = object; self.version = version; self.origin = origin
            self.bytes = bytes; self.chunks = chunks; self.newBytes = newBytes; self.replicas = replicas
        }

        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("publish"); try c.field("workload", &workload); try c.field("object", &object)
            try c.field("version", &version); try c.field("origin", &origin); try c.field("bytes", &bytes)
            try c.field("chunks", &chunks); try c.field("new_bytes", &newBytes); try c.field("replicas", commaSeparated: &replicas)
        }
    }

    /// One content exchange on one stream: a push from the origin to an edge,
    /// a client's fetch from an edge or the origin, or the fetch of chunks an
    /// edge lacked. `from` sends, `to` receives.
    public struct ContentExchange: Equatable, TraceRecordFields {
        public var t: Int64 = 0
        public var workload: String = ""
        /// "push", "fetch" or "fetch-missing".
        public var operation: String = ""
        public var object: String = ""
        public var version: UInt64 = 0
        public var from: String = ""
        public var to: String = ""
        public var bytesRequested: Int = 0
        public var bytesSent: Int = 0
        public var chunksSent: Int = 0
        public var chunksMissing: Int = 0
        /// nil: it failed (`error` says why).
        public var durationNs: Int64?
        public var error: String?
        public init(t: Int64, workload: String, operation: String, object: String, version: UInt64, from: String, to: String,
                    bytesRequested: Int, bytesSent: Int, chunksSent: Int, chunksMissing: Int, durationNs: Int64?, error: String?) {
            self.t = t; self.workload = workload; self.operation = operation; self.object = object; self.version = version
            self.from = from; self.to = to; self.bytesRequested = bytesRequested; self.bytesSent = bytesSent
            self.chunksSent = chunksSent; self.chunksMissing = chunksMissing; self.durationNs = durationNs; self.error = error
        }

        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("content"); try c.field("workload", &workload); try c.field("op", &operation)
            try c.field("object", &object); try c.field("version", &version); try c.field("from", &from); try c.field("to", &to)
            try c.field("bytes_requested", &bytesRequested); try c.field("bytes_sent", &bytesSent)
            try c.field("chunks_sent", &chunksSent); try c.field("chunks_missing", &chunksMissing)
            try c.field("duration_ns", &durationNs); try c.field("error", &error)
        }
    }

    /// A client's whole fetch of one object version, over however many exchanges.
    public struct FetchResult: Equatable, TraceRecordFields {
        public var t: Int64 = 0
        public var workload: String = ""
        public var client: String = ""
        public var object: String = ""
        public var version: UInt64 = 0
        /// The edge asked first, or "origin".
        public var source: String = ""
        public var bytes: Int = 0
        public var bytesFromEdge: Int = 0
        public var bytesFromOrigin: Int = 0
        public var durationNs: Int64?
        public var error: String?
        public init(t: Int64, workload: String, client: String, object: String, version: UInt64, source: String, bytes: Int,
                    bytesFromEdge: Int, bytesFromOrigin: Int, durationNs: Int64?, error: String?) {
            self.t = t; self.workload = workload; self.client = client; self.object = object; self.version = version
            self.source = source; self.bytes = bytes; self.bytesFromEdge = bytesFromEdge
            self.bytesFromOrigin = bytesFromOrigin; self.durationNs = durationNs; self.error = error
        }

        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("fetch"); try c.field("workload", &workload); try c.field("client", &client)
            try c.field("object", &object); try c.field("version", &version); try c.field("source", &source)
            try c.field("bytes", &bytes); try c.field("bytes_from_edge", &bytesFromEdge)
            try c.field("bytes_from_origin", &bytesFromOrigin); try c.field("duration_ns", &durationNs); try c.field("error", &error)
        }
    }

    /// An edge's chunk cache at the end of the run. Hits and misses count
    /// chunks asked of the edge by clients.
    public struct CacheStats: Equatable, TraceRecordFields {
        public var node: String = ""
        public var hits: Int = 0
        public var misses: Int = 0
        public var hitBytes: Int = 0
        public var bytesStored: Int = 0
        public var chunks: Int = 0
        public var evictedCapacity: Int = 0
        public var evictedExpired: Int = 0
        public init(node: String, hits: Int, misses: Int, hitBytes: Int, bytesStored: Int, chunks: Int,
                    evictedCapacity: Int, evictedExpired: Int) {
            self.node = node; self.hits = hits; self.misses = misses; self.hitBytes = hitBytes
            self.bytesStored = bytesStored; self.chunks = chunks
            self.evictedCapacity = evictedCapacity; self.evictedExpired = evictedExpired
        }

        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.type("cache"); try c.field("node", &node); try c.field("hits", &hits); try c.field("misses", &misses)
            try c.field("hit_bytes", &hitBytes); try c.field("bytes_stored", &bytesStored); try c.field("chunks", &chunks)
            try c.field("evicted_capacity", &evictedCapacity); try c.field("evicted_expired", &evictedExpired)
        }
    }

    /// Content bytes on one link direction over the run: what would have
    /// crossed it without deduplication, and what did. Exchanges are
    /// attributed to the links of their route when they ended.
    public struct LinkDedup: Equatable, TraceRecordFields {
        public var link: String = ""
        public var bytesRequested: UInt64 = 0
        public var bytesSent: UInt64 = 0
        public init(link: String, bytesRequested: UInt64, bytesSent: UInt64) {
            self.link = link; self.bytesRequested = bytesRequested; self.bytesSent = bytesSent
        }

        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.type("link_dedup"); try c.field("link", &link)
            try c.field("bytes_requested", &bytesRequested); try c.field("bytes_sent", &bytesSent)
        }
    }
}
