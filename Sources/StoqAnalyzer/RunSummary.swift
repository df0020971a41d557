import Foundation

/// What one run measured, computed from its trace alone (so `analyze` can
/// recompute it later). Written as summary.json.
public struct RunSummary: Codable, Equatable {
    public struct ProbeGroup: Codable, Equatable {
        public var workload: String
        public var from: String
        public var to: String
        public var size: Int
        public var sent: Int
        public var lost: Int
        /// Round-trip times in nanoseconds.
        public var rttNs: Distribution?
    }

    public struct TierUsage: Codable, Equatable {
        public var tier: String
        public var linkDirections: Int
        public var bytesDelivered: UInt64
        /// Mean goodput over the run, bits per second, summed over the tier's links.
        public var throughputBps: Double
        /// Busiest link direction of the tier: busy time / run duration.
        public var maxUtilisation: Double
        public var packetsDropped: UInt64
    }

    public struct StateChange: Codable, Equatable {
        public var tNs: Int64
        public var target: String
        public var up: Bool
    }

    public var schema: Int
    public var topology: String
    public var seed: UInt64
    public var backend: String
    public var strategy: String
    public var durationNs: Int64
    public var nodes: Int
    public var events: UInt64
    public var complete: Bool
    public var probes: [ProbeGroup]
    public var probeWorkloads: [ProbeGroup]
    public var tiers: [TierUsage]
    public var stateChanges: [StateChange]
}

public enum TraceAnalyzer {
    public struct AnalysisError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Streams the trace at `path` into a summary.
    public static func summarize(tracePath: String) throws -> RunSummary {
        var header: TraceRecord.RunHeader?
        var end: TraceRecord.RunEnd?
        struct PairKey: Hashable { var workload, from, to: String; var size: Int }
        var pairOrder: [PairKey] = []
        var pairs: [PairKey: (sent: Int, rtts: [Int64])] = [:]
        var workloadOrder: [String] = []
        var links: [String: TraceRecord.LinkInfo] = [:]
        var stats: [TraceRecord.LinkStats] = []
        var changes: [RunSummary.StateChange] = []

        try TraceReader.forEach(path: tracePath) { record in
            switch record {
            case .run(let h): header = h
            case .link(let l): links[l.name] = l
            case .probe(let p):
                let key = PairKey(workload: p.workload, from: p.from, to: p.to, size: p.size)
                if pairs[key] == nil {
                    pairOrder.append(key)
                    pairs[key] = (0, [])
                    if !workloadOrder.contains(p.workload) { workloadOrder.append(p.workload) }
                }
                pairs[key]!.sent += 1
                if let rtt = p.rttNs { pairs[key]!.rtts.append(rtt) }
            case .linkState(let s): changes.append(.init(tNs: s.t, target: s.target, up: s.up))
            case .linkStats(let s): stats.append(s)
            case .end(let e): end = e
            }
        }
        guard let header else {
            throw AnalysisError(description: "\(tracePath): no run header; is this a stoqsim trace?")
        }

        let probeGroups = pairOrder.map { k -> RunSummary.ProbeGroup in
            let v = pairs[k]!
            return .init(workload: k.workload, from: k.from, to: k.to, size: k.size, sent: v.sent,
                         lost: v.sent - v.rtts.count, rttNs: Distribution(v.rtts))
        }
        let perWorkload = workloadOrder.map { w -> RunSummary.ProbeGroup in
            let ks = pairOrder.filter { $0.workload == w }
            let all = ks.flatMap { pairs[$0]!.rtts }
            let sent = ks.reduce(0) { $0 + pairs[$1]!.sent }
            let sizes = Set(ks.map(\.size))
            return .init(workload: w, from: "*", to: "*", size: sizes.count == 1 ? sizes.first! : -1,
                         sent: sent, lost: sent - all.count, rttNs: Distribution(all))
        }

        let duration = Double(max(end?.t ?? header.durationNs, 1)) / 1e9
        var tiers: [String: RunSummary.TierUsage] = [:]
        for s in stats {
            let tier = links[s.link]?.tier ?? "unknown"
            var u = tiers[tier] ?? .init(tier: tier, linkDirections: 0, bytesDelivered: 0, throughputBps: 0,
                                        maxUtilisation: 0, packetsDropped: 0)
            u.linkDirections += 1
            u.bytesDelivered += s.bytesDelivered
            u.throughputBps += Double(s.bytesDelivered) * 8 / duration
            u.maxUtilisation = max(u.maxUtilisation, Double(s.busyNs) / 1e9 / duration)
            u.packetsDropped += s.droppedQueueFull + s.droppedLoss + s.droppedLinkDown
            tiers[tier] = u
        }

        return RunSummary(schema: TraceRecord.schemaVersion, topology: header.topology, seed: header.seed,
                          backend: header.backend, strategy: header.strategy, durationNs: header.durationNs,
                          nodes: header.nodes, events: end?.events ?? 0, complete: end != nil,
                          probes: probeGroups, probeWorkloads: perWorkload,
                          tiers: tiers.values.sorted { $0.tier < $1.tier }, stateChanges: changes)
    }

    /// Writes `summary.json` with sorted keys so it diffs cleanly between runs.
    public static func write(_ summary: RunSummary, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(summary).write(to: URL(fileURLWithPath: path))
    }
}
