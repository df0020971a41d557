import StoqEngine

/// A link's optional impairments beyond propagation, serialization, the
/// drop-tail queue and Bernoulli loss (`LinkSpec.lossRate`): delay jitter,
/// Gilbert–Elliott burst loss, bit corruption, duplication and an MTU. Each
/// applies to both directions, drawn independently per direction. The
/// network builds a stage of its datagram path only for what is set here
/// (see "Link models" in docs/topology-format.md).
public struct LinkModels: Sendable, Equatable {
    public var jitter: JitterModel?
    /// Replaces Bernoulli loss when set (the parser leaves `lossRate` at 0 then).
    public var burstLoss: GilbertElliottModel?
    /// Probability that a packet arrives with one bit flipped.
    public var corrupt: Double = 0
    /// Probability that a packet arrives twice.
    public var duplicate: Double = 0
    /// Largest IPv6 packet (payload + 48 header bytes) the link carries; nil: no limit.
    public var mtu: Int?

    public init(jitter: JitterModel? = nil, burstLoss: GilbertElliottModel? = nil, corrupt: Double = 0,
                duplicate: Double = 0, mtu: Int? = nil) {
        self.jitter = jitter
        self.burstLoss = burstLoss
        self.corrupt = corrupt
        self.duplicate = duplicate
        self.mtu = mtu
    }

    /// No model configured: the link's datagram path has no middleware.
    public var isEmpty: Bool { self == LinkModels() }
}

/// Extra one-way delay drawn per packet and added to the link's latency.
public struct JitterModel: Sendable, Equatable {
    public enum Distribution: String, CaseIterable, Sendable {
        /// Normal with the given mean and deviation; draws below zero count as zero.
        case normal
        /// Pareto (heavy tail) with the given mean and deviation.
        case pareto
    }
    public var distribution: Distribution
    public var mean: SimDuration
    public var deviation: SimDuration
    /// Let a later packet of the same direction overtake an earlier one. When
    /// false, a packet never arrives before the one sent ahead of it.
    public var reorder: Bool

    public init(distribution: Distribution, mean: SimDuration, deviation: SimDuration, reorder: Bool = false) {
        self.distribution = distribution
        self.mean = mean
        self.deviation = deviation
        self.reorder = reorder
    }
}

/// The Gilbert–Elliott two-state loss model in the parameterisation of
/// Hasslinger & Hohlfeld (MMB 2008) and Linux netem's `loss gemodel`:
/// `p` = P(good → bad), `r` = P(bad → good), `h` = P(delivered | bad),
/// `k` = P(delivered | good). h = 0, k = 1 is Gilbert's original model, whose
/// loss bursts last 1/r packets on average.
public struct GilbertElliottModel: Sendable, Equatable {
    public var p: Double
    public var r: Double
    public var h: Double
    public var k: Double

    public init(p: Double, r: Double, h: Double = 0, k: Double = 1) {
        self.p = p
        self.r = r
        self.h = h
        self.k = k
    }

    /// Long-run fraction of packets lost: π_bad (1 − h) + π_good (1 − k).
    public var stationaryLossRate: Double {
        let bad = p + r > 0 ? p / (p + r) : 0
        return bad * (1 - h) + (1 - bad) * (1 - k)
    }
}
