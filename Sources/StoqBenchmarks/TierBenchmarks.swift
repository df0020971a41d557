import Foundation
import StoqAnalyzer
import StoqEngine
import StoqScenario
import StoqTopology

/// One QUIC connection's bulk transfer across one link of a tier, in virtual time.
public struct TierBenchmarkResult: CustomStringConvertible {
    public var tier: LinkTier
    public var bytes: Int
    /// Stream payload bits per second from the connection attempt to the last
    /// byte, slow start included; nil when the transfer did not complete.
    public var goodputBps: Double?
    /// Stream payload bits per second after slow start: from the moment the
    /// receiver had half of it to the last byte, counted as packets arrived
    /// (`TraceRecord.TransferResult.secondHalfGoodputBps`).
    public var secondHalfGoodputBps: Double?
    /// Virtual time the run covered (until just after the last byte).
    public var simulated: SimDuration
    public var wallSeconds: Double
    /// CPU time of the whole process over the run (trace writing included).
    public var cpuSeconds: Double
    /// The transfer completed and its goodput after slow start reached
    /// `TierBenchmarks.requiredShare` of the link's bit rate.
    public var verified: Bool

    func share(_ bps: Double?) -> String {
        bps.map { String(format: "%.1f %%", 100 * $0 / Double(tier.bitsPerSecond)) } ?? "-"
    }

    public var description: String {
        let bps = { (b: Double?) in b.map(SummaryText.formatBps) ?? "incomplete" }
        return "\(tier.rawValue) link, " + String(format: "%g MB: ", Double(bytes) / 1e6)
            + "attempt to last byte \(bps(goodputBps)) (\(share(goodputBps)) of the link), "
            + "after slow start \(bps(secondHalfGoodputBps)) (\(share(secondHalfGoodputBps)), "
            + "check ≥ \(Int(TierBenchmarks.requiredShare * 100)) %); "
            + String(format: "%.2f s simulated, %.2f s wall, %.2f s CPU", simulated.seconds, wallSeconds, cpuSeconds)
            + (verified ? "" : " [CHECK FAILED]")
    }
}

/// Whether one connection fills a link of each tier (issue #3): a transfer
/// between two nodes joined by one link of the tier, 10 ms each way, run as
/// a scenario on the virtual-time backend, so the real network model
/// (serialization, drop-tail queue, propagation) and real QUIC carry it.
/// The figures are virtual-time goodput, the same for the same seed; only
/// the wall time varies.
public enum TierBenchmarks {
    /// What one connection must reach after slow start, as a share of the link's bit rate.
    public static let requiredShare = 0.9
    public static let oneWayLatency = SimDuration.milliseconds(10)

    /// The bytes a link of `tier` carries in `seconds` at its full rate.
    public static func bytes(for tier: LinkTier, seconds: Double) -> Int {
        Int(Double(tier.bitsPerSecond) / 8 * seconds)
    }

    /// Two nodes, one link of `tier`, one transfer of `bytes` from one to the other at t = 0.
    public static func scenario(tier: LinkTier, bytes: Int, seed: UInt64) throws -> Scenario {
        // Ten times the transfer's time at the link rate, so a slow run shows as slow, not as a timeout.
        let timeoutSeconds = Int(Double(bytes) * 8 / Double(tier.bitsPerSecond) * 10) + 10
        let yaml = """
            name: tier-\(tier.rawValue)
            seed: \(seed)
            duration: 100ms
            sites:
              - {name: fra, city: Frankfurt}
              - {name: par, city: Paris}
            nodes:
              - {name: src, site: fra, role: edge}
              - {name: dst, site: par, role: edge}
            links:
              - {from: src, to: dst, tier: \(tier.rawValue), latency: \(oneWayLatency.nanoseconds / 1_000_000)ms}
            workloads:
              - {kind: transfer, name: bulk, from: src, to: dst, size: \(bytes), timeout: \(timeoutSeconds)s}
            """
        return try Scenario(topology: TopologyParser.parse(yaml: yaml, file: "tier-\(tier.rawValue).yaml"))
    }

    public static func run(tier: LinkTier, bytes: Int, seed: UInt64) throws -> TierBenchmarkResult {
        let directory = NSTemporaryDirectory() + "stoqsim-tier-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let scenario = try scenario(tier: tier, bytes: bytes, seed: seed)
        let cpuStart = CPUClock.processNanoseconds()
        let run = try scenario.run(outputDirectory: directory)
        let cpu = Double(CPUClock.processNanoseconds() - cpuStart) / 1e9
        var transfer: TraceRecord.TransferResult?
        try TraceReader.forEach(path: run.tracePath) { if case .transfer(let t) = $0 { transfer = t } }
        let afterSlowStart = transfer?.secondHalfGoodputBps
        let complete = transfer?.durationNs != nil && transfer?.bytesReceived == bytes
        return TierBenchmarkResult(
            tier: tier, bytes: bytes, goodputBps: transfer?.goodputBps, secondHalfGoodputBps: afterSlowStart,
            simulated: .nanoseconds(run.summary.measuredNs), wallSeconds: run.wallSeconds, cpuSeconds: cpu,
            verified: complete && (afterSlowStart ?? 0) >= requiredShare * Double(tier.bitsPerSecond))
    }

    /// A `sim` run's bulk transfer against the transport benchmark's, measured
    /// one after the other in this process: how much a run pays per byte on
    /// top of QUIC over the bare path (issue #14's target: within 1.3×).
    public static func compareWithTransport(tier: LinkTier = .gbps2_5, bytes: Int, seed: UInt64) throws -> TransportComparison {
        let simulated = try run(tier: tier, bytes: bytes, seed: seed)
        let transport = try TransportBenchmarks.bulkGoodput(totalBytes: bytes, seed: seed)
        let countingLosses = try TransportBenchmarks.bulkGoodput(totalBytes: bytes, seed: seed, countingLostPackets: true)
        return TransportComparison(simulated: simulated, transport: transport, transportCountingLosses: countingLosses)
    }
}

/// Bytes per CPU second of a `sim` run's transfer and of the transport benchmark's.
public struct TransportComparison: CustomStringConvertible {
    public var simulated: TierBenchmarkResult
    public var transport: TransportBenchmarkResult
    /// The transport path again with the qlog-based loss counting of the
    /// `count-lost-packets` knob (off in runs unless a topology turns it on):
    /// what that knob costs.
    public var transportCountingLosses: TransportBenchmarkResult
    public static let target = 1.3

    /// Payload MB per CPU second of the whole run (scenario set-up and trace included).
    public var simulatedMBps: Double { Double(simulated.bytes) / simulated.cpuSeconds / 1e6 }
    /// How many times faster the bare transport path moves the same bytes.
    public var ratio: Double { transport.value / simulatedMBps }
    /// CPU per byte of the transport path counting lost packets over the path without.
    public var countingLossesCost: Double { transport.value / transportCountingLosses.value }
    public var verified: Bool { simulated.verified && transport.verified && transportCountingLosses.verified }

    public var description: String {
        String(format: "sim run vs transport benchmark, %g MB each: run %.0f MB/s of CPU, transport %.0f MB/s of CPU: %.2f× (target ≤ %.1f×); "
               + "the transport path counting lost packets (knob count-lost-packets: qlog text per packet) %.0f MB/s: %.2f× the CPU",
               Double(simulated.bytes) / 1e6, simulatedMBps, transport.value, ratio, Self.target,
               transportCountingLosses.value, countingLossesCost)
            + (verified ? "" : " [CHECK FAILED]")
    }
}
