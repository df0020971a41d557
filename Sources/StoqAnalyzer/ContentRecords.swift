/// Trace records of content distribution (publish / fetch / update workloads).
/// "Requested" bytes are what the exchange would have moved without
/// deduplication; "sent" bytes are the chunk payload that did cross.
extension TraceRecord {
    /// A version of an object made available at its origin.
    public struct PublishRecord: Equatable {
        public var t: Int64
        public var workload: String
        public var object: String
        public var version: UInt64
        public var origin: String
        public var bytes: Int
        public var chunks: Int
        /// Bytes of chunks the previous version did not have (all of them for version 0).
        public var newBytes: Int
        /// Edges the object is replicated to (comma-separated in the trace).
        public var replicas: [String]
        public init(t: Int64, workload: String, object: String, version: UInt64, origin: String, bytes: Int, chunks: Int,
                    newBytes: Int, replicas: [String]) {
            self.t = t; self.workload = workload; self.object = object; self.version = version; self.origin = origin
            self.bytes = bytes; self.chunks = chunks; self.newBytes = newBytes; self.replicas = replicas
        }

        func encode(into j: inout JSONLine) {
            j.add("t", t); j.add("type", "publish"); j.add("workload", workload); j.add("object", object)
            j.add("version", version); j.add("origin", origin); j.add("bytes", bytes); j.add("chunks", chunks)
            j.add("new_bytes", newBytes); j.add("replicas", replicas.joined(separator: ","))
        }

        init(_ f: Fields) throws {
            self.init(t: try f.int64("t"), workload: try f.string("workload"), object: try f.string("object"),
                      version: try f.uint64("version"), origin: try f.string("origin"), bytes: try f.int("bytes"),
                      chunks: try f.int("chunks"), newBytes: try f.int("new_bytes"), replicas: try f.string("replicas").split(separator: ",").map(String.init))
        }
    }

    /// One content exchange on one stream: a push from the origin to an edge,
    /// a client's fetch from an edge or the origin, or the fetch of chunks an
    /// edge lacked. `from` sends, `to` receives.
    public struct ContentExchange: Equatable {
        public var t: Int64
        public var workload: String
        /// "push", "fetch" or "fetch-missing".
        public var operation: String
        public var object: String
        public var version: UInt64
        public var from: String
        public var to: String
        public var bytesRequested: Int
        public var bytesSent: Int
        public var chunksSent: Int
        public var chunksMissing: Int
        /// nil: it failed (`error` says why).
        public var durationNs: Int64?
        public var error: String?
        public init(t: Int64, workload: String, operation: String, object: String, version: UInt64, from: String, to: String,
                    bytesRequested: Int, bytesSent: Int, chunksSent: Int, chunksMissing: Int, durationNs: Int64?, error: String?) {
            self.t = t; self.workload = workload; self.operation = operation; self.object = object; self.version = version
            self.from = from; self.to = to; self.bytesRequested = bytesRequested; self.bytesSent = bytesSent
            self.chunksSent = chunksSent; self.chunksMissing = chunksMissing; self.durationNs = durationNs; self.error = error
        }

        func encode(into j: inout JSONLine) {
            j.add("t", t); j.add("type", "content"); j.add("workload", workload); j.add("op", operation)
            j.add("object", object); j.add("version", version); j.add("from", from); j.add("to", to)
            j.add("bytes_requested", bytesRequested); j.add("bytes_sent", bytesSent)
            j.add("chunks_sent", chunksSent); j.add("chunks_missing", chunksMissing)
            if let d = durationNs { j.add("duration_ns", d) } else { j.addNull("duration_ns") }
            if let e = error { j.add("error", e) } else { j.addNull("error") }
        }

        init(_ f: Fields) throws {
            self.init(t: try f.int64("t"), workload: try f.string("workload"), operation: try f.string("op"),
                      object: try f.string("object"), version: try f.uint64("version"), from: try f.string("from"),
                      to: try f.string("to"), bytesRequested: try f.int("bytes_requested"), bytesSent: try f.int("bytes_sent"),
                      chunksSent: try f.int("chunks_sent"), chunksMissing: try f.int("chunks_missing"),
                      durationNs: try f.optionalInt64("duration_ns"), error: try f.optionalString("error"))
        }
    }

    /// A client's whole fetch of one object version, over however many exchanges.
    public struct FetchResult: Equatable {
        public var t: Int64
        public var workload: String
        public var client: String
        public var object: String
        public var version: UInt64
        /// The edge asked first, or "origin".
        public var source: String
        public var bytes: Int
        public var bytesFromEdge: Int
        public var bytesFromOrigin: Int
        public var durationNs: Int64?
        public var error: String?
        public init(t: Int64, workload: String, client: String, object: String, version: UInt64, source: String, bytes: Int,
                    bytesFromEdge: Int, bytesFromOrigin: Int, durationNs: Int64?, error: String?) {
            self.t = t; self.workload = workload; self.client = client; self.object = object; self.version = version
            self.source = source; self.bytes = bytes; self.bytesFromEdge = bytesFromEdge
            self.bytesFromOrigin = bytesFromOrigin; self.durationNs = durationNs; self.error = error
        }

        func encode(into j: inout JSONLine) {
            j.add("t", t); j.add("type", "fetch"); j.add("workload", workload); j.add("client", client)
            j.add("object", object); j.add("version", version); j.add("source", source); j.add("bytes", bytes)
            j.add("bytes_from_edge", bytesFromEdge); j.add("bytes_from_origin", bytesFromOrigin)
            if let d = durationNs { j.add("duration_ns", d) } else { j.addNull("duration_ns") }
            if let e = error { j.add("error", e) } else { j.addNull("error") }
        }

        init(_ f: Fields) throws {
            self.init(t: try f.int64("t"), workload: try f.string("workload"), client: try f.string("client"),
                      object: try f.string("object"), version: try f.uint64("version"), source: try f.string("source"),
                      bytes: try f.int("bytes"), bytesFromEdge: try f.int("bytes_from_edge"),
                      bytesFromOrigin: try f.int("bytes_from_origin"), durationNs: try f.optionalInt64("duration_ns"),
                      error: try f.optionalString("error"))
        }
    }

    /// An edge's chunk cache at the end of the run. Hits and misses count
    /// chunks asked of the edge by clients.
    public struct CacheStats: Equatable {
        public var node: String
        public var hits: Int
        public var misses: Int
        public var hitBytes: Int
        public var bytesStored: Int
        public var chunks: Int
        public var evictedCapacity: Int
        public var evictedExpired: Int
        public init(node: String, hits: Int, misses: Int, hitBytes: Int, bytesStored: Int, chunks: Int,
                    evictedCapacity: Int, evictedExpired: Int) {
            self.node = node; self.hits = hits; self.misses = misses; self.hitBytes = hitBytes
            self.bytesStored = bytesStored; self.chunks = chunks
            self.evictedCapacity = evictedCapacity; self.evictedExpired = evictedExpired
        }

        func encode(into j: inout JSONLine) {
            j.add("type", "cache"); j.add("node", node); j.add("hits", hits); j.add("misses", misses)
            j.add("hit_bytes", hitBytes); j.add("bytes_stored", bytesStored); j.add("chunks", chunks)
            j.add("evicted_capacity", evictedCapacity); j.add("evicted_expired", evictedExpired)
        }

        init(_ f: Fields) throws {
            self.init(node: try f.string("node"), hits: try f.int("hits"), misses: try f.int("misses"),
                      hitBytes: try f.int("hit_bytes"), bytesStored: try f.int("bytes_stored"), chunks: try f.int("chunks"),
                      evictedCapacity: try f.int("evicted_capacity"), evictedExpired: try f.int("evicted_expired"))
        }
    }

    /// Content bytes on one link direction over the run: what would have
    /// crossed it without deduplication, and what did. Exchanges are
    /// attributed to the links of their route when they ended.
    public struct LinkDedup: Equatable {
        public var link: String
        public var bytesRequested: UInt64
        public var bytesSent: UInt64
        public init(link: String, bytesRequested: UInt64, bytesSent: UInt64) {
            self.link = link; self.bytesRequested = bytesRequested; self.bytesSent = bytesSent
        }

        func encode(into j: inout JSONLine) {
            j.add("type", "link_dedup"); j.add("link", link)
            j.add("bytes_requested", bytesRequested); j.add("bytes_sent", bytesSent)
        }

        init(_ f: Fields) throws {
            self.init(link: try f.string("link"), bytesRequested: try f.uint64("bytes_requested"),
                      bytesSent: try f.uint64("bytes_sent"))
        }
    }
}
