import XCTest
import StoqEngine
@testable import StoqTopology

final class GeneratorTests: XCTestCase {
    private func options(_ nodes: Int, seed: UInt64 = 7, _ change: (inout TopologyGenerator.Options) -> Void = { _ in }) -> TopologyGenerator.Options {
        var o = TopologyGenerator.Options()
        o.nodes = nodes
        o.seed = seed
        change(&o)
        return o
    }

    func testDeterministicForASeed() throws {
        let a = try TopologyGenerator(options: options(300)).generate()
        let b = try TopologyGenerator(options: options(300)).generate()
        XCTAssertEqual(a, b)
        let c = try TopologyGenerator(options: options(300, seed: 8)).generate()
        XCTAssertNotEqual(a, c, "another seed picks other cities")
    }

    func testRoundTripsThroughTheParser() throws {
        for n in [4, 60, 500] {
            let text = try TopologyGenerator(options: options(n) { $0.extraLinks = 3 }).generate()
            let t = try TopologyParser.parse(yaml: text, file: "generated.yaml")
            XCTAssertEqual(t.nodes.count, n, "exactly the requested node count")
            XCTAssertTrue(t.warnings.isEmpty, "connected, all regions known: \(t.warnings)")
            XCTAssertEqual(t.nodes.filter { $0.role == .ca }.count, 1)
            XCTAssertEqual(t.nodes.filter { $0.role == .core }.count, t.sites.count)
            XCTAssertEqual(t.seed, 7)
            let tiers = Set(t.links.map(\.tier))
            XCTAssertTrue(tiers.isSubset(of: [.mbps100, .gbps1, .gbps2_5]))
            if t.sites.count > 1 { XCTAssertTrue(tiers.contains(.gbps2_5)) }
            XCTAssertEqual(t.workloads.first?.kind, t.sites.count > 1 ? "probe" : nil)
        }
    }

    func testRegionsFilterAndStructureOptions() throws {
        let o = options(200) {
            $0.regions = ["europe", "africa"]
            $0.sites = 10
            $0.edgesPerSite = 3
            $0.neighbors = 1
            $0.accessTier = .gbps1
            $0.probes = false
        }
        let t = try TopologyParser.parse(yaml: TopologyGenerator(options: o).generate(), file: "g.yaml")
        XCTAssertEqual(t.sites.count, 10)
        XCTAssertTrue(t.sites.allSatisfy { ["europe", "africa"].contains($0.region) })
        XCTAssertEqual(t.nodes.filter { $0.role == .edge }.count, 30)
        XCTAssertTrue(t.links.allSatisfy { $0.tier != .mbps100 })
        XCTAssertTrue(t.workloads.isEmpty)
        XCTAssertTrue(t.warnings.isEmpty)
        XCTAssertEqual(o.commandLine,
                       "stoqsim generate --nodes 200 --seed 7 --regions europe,africa --sites 10 --edges-per-site 3 --neighbors 1 --access-tier 1gbps --no-probes")
    }

    func testManySitesSwitchToAWiderPrefix() throws {
        let text = try TopologyGenerator(options: options(1000) { $0.sites = 300; $0.edgesPerSite = 1; $0.neighbors = 1 }).generate()
        XCTAssertTrue(text.contains("addressing: {prefix: 'fd00:5354::/32'}"))
        let t = try TopologyParser.parse(yaml: text, file: "g.yaml")
        XCTAssertEqual(t.sites.count, 300)
        XCTAssertEqual(Set(t.nodes.map(\.address)).count, 1000)
    }

    func testBadOptions() {
        XCTAssertThrowsError(try TopologyGenerator(options: options(100) { $0.regions = ["eurpoe"] }).generate()) {
            XCTAssertEqual($0 as? TopologyGenerator.GeneratorError, .unknownRegion("eurpoe", suggestion: "europe"))
        }
        XCTAssertThrowsError(try TopologyGenerator(options: options(2)).generate()) {
            XCTAssertTrue("\($0)".contains("too small"), "\($0)")
        }
        XCTAssertThrowsError(try TopologyGenerator(options: options(100) { $0.regions = ["oceania"]; $0.sites = 500 }).generate())
    }

    func testSlugs() {
        XCTAssertEqual(TopologyGenerator.slug("São Paulo"), "sao-paulo")
        XCTAssertEqual(TopologyGenerator.slug("Port-au-Prince"), "port-au-prince")
        XCTAssertEqual(TopologyGenerator.slug("Düsseldorf"), "dusseldorf")
    }
}
