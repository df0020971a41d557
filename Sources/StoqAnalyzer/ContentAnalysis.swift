import Foundation

/// What content distribution did in a run: the dedup gain end to end, on the
/// wire per link and on the backbone, per object version, and at each edge cache.
public struct ContentSummary: Codable, Equatable {
    public struct Version: Codable, Equatable {
        public var object: String
        public var version: UInt64
        public var bytes: Int
        /// Bytes of chunks the previous version lacked.
        public var newBytes: Int
        public var fetches: Int
        /// Over this version's exchanges (pushes and fetches).
        public var bytesRequested: Int
        public var bytesSent: Int
    }

    public struct Edge: Codable, Equatable {
        public var node: String
        public var hits: Int
        public var misses: Int
        public var hitBytes: Int
        public var bytesStored: Int
        public var evictedCapacity: Int
        public var evictedExpired: Int
        public var hitRatio: Double { hits + misses == 0 ? 0 : Double(hits) / Double(hits + misses) }
    }

    public struct Link: Codable, Equatable {
        public var link: String
        /// Its two ends are at different sites.
        public var backbone: Bool
        public var bytesRequested: UInt64
        public var bytesSent: UInt64
    }

    /// Cumulative bytes at the end of a time bucket (for the savings-over-time chart).
    public struct Point: Codable, Equatable {
        public var tNs: Int64
        public var bytesRequested: Int
        public var bytesSent: Int
    }

    public var versionsPublished: Int
    public var fetches: Int
    public var fetchesFailed: Int
    public var fetchNs: Distribution?
    public var bytesFromEdges: Int
    public var bytesFromOrigins: Int
    /// Every exchange (pushes to edges, fetches by clients): without dedup, and sent.
    public var bytesRequested: Int
    public var bytesSent: Int
    /// Summed over the links each exchange crossed.
    public var linkBytesRequested: UInt64
    public var linkBytesSent: UInt64
    public var backboneBytesRequested: UInt64
    public var backboneBytesSent: UInt64
    public var versions: [Version]
    public var edges: [Edge]
    public var links: [Link]
    public var timeline: [Point]

    public static func ratio(saved requested: some BinaryInteger, sent: some BinaryInteger) -> Double {
        requested == 0 ? 0 : 1 - Double(sent) / Double(requested)
    }
    /// Fraction of content bytes dedup kept off the wire, end to end.
    public var dedupRatio: Double { Self.ratio(saved: bytesRequested, sent: bytesSent) }
    public var backboneDedupRatio: Double { Self.ratio(saved: backboneBytesRequested, sent: backboneBytesSent) }
    public var linkDedupRatio: Double { Self.ratio(saved: linkBytesRequested, sent: linkBytesSent) }
}

/// Folds publish / content / fetch / cache / link_dedup records into a
/// `ContentSummary`. Memory grows with versions, edges and links, not with
/// the number of fetches (fetch times go into an HDR histogram).
public final class ContentAccumulator: TraceAccumulator {
    private struct VersionKey: Hashable { var object: String; var version: UInt64 }
    private var versionOrder: [VersionKey] = []
    private var versions: [VersionKey: ContentSummary.Version] = [:]
    private var fetchTimes = LatencyStats()
    private var fetches = 0, failed = 0, fromEdges = 0, fromOrigins = 0
    private var requested = 0, sent = 0
    private var edges: [ContentSummary.Edge] = []
    private var links: [TraceRecord.LinkDedup] = []
    private var seen = false
    /// Content bytes requested and sent over time.
    private var overTime = CumulativeTimeline(series: 2)

    public init() {}

    public var recordKinds: TraceRecord.Kinds { [.publish, .content, .fetch, .cache, .linkDedup] }

    private func version(_ object: String, _ version: UInt64) -> VersionKey {
        let key = VersionKey(object: object, version: version)
        if versions[key] == nil {
            versionOrder.append(key)
            versions[key] = .init(object: object, version: version, bytes: 0, newBytes: 0, fetches: 0, bytesRequested: 0, bytesSent: 0)
        }
        return key
    }

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        switch record {
        case .publish(let p):
            seen = true
            let k = version(p.object, p.version)
            versions[k]!.bytes = p.bytes
            versions[k]!.newBytes = p.newBytes
        case .content(let c):
            seen = true
            let k = version(c.object, c.version)
            versions[k]!.bytesRequested += c.bytesRequested
            versions[k]!.bytesSent += c.bytesSent
            requested += c.bytesRequested
            sent += c.bytesSent
            overTime.add(at: c.t, [c.bytesRequested, c.bytesSent], context: context)
        case .fetch(let f):
            seen = true
            fetches += 1
            if let d = f.durationNs { fetchTimes.record(d) } else { failed += 1 }
            fromEdges += f.bytesFromEdge
            fromOrigins += f.bytesFromOrigin
            if f.error == nil { versions[version(f.object, f.version)]!.fetches += 1 }
        case .cache(let c):
            seen = true
            edges.append(.init(node: c.node, hits: c.hits, misses: c.misses, hitBytes: c.hitBytes, bytesStored: c.bytesStored,
                               evictedCapacity: c.evictedCapacity, evictedExpired: c.evictedExpired))
        case .linkDedup(let l):
            seen = true
            links.append(l)
        default:
            break
        }
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        guard seen else { return }
        let summaryLinks = links.map { l -> ContentSummary.Link in
            let info = context.links[l.link]
            let backbone = info.map { context.nodes[$0.from]?.site != context.nodes[$0.to]?.site } ?? false
            return .init(link: l.link, backbone: backbone, bytesRequested: l.bytesRequested, bytesSent: l.bytesSent)
        }
        let timeline = overTime.points(context: context).map {
            ContentSummary.Point(tNs: $0.tNs, bytesRequested: $0.totals[0], bytesSent: $0.totals[1])
        }
        let backbone = summaryLinks.filter(\.backbone)
        summary.content = ContentSummary(
            versionsPublished: versionOrder.filter { versions[$0]!.bytes > 0 || versions[$0]!.newBytes > 0 }.count,
            fetches: fetches, fetchesFailed: failed, fetchNs: Distribution(fetchTimes),
            bytesFromEdges: fromEdges, bytesFromOrigins: fromOrigins, bytesRequested: requested, bytesSent: sent,
            linkBytesRequested: summaryLinks.reduce(0) { $0 + $1.bytesRequested },
            linkBytesSent: summaryLinks.reduce(0) { $0 + $1.bytesSent },
            backboneBytesRequested: backbone.reduce(0) { $0 + $1.bytesRequested },
            backboneBytesSent: backbone.reduce(0) { $0 + $1.bytesSent },
            versions: versionOrder.map { versions[$0]! }, edges: edges, links: summaryLinks, timeline: timeline)
    }
}
