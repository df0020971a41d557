import Foundation
import Histogram

/// One concern of a trace analysis (probe latencies, link usage, the failure
/// timeline, …). The analyzer streams every record to every accumulator, then
/// lets each write its part of the summary. A new record kind (transfers,
/// handshakes, certificates, dedup, routing) gets its own accumulator and
/// summary fields; nothing else changes.
public protocol TraceAccumulator: AnyObject {
    /// Called for every record of `recordKinds`, in trace order, after `context` has seen it.
    func consume(_ record: TraceRecord, context: AnalysisContext)
    /// Writes this concern's results into `summary`.
    func finish(into summary: inout RunSummary, context: AnalysisContext)
    /// The kinds of record `consume` reads (default: all). The analyzer
    /// decodes a line only when some accumulator reads its kind.
    var recordKinds: TraceRecord.Kinds { get }
}

extension TraceAccumulator {
    public var recordKinds: TraceRecord.Kinds { .all }
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

    /// A copy for one segment of a parallel analysis: the description so far, no records counted.
    func copyForSegment() -> AnalysisContext {
        let c = AnalysisContext()
        c.header = header; c.end = end; c.nodes = nodes; c.nodeOrder = nodeOrder; c.links = links
        return c
    }

    /// Counts a record an accumulator read without it going through `observe` (kinds the context ignores).
    func count(records n: UInt64) { records += n }

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
        /// The probes' size while they all have one (a set per group hashed every probe).
        var size: Int?
        var mixedSizes = false
        var rtt: LatencyStats

        init(significantDigits: SignificantDigits) { rtt = LatencyStats(significantDigits: significantDigits) }

        /// `sent` probes of one size, of which `rtts` came back (non-negative).
        func add(size: Int, sent n: Int, rtts: UnsafeBufferPointer<Int64>) {
            sent += n
            note(size: size)
            rtt.record(contentsOf: rtts)
        }

        @inline(__always)
        private func note(size s: Int) {
            if let size { mixedSizes = mixedSizes || size != s } else { size = s }
        }

        /// Adds a later segment's group of the same key.
        func merge(_ later: Group) {
            sent += later.sent
            if let s = later.size { note(size: s) }
            mixedSizes = mixedSizes || later.mixedSizes
            rtt.merge(later.rtt)
        }

        func summary(workload: String, from: String, to: String, cdf: Bool) -> RunSummary.ProbeGroup {
            .init(workload: workload, from: from, to: to, size: mixedSizes ? -1 : size ?? -1, sent: sent,
                  lost: sent - rtt.count, rttNs: Distribution(rtt),
                  cdfNs: cdf && !rtt.isEmpty ? rtt.percentiles(RunSummary.cdfPercentiles) : nil)
        }
    }
    /// Names are ids in `names`: a probe's key is hashed and compared as integers.
    struct PairKey: Equatable {
        var workload, from, to: Int32
        var size: Int
        /// The key in three words, for `PackedKeyIndex`.
        var packed: PackedKeyIndex.Key {
            (UInt64(UInt32(bitPattern: from)) << 32 | UInt64(UInt32(bitPattern: to)), UInt64(UInt32(bitPattern: workload)),
             UInt64(bitPattern: Int64(size)))
        }
    }
    struct RegionKey: Hashable { var workload: Int32; var from, to: String }
    /// Where a pair's samples also go, resolved once per pair.
    struct PairSlots { var workload: Int; var region: Int? }

    private let names = NameTable()
    /// Pair groups in first-seen order, found by their packed key.
    private var pairIndex = PackedKeyIndex()
    private var pairKeys: [PairKey] = []
    private var pairGroups: [Group] = []
    private var pairSlots: [PairSlots] = []
    /// Round-trip times per pair slot on their way into the groups.
    private let batches = SlotBatches()
    private var workloads = OrderedGroups<Int32, Group>()
    private var regions = OrderedGroups<RegionKey, Group>()
    // Consecutive probes often share a pair; skip the hash lookup then.
    private var lastKey: PairKey?
    private var lastSlot = 0

    /// Probe lines in the writer's form: where their values are, and the pair
    /// slots by the bytes from the workload's value to the `to` value's end
    /// (`ping","from":"n1","to":"n2`, one name-table id for all three names)
    /// with the size of the pair last seen with them.
    private let form = ProbeAccumulator.writtenForm
    private let workloadAt: Int, toAt: Int, sizeAt: Int, rttAt: Int
    private let pairNames = NameTable()
    private var pairNamesSlot: [(size: Int, slot: Int)] = []

    static let writtenForm = WrittenForm(TraceRecord.ProbeResult())!

    public init() {
        let form = Self.writtenForm
        workloadAt = form.position(of: "workload")
        toAt = form.position(of: "to")
        precondition(form.position(of: "from") == workloadAt + 1 && toAt == workloadAt + 2, "the pair's names must be adjacent")
        sizeAt = form.position(of: "size")
        rttAt = form.position(of: "rtt_ns")
    }

    public var recordKinds: TraceRecord.Kinds { .probe }

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        guard case .probe(let p) = record else { return }
        add(PairKey(workload: names.id(p.workload), from: names.id(p.from), to: names.id(p.to), size: p.size),
            rttNs: p.rttNs, context: context)
    }

    /// The analyzer's fast path: the probe of a parsed line, read straight
    /// from its bytes, checked field by field as the decoder checks them.
    func consume(parsed f: TraceRecord.Fields, context: AnalysisContext) throws {
        _ = try f.int64("t")
        let workload = try f.nameID("workload", in: names), from = try f.nameID("from", in: names)
        let to = try f.nameID("to", in: names)
        _ = try f.int("seq")
        let size = try f.int("size")
        add(PairKey(workload: workload, from: from, to: to, size: size), rttNs: try f.optionalInt64("rtt_ns"), context: context)
    }

    /// The analyzer's fastest path: a probe line in the writer's form (see
    /// `WrittenForm`), read in one pass over its bytes. False, with nothing
    /// recorded, for a line in any other form (then parse it).
    func consume(written line: UnsafeBufferPointer<UInt8>, context: AnalysisContext) -> Bool {
        withUnsafeTemporaryAllocation(of: WrittenForm.Scanned.self, capacity: form.count) { buffer in
            let v = buffer.baseAddress!
            guard form.scan(line, into: v) else { return false }
            let size = Int(v[sizeAt].integer)
            let names = UnsafeBufferPointer(rebasing: line[Int(v[workloadAt].start)..<Int(v[toAt].end)])
            let id = Int(pairNames.id(names))
            let slot: Int
            if id < pairNamesSlot.count, pairNamesSlot[id].size == size {
                slot = pairNamesSlot[id].slot
            } else {
                let name = { (k: Int) in self.names.id(UnsafeBufferPointer(rebasing: line[Int(v[k].start)..<Int(v[k].end)])) }
                slot = self.slot(for: PairKey(workload: name(workloadAt), from: name(workloadAt + 1), to: name(toAt), size: size),
                                 context: context)
                if id == pairNamesSlot.count { pairNamesSlot.append((size, slot)) } else { pairNamesSlot[id] = (size, slot) }
            }
            record(slot, rttNs: v[rttAt].isPresent ? v[rttAt].integer : nil)
            return true
        }
    }

    @inline(__always)
    private func add(_ key: PairKey, rttNs: Int64?, context: AnalysisContext) {
        let slot: Int
        if key == lastKey { slot = lastSlot } else {
            slot = self.slot(for: key, context: context)
            lastKey = key
            lastSlot = slot
        }
        record(slot, rttNs: rttNs)
    }

    /// One probe of the pair in `slot` (whose key has its size), into the
    /// pair's batch; a full batch goes into the groups.
    @inline(__always)
    private func record(_ slot: Int, rttNs: Int64?) {
        // Negative times count as 0 (as `LatencyStats` records them), so no time reads as `lost`.
        if batches.append(rttNs.map { max($0, 0) } ?? Self.lost, to: slot) { fold(slot) }
    }

    /// A lost probe in a batch.
    private static let lost: Int64 = -1

    /// The pair's batch into its group and the pair's workload and region-pair groups.
    private func fold(_ slot: Int) {
        let s = pairSlots[slot], size = pairKeys[slot].size
        let sent = batches.batch(slot).count
        let rtts = batches.removeAll(Self.lost, from: slot)
        pairGroups[slot].add(size: size, sent: sent, rtts: rtts)
        workloads.values[s.workload].add(size: size, sent: sent, rtts: rtts)
        if let r = s.region { regions.values[r].add(size: size, sent: sent, rtts: rtts) }
        batches.clear(slot)
    }

    /// Every batch into the groups, before they are read or merged.
    private func foldAll() {
        for slot in 0..<batches.slots where !batches.batch(slot).isEmpty { fold(slot) }
    }

    /// The pair's slot; a new pair also gets its workload and region-pair groups.
    private func slot(for key: PairKey, context: AnalysisContext) -> Int {
        let (slot, isNew) = pairIndex.index(key.packed)
        if isNew {
            pairKeys.append(key)
            pairGroups.append(Group(significantDigits: .two))
            let w = workloads.slot(key.workload) { Group(significantDigits: .three) }
            var r: Int?
            if let a = context.nodes[names[key.from]], let b = context.nodes[names[key.to]] {
                r = regions.slot(RegionKey(workload: key.workload, from: a.region, to: b.region)) { Group(significantDigits: .three) }
            }
            pairSlots.append(PairSlots(workload: w, region: r))
            batches.addSlot()
        }
        return slot
    }

    /// Folds in the accumulator of the trace segment right after this one's
    /// (same context): groups keep first-seen order, so the result is what one
    /// pass over both segments gives.
    func absorb(_ later: ProbeAccumulator, context: AnalysisContext) {
        foldAll()
        later.foldAll()
        let ids = later.names.names.map { names.id($0) }
        for (w, g) in later.workloads.pairs {
            workloads.values[workloads.slot(ids[Int(w)]) { Group(significantDigits: .three) }].merge(g)
        }
        for (k, g) in later.regions.pairs {
            let key = RegionKey(workload: ids[Int(k.workload)], from: k.from, to: k.to)
            regions.values[regions.slot(key) { Group(significantDigits: .three) }].merge(g)
        }
        for (k, g) in zip(later.pairKeys, later.pairGroups) {
            let key = PairKey(workload: ids[Int(k.workload)], from: ids[Int(k.from)], to: ids[Int(k.to)], size: k.size)
            pairGroups[slot(for: key, context: context)].merge(g)
        }
        lastKey = nil
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        foldAll()
        summary.probes = zip(pairKeys, pairGroups).map { $1.summary(workload: names[$0.workload], from: names[$0.from], to: names[$0.to], cdf: false) }
        summary.probeWorkloads = workloads.pairs.map { $1.summary(workload: names[$0], from: "*", to: "*", cdf: true) }
        summary.probeRegionPairs = regions.pairs.map { $1.summary(workload: names[$0.workload], from: $0.from, to: $0.to, cdf: true) }
    }
}

/// Per-link and per-tier usage from the end-of-run `link_stats` counters.
public final class LinkUsageAccumulator: TraceAccumulator {
    private var stats: [TraceRecord.LinkStats] = []

    public init() {}

    public var recordKinds: TraceRecord.Kinds { .linkStats }

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
            let dropped = s.droppedQueueFull + s.droppedLoss + s.droppedLinkDown + (s.droppedMTU ?? 0)
            let hasModels = s.droppedMTU != nil || s.corrupted != nil || s.duplicated != nil || s.reordered != nil
            let payload = s.bytesDelivered - min(s.bytesDelivered, s.packetsDelivered * RunSummary.wireHeaderBytes)
            summary.links.append(.init(link: s.link, from: info?.from ?? "", to: info?.to ?? "", tier: tier,
                                       bandwidthBps: info?.bandwidthBps ?? 0, latencyNs: info?.latencyNs ?? 0,
                                       packetsDelivered: s.packetsDelivered, bytesDelivered: s.bytesDelivered,
                                       throughputBps: Double(s.bytesDelivered) * 8 / seconds, utilisation: utilisation,
                                       packetsDropped: dropped, maxQueuedBytes: s.maxQueuedBytes,
                                       models: hasModels ? .init(lost: s.droppedLoss, droppedMTU: s.droppedMTU, corrupted: s.corrupted,
                                                                 duplicated: s.duplicated, reordered: s.reordered) : nil))

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

    public var recordKinds: TraceRecord.Kinds { [] }
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

    public var recordKinds: TraceRecord.Kinds { [.linkState, .reconverged] }

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
/// A count that only some records carry: nil until one does.
private func sum(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
    guard let b else { return a }
    return (a ?? 0) + b
}

public final class TransferAccumulator: TraceAccumulator {
    private struct Key: Hashable { var workload, from, to: Int32 }
    private final class Group {
        var bytes = 0, streams = 0, started = 0
        var durations: [Int64] = [], handshakes: [Int64] = [], goodputs: [Double] = [], afterSlowStart: [Double] = []
        /// nil while no transfer of the pair counted its lost packets.
        var lost: UInt64?, retransmitted: UInt64 = 0
        var congestion: Int32?, transport: Int32?
        /// Transfers that did not complete, by their `failure` (a name id).
        var failures: [Int32: Int] = [:]

        /// Adds a later segment's group of the same key (its last values win, as they would in one pass).
        func merge(_ later: Group, ids: [Int32]) {
            bytes = later.bytes; streams = later.streams; started += later.started
            durations += later.durations; handshakes += later.handshakes
            goodputs += later.goodputs; afterSlowStart += later.afterSlowStart
            lost = sum(lost, later.lost); retransmitted += later.retransmitted
            congestion = later.congestion.map { ids[Int($0)] }; transport = later.transport.map { ids[Int($0)] }
            for (reason, count) in later.failures { failures[ids[Int(reason)], default: 0] += count }
        }
    }
    private let names = NameTable()
    private var groups = OrderedGroups<Key, Group>()

    public init() { at = Positions(Self.writtenForm) }

    public var recordKinds: TraceRecord.Kinds { .transfer }

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        guard case .transfer(let t) = record else { return }
        let key = Key(workload: names.id(t.workload), from: names.id(t.from), to: names.id(t.to))
        add(Values(bytes: t.bytes, streams: t.streams, handshake: t.handshakeNs, duration: t.durationNs, goodput: t.goodputBps,
                   afterSlowStart: t.secondHalfGoodputBps, lost: t.packetsLost, retransmitted: t.packetsRetransmitted,
                   congestion: t.congestion.map { names.id($0) }, transport: t.transport.map { names.id($0) },
                   failure: t.failure.map { names.id($0) }), to: group(key))
    }

    /// The analyzer's fast path: the transfer of a parsed line, names read
    /// from its bytes, fields checked in the decoder's order.
    func consume(parsed f: TraceRecord.Fields) throws {
        _ = try f.int64("t")
        let key = Key(workload: try f.nameID("workload", in: names), from: try f.nameID("from", in: names),
                      to: try f.nameID("to", in: names))
        let bytes = try f.int("bytes"), streams = try f.int("streams")
        _ = try f.int("bytes_received")
        let handshake = try f.optionalInt64("handshake_ns"), duration = try f.optionalInt64("duration_ns")
        let goodput = try f.optionalDouble("goodput_bps"), afterSlowStart = try f.optionalDouble("second_half_goodput_bps")
        let lost = try f.optionalCount("packets_lost"), retransmitted = try f.uint64("packets_retransmitted")
        _ = try f.int64("srtt_ns")
        let congestion = try f.optionalNameID("congestion", in: names), transport = try f.optionalNameID("transport", in: names)
        let failure = try f.optionalNameID("failure", in: names)
        add(Values(bytes: bytes, streams: streams, handshake: handshake, duration: duration, goodput: goodput,
                   afterSlowStart: afterSlowStart, lost: lost, retransmitted: retransmitted, congestion: congestion,
                   transport: transport, failure: failure), to: group(key))
    }

    private let form = TransferAccumulator.writtenForm
    private let at: Positions
    static let writtenForm = WrittenForm(TraceRecord.TransferResult())!

    /// Where `consume(written:)` finds each value it reads among the form's fields.
    private struct Positions {
        let workload, from, to, bytes, streams, handshake, duration, goodput, afterSlowStart, lost, retransmitted: Int
        let congestion, transport, failure: Int
        init(_ f: WrittenForm) {
            workload = f.position(of: "workload"); from = f.position(of: "from"); to = f.position(of: "to")
            bytes = f.position(of: "bytes"); streams = f.position(of: "streams")
            handshake = f.position(of: "handshake_ns"); duration = f.position(of: "duration_ns")
            goodput = f.position(of: "goodput_bps"); afterSlowStart = f.position(of: "second_half_goodput_bps")
            lost = f.position(of: "packets_lost"); retransmitted = f.position(of: "packets_retransmitted")
            congestion = f.position(of: "congestion"); transport = f.position(of: "transport"); failure = f.position(of: "failure")
        }
    }

    /// The analyzer's fastest path: a transfer line in the writer's form (see
    /// `WrittenForm`). False, with nothing recorded, for a line in any other
    /// form or with a number `FlatJSONObject` would refuse (then parse it).
    func consume(written line: UnsafeBufferPointer<UInt8>) -> Bool {
        withUnsafeTemporaryAllocation(of: WrittenForm.Scanned.self, capacity: form.count) { buffer in
            let v = buffer.baseAddress!
            guard form.scan(line, into: v) else { return false }
            func text(_ k: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: line[Int(v[k].start)..<Int(v[k].end)]) }
            func integer(_ k: Int) -> Int64? { v[k].isPresent ? v[k].integer : nil }
            func name(_ k: Int) -> Int32? { v[k].isPresent ? names.id(text(k)) : nil }
            var goodput: Double?, afterSlowStart: Double?
            if v[at.goodput].isPresent { guard let x = WrittenForm.double(text(at.goodput)) else { return false }; goodput = x }
            if v[at.afterSlowStart].isPresent {
                guard let x = WrittenForm.double(text(at.afterSlowStart)) else { return false }
                afterSlowStart = x
            }
            let key = Key(workload: name(at.workload)!, from: name(at.from)!, to: name(at.to)!)
            add(Values(bytes: Int(v[at.bytes].integer), streams: Int(v[at.streams].integer), handshake: integer(at.handshake),
                       duration: integer(at.duration), goodput: goodput, afterSlowStart: afterSlowStart,
                       lost: integer(at.lost).map { UInt64($0) }, retransmitted: UInt64(v[at.retransmitted].integer),
                       congestion: name(at.congestion), transport: name(at.transport), failure: name(at.failure)), to: group(key))
            return true
        }
    }

    /// One transfer's values, names as ids.
    private struct Values {
        var bytes, streams: Int
        var handshake, duration: Int64?
        var goodput, afterSlowStart: Double?
        var lost: UInt64?, retransmitted: UInt64
        var congestion, transport, failure: Int32?
    }

    private func add(_ x: Values, to g: Group) {
        g.bytes = x.bytes
        g.streams = x.streams
        g.started += 1
        if let d = x.duration { g.durations.append(d) }
        if let h = x.handshake { g.handshakes.append(h) }
        if let x = x.goodput { g.goodputs.append(x) }
        if let x = x.afterSlowStart { g.afterSlowStart.append(x) }
        g.lost = sum(g.lost, x.lost)
        g.retransmitted += x.retransmitted
        g.congestion = x.congestion
        g.transport = x.transport
        if let f = x.failure { g.failures[f, default: 0] += 1 }
    }

    private func group(_ key: Key) -> Group { groups.values[groups.slot(key) { Group() }] }

    /// Folds in the accumulator of the trace segment right after this one's.
    func absorb(_ later: TransferAccumulator) {
        let ids = later.names.names.map { names.id($0) }
        for (k, g) in later.groups.pairs {
            group(Key(workload: ids[Int(k.workload)], from: ids[Int(k.from)], to: ids[Int(k.to)])).merge(g, ids: ids)
        }
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        guard !groups.keys.isEmpty else { return }
        summary.transfers = groups.pairs.map { k, g in
            .init(workload: names[k.workload], from: names[k.from], to: names[k.to], bytes: g.bytes, streams: g.streams,
                  started: g.started, completed: g.durations.count,
                  durationNs: Distribution(g.durations), handshakeNs: Distribution(g.handshakes),
                  meanGoodputBps: Self.mean(g.goodputs),
                  meanGoodputAfterSlowStartBps: Self.mean(g.afterSlowStart),
                  packetsLost: g.lost, packetsRetransmitted: g.retransmitted,
                  congestion: g.congestion.map { names[$0] }, transport: g.transport.map { names[$0] },
                  failures: RunSummary.TransferFailure.list(g.failures.map { (names[$0.key], $0.value) }))
        }
    }

    private static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}
