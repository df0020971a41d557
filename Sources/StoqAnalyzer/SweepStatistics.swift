import Foundation

/// Mean, standard deviation and a Student-t confidence interval of one
/// metric over a sample (the seeds of one configuration).
public struct SampleStatistics: Codable, Equatable {
    public var n: Int
    public var mean: Double
    /// Sample standard deviation (n − 1 in the denominator); nil for n < 2.
    public var sd: Double?
    /// Half-width of the 95 % interval: t(0.975, n − 1) · sd / √n; nil for n < 2.
    public var ci95: Double?

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        n = values.count
        mean = values.reduce(0, +) / Double(n)
        guard n >= 2 else { return }
        let m = mean
        // Equal values have no spread, whatever rounding the mean picked up.
        let s = values.allSatisfy({ $0 == values[0] }) ? 0 : (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)).squareRoot()
        sd = s
        ci95 = StudentT.quantile(0.975, degreesOfFreedom: Double(n - 1)) * s / Double(n).squareRoot()
    }

    var variance: Double { (sd ?? 0) * (sd ?? 0) }
}

/// Student's t distribution: the CDF through the regularised incomplete beta
/// function, the quantile by bisection on it (no statistics library here).
public enum StudentT {
    /// P(T ≤ t) for `df` degrees of freedom (df > 0, not necessarily whole: Welch's are not).
    public static func cdf(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard t.isFinite else { return t > 0 ? 1 : 0 }
        let tail = 0.5 * regularizedIncompleteBeta(df / 2, 0.5, df / (df + t * t))
        return t >= 0 ? 1 - tail : tail
    }

    /// The t with P(T ≤ t) = p.
    public static func quantile(_ p: Double, degreesOfFreedom df: Double) -> Double {
        precondition(p > 0 && p < 1 && df > 0)
        if p == 0.5 { return 0 }
        if p < 0.5 { return -quantile(1 - p, degreesOfFreedom: df) }
        // The CDF is monotone: bisect on [0, hi], doubling hi until it brackets p.
        var lo = 0.0, hi = 1.0
        while cdf(hi, degreesOfFreedom: df) < p { lo = hi; hi *= 2 }
        for _ in 0..<200 where hi - lo > 1e-12 * max(1, hi) {
            let mid = (lo + hi) / 2
            if cdf(mid, degreesOfFreedom: df) < p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    /// I_x(a, b) by its continued fraction (modified Lentz), using the
    /// symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
    static func regularizedIncompleteBeta(_ a: Double, _ b: Double, _ x: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let front = exp(logPowers - logBeta)
        if x < (a + 1) / (a + b + 2) { return front * betaFraction(a, b, x) / a }
        return 1 - front * betaFraction(b, a, 1 - x) / b
    }

    private static func betaFraction(_ a: Double, _ b: Double, _ x: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...300 {
            let m = Double(m)
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + even * d; if abs(d) < tiny { d = tiny }
            c = 1 + even / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + odd * d; if abs(d) < tiny { d = tiny }
            c = 1 + odd / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            h *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return h
    }
}

/// Welch's unequal-variances t-test of two samples' means, two-sided.
public struct WelchTest: Codable, Equatable {
    /// mean(b) − mean(a).
    public var difference: Double
    /// Half-width of the 95 % interval of the difference.
    public var ci95: Double
    /// nil when both samples are constant (the statistic would be infinite).
    public var t: Double?
    public var degreesOfFreedom: Double
    /// Two-sided p-value.
    public var p: Double

    /// The level the verdicts use.
    public static let alpha = 0.05

    public var significant: Bool { p < Self.alpha }

    /// nil when either sample has fewer than two values (no variance to test with).
    public init?(_ a: SampleStatistics, _ b: SampleStatistics) {
        guard a.n >= 2, b.n >= 2 else { return nil }
        let va = a.variance / Double(a.n), vb = b.variance / Double(b.n)
        let se = (va + vb).squareRoot()
        difference = b.mean - a.mean
        guard se > 0 else {
            // Both samples constant (deterministic over seeds): any difference is exact.
            t = difference == 0 ? 0 : nil
            degreesOfFreedom = Double(a.n + b.n - 2)
            p = difference == 0 ? 1 : 0
            ci95 = 0
            return
        }
        let t = difference / se
        self.t = t
        // Welch–Satterthwaite; a constant sample contributes no degrees of freedom.
        var denominator = 0.0
        if va > 0 { denominator += va * va / Double(a.n - 1) }
        if vb > 0 { denominator += vb * vb / Double(b.n - 1) }
        degreesOfFreedom = (va + vb) * (va + vb) / denominator
        p = 2 * (1 - StudentT.cdf(abs(t), degreesOfFreedom: degreesOfFreedom))
        ci95 = StudentT.quantile(0.975, degreesOfFreedom: degreesOfFreedom) * se
    }
}
