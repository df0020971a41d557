#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StoqEngine
import StoqTopology

/// What the middleware decided for one packet admitted to a link direction.
struct PacketFate {
    /// When the packet reaches the far end (ns); jitter moves it.
    var arrival: Int64
    var lost = false
    /// The payload bit to flip, when the packet arrives corrupted.
    var corruptBit: Int?
    var duplicated = false
    /// Arrives before a packet admitted ahead of it.
    var reordered = false
}

/// Each packet is lost with probability `p` (the scalar `loss:`). One draw per
/// admitted packet, from the link's own stream, as before the middleware existed.
struct BernoulliLoss {
    let p: Double
    var random: RandomStream

    mutating func apply(_ fate: inout PacketFate) {
        if random.bernoulli(p) { fate.lost = true }
    }
}

/// Gilbert–Elliott loss: the packet's loss is drawn in the current state
/// (lost with 1 − k when good, 1 − h when bad), then the state moves
/// (good → bad with p, bad → good with r). Two draws per packet.
struct GilbertElliottLoss {
    let model: GilbertElliottModel
    var random: RandomStream
    var bad = false

    mutating func apply(_ fate: inout PacketFate) {
        let delivered = random.nextUnitDouble() < (bad ? model.h : model.k)
        if !delivered { fate.lost = true }
        bad = random.nextUnitDouble() < (bad ? 1 - model.r : model.p)
    }
}

/// With probability `p`, one uniformly chosen payload bit is flipped: the
/// receiver's QUIC decryption then fails, as with a damaged frame on a wire.
struct Corruption {
    let p: Double
    var random: RandomStream

    mutating func apply(_ fate: inout PacketFate, payloadBytes: Int) {
        let hit = random.bernoulli(p)
        let bit = Int(random.next() % UInt64(max(payloadBytes * 8, 1)))
        if hit && !fate.lost && payloadBytes > 0 { fate.corruptBit = bit }
    }
}

/// With probability `p`, the packet arrives twice (the copy right behind it).
struct Duplication {
    let p: Double
    var random: RandomStream

    mutating func apply(_ fate: inout PacketFate) {
        if random.bernoulli(p) && !fate.lost { fate.duplicated = true }
    }
}

/// Adds a random delay to the arrival. Without `reorder`, a packet never
/// arrives before the one admitted ahead of it (it waits behind it, as in a
/// FIFO whose service time varies).
struct Jitter {
    let model: JitterModel
    var random: RandomStream
    /// Latest arrival scheduled so far on this direction.
    var latest: Int64 = .min
    /// Pareto shape α and scale x_m giving the model's mean and deviation
    /// (α = 1 + √(1 + mean²/dev²), x_m = mean (α − 1)/α); unused for normal.
    private let alpha: Double, scale: Double

    init(model: JitterModel, random: RandomStream) {
        self.model = model
        self.random = random
        let mean = Double(model.mean.nanoseconds), deviation = Double(model.deviation.nanoseconds)
        alpha = deviation > 0 ? 1 + (1 + mean * mean / (deviation * deviation)).squareRoot() : .infinity
        scale = alpha.isInfinite ? mean : mean * (alpha - 1) / alpha
    }

    /// One extra delay in ns (never negative).
    mutating func draw() -> Int64 {
        switch model.distribution {
        case .normal:
            // Box–Muller; 1 − u lies in (0, 1], so the logarithm is finite.
            let u = 1 - random.nextUnitDouble(), v = random.nextUnitDouble()
            let z = (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
            return Int64(max(0, Double(model.mean.nanoseconds) + z * Double(model.deviation.nanoseconds)).rounded())
        case .pareto:
            let u = 1 - random.nextUnitDouble()
            return Int64((alpha.isInfinite ? scale : scale / pow(u, 1 / alpha)).rounded())
        }
    }

    mutating func apply(_ fate: inout PacketFate) {
        fate.arrival += draw()
        if !model.reorder { fate.arrival = max(fate.arrival, latest) }
        // Lost packets move `latest` too: they stay in the direction's
        // arrival queue until their (jittered) arrival, where they are dropped.
        if fate.arrival >= latest { latest = fate.arrival } else if !fate.lost { fate.reordered = true }
    }
}

/// One stage of a link direction's datagram path.
enum LinkStage {
    case bernoulliLoss(BernoulliLoss)
    case gilbertElliottLoss(GilbertElliottLoss)
    case corruption(Corruption)
    case duplication(Duplication)
    case jitter(Jitter)

    mutating func apply(_ fate: inout PacketFate, payloadBytes: Int) {
        switch self {
        case .bernoulliLoss(var s): s.apply(&fate); self = .bernoulliLoss(s)
        case .gilbertElliottLoss(var s): s.apply(&fate); self = .gilbertElliottLoss(s)
        case .corruption(var s): s.apply(&fate, payloadBytes: payloadBytes); self = .corruption(s)
        case .duplication(var s): s.apply(&fate); self = .duplication(s)
        case .jitter(var s): s.apply(&fate); self = .jitter(s)
        }
    }
}

/// The configured impairments of one link direction, wrapped around its
/// queue and serializer: admission (MTU) before the queue, then loss →
/// corruption → duplication → jitter on each admitted packet. Built only for
/// links with a model (`make` returns nil otherwise), so a plain link does no
/// per-packet work for it. Every stage draws from its own stream, named after
/// the link direction, and draws for every admitted packet whatever the
/// earlier stages decided: one model's draws never shift another's.
struct LinkMiddleware {
    /// Largest wire size admitted; nil: no limit.
    let mtu: Int?
    /// Jitter may let packets overtake each other (arrivals need a heap).
    let reorders: Bool
    private var stages: [LinkStage]

    /// `stream` names the direction ("link:a>b"); Bernoulli loss keeps that
    /// exact stream so scalar-loss traces are the same as before the middleware.
    static func make(lossRate: Double, models: LinkModels, seed: UInt64, stream: String) -> LinkMiddleware? {
        var stages: [LinkStage] = []
        func random(_ model: String) -> RandomStream { RandomStream(seed: seed, stream: stream + "/" + model) }
        if let ge = models.burstLoss {
            stages.append(.gilbertElliottLoss(GilbertElliottLoss(model: ge, random: RandomStream(seed: seed, stream: stream))))
        } else if lossRate > 0 {
            stages.append(.bernoulliLoss(BernoulliLoss(p: lossRate, random: RandomStream(seed: seed, stream: stream))))
        }
        if models.corrupt > 0 { stages.append(.corruption(Corruption(p: models.corrupt, random: random("corrupt")))) }
        if models.duplicate > 0 { stages.append(.duplication(Duplication(p: models.duplicate, random: random("duplicate")))) }
        if let j = models.jitter { stages.append(.jitter(Jitter(model: j, random: random("jitter")))) }
        guard !stages.isEmpty || models.mtu != nil else { return nil }
        return LinkMiddleware(mtu: models.mtu, reorders: models.jitter?.reorder ?? false, stages: stages)
    }

    func admits(wireSize: Int) -> Bool { mtu.map { wireSize <= $0 } ?? true }

    /// Runs an admitted packet through the stages.
    mutating func fate(arrival: Int64, payloadBytes: Int) -> PacketFate {
        var fate = PacketFate(arrival: arrival)
        for i in stages.indices { stages[i].apply(&fate, payloadBytes: payloadBytes) }
        return fate
    }
}
