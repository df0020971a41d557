import ArgumentParser
import Foundation
import StoqEngine
import StoqTopology

extension LinkTier: ExpressibleByArgument {}
extension TopologyGenerator.BackboneCapacity: ExpressibleByArgument {}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a geographic topology of N nodes over real world cities.")

    @Option(help: "Total number of nodes.") var nodes: Int = 100
    @Option(help: "Comma-separated regions to draw cities from (default: all). Regions: \(CityCatalog.regions.joined(separator: ", ")).")
    var regions: String?
    @Option(help: "Seed for city choice and extra links (also written as the file's seed).") var seed: UInt64 = 1
    @Option(help: "Number of sites (cities); default about one per 25 nodes.") var sites: Int?
    @Option(help: "Edge nodes per site.") var edgesPerSite: Int = 2
    @Option(help: "Backbone links from each site to its K nearest sites.") var neighbors: Int = 2
    @Option(help: "Random extra backbone links between distant sites.") var extraLinks: Int = 0
    @Option(help: "Tier of site-to-site links (with --backbone-capacity uniform).") var backboneTier: LinkTier = .gbps2_5
    @Option(help: "Backbone capacities: uniform (--backbone-tier), distance (longer links faster), population (bigger cities faster) or mix (--tier-mix).")
    var backboneCapacity: TopologyGenerator.BackboneCapacity = .uniform
    @Option(help: "Tier draw for --backbone-capacity mix, e.g. 100mbps:0.3,1gbps:0.4,2.5gbps:0.3.") var tierMix: String?
    @Option(help: "Add the shortest missing backbone links until the mean site degree reaches D (a partial mesh).") var degree: Double?
    @Option(help: "Tier of edge-to-core links.") var edgeTier: LinkTier = .gbps1
    @Option(help: "Tier of client-to-edge links.") var accessTier: LinkTier = .mbps100
    @Option(help: "Simulated duration, e.g. 30s.") var duration: String = "30s"
    @Option(help: "Topology name (default generated-N).") var name: String?
    @Flag(help: "Do not add the cross-site probe workload.") var noProbes = false
    @Option(name: .shortAndLong, help: "Output file (default: standard output).") var out: String?

    func run() throws {
        var o = TopologyGenerator.Options()
        o.nodes = nodes
        o.regions = regions.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        o.seed = seed
        o.sites = sites
        o.edgesPerSite = edgesPerSite
        o.neighbors = neighbors
        o.extraLinks = extraLinks
        o.backboneTier = backboneTier
        o.backboneCapacity = backboneCapacity
        o.degree = degree
        if let tierMix {
            o.tierMix = try tierMix.split(separator: ",").map { entry in
                let parts = entry.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let tier = LinkTier(rawValue: parts[0].lowercased()), let w = Double(parts[1]) else {
                    throw ValidationError("--tier-mix takes TIER:WEIGHT,… with tiers \(LinkTier.allCases.map(\.rawValue).joined(separator: ", ")); got '\(entry)'")
                }
                return (tier, w)
            }
        }
        o.edgeTier = edgeTier
        o.accessTier = accessTier
        guard let d = Units.parseDuration(duration), d > .zero else {
            throw ValidationError("--duration must be a duration with a unit, e.g. 30s; got '\(duration)'")
        }
        o.duration = d
        o.name = name
        o.probes = !noProbes
        let yaml: String
        do { yaml = try TopologyGenerator(options: o).generate() } catch {
            throw ValidationError("\(error)")
        }
        if let out {
            try yaml.write(toFile: out, atomically: true, encoding: .utf8)
            printError("wrote \(out) (\(nodes) nodes)")
        } else {
            print(yaml, terminator: "")
        }
    }
}
