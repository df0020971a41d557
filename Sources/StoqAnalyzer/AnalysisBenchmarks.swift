import Foundation
import StoqEngine

/// Trace analysis throughput (`stoqsim bench analysis`): a generated trace of
/// probe and transfer records, analysed on one thread and on all cores.
public enum AnalysisBenchmarks {
    public struct Result: CustomStringConvertible {
        public var name: String
        public var records: UInt64
        public var bytes: Int
        public var wallSeconds: Double
        /// CPU time of the whole process during the run (all threads).
        public var cpuSeconds: Double
        /// The summary matched the reference (the single-thread one).
        public var verified: Bool

        public var recordsPerSecond: Double { Double(records) / wallSeconds }
        public var recordsPerCPUSecond: Double { Double(records) / cpuSeconds }

        public var description: String {
            func r(_ x: Double, _ k: Double) -> Double { (x * k).rounded() / k }
            return "\(name): \(records) records (\(bytes >> 20) MiB) in \(r(wallSeconds, 1000))s wall = "
                + "\(r(recordsPerSecond / 1e6, 100)) M records/s, \(r(cpuSeconds, 1000))s CPU = "
                + "\(r(recordsPerCPUSecond / 1e6, 100)) M records/CPU-s" + (verified ? "" : " (SUMMARY DIFFERS)")
        }
    }

    /// Writes a trace of `records` records: a header, `nodes` nodes in four
    /// regions and their links, then probes of `pairs` pairs interleaved (every
    /// `transferEvery`-th record a transfer instead), as a big probe run writes them.
    public static func writeTrace(to path: String, records: Int, nodes: Int = 200, pairs: Int = 5_000,
                                  transferEvery: Int = 10, seed: UInt64 = 1) throws {
        let w = try TraceWriter(path: path)
        defer { w.close() }
        let regions = ["europe", "asia", "america", "oceania"]
        let name = (0..<nodes).map { "n\($0)" }
        w.write(.run(.init(topology: "bench", seed: seed, backend: "sim", strategy: "latency", durationNs: 600_000_000_000, nodes: nodes)))
        for i in 0..<nodes {
            w.write(.node(.init(name: name[i], site: "s\(i / 4)", region: regions[i % 4], role: "edge", address: "fd00::\(i)",
                                latitude: Double(i % 90), longitude: Double(i % 180))))
            let j = (i + 1) % nodes
            w.write(.link(.init(name: "\(name[i])>\(name[j])", from: name[i], to: name[j], bandwidthBps: 1_000_000_000,
                                tier: "1gbps", latencyNs: 1_000_000)))
        }
        var state = seed
        func next() -> UInt64 {   // SplitMix64: a fixed, seeded sequence
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let pairList = (0..<pairs).map { _ in (Int(next() % UInt64(nodes)), Int(next() % UInt64(nodes))) }
        for r in 0..<records - 2 * nodes - 2 {
            let (a, b) = pairList[r % pairs]
            let t = Int64(r) * 1000
            let rtt = Int64(1_000_000 + next() % 200_000_000)
            if r % transferEvery == transferEvery - 1 {
                w.write(.transfer(.init(t: t, workload: "bulk", from: name[a], to: name[b], bytes: 1 << 20, streams: 1,
                                        bytesReceived: 1 << 20, handshakeNs: rtt, durationNs: rtt * 10,
                                        goodputBps: Double(8 << 20) / (Double(rtt) * 1e-8),
                                        secondHalfGoodputBps: nil, packetsLost: next() % 3, packetsRetransmitted: next() % 3,
                                        smoothedRttNs: rtt, congestion: "cubic")))
            } else {
                w.write(.probe(.init(t: t, workload: r % 7 == 0 ? "ping-small" : "ping", from: name[a], to: name[b],
                                     seq: r / pairs, size: 64, rttNs: next() % 100 == 0 ? nil : rtt)))
            }
        }
        w.write(.end(.init(t: Int64(records) * 1000, events: UInt64(records))))
    }

    /// Analyses `path` with `threads` threads; `reference` (when given) is the summary it must match.
    public static func analyse(path: String, threads: Int, reference: RunSummary? = nil) throws -> (Result, RunSummary) {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let w0 = MonotonicClock.nanoseconds(), c0 = CPUClock.processNanoseconds()
        let summary = try TraceAnalyzer.summarize(tracePath: path, accumulators: TraceAnalyzer.defaultAccumulators(),
                                                  threads: threads, parallelFromBytes: 0)
        let wall = Double(MonotonicClock.nanoseconds() - w0) / 1e9, cpu = Double(CPUClock.processNanoseconds() - c0) / 1e9
        let name = threads == 1 ? "analysis, 1 thread" : "analysis, \(threads) threads"
        return (Result(name: name, records: summary.records, bytes: bytes, wallSeconds: wall, cpuSeconds: cpu,
                       verified: reference.map { $0 == summary } ?? true), summary)
    }
}
