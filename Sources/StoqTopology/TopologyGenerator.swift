import Foundation
import StoqEngine

/// Builds large, plausible topologies as ordinary topology files (YAML text),
/// so a generated network can be read, diffed, edited and committed.
///
/// Shape: cities are drawn from the catalog weighted by population; each city
/// is a site with one core node, `edgesPerSite` edge nodes uplinked to the
/// core, and clients uplinked to the edges. Cores are joined by backbones to
/// their `neighbors` nearest sites, plus a minimum spanning tree so the graph
/// is always connected, plus `extraLinks` random long-haul links. One CA node
/// sits at the largest site. The same options give the same text.
public struct TopologyGenerator {
    /// Each field is one flag of `stoqsim generate`.
    public struct Options: Sendable, Equatable {
        /// `--nodes N`: total node count, exactly.
        public var nodes: Int = 100
        /// `--regions europe,asia`: catalog regions to draw cities from; empty = all.
        public var regions: [String] = []
        /// `--seed S`: the random stream for city choice and extra links (also the file's `seed`).
        public var seed: UInt64 = 1
        /// `--sites N`: number of cities; nil = about one per 25 nodes.
        public var sites: Int?
        /// `--edges-per-site N`
        public var edgesPerSite: Int = 2
        /// `--neighbors K`: backbone links from each site to its K nearest sites.
        public var neighbors: Int = 2
        /// `--extra-links N`: random extra backbone links between distant sites.
        public var extraLinks: Int = 0
        /// `--backbone-tier`, `--edge-tier` (edge↔core, CA↔core), `--access-tier` (client↔edge).
        public var backboneTier: LinkTier = .gbps2_5
        /// `--backbone-capacity`: every backbone at `backboneTier` (uniform), or
        /// mixed so capacity- and load-aware routing has something to choose.
        public var backboneCapacity: BackboneCapacity = .uniform
        /// `--tier-mix 100mbps:0.3,1gbps:0.4,2.5gbps:0.3`: the draw for `--backbone-capacity mix`.
        public var tierMix: [(tier: LinkTier, weight: Double)] = [(.mbps100, 0.3), (.gbps1, 0.4), (.gbps2_5, 0.3)]
        /// `--degree D`: add the shortest missing backbone links until the mean
        /// site degree reaches D (a partial mesh); nil = only `neighbors`.
        public var degree: Double?
        public var edgeTier: LinkTier = .gbps1
        public var accessTier: LinkTier = .mbps100
        /// `--duration 30s`
        public var duration: SimDuration = .seconds(30 as Int64)
        /// `--name NAME`: nil = `generated-<nodes>`.
        public var name: String?
        /// `--no-probes` sets this false: otherwise one probe workload samples RTTs across sites.
        public var probes: Bool = true

        public init() {}

        public static func == (a: Options, b: Options) -> Bool { a.commandLine == b.commandLine }

        /// The `stoqsim generate` flags that reproduce these options (defaults left out).
        public var commandLine: String {
            let d = Options()
            var parts = ["stoqsim generate", "--nodes \(nodes)", "--seed \(seed)"]
            if !regions.isEmpty { parts.append("--regions \(regions.joined(separator: ","))") }
            if let sites { parts.append("--sites \(sites)") }
            if edgesPerSite != d.edgesPerSite { parts.append("--edges-per-site \(edgesPerSite)") }
            if neighbors != d.neighbors { parts.append("--neighbors \(neighbors)") }
            if extraLinks != d.extraLinks { parts.append("--extra-links \(extraLinks)") }
            if backboneTier != d.backboneTier { parts.append("--backbone-tier \(backboneTier.rawValue)") }
            if backboneCapacity != d.backboneCapacity { parts.append("--backbone-capacity \(backboneCapacity.rawValue)") }
            if backboneCapacity == .mix, tierMix.map(\.weight) != d.tierMix.map(\.weight) || tierMix.map(\.tier) != d.tierMix.map(\.tier) {
                parts.append("--tier-mix " + tierMix.map { "\($0.tier.rawValue):\($0.weight)" }.joined(separator: ","))
            }
            if let degree { parts.append("--degree \(degree)") }
            if edgeTier != d.edgeTier { parts.append("--edge-tier \(edgeTier.rawValue)") }
            if accessTier != d.accessTier { parts.append("--access-tier \(accessTier.rawValue)") }
            if duration != d.duration { parts.append("--duration \(duration)") }
            if let name { parts.append("--name \(name)") }
            if !probes { parts.append("--no-probes") }
            return parts.joined(separator: " ")
        }
    }

    /// How backbone capacities are chosen.
    public enum BackboneCapacity: String, CaseIterable, Sendable {
        /// All at `--backbone-tier`.
        case uniform
        /// By length: 2,000 km and longer 2.5gbps (long-haul trunks), 500 km and longer 1gbps, shorter 100mbps.
        case distance
        /// By the smaller city's population: both ends among the largest third 2.5gbps, one among the smallest third 100mbps, else 1gbps.
        case population
        /// Drawn per link from `--tier-mix` (seeded).
        case mix
    }

    public enum GeneratorError: Error, CustomStringConvertible, Equatable {
        case unknownRegion(String, suggestion: String?)
        case invalidOption(String)

        public var description: String {
            switch self {
            case .unknownRegion(let r, let s):
                return "unknown region '\(r)'" + (s.map { "; did you mean '\($0)'?" } ?? "") +
                    " Regions: \(CityCatalog.regions.joined(separator: ", "))"
            case .invalidOption(let why): return why
            }
        }
    }

    public var options: Options

    public init(options: Options = Options()) { self.options = options }

    /// Clients per site are what is left of `nodes` after cores, edges and the CA.
    static let nodesPerSiteHint = 25

    public func generate() throws -> String {
        let o = options
        // Upper bounds keep the arithmetic below (sites × nodes per site, tries × 20) inside Int.
        guard (1...1_000_000).contains(o.nodes) else { throw GeneratorError.invalidOption("--nodes must be between 1 and 1000000") }
        guard (1...1000).contains(o.edgesPerSite) else { throw GeneratorError.invalidOption("--edges-per-site must be between 1 and 1000") }
        guard (0...1000).contains(o.neighbors), (0...1_000_000).contains(o.extraLinks) else {
            throw GeneratorError.invalidOption("--neighbors must be 0…1000 and --extra-links 0…1000000")
        }
        if let d = o.degree, !(d >= 1 && d <= 1000) {
            throw GeneratorError.invalidOption("--degree must be between 1 and 1000 (the mean number of backbone links per site)")
        }
        guard !o.tierMix.isEmpty, o.tierMix.allSatisfy({ $0.weight >= 0 && $0.weight.isFinite }), o.tierMix.contains(where: { $0.weight > 0 }) else {
            throw GeneratorError.invalidOption("--tier-mix needs TIER:WEIGHT entries with weights ≥ 0, at least one above 0")
        }
        guard o.duration > .zero else { throw GeneratorError.invalidOption("--duration must be longer than zero") }
        for r in o.regions where !CityCatalog.regions.contains(r) {
            throw GeneratorError.unknownRegion(r, suggestion: closest(to: r, in: CityCatalog.regions))
        }
        let pool = try CityCatalog.all().filter { o.regions.isEmpty || o.regions.contains($0.region) }
        let perSite = 1 + o.edgesPerSite
        var siteCount: Int
        if let s = o.sites {
            guard s >= 1 else { throw GeneratorError.invalidOption("--sites must be at least 1") }
            guard s <= pool.count else {
                throw GeneratorError.invalidOption("--sites \(s) exceeds the \(pool.count) catalog cities in the chosen regions")
            }
            siteCount = s
        } else {
            siteCount = min(pool.count, max(1, o.nodes / Self.nodesPerSiteHint))
            while siteCount > 1 && siteCount * perSite + 1 > o.nodes { siteCount -= 1 }
        }
        let clientTotal = o.nodes - siteCount * perSite - 1
        guard clientTotal >= 0 else {
            throw GeneratorError.invalidOption("--nodes \(o.nodes) is too small: \(siteCount) site(s) with a core and \(o.edgesPerSite) edge(s) each, plus a CA, need \(siteCount * perSite + 1)")
        }

        let cities = Self.pickCities(from: pool, count: siteCount, seed: o.seed)
        let slugs = Self.uniqueSlugs(cities)
        var out = Emitter()
        out.line("# Generated by TopologyGenerator; regenerate rather than edit:")
        out.line("#   \(o.commandLine)")
        out.line("# \(siteCount) sites, \(o.nodes) nodes: per site one core, \(o.edgesPerSite) edge(s) and clients; one CA.")
        out.line("name: \(o.name ?? "generated-\(o.nodes)")")
        out.line("seed: \(o.seed)")
        out.line("duration: \(o.duration)")
        if siteCount > 256 {
            // The default /40 holds 256 sites of /48.
            out.line("addressing: {prefix: 'fd00:5354::/32'}")
        }
        out.line("sites:")
        for (c, slug) in zip(cities, slugs) {
            out.line("  - {name: \(slug), latitude: \(c.latitude), longitude: \(c.longitude), region: \(c.region)}  # \(c.name), \(c.country)")
        }

        out.line("nodes:")
        let edgeCount = siteCount * o.edgesPerSite
        var firstClient: [String?] = Array(repeating: nil, count: siteCount)
        for (s, slug) in slugs.enumerated() {
            let core = "core-\(slug)"
            out.line("  - {name: \(core), site: \(slug), role: core}")
            if s == 0 {
                out.line("  - {name: ca, site: \(slug), role: ca, uplink: {to: \(core), tier: \(o.edgeTier.rawValue)}}")
            }
            for e in 1...o.edgesPerSite {
                let edge = "edge-\(slug)-\(e)"
                out.line("  - {name: \(edge), site: \(slug), role: edge, uplink: {to: \(core), tier: \(o.edgeTier.rawValue)}}")
                // Spread clients evenly; the first edges take the remainder.
                let k = s * o.edgesPerSite + (e - 1)
                let clients = clientTotal / edgeCount + (k < clientTotal % edgeCount ? 1 : 0)
                guard clients > 0 else { continue }
                let template = "client-\(slug)-\(e)"
                firstClient[s] = firstClient[s] ?? "\(template)-1"
                out.line("  - {name: \(template), site: \(slug), role: client, count: \(clients), uplink: {to: \(edge), tier: \(o.accessTier.rawValue)}}")
            }
        }

        let pairs = Self.backbonePairs(cities, neighbors: o.neighbors, extra: o.extraLinks, degree: o.degree, seed: o.seed)
        if !pairs.isEmpty {
            out.line("backbones:")
            let tiers = Self.backboneTiers(pairs, cities: cities, options: o)
            for ((a, b), tier) in zip(pairs, tiers) {
                out.line("  - {sites: [\(slugs[a]), \(slugs[b])], tier: \(tier.rawValue)}")
            }
        }

        let probeTargets = Self.spread(firstClient.dropFirst().compactMap { $0 }, count: 4)
        if o.probes, let from = firstClient[0] ?? firstClient.compactMap({ $0 }).first, !probeTargets.isEmpty {
            out.line("workloads:")
            out.line("  - {kind: probe, from: \(from), to: [\(probeTargets.joined(separator: ", "))], interval: 100ms, size: 64}")
        }
        return out.text
    }

    // MARK: Pieces

    private struct Emitter {
        var text = ""
        mutating func line(_ s: String) { text += s + "\n" }
    }

    /// Weighted sampling without replacement (Efraimidis–Spirakis): each city
    /// draws key = ln(u) / population and the largest keys win, so big cities
    /// are likely but not certain. Site order is then by population.
    static func pickCities(from pool: [City], count: Int, seed: UInt64) -> [City] {
        var rng = RandomStream(seed: seed, stream: "generator.cities")
        let keyed = pool.map { c -> (City, Double) in
            let u = 1 - rng.nextUnitDouble()          // (0, 1], so ln(u) is finite
            return (c, log(u) / Double(max(c.population, 1)))
        }
        return keyed.sorted { $0.1 > $1.1 }.prefix(count).map(\.0)
            .sorted { ($0.population, $1.name) > ($1.population, $0.name) }
    }

    /// Lowercase ASCII site names (`São Paulo` → `sao-paulo`), made unique with the country code.
    static func uniqueSlugs(_ cities: [City]) -> [String] {
        var used: Set<String> = []
        return cities.map { c in
            var s = slug(c.name)
            if used.contains(s) { s += "-" + c.country.lowercased() }
            used.insert(s)
            return s
        }
    }

    /// "São Paulo" → "sao-paulo": a name usable for sites, nodes and run directories.
    public static func slug(_ name: String) -> String {
        let folded = name.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
        let mapped = folded.unicodeScalars.map { ("a"..."z").contains($0) || ("0"..."9").contains($0) ? Character($0) : "-" }
        return String(mapped).split(separator: "-").joined(separator: "-")
    }

    /// Site-index pairs (i < j), sorted: k nearest neighbours ∪ minimum
    /// spanning tree (connectivity) ∪ random extras.
    static func backbonePairs(_ cities: [City], neighbors: Int, extra: Int, degree: Double? = nil, seed: UInt64) -> [(Int, Int)] {
        let n = cities.count
        guard n > 1 else { return [] }
        func km(_ i: Int, _ j: Int) -> Double {
            Geography.greatCircleKilometers(lat1: cities[i].latitude, lon1: cities[i].longitude,
                                            lat2: cities[j].latitude, lon2: cities[j].longitude)
        }
        var pairs: Set<[Int]> = []
        func add(_ i: Int, _ j: Int) { pairs.insert([min(i, j), max(i, j)]) }
        for i in 0..<n {
            let nearest = (0..<n).filter { $0 != i }.sorted { (km(i, $0), $0) < (km(i, $1), $1) }
            nearest.prefix(neighbors).forEach { add(i, $0) }
        }
        // Prim's algorithm: O(n²), fine for a few hundred sites.
        var inTree = [true] + Array(repeating: false, count: n - 1)
        var best = (0..<n).map { (km(0, $0), 0) }
        for _ in 1..<n {
            let next = (0..<n).filter { !inTree[$0] }.min { (best[$0].0, $0) < (best[$1].0, $1) }!
            inTree[next] = true
            add(next, best[next].1)
            for j in 0..<n where !inTree[j] && km(next, j) < best[j].0 { best[j] = (km(next, j), next) }
        }
        // Partial mesh: the shortest missing links first, each raising the mean degree by 2/n.
        if let degree, Double(2 * pairs.count) / Double(n) < degree {
            var candidates: [(Double, Int, Int)] = []
            for i in 0..<n { for j in (i + 1)..<n where !pairs.contains([i, j]) { candidates.append((km(i, j), i, j)) } }
            candidates.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
            for (_, i, j) in candidates {
                guard Double(2 * pairs.count) / Double(n) < degree else { break }
                add(i, j)
            }
        }
        var rng = RandomStream(seed: seed, stream: "generator.links")
        let possible = n * (n - 1) / 2
        var added = 0, tries = 0
        while added < extra, pairs.count < possible, tries < extra * 20 {
            tries += 1
            let i = Int(rng.next() % UInt64(n)), j = Int(rng.next() % UInt64(n))
            guard i != j, !pairs.contains([min(i, j), max(i, j)]) else { continue }
            add(i, j)
            added += 1
        }
        return pairs.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) }.map { ($0[0], $0[1]) }
    }

    /// The tier of each backbone pair, by `options.backboneCapacity`.
    static func backboneTiers(_ pairs: [(Int, Int)], cities: [City], options o: Options) -> [LinkTier] {
        switch o.backboneCapacity {
        case .uniform:
            return pairs.map { _ in o.backboneTier }
        case .distance:
            return pairs.map { a, b in
                let km = Geography.greatCircleKilometers(lat1: cities[a].latitude, lon1: cities[a].longitude,
                                                         lat2: cities[b].latitude, lon2: cities[b].longitude)
                return km >= 2000 ? .gbps2_5 : km >= 500 ? .gbps1 : .mbps100
            }
        case .population:
            // Sites are sorted by population, largest first: the index is the rank.
            let third = max(1, cities.count / 3)
            return pairs.map { a, b in
                let worst = max(a, b), best = min(a, b)
                return worst < third ? .gbps2_5 : (worst >= cities.count - third && best >= third ? .mbps100 : .gbps1)
            }
        case .mix:
            var rng = RandomStream(seed: o.seed, stream: "generator.tiers")
            let total = o.tierMix.reduce(0) { $0 + $1.weight }
            return pairs.map { _ in
                var u = rng.nextUnitDouble() * total
                for entry in o.tierMix {
                    u -= entry.weight
                    if u < 0 { return entry.tier }
                }
                return o.tierMix.last?.tier ?? o.backboneTier
            }
        }
    }

    /// Up to `count` items spread evenly over `items` (first, …, last).
    static func spread<T>(_ items: [T], count: Int) -> [T] {
        guard items.count > count else { return items }
        return (0..<count).map { items[$0 * (items.count - 1) / (count - 1)] }
    }
}
