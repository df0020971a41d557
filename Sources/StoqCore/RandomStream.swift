#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A seeded pseudo-random stream (xoshiro256**). Each node gets its own stream
/// derived from the run seed and the node's name, so what one node draws never
/// depends on how many numbers another node drew before it.
public struct RandomStream: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    /// A stream for `seed` alone.
    public init(seed: UInt64) {
        var sm = SplitMix64(state: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }

    /// An independent stream for one named consumer (a node, a link, a workload).
    /// The name is hashed with FNV-1a, which is stable across runs and platforms
    /// (Swift's `Hasher` is randomly seeded per process).
    public init(seed: UInt64, stream name: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        var sm = SplitMix64(state: seed ^ h)
        _ = sm.next()
        self.init(seed: sm.next())
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// True with probability `p`.
    public mutating func bernoulli(_ p: Double) -> Bool {
        p > 0 && nextUnitDouble() < p
    }

    /// Exponentially distributed with the given mean (Poisson inter-arrival times).
    public mutating func nextExponential(mean: Double) -> Double {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        -mean * log(1 - nextUnitDouble())
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// SplitMix64, used only to expand a seed into xoshiro's state.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Exponential variates by the ziggurat method (Marsaglia & Tsang 2000),
/// for hot loops: 99% of draws cost one `next()`, a table lookup and a
/// multiply instead of a logarithm. Same distribution as
/// `RandomStream.nextExponential`, different sequence.
public struct ExponentialSampler: Sendable {
    public let mean: Double
    private let table: ExponentialZigguratTable

    public init(mean: Double) {
        self.mean = mean
        table = .shared
    }

    @inline(__always)
    public func next(using rng: inout RandomStream) -> Double {
        let x = table.x, f = table.f
        while true {
            let bits = rng.next()
            let i = Int(bits & 0xff)
            // The top 53 bits as a uniform in [0, 1), scaled to layer i's width.
            let u = Double(bits >> 11) * 0x1.0p-53
            let v = u * x[i]
            // Inside the layer's rectangle that lies wholly under the curve.
            if v < x[i + 1] { return v * mean }
            if i == 0 {
                // The base layer beyond r: the tail, itself exponential past r.
                return (ExponentialZigguratTable.r - log(1 - rng.nextUnitDouble())) * mean
            }
            // The sliver between the rectangle and the curve.
            if f[i + 1] + (f[i] - f[i + 1]) * rng.nextUnitDouble() < exp(-v) { return v * mean }
        }
    }
}

/// 256 layers of equal area `v` under e^-x: layer i spans x[i + 1]...x[i] on
/// the x axis (x[1] = r, x[256] = 0; x[0] = v / f(r) is the base layer's
/// virtual width, its rectangle plus the tail), f[i] = e^-x[i].
final class ExponentialZigguratTable: @unchecked Sendable {
    static let r = 7.69711747013104972
    static let v = 0.0039496598225815571993
    static let shared = ExponentialZigguratTable()

    let x: UnsafeMutablePointer<Double>
    let f: UnsafeMutablePointer<Double>

    private init() {
        x = .allocate(capacity: 257)
        f = .allocate(capacity: 257)
        x[0] = Self.v / exp(-Self.r)
        x[1] = Self.r
        for i in 2..<256 { x[i] = -log(Self.v / x[i - 1] + exp(-x[i - 1])) }
        x[256] = 0
        for i in 0...256 { f[i] = exp(-x[i]) }
    }
}
