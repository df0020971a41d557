import Foundation

/// Turns a published graph into topology entries: each point of presence a
/// site (at its coordinates, in the region of the nearest catalog city) with
/// one core node, each edge a link between two cores. The entries are
/// ordinary located `ConfigMap`s, so the topology parser checks them like
/// lines of a topology file and its errors point into the graph file. Rules
/// are documented in docs/import.md.
public struct GraphImport {
    /// How link capacities are chosen.
    public enum TierSource: String, CaseIterable, Sendable {
        /// The file's capacity (the Zoo's LinkSpeedRaw) as an exact bandwidth;
        /// links without one get `defaultTier`.
        case capacity
        /// By length: ≥ 1,000 km 2.5gbps, ≥ 200 km 1gbps, shorter 100mbps.
        case distance
    }

    public var tierSource: TierSource = .capacity
    /// For links whose capacity the file does not give.
    public var defaultTier: LinkTier = .gbps2_5

    public init(tierSource: TierSource = .capacity) { self.tierSource = tierSource }

    public struct Entries {
        public var name: String?
        public var sites: [ConfigMap] = []
        public var nodes: [ConfigMap] = []
        public var links: [ConfigMap] = []
        public var warnings: [TopologyDiagnostic] = []
    }


    public func entries(of graph: ImportedGraph) throws -> Entries {
        var out = Entries(name: graph.name)
        var errors: [TopologyDiagnostic] = []
        var siteOfNode: [String: (site: String, latitude: Double, longitude: Double)] = [:]
        var usedNames: Set<String> = []
        let cities = (try? CityCatalog.all()) ?? []
        for n in graph.nodes {
            let what = "node \(n.label.map { "'\(excerpt($0))' " } ?? "")(id \(excerpt(n.id)))"
            guard siteOfNode[n.id] == nil else {
                errors.append(TopologyDiagnostic(at: n.location, "duplicate \(what) in the graph", hint: "every node needs its own id"))
                continue
            }
            guard let lat = n.latitude, let lon = n.longitude, (-90...90).contains(lat), (-180...180).contains(lon) else {
                errors.append(TopologyDiagnostic(at: n.location, "\(what) has no usable coordinates (Latitude/Longitude, or pos)",
                                                 hint: "add them to the graph file, or remove the node and its edges"))
                continue
            }
            let name = Self.uniqueSlug(n.label ?? "n\(n.id)", fallback: "n\(n.id)", used: &usedNames)
            let region = Self.nearest(latitude: lat, longitude: lon, in: cities)?.region ?? "europe"
            siteOfNode[n.id] = (name, lat, lon)
            out.sites.append(Self.map(n.location, ["name": name, "latitude": Self.decimal(lat), "longitude": Self.decimal(lon),
                                                   "region": region]))
            out.nodes.append(Self.map(n.location, ["name": "core-" + name, "site": name, "role": "core"]))
        }
        // Parallel edges of a multigraph become one link with their capacities added.
        var linkIndex: [String: Int] = [:]
        var capacities: [Double?] = []
        for e in graph.edges {
            guard let a = siteOfNode[e.source], let b = siteOfNode[e.target] else {
                let missing = siteOfNode[e.source] == nil ? e.source : e.target
                if !graph.nodes.contains(where: { $0.id == missing }) {
                    errors.append(TopologyDiagnostic(at: e.location, "edge \(excerpt(e.source))–\(excerpt(e.target)) names node id '\(excerpt(missing))', which the graph does not have"))
                }
                continue      // a node without coordinates was reported at the node
            }
            guard a.site != b.site else {
                out.warnings.append(TopologyDiagnostic(.warning, at: e.location, "edge \(excerpt(e.source))–\(excerpt(e.target)) loops back to its node; left out"))
                continue
            }
            let key = [a.site, b.site].sorted().joined(separator: " ")
            if let i = linkIndex[key] {
                capacities[i] = capacities[i].flatMap { c in e.capacity.map { c + $0 } }
                out.warnings.append(TopologyDiagnostic(.warning, at: e.location,
                                                       "parallel edge between '\(a.site)' and '\(b.site)' merged into one link\(capacities[i].map { " (capacities added: \(Int($0)) bps)" } ?? "")"))
                out.links[i] = link(e, from: a, to: b, capacity: capacities[i])
                continue
            }
            linkIndex[key] = out.links.count
            capacities.append(e.capacity)
            out.links.append(link(e, from: a, to: b, capacity: e.capacity))
        }
        if !errors.isEmpty { throw TopologyErrors(errors) }
        return out
    }

    private func link(_ e: ImportedGraph.Edge, from a: (site: String, latitude: Double, longitude: Double),
                      to b: (site: String, latitude: Double, longitude: Double), capacity: Double?) -> ConfigMap {
        var fields = ["from": "core-" + a.site, "to": "core-" + b.site]
        let km = e.distanceKilometers ?? Geography.greatCircleKilometers(lat1: a.latitude, lon1: a.longitude, lat2: b.latitude, lon2: b.longitude)
        switch tierSource {
        case .capacity:
            if let c = capacity, c >= 1 {
                fields["bandwidth"] = "\(Int(min(c, Double(Units.maximumBandwidth))))bps"
            } else {
                fields["tier"] = defaultTier.rawValue
            }
        case .distance:
            fields["tier"] = (km >= 1000 ? LinkTier.gbps2_5 : km >= 200 ? .gbps1 : .mbps100).rawValue
        }
        // A given fibre length is the route's own; without one, `auto` applies the topology's inflation.
        if let d = e.distanceKilometers, d >= 0, d.isFinite {
            fields["latency"] = "\(max(1, Int((d * Geography.fiberNanosecondsPerKilometer / 1000).rounded())))us"
        } else {
            fields["latency"] = "auto"
        }
        return Self.map(e.location, fields)
    }

    /// Scalars in a fixed key order, all located at the graph element.
    static func map(_ location: SourceLocation, _ fields: [String: String]) -> ConfigMap {
        let order = ["name", "site", "role", "latitude", "longitude", "region", "from", "to", "tier", "bandwidth", "latency"]
        let keys = fields.keys.sorted { (order.firstIndex(of: $0) ?? order.count, $0) < (order.firstIndex(of: $1) ?? order.count, $1) }
        return ConfigMap(entries: keys.map { ConfigMap.Entry(key: $0, keyLocation: location, value: .scalar(fields[$0]!, location)) },
                         location: location)
    }

    static func decimal(_ v: Double) -> String { String(format: "%.4f", v) }

    /// The generator's slug ("New York" → "new-york"), at most 60 characters, unique with -2, -3 ….
    static func uniqueSlug(_ label: String, fallback: String, used: inout Set<String>) -> String {
        var slug = String(TopologyGenerator.slug(label).prefix(60))
        if slug.hasSuffix("-") { slug.removeLast() }
        if slug.isEmpty { slug = fallback }
        var candidate = slug, k = 2
        while used.contains(candidate) { candidate = "\(slug)-\(k)"; k += 1 }
        used.insert(candidate)
        return candidate
    }

    static func nearest(latitude: Double, longitude: Double, in cities: [City]) -> City? {
        func km(_ c: City) -> Double { Geography.greatCircleKilometers(lat1: latitude, lon1: longitude, lat2: c.latitude, lon2: c.longitude) }
        return cities.min { km($0) < km($1) }
    }

    /// The entries as a topology file: what `stoqsim import` writes.
    public static func yaml(_ e: Entries, name: String, source: String) -> String {
        func line(_ m: ConfigMap) -> String {
            "  - {" + m.entries.map { entry -> String in
                guard case .scalar(let v, _) = entry.value else { return "" }
                return "\(entry.key): \(v)"
            }.joined(separator: ", ") + "}\n"
        }
        var text = "# Imported by `stoqsim import` from \(source).\n# Each point of presence is a site with one core node; rules in docs/import.md.\n"
        text += "name: \(name)\n"
        // The default /40 holds 256 sites of /48; a /32 holds 65,536.
        if e.sites.count > 256 { text += "addressing: {prefix: \"fd00:5354::/32\"}\n" }
        text += "\nsites:\n" + e.sites.map(line).joined()
        text += "\nnodes:\n" + e.nodes.map(line).joined()
        if !e.links.isEmpty { text += "\nlinks:\n" + e.links.map(line).joined() }
        return text
    }
}
