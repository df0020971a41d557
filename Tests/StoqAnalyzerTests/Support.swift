import Foundation
@testable import StoqAnalyzer
import XCTest

/// A fresh temporary directory; the caller removes it.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "stoqanalyzer-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Deterministic pseudo-random numbers (SplitMix64) for known test data.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Log-uniform in [lo, hi): latencies spread over several decades.
    mutating func logUniform(_ lo: Double, _ hi: Double) -> Int64 {
        let u = Double(next() >> 11) / Double(1 << 53)
        return Int64(exp(log(lo) + u * (log(hi) - log(lo))))
    }
}

/// A small but complete trace: two sites in two regions, three tiers, two
/// probe workloads, a link failure and repair, and end-of-run link counters.
func writeSampleTrace(to path: String, probeRTT: (Int) -> Int64? = { 5_000_000 + Int64($0 % 7) * 100_000 }) throws {
    let w = try TraceWriter(path: path)
    w.write(.run(.init(topology: "sample", seed: 3, backend: "sim", strategy: "latency", durationNs: 10_000_000_000, nodes: 3)))
    let links: [(String, String, UInt64, String, Int64)] = [
        ("a", "b", 2_500_000_000, "2.5gbps", 40_000_000), ("b", "a", 2_500_000_000, "2.5gbps", 40_000_000),
        ("a", "c", 100_000_000, "100mbps", 1_000_000), ("c", "a", 100_000_000, "100mbps", 1_000_000),
    ]
    for l in links {
        w.write(.link(.init(name: "\(l.0)>\(l.1)", from: l.0, to: l.1, bandwidthBps: l.2, tier: l.3, latencyNs: l.4)))
    }
    w.write(.node(.init(name: "a", site: "fra", region: "europe", role: "edge", address: "fd00::1", latitude: 50.11, longitude: 8.68)))
    w.write(.node(.init(name: "b", site: "sin", region: "asia", role: "edge", address: "fd00:1::1", latitude: 1.35, longitude: 103.82)))
    w.write(.node(.init(name: "c", site: "fra", region: "europe", role: "client", address: "fd00::2", latitude: 50.11, longitude: 8.68)))
    for i in 0..<100 {
        w.write(.probe(.init(t: Int64(i) * 100_000_000, workload: "far", from: "a", to: "b", seq: i, size: 64,
                             rttNs: i % 10 == 9 ? nil : 80_000_000 + Int64(i) * 1000)))
        w.write(.probe(.init(t: Int64(i) * 100_000_000, workload: "near", from: "a", to: "c", seq: i, size: 1200,
                             rttNs: probeRTT(i))))
    }
    w.write(.linkState(.init(t: 2_000_000_000, target: "a<>b", isNode: false, up: false)))
    w.write(.linkState(.init(t: 5_000_000_000, target: "a<>b", isNode: false, up: true)))
    w.write(.linkState(.init(t: 7_000_000_000, target: "c", isNode: true, up: false)))
    for (i, l) in links.enumerated() {
        w.write(.linkStats(.init(link: "\(l.0)>\(l.1)", packetsSent: 100, bytesSent: 100 * 112, packetsDelivered: 100,
                                 bytesDelivered: 100 * 112, droppedQueueFull: 0, droppedLoss: UInt64(i), droppedLinkDown: 0,
                                 busyNs: Int64(i + 1) * 100_000_000, maxQueuedBytes: 112)))
    }
    w.write(.end(.init(t: 10_000_000_000, events: 1234)))
    w.close()
}
