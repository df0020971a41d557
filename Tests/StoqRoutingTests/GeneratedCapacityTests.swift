import Foundation
import StoqRouting
import StoqTopology
import XCTest

/// On a generated topology with one backbone tier every strategy agrees; with
/// mixed backbone capacities latency-, capacity- and load-aware strategies
/// choose different routes, so they can be told apart.
final class GeneratedCapacityTests: XCTestCase {
    func generated(_ capacity: TopologyGenerator.BackboneCapacity) throws -> Topology {
        var o = TopologyGenerator.Options()
        o.nodes = 300
        o.seed = 3
        o.backboneCapacity = capacity
        o.degree = 4
        o.probes = false
        return try TopologyParser.parse(yaml: TopologyGenerator(options: o).generate(), file: "generated.yaml")
    }

    /// The route between every pair of cores under `strategy`, as node-index
    /// paths: the backbone is where strategies can differ.
    func routes(_ topology: Topology, _ strategy: String) throws -> [[Int32]] {
        var t = topology
        t.routing.strategy = strategy
        let graph = RoutingGraph(topology: t)
        let policy = try RoutingPolicy(config: t.routing, graph: graph)
        let cores = t.nodes.filter { $0.role == .core }.compactMap { graph.index(ofNode: $0.name) }
        return cores.flatMap { s in cores.filter { $0 != s }.map { d in policy.route(from: s, to: d, in: graph)?.nodes ?? [] } }
    }

    func testMixedBackboneCapacitiesMakeStrategiesChooseDifferently() throws {
        let uniform = try generated(.uniform)
        XCTAssertEqual(Set(uniform.links.filter { $0.from.hasPrefix("core-") && $0.to.hasPrefix("core-") }.map(\.bandwidthBitsPerSecond)).count, 1)
        XCTAssertEqual(try routes(uniform, "widest"), try routes(uniform, "latency"), "one tier: the widest path is the shortest")

        for capacity in [TopologyGenerator.BackboneCapacity.mix, .distance, .population] {
            let t = try generated(capacity)
            let tiers = Set(t.links.filter { $0.from.hasPrefix("core-") && $0.to.hasPrefix("core-") }.map(\.bandwidthBitsPerSecond))
            XCTAssertGreaterThan(tiers.count, 1, "\(capacity): backbones of several capacities")
            let latency = try routes(t, "latency"), widest = try routes(t, "widest"), weighted = try routes(t, "weighted")
            let differ = zip(latency, widest).filter { $0 != $1 }.count
            XCTAssertGreaterThan(differ, 0, "\(capacity): widest takes other routes than latency")
            XCTAssertNotEqual(weighted, latency, "\(capacity) (\(t.sites.count) sites): weighted (latency + bandwidth + …) differs from latency alone")
        }
    }

    func testDegreeTargetMakesAPartialMesh() throws {
        var o = TopologyGenerator.Options()
        o.nodes = 200
        o.seed = 5
        o.neighbors = 1
        o.probes = false
        func meanDegree(_ degree: Double?) throws -> Double {
            o.degree = degree
            let t = try TopologyParser.parse(yaml: TopologyGenerator(options: o).generate(), file: "g.yaml")
            let backbone = t.links.filter { $0.from.hasPrefix("core-") && $0.to.hasPrefix("core-") }.count
            return 2 * Double(backbone) / Double(t.sites.count)
        }
        let sparse = try meanDegree(nil)
        let meshed = try meanDegree(5)
        XCTAssertLessThan(sparse, 3)
        XCTAssertGreaterThanOrEqual(meshed, 5)
        XCTAssertLessThan(meshed, 5.3, "links are added only until the target is met")
    }
}
