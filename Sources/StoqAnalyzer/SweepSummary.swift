import Foundation

/// What a sweep found: per configuration and metric the statistics over
/// seeds, and per metric and pair of configurations a Welch test. Written as
/// sweep-summary.json; wall times are left out (they live in experiment.json)
/// so the same runs always give the same bytes, however they were scheduled.
public struct SweepSummary: Codable, Equatable {
    public struct Factor: Codable, Equatable {
        /// As written in the experiment (`workloads[transfer-1].size`).
        public var name: String
        public var label: String
        public var values: [String]
        /// The values as numbers (sizes in bytes, durations in seconds) when all are; drives the line charts.
        public var numericValues: [Double]?

        public init(name: String, label: String, values: [String], numericValues: [Double]?) {
            self.name = name
            self.label = label
            self.values = values
            self.numericValues = numericValues
        }
    }

    public struct Configuration: Codable, Equatable {
        public var label: String
        public var directory: String
        /// Index into each factor's `values`.
        public var valueIndices: [Int]
        /// Seeds whose runs finished and were summarised.
        public var seeds: [UInt64]
        public var failedSeeds: [UInt64]
    }

    public struct Metric: Codable, Equatable {
        public var key: String
        public var section: String
        public var name: String
        public var unit: RunComparison.Unit
        /// true: lower is better, false: higher is better, nil: neither.
        public var lowerIsBetter: Bool?

        public var title: String { "\(section) \(name)" }
    }

    /// One metric of one configuration over its seeds.
    public struct Cell: Codable, Equatable {
        public var metric: Int
        public var configuration: Int
        public var stats: SampleStatistics
        /// Per seed, in the configuration's `seeds` order (seeds lacking the metric left out).
        public var values: [Double]
    }

    /// Configuration `b` against `a` on one metric.
    public struct Comparison: Codable, Equatable {
        public var metric: Int
        public var a: Int
        public var b: Int
        public var test: WelchTest?
        /// (mean b − mean a) / |mean a| and its interval's half-width, in percent; nil when mean a is 0.
        public var relativePercent: Double?
        public var relativeCI95Percent: Double?
        /// b is better (by the metric's direction) and significantly so; nil when neither direction is better.
        public var bBetter: Bool?
        public var sentence: String
    }

    public struct FailedRun: Codable, Equatable {
        public var directory: String
        public var configuration: Int
        public var seed: UInt64
        /// `failed` (non-zero exit), `crashed` (signal), `timeout`, `no summary`.
        public var status: String
        public var exitCode: Int32?
        public var signal: Int32?
        public var log: String

        public init(directory: String, configuration: Int, seed: UInt64, status: String, exitCode: Int32?, signal: Int32?, log: String) {
            self.directory = directory
            self.configuration = configuration
            self.seed = seed
            self.status = status
            self.exitCode = exitCode
            self.signal = signal
            self.log = log
        }
    }

    /// Quantile-averaged RTT CDF of a probe workload in one configuration.
    public struct CDF: Codable, Equatable {
        public var workload: String
        public var configuration: Int
        public var valuesNs: [Int64]
    }

    public static let schemaVersion = 1

    public var schema: Int
    public var experiment: String
    public var topology: String
    public var seeds: [UInt64]
    public var factors: [Factor]
    public var configurations: [Configuration]
    public var metrics: [Metric]
    public var cells: [Cell]
    public var comparisons: [Comparison]
    public var failedRuns: [FailedRun]
    public var cdfPercentiles: [Double]
    public var cdfs: [CDF]
    /// How the verdicts were reached, stated in the reports.
    public var method: String

    public static let methodText = "mean ± 95 % confidence interval over seeds (Student's t, n − 1 degrees of freedom); " +
        "pairs compared with Welch's two-sided t-test at 95 % (unequal variances, Welch–Satterthwaite degrees of freedom). " +
        "Assumes seeds are independent and each metric roughly normal over seeds."

    /// One finished run, or a failed one.
    public struct RunInput {
        public var configuration: Int
        public var seed: UInt64
        public var directory: String
        public var summary: RunSummary?
        public var failure: FailedRun?

        public init(configuration: Int, seed: UInt64, directory: String, summary: RunSummary?, failure: FailedRun?) {
            self.configuration = configuration
            self.seed = seed
            self.directory = directory
            self.summary = summary
            self.failure = failure
        }
    }

    /// `runs` in matrix order (configuration, then seed), so the result does not
    /// depend on the order runs finished in.
    public init(experiment: String, topology: String, seeds: [UInt64], factors: [Factor],
                configurations: [(label: String, directory: String, valueIndices: [Int])], runs: [RunInput]) {
        schema = Self.schemaVersion
        self.experiment = experiment
        self.topology = topology
        self.seeds = seeds
        self.factors = factors
        method = Self.methodText
        cdfPercentiles = RunSummary.cdfPercentiles
        let ordered = runs.sorted { ($0.configuration, $0.seed) < ($1.configuration, $1.seed) }
        self.configurations = configurations.enumerated().map { i, c in
            Configuration(label: c.label, directory: c.directory, valueIndices: c.valueIndices,
                          seeds: ordered.filter { $0.configuration == i && $0.summary != nil }.map(\.seed),
                          failedSeeds: ordered.filter { $0.configuration == i && $0.summary == nil }.map(\.seed))
        }
        failedRuns = ordered.compactMap(\.failure)

        // Values per metric key and configuration, metrics in order of first appearance.
        var metrics: [Metric] = []
        var metricIndex: [String: Int] = [:]
        var values: [[Int: [Double]]] = []
        var cdfSamples: [String: [Int: [[Int64]]]] = [:]
        var cdfOrder: [String] = []
        for run in ordered {
            guard let s = run.summary else { continue }
            for (m, v) in SweepMetrics.extract(s) where v.isFinite {
                let i = metricIndex[m.key] ?? {
                    metricIndex[m.key] = metrics.count
                    metrics.append(m)
                    values.append([:])
                    return metrics.count - 1
                }()
                values[i][run.configuration, default: []].append(v)
            }
            for w in s.probeWorkloads {
                guard let cdf = w.cdfNs, cdf.count == RunSummary.cdfPercentiles.count else { continue }
                if cdfSamples[w.workload] == nil { cdfOrder.append(w.workload) }
                cdfSamples[w.workload, default: [:]][run.configuration, default: []].append(cdf)
            }
        }
        self.metrics = metrics
        var cells: [Cell] = []
        for (m, perConfig) in values.enumerated() {
            for c in configurations.indices {
                guard let sample = perConfig[c], let stats = SampleStatistics(sample) else { continue }
                cells.append(Cell(metric: m, configuration: c, stats: stats, values: sample))
            }
        }
        self.cells = cells
        var comparisons: [Comparison] = []
        let labels = configurations.map(\.label)
        for m in metrics.indices {
            let byConfig = Dictionary(uniqueKeysWithValues: cells.filter { $0.metric == m }.map { ($0.configuration, $0.stats) })
            for a in configurations.indices {
                for b in configurations.indices where b > a {
                    guard let sa = byConfig[a], let sb = byConfig[b] else { continue }
                    comparisons.append(Self.compare(metric: m, metrics[m], a: a, sa, b: b, sb, labels: labels))
                }
            }
        }
        self.comparisons = comparisons
        // Averaging quantiles over seeds (Vincentisation) keeps each curve a CDF.
        cdfs = cdfOrder.flatMap { w in
            configurations.indices.compactMap { c -> CDF? in
                guard let samples = cdfSamples[w]?[c], !samples.isEmpty else { return nil }
                let mean = samples[0].indices.map { p in
                    Int64((samples.reduce(0.0) { $0 + Double($1[p]) } / Double(samples.count)).rounded())
                }
                return CDF(workload: w, configuration: c, valuesNs: mean)
            }
        }
    }

    static func compare(metric m: Int, _ metric: Metric, a: Int, _ sa: SampleStatistics, b: Int, _ sb: SampleStatistics,
                        labels: [String]) -> Comparison {
        let test = WelchTest(sa, sb)
        let diff = sb.mean - sa.mean
        let relative = sa.mean != 0 ? diff / abs(sa.mean) * 100 : nil
        let relativeCI = sa.mean != 0 ? test.map { $0.ci95 / abs(sa.mean) * 100 } : nil
        let significant = test?.significant ?? false
        let bBetter = metric.lowerIsBetter.map { lower in significant && diff != 0 && (diff < 0) == lower }
        let amount: String
        if let relative {
            amount = String(format: "%@%.1f %%", relative < 0 ? "−" : "+", abs(relative)) +
                (relativeCI.map { String(format: " ± %.1f %%", $0) } ?? "")
        } else {
            amount = (diff < 0 ? "−" : "+") + RunComparison.format(abs(diff), metric.unit) +
                (test.map { " ± " + RunComparison.format($0.ci95, metric.unit) } ?? "")
        }
        let seeds = sa.n == sb.n ? "\(sa.n) seeds" : "\(sb.n) and \(sa.n) seeds"
        let verdict: String
        if let test {
            if test.ci95 == 0 && diff != 0 {
                verdict = "significant: identical over each configuration's \(seeds)"
            } else if test.ci95 == 0 {
                verdict = "no difference over \(seeds)"
            } else {
                verdict = (significant ? "significant" : String(format: "not significant, p = %.2f,", test.p)) + " over \(seeds)"
            }
        } else {
            verdict = "not tested: needs at least 2 seeds each"
        }
        let label = label(labels, b) + " vs " + label(labels, a)
        return Comparison(metric: m, a: a, b: b, test: test, relativePercent: relative, relativeCI95Percent: relativeCI,
                          bBetter: bBetter, sentence: "\(label): \(metric.title) \(amount) (\(verdict))")
    }

    private static func label(_ labels: [String], _ i: Int) -> String { labels[i].isEmpty ? "base" : labels[i] }

    public func stats(metric m: Int, configuration c: Int) -> SampleStatistics? {
        cells.first { $0.metric == m && $0.configuration == c }?.stats
    }

    /// Configurations with the metric, best first (by mean; by mean descending when no direction is better).
    public func ranking(metric m: Int) -> [Int] {
        let lower = metrics[m].lowerIsBetter ?? false
        return cells.filter { $0.metric == m }.sorted {
            lower ? ($0.stats.mean, $0.configuration) < ($1.stats.mean, $1.configuration)
                : ($0.stats.mean, -$0.configuration) > ($1.stats.mean, -$1.configuration)
        }.map(\.configuration)
    }

    public func comparison(metric m: Int, _ x: Int, _ y: Int) -> Comparison? {
        comparisons.first { $0.metric == m && (($0.a == x && $0.b == y) || ($0.a == y && $0.b == x)) }
    }

    /// "transfer transfer-1 completion mean: weighted is best (1.2s ± 0.1s), significantly better than
    /// latency and hops" — for metrics with a better direction where the first
    /// configuration is significantly better than at least one other.
    public func finding(metric m: Int) -> String? {
        guard metrics[m].lowerIsBetter != nil else { return nil }
        let order = ranking(metric: m)
        guard order.count >= 2, let best = stats(metric: m, configuration: order[0]) else { return nil }
        guard order.dropFirst().contains(where: { other in
            comparison(metric: m, order[0], other)?.test.map { $0.significant && $0.difference != 0 } ?? false
        }) else { return nil }
        let unit = metrics[m].unit
        let name = Self.label(configurations.map(\.label), order[0])
        var beaten: [String] = [], tied: [String] = []
        for other in order.dropFirst() {
            let label = Self.label(configurations.map(\.label), other)
            guard let c = comparison(metric: m, order[0], other), let test = c.test else { tied.append(label); continue }
            if test.significant, test.difference != 0 { beaten.append(label) } else { tied.append(label) }
        }
        var s = "\(metrics[m].title): \(name) "
        s += tied.isEmpty ? "is best" : "is first"
        s += " (" + RunComparison.format(best.mean, unit) + (best.ci95.map { " ± " + RunComparison.format($0, unit) } ?? "") + ")"
        if !beaten.isEmpty { s += ", significantly better than \(beaten.joined(separator: ", "))" }
        if !tied.isEmpty { s += (beaten.isEmpty ? ", " : "; ") + "not significantly different from \(tied.joined(separator: ", "))" }
        return s
    }

    /// Metrics with a better direction on which no configuration is significantly ahead.
    public var undecided: [Int] {
        metrics.indices.filter { metrics[$0].lowerIsBetter != nil && ranking(metric: $0).count >= 2 && finding(metric: $0) == nil }
    }

    public static func read(from path: String) throws -> SweepSummary {
        try JSONDecoder().decode(SweepSummary.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// One row per configuration and metric.
    public func csv() -> String {
        func field(_ s: String) -> String {
            s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func number(_ v: Double?) -> String { v.map { String(format: "%.17g", $0) } ?? "" }
        var out = (["configuration"] + factors.map(\.label) +
            ["metric", "section", "name", "unit", "n", "mean", "sd", "ci95_low", "ci95_high"]).map(field).joined(separator: ",") + "\n"
        for cell in cells.sorted(by: { ($0.configuration, $0.metric) < ($1.configuration, $1.metric) }) {
            let c = configurations[cell.configuration], m = metrics[cell.metric], st = cell.stats
            let row = [c.label] + zip(factors, c.valueIndices).map { $0.values[$1] } +
                [m.key, m.section, m.name, m.unit.rawValue, String(st.n), number(st.mean), number(st.sd),
                 number(st.ci95.map { st.mean - $0 }), number(st.ci95.map { st.mean + $0 })]
            out += row.map(field).joined(separator: ",") + "\n"
        }
        return out
    }
}

/// The per-run figures a sweep compares, taken from summary.json.
public enum SweepMetrics {
    public static func extract(_ s: RunSummary) -> [(SweepSummary.Metric, Double)] {
        var out: [(SweepSummary.Metric, Double)] = []
        func add(_ section: String, _ name: String, _ unit: RunComparison.Unit, _ lowerIsBetter: Bool?, _ value: Double?) {
            guard let value else { return }
            out.append((SweepSummary.Metric(key: "\(section)/\(name)", section: section, name: name, unit: unit,
                                            lowerIsBetter: lowerIsBetter), value))
        }
        func distribution(_ section: String, _ what: String, _ d: Distribution?, mean: Bool = true, p90: Bool = false) {
            guard let d else { return }
            if mean { add(section, "\(what) mean", .ns, true, d.mean) }
            add(section, "\(what) p50", .ns, true, Double(d.p50))
            if p90 { add(section, "\(what) p90", .ns, true, Double(d.p90)) }
            add(section, "\(what) p99", .ns, true, Double(d.p99))
        }
        for w in s.probeWorkloads {
            let section = "probe \(w.workload)"
            add(section, "sent", .count, nil, Double(w.sent))
            distribution(section, "rtt", w.rttNs, p90: true)
            if let d = w.rttNs {
                add(section, "rtt p99.9", .ns, true, Double(d.p999))
                add(section, "rtt max", .ns, true, Double(d.max))
            }
            add(section, "loss", .ratio, true, w.lossRate)
        }
        // Transfers per workload over all its pairs: exact means weighted by completed transfers.
        var order: [String] = []
        var groups: [String: [RunSummary.TransferGroup]] = [:]
        for t in s.transfers ?? [] {
            if groups[t.workload] == nil { order.append(t.workload) }
            groups[t.workload, default: []].append(t)
        }
        for w in order {
            let g = groups[w]!, section = "transfer \(w)"
            let started = g.reduce(0) { $0 + $1.started }, completed = g.reduce(0) { $0 + $1.completed }
            func weightedMean(_ value: (RunSummary.TransferGroup) -> Double?) -> Double? {
                let parts = g.compactMap { t in value(t).map { ($0, Double(t.completed)) } }.filter { $0.1 > 0 }
                let weight = parts.reduce(0) { $0 + $1.1 }
                return weight > 0 ? parts.reduce(0) { $0 + $1.0 * $1.1 } / weight : nil
            }
            add(section, "completed", .ratio, false, started > 0 ? Double(completed) / Double(started) : nil)
            add(section, "completion mean", .ns, true, weightedMean { $0.durationNs?.mean })
            add(section, "completion slowest pair p99", .ns, true, g.compactMap { $0.durationNs.map { Double($0.p99) } }.max())
            add(section, "handshake mean", .ns, true, weightedMean { $0.handshakeNs?.mean })
            add(section, "goodput mean", .bps, false, weightedMean(\.meanGoodputBps))
            add(section, "packets retransmitted", .count, true, Double(g.reduce(0) { $0 + $1.packetsRetransmitted }))
        }
        for t in s.tiers {
            let section = "tier \(t.tier)"
            add(section, "throughput", .bps, nil, t.throughputBps)
            add(section, "goodput", .bps, nil, t.goodputBps)
            add(section, "mean utilisation", .ratio, nil, t.meanUtilisation)
            add(section, "max utilisation", .ratio, nil, t.maxUtilisation)
            add(section, "packets dropped", .count, true, Double(t.packetsDropped))
        }
        add("network", "packets dropped", .count, true, Double(s.links.reduce(0) { $0 + $1.packetsDropped }))
        add("network", "busiest link utilisation", .ratio, nil, s.links.map(\.utilisation).max())
        if let r = s.routes {
            add("routes", "mean hops", .number, true, r.meanHops)
            add("routes", "mean stretch", .number, true, r.meanStretch)
            add("routes", "max stretch", .number, true, r.maxStretch)
        }
        if let rc = s.reconvergences, !rc.isEmpty {
            add("failures", "reconvergence mean", .ns, true, rc.reduce(0.0) { $0 + Double($1.reconvergenceNs) } / Double(rc.count))
            add("failures", "packets lost while reconverging", .count, true, Double(rc.reduce(0) { $0 + $1.packetsLost }))
        }
        if let c = s.content {
            add("content", "dedup saved", .ratio, false, ContentSummary.ratio(saved: c.bytesRequested, sent: c.bytesSent))
            add("content", "backbone dedup saved", .ratio, false, ContentSummary.ratio(saved: c.backboneBytesRequested, sent: c.backboneBytesSent))
            distribution("content", "fetch", c.fetchNs)
            add("content", "fetches failed", .count, true, Double(c.fetchesFailed))
            let hits = c.edges.reduce(0) { $0 + $1.hits }, lookups = c.edges.reduce(0) { $0 + $1.hits + $1.misses }
            add("content", "edge hit ratio", .ratio, false, lookups > 0 ? Double(hits) / Double(lookups) : nil)
        }
        if let c = s.certificates {
            add("certificates", "enrolled", .count, false, Double(c.enrolled))
            add("certificates", "failed attempts", .count, true, Double(c.failed))
            distribution("certificates", "enrolment", c.enrolmentNs, mean: false)
            distribution("certificates", "renewal", c.renewalNs, mean: false)
            distribution("certificates", "proof fetch", c.proofNs, mean: false)
            distribution("certificates", "peer proof", c.peerProofNs, mean: false)
        }
        return out
    }
}
