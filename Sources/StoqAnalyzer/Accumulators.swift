import Foundation
import Histogram

/// One concern of a trace analysis (probe latencies, link usage, the failure
/// timeline, …). The analyzer streams every record to every accumulator, then
/// lets each write its part of the summary. A new record kind (transfers,
/// handshakes, certificates, dedup, routing) gets its own accumulator and
/// summary fields; nothing else changes.
public protocol TraceAccumulator: AnyObject {
    /// Called for every record, in trace order, after `context` has seen it.
    func consume(_ record: TraceRecord, context: AnalysisContext)
    /// Writes this concern's results into `summary`.
    func finish(into summary: inout RunSummary, context: AnalysisContext)
}

/// What every accumulator may need: the run header and end, and the static
/// description of nodes and links (written before any event).
public final class AnalysisContext {
    public private(set) var header: TraceRecord.RunHeader?
    public private(set) var end: TraceRecord.RunEnd?
    public private(set) var nodes: [String: TraceRecord.NodeInfo] = [:]
    /// Node names in trace order (for deterministic output).
    public private(set) var nodeOrder: [String] = []
    public private(set) var links: [String: TraceRecord.LinkInfo] = [:]
    public private(set) var records: UInt64 = 0

    public init() {}

    func observe(_ record: TraceRecord) {
        records += 1
        switch record {
        case .run(let h): header = h
        case .link(let l): links[l.name] = l
        case .node(let n):
            if nodes.updateValue(n, forKey: n.name) == nil { nodeOrder.append(n.name) }
        case .end(let e): end = e
        default: break
        }
    }

    /// Nanoseconds rates are averaged over (never 0).
    public var measuredNs: Int64 { max(end?.t ?? header?.durationNs ?? 1, 1) }
    public var measuredSeconds: Double { Double(measuredNs) / 1e9 }
}

/// Groups in first-seen order: a key's index is stable, and output order
/// follows the trace rather than a hash.
struct OrderedGroups<Key: Hashable, Value> {
    private var index: [Key: Int] = [:]
    private(set) var keys: [Key] = []
    var values: [Value] = []

    /// The index of `key`, adding `make()` the first time it is seen.
    mutating func slot(_ key: Key, _ make: () -> Value) -> Int {
        if let i = index[key] { return i }
        index[key] = keys.count
        keys.append(key)
        values.append(make())
        return keys.count - 1
    }

    var pairs: Zip2Sequence<[Key], [Value]> { zip(keys, values) }
}

/// Round-trip times of echo probes per pair, per workload and per region pair.
public final class ProbeAccumulator: TraceAccumulator {
    /// A class so the per-record update touches one object in place (a
    /// struct inside the groups array was copied, histogram and all, per record).
    final class Group {
        var sent = 0
        var sizes = Set<Int>()
        var rtt: LatencyStats

        init(significantDigits: SignificantDigits) { rtt = LatencyStats(significantDigits: significantDigits) }

        func add(_ p: TraceRecord.ProbeResult) {
            sent += 1
            if sizes.count < 2 { sizes.insert(p.size) }
            if let r = p.rttNs { rtt.record(r) }
        }

        func summary(workload: String, from: String, to: String, cdf: Bool) -> RunSummary.ProbeGroup {
            .init(workload: workload, from: from, to: to, size: sizes.count == 1 ? sizes.first! : -1, sent: sent,
                  lost: sent - rtt.count, rttNs: Distribution(rtt),
                  cdfNs: cdf && !rtt.isEmpty ? rtt.percentiles(RunSummary.cdfPercentiles) : nil)
        }
    }
    struct PairKey: Hashable { var workload, from, to: String; var size: Int }
    struct RegionKey: Hashable { var workload, from, to: String }
    /// Where a pair's samples also go, resolved once per pair.
    struct PairSlots { var workload: Int; var region: Int? }

    private var pairs = OrderedGroups<PairKey, Group>()
    private var pairSlots: [PairSlots] = []
    private var workloads = OrderedGroups<String, Group>()
    private var regions = OrderedGroups<RegionKey, Group>()
    // Consecutive probes often share a pair; skip the hash lookup then.
    private var lastKey: PairKey?
    private var lastSlot = 0

    public init() {}

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        guard case .probe(let p) = record else { return }
        let key = PairKey(workload: p.workload, from: p.from, to: p.to, size: p.size)
        let slot: Int
        if key == lastKey { slot = lastSlot } else {
            slot = pairs.slot(key) { Group(significantDigits: .two) }
            if slot == pairSlots.count {
                let w = workloads.slot(p.workload) { Group(significantDigits: .three) }
                var r: Int?
                if let a = context.nodes[p.from], let b = context.nodes[p.to] {
                    r = regions.slot(RegionKey(workload: p.workload, from: a.region, to: b.region)) { Group(significantDigits: .three) }
                }
                pairSlots.append(PairSlots(workload: w, region: r))
            }
            lastKey = key
            lastSlot = slot
        }
        pairs.values[slot].add(p)
        let s = pairSlots[slot]
        workloads.values[s.workload].add(p)
        if let r = s.region { regions.values[r].add(p) }
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        summary.probes = pairs.pairs.map { $1.summary(workload: $0.workload, from: $0.from, to: $0.to, cdf: false) }
        summary.probeWorkloads = workloads.pairs.map { $1.summary(workload: $0, from: "*", to: "*", cdf: true) }
        summary.probeRegionPairs = regions.pairs.map { $1.summary(workload: $0.workload, from: $0.from, to: $0.to, cdf: true) }
    }
}

/// Per-link and per-tier usage from the end-of-run `link_stats` counters.
public final class LinkUsageAccumulator: TraceAccumulator {
    private var stats: [TraceRecord.LinkStats] = []

    public init() {}

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        if case .linkStats(let s) = record { stats.append(s) }
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        let seconds = context.measuredSeconds
        var tiers: [String: RunSummary.TierUsage] = [:]
        var siteLinks = OrderedGroups<[String], RunSummary.SiteLink>()
        for s in stats {
            let info = context.links[s.link]
            let tier = info?.tier ?? "unknown"
            let utilisation = Double(s.busyNs) / 1e9 / seconds
            let dropped = s.droppedQueueFull + s.droppedLoss + s.droppedLinkDown
            let payload = s.bytesDelivered - min(s.bytesDelivered, s.packetsDelivered * RunSummary.wireHeaderBytes)
            summary.links.append(.init(link: s.link, from: info?.from ?? "", to: info?.to ?? "", tier: tier,
                                       bandwidthBps: info?.bandwidthBps ?? 0, latencyNs: info?.latencyNs ?? 0,
                                       packetsDelivered: s.packetsDelivered, bytesDelivered: s.bytesDelivered,
                                       throughputBps: Double(s.bytesDelivered) * 8 / seconds, utilisation: utilisation,
                                       packetsDropped: dropped, maxQueuedBytes: s.maxQueuedBytes))

            var u = tiers[tier] ?? .init(tier: tier, linkDirections: 0, capacityBps: 0, bytesDelivered: 0, packetsDelivered: 0,
                                         throughputBps: 0, goodputBps: 0, meanUtilisation: 0, maxUtilisation: 0, packetsDropped: 0)
            u.linkDirections += 1
            u.capacityBps += Double(info?.bandwidthBps ?? 0)
            u.bytesDelivered += s.bytesDelivered
            u.packetsDelivered += s.packetsDelivered
            u.throughputBps += Double(s.bytesDelivered) * 8 / seconds
            u.goodputBps += Double(payload) * 8 / seconds
            u.meanUtilisation += utilisation   // divided by the count below
            u.maxUtilisation = max(u.maxUtilisation, utilisation)
            u.packetsDropped += dropped
            tiers[tier] = u

            // Fold both directions of links between two sites for the map.
            if let info, let a = context.nodes[info.from]?.site, let b = context.nodes[info.to]?.site, a != b {
                let key = [min(a, b), max(a, b)]
                let i = siteLinks.slot(key) {
                    .init(from: key[0], to: key[1], tier: tier, linkDirections: 0, bytesDelivered: 0, maxUtilisation: 0)
                }
                siteLinks.values[i].linkDirections += 1
                siteLinks.values[i].bytesDelivered += s.bytesDelivered
                siteLinks.values[i].maxUtilisation = max(siteLinks.values[i].maxUtilisation, utilisation)
                if info.bandwidthBps > Self.tierBitsPerSecond[siteLinks.values[i].tier] ?? 0 { siteLinks.values[i].tier = tier }
            }
        }
        summary.tiers = tiers.values.map { t in
            var t = t
            t.meanUtilisation /= Double(max(t.linkDirections, 1))
            return t
        }.sorted { tierOrder($0.tier) < tierOrder($1.tier) }
        summary.siteLinks = siteLinks.values
    }

    static let tierBitsPerSecond: [String: UInt64] = ["100mbps": 100_000_000, "1gbps": 1_000_000_000, "2.5gbps": 2_500_000_000]

    /// Slowest tier first; unknown tiers last, by name.
    private func tierOrder(_ tier: String) -> (UInt64, String) { (Self.tierBitsPerSecond[tier] ?? .max, tier) }
}

/// Sites (with their coordinates and node counts) from the `node` records.
public final class SiteAccumulator: TraceAccumulator {
    public init() {}
    public func consume(_ record: TraceRecord, context: AnalysisContext) {}

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        var sites = OrderedGroups<String, RunSummary.SiteInfo>()
        for name in context.nodeOrder {
            let n = context.nodes[name]!
            let i = sites.slot(n.site) {
                .init(name: n.site, region: n.region, latitude: n.latitude, longitude: n.longitude, nodes: 0)
            }
            sites.values[i].nodes += 1
        }
        summary.sites = sites.values
    }
}

/// Link and node failures and recoveries, in time order.
public final class TimelineAccumulator: TraceAccumulator {
    private var changes: [RunSummary.StateChange] = []

    public init() {}

    private var reconvergences: [RunSummary.Reconvergence] = []

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        switch record {
        case .linkState(let s):
            changes.append(.init(tNs: s.t, target: s.target, up: s.up, kind: s.isNode ? "node" : "link"))
        case .reconverged(let r):
            reconvergences.append(.init(tNs: r.t, target: r.target, failedAtNs: r.failedAtNs,
                                        reconvergenceNs: r.reconvergenceNs, packetsLost: r.packetsLost))
        default:
            break
        }
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        summary.stateChanges = changes
        summary.reconvergences = reconvergences.isEmpty ? nil : reconvergences
    }
}

/// Bulk transfers per workload and pair. Transfers are few (each moves many
/// packets), so their times are kept exactly.
public final class TransferAccumulator: TraceAccumulator {
    private struct Key: Hashable { var workload, from, to: String }
    private struct Group {
        var bytes = 0, streams = 0, started = 0
        var durations: [Int64] = [], handshakes: [Int64] = [], goodputs: [Double] = [], afterSlowStart: [Double] = []
        var lost: UInt64 = 0, retransmitted: UInt64 = 0
        var congestion: String?, transport: String?
    }
    private var order: [Key] = []
    private var groups: [Key: Group] = [:]

    public init() {}

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        guard case .transfer(let t) = record else { return }
        let key = Key(workload: t.workload, from: t.from, to: t.to)
        if groups[key] == nil { order.append(key); groups[key] = Group() }
        groups[key]!.bytes = t.bytes
        groups[key]!.streams = t.streams
        groups[key]!.started += 1
        if let d = t.durationNs { groups[key]!.durations.append(d) }
        if let h = t.handshakeNs { groups[key]!.handshakes.append(h) }
        if let g = t.goodputBps { groups[key]!.goodputs.append(g) }
        if let g = t.secondHalfGoodputBps { groups[key]!.afterSlowStart.append(g) }
        groups[key]!.lost += t.packetsLost
        groups[key]!.retransmitted += t.packetsRetransmitted
        groups[key]!.congestion = t.congestion
        groups[key]!.transport = t.transport
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        guard !order.isEmpty else { return }
        summary.transfers = order.map { k in
            let g = groups[k]!
            return .init(workload: k.workload, from: k.from, to: k.to, bytes: g.bytes, streams: g.streams,
                         started: g.started, completed: g.durations.count,
                         durationNs: Distribution(g.durations), handshakeNs: Distribution(g.handshakes),
                         meanGoodputBps: Self.mean(g.goodputs),
                         meanGoodputAfterSlowStartBps: Self.mean(g.afterSlowStart),
                         packetsLost: g.lost, packetsRetransmitted: g.retransmitted,
                         congestion: g.congestion, transport: g.transport)
        }
    }

    private static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}
