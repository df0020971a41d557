import Foundation
import StoqAnalyzer
import StoqEngine
import StoqTopology

/// One QUIC connection's bulk transfer across one link of a tier, in virtual time.
public struct TierBenchmarkResult: CustomStringConvertible {
    public var tier: LinkTier
    public var bytes: Int
    /// Stream payload bits per second from the connection attempt to the last
    /// byte, slow start included; nil when the transfer did not complete.
    public var goodputBps: Double?
    /// Stream payload bits per second after slow start: the payload that
    /// arrived after the receiver had half of it, over the time from then to
    /// the last byte (`TraceRecord.TransferResult.secondHalfGoodputBps`).
    public var secondHalfGoodputBps: Double?
    /// Virtual time the run covered (until just after the last byte).
    public var simulated: SimDuration
    public var wallSeconds: Double
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
            + String(format: "%.2f s simulated, %.2f s wall", simulated.seconds, wallSeconds)
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
        let run = try scenario(tier: tier, bytes: bytes, seed: seed).run(outputDirectory: directory)
        var transfer: TraceRecord.TransferResult?
        try TraceReader.forEach(path: run.tracePath) { if case .transfer(let t) = $0 { transfer = t } }
        let afterSlowStart = transfer?.secondHalfGoodputBps
        let complete = transfer?.durationNs != nil && transfer?.bytesReceived == bytes
        return TierBenchmarkResult(
            tier: tier, bytes: bytes, goodputBps: transfer?.goodputBps, secondHalfGoodputBps: afterSlowStart,
            simulated: .nanoseconds(run.summary.measuredNs), wallSeconds: run.wallSeconds,
            verified: complete && (afterSlowStart ?? 0) >= requiredShare * Double(tier.bitsPerSecond))
    }
}
