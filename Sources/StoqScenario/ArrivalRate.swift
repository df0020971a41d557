import StoqEngine
import StoqTopology

/// Poisson arrivals for workloads that take a `rate` field (`fetch`,
/// `transfer`): `2`, `2/s`, `30/m`, `100/h` events per second, exponential
/// gaps drawn from the workload's own seeded stream.
struct ArrivalRate {
    let perSecond: Double

    /// The `rate` field of `f`, or nil when it is absent.
    static func parse(_ f: ConfigMap, key: String = "rate") throws -> ArrivalRate? {
        guard let text = try f.string(key) else { return nil }
        let parts = text.split(separator: "/").map { $0.trimmingCharacters(in: .whitespaces) }
        let perUnit: [String: Double] = ["s": 1, "m": 60, "min": 60, "h": 3600]
        guard (1...2).contains(parts.count), let value = Double(parts[0]), value > 0, value.isFinite,
              let unit = parts.count == 2 ? perUnit[parts[1]] : 1 else {
            throw TopologyDiagnostic(at: f.location(of: key), "'\(key)' must be events per second, e.g. 2, 2/s, 30/m or 100/h; got '\(excerpt(text))'")
        }
        // Above one per nanosecond the gaps round to zero and time stops.
        guard value / unit <= maximumPerSecond else {
            throw TopologyDiagnostic(at: f.location(of: key), "'\(key)' \(excerpt(text)) is more than \(Int(maximumPerSecond)) per second",
                                     hint: "the clock ticks in nanoseconds; see 'Limits' in docs/topology-format.md")
        }
        return ArrivalRate(perSecond: value / unit)
    }

    static let maximumPerSecond = 1e9

    /// The gap to the next arrival. A rate such as 1e-12/s has mean gaps
    /// beyond any run: they are capped at the longest duration, which ends the arrivals.
    func nextGap(using random: inout RandomStream) -> SimDuration {
        let gap = random.nextExponential(mean: 1e9 / perSecond)
        return SimDuration(nanoseconds: Int64(min(gap, Double(Units.maximumDuration.nanoseconds))))
    }
}
