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
            throw TopologyDiagnostic(at: f.location(of: key), "'\(key)' must be events per second, e.g. 2, 2/s, 30/m or 100/h; got '\(text)'")
        }
        return ArrivalRate(perSecond: value / unit)
    }

    /// The gap to the next arrival.
    func nextGap(using random: inout RandomStream) -> SimDuration {
        SimDuration(nanoseconds: Int64(random.nextExponential(mean: 1e9 / perSecond)))
    }
}
