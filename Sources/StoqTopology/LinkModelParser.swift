import StoqEngine

/// Reads a link's `loss`, `jitter`, `corrupt`, `duplicate` and `mtu` fields
/// (in `links`, `uplink` and `backbones` entries). Every error names the
/// value's file:line:column and says the accepted range.
enum LinkModelParser {
    static let fieldKeys = ["loss", "jitter", "corrupt", "duplicate", "mtu"]
    /// IPv6 requires every link to carry packets of 1280 bytes (RFC 8200 §5).
    static let minimumMTU = 1280
    /// The largest IPv6 packet without jumbograms: a 65,535-byte payload and the 40-byte header.
    static let maximumMTU = 65_575

    static let probabilityHint = "write a probability between 0 and 1, e.g. 0.01 or 1%"

    /// Bernoulli loss rate (0 when `loss` is a Gilbert–Elliott model) and the other models.
    static func parse(_ m: ConfigMap, context: String) throws -> (lossRate: Double, models: LinkModels) {
        var models = LinkModels()
        var lossRate = 0.0
        if let loss = m["loss"] {
            if case .mapping(let lm) = loss {
                (lossRate, models.burstLoss) = try parseLossModel(lm, context: context)
            } else {
                lossRate = try probability("loss", in: m, hint: probabilityHint + ", or a model: {model: gilbert-elliott, p: 0.01, r: 0.3}") ?? 0
            }
        }
        if let j = try m.map("jitter") { models.jitter = try parseJitter(j, context: context) }
        models.corrupt = try probability("corrupt", in: m, hint: probabilityHint + " (the share of packets that arrive with one bit flipped)") ?? 0
        models.duplicate = try probability("duplicate", in: m, hint: probabilityHint + " (the share of packets that arrive twice)") ?? 0
        if let mtu = try m.byteCount("mtu") {
            guard (minimumMTU...maximumMTU).contains(mtu) else {
                throw TopologyDiagnostic(at: m["mtu"]!.location, "'mtu' in \(context) must be between \(minimumMTU) and \(maximumMTU) bytes; got \(mtu)",
                                         hint: "IPv6 requires every link to carry 1280-byte packets (RFC 8200 §5); the MTU counts the 48 bytes of IPv6 and UDP headers, e.g. mtu: 1500")
            }
            models.mtu = mtu
        }
        return (lossRate, models)
    }

    /// `{model: bernoulli, p}` or `{model: gilbert-elliott, p, r, h, k}`.
    private static func parseLossModel(_ m: ConfigMap, context: String) throws -> (Double, GilbertElliottModel?) {
        let modelHint = "write 'model: bernoulli' (with p) or 'model: gilbert-elliott' (with p, r and optionally h, k)"
        let name = try m.string("model")?.lowercased()
        switch name {
        case "bernoulli":
            try m.checkKeys(allowed: ["model", "p"], context: "'loss' of \(context)")
            return (try probability("p", in: m, hint: probabilityHint + " (each packet is lost with probability p)", required: true) ?? 0, nil)
        case "gilbert-elliott", "gilbert_elliott", "ge":
            try m.checkKeys(allowed: ["model", "p", "r", "h", "k"], context: "'loss' of \(context)")
            let p = try probability("p", in: m, hint: probabilityHint + " (p: the chance per packet of entering the bad state)", required: true)!
            let r = try probability("r", in: m, hint: probabilityHint + " (r: the chance per packet of leaving the bad state; bursts last 1/r packets)", required: true)!
            guard r > 0 else {
                throw TopologyDiagnostic(at: m["r"]!.location, "'r' of the gilbert-elliott loss in \(context) must be above 0",
                                         hint: "with r = 0 the link never leaves the bad state; bursts last 1/r packets on average")
            }
            let h = try probability("h", in: m, hint: probabilityHint + " (h: the chance a packet gets through in the bad state; default 0)") ?? 0
            let k = try probability("k", in: m, hint: probabilityHint + " (k: the chance a packet gets through in the good state; default 1)") ?? 1
            return (0, GilbertElliottModel(p: p, r: r, h: h, k: k))
        case nil:
            throw TopologyDiagnostic(at: m.location, "missing field 'model' in 'loss' of \(context)", hint: modelHint)
        case let other?:
            throw TopologyDiagnostic(at: m["model"]!.location, "unknown loss model '\(excerpt(other))' in \(context)", hint: modelHint)
        }
    }

    /// `{distribution: normal|pareto, mean, deviation, reorder}`.
    private static func parseJitter(_ m: ConfigMap, context: String) throws -> JitterModel {
        try m.checkKeys(allowed: ["distribution", "mean", "deviation", "reorder"], context: "'jitter' of \(context)")
        let names = JitterModel.Distribution.allCases.map(\.rawValue).joined(separator: " or ")
        let distribution: JitterModel.Distribution
        if let text = try m.string("distribution") {
            guard let d = JitterModel.Distribution(rawValue: text.lowercased()) else {
                throw TopologyDiagnostic(at: m["distribution"]!.location, "unknown jitter distribution '\(excerpt(text))' in \(context)",
                                         hint: "write 'distribution: \(names)' (default normal)")
            }
            distribution = d
        } else {
            distribution = .normal
        }
        let durationHint = "write a duration of 0 or more, e.g. 2ms (units ns, us, ms, s)"
        let mean = try duration("mean", in: m, hint: durationHint + " (the extra delay's mean; default 0)") ?? .zero
        guard let deviation = try duration("deviation", in: m, hint: durationHint + " (the extra delay's standard deviation)") else {
            throw TopologyDiagnostic(at: m.location, "missing field 'deviation' in 'jitter' of \(context)",
                                     hint: "e.g. jitter: {mean: 2ms, deviation: 1ms}; the deviation must be 0 or more")
        }
        if distribution == .pareto && mean <= .zero {
            throw TopologyDiagnostic(at: m.location(of: "mean"), "a pareto jitter in \(context) needs a 'mean' above 0",
                                     hint: "the Pareto distribution has only positive values, e.g. jitter: {distribution: pareto, mean: 2ms, deviation: 1ms}")
        }
        let reorder: Bool
        do { reorder = try m.bool("reorder") ?? false } catch var d as TopologyDiagnostic {
            d.hint = d.hint ?? "reorder: true lets a later packet overtake an earlier one; default false keeps each direction in order"
            throw d
        }
        return JitterModel(distribution: distribution, mean: mean, deviation: deviation, reorder: reorder)
    }

    /// A probability field; a bad value's error gains `hint`.
    private static func probability(_ key: String, in m: ConfigMap, hint: String, required: Bool = false) throws -> Double? {
        do {
            guard let p = try m.probability(key) else {
                if required { throw TopologyDiagnostic(at: m.location, "missing field '\(key)' in this 'loss' model", hint: hint) }
                return nil
            }
            return p
        } catch var d as TopologyDiagnostic {
            d.hint = d.hint ?? hint
            throw d
        }
    }

    /// A non-negative duration field; a bad value's error gains `hint`.
    private static func duration(_ key: String, in m: ConfigMap, hint: String) throws -> SimDuration? {
        do {
            guard let d = try m.duration(key) else { return nil }
            guard d >= .zero else { throw TopologyDiagnostic(at: m[key]!.location, "'\(key)' must be 0 or more") }
            return d
        } catch var d as TopologyDiagnostic {
            d.hint = d.hint ?? hint
            throw d
        }
    }
}
