import XCTest
import StoqEngine
@testable import StoqTopology

/// The files under topologies/ must always parse cleanly.
final class BundledTopologyTests: XCTestCase {
    private func bundled(_ name: String) -> String {
        repositoryRoot.appendingPathComponent("topologies/\(name)").path
    }

    func testQuickstart() throws {
        let t = try TopologyParser.load(path: bundled("quickstart.yaml"))
        XCTAssertTrue(t.warnings.isEmpty, "\(t.warnings)")
        XCTAssertEqual(t.duration, .seconds(10 as Int64))
        for site in ["fra", "par", "sin"] { XCTAssertNotNil(t.site(named: site)) }
        XCTAssertEqual(Set(t.sites.map(\.region)).count, 3, "three continents")
        XCTAssertEqual(Set(t.links.map(\.tier)), [.mbps100, .gbps1, .gbps2_5])
        XCTAssertEqual(t.nodes.filter { $0.role == .ca }.count, 1)
        // Every part of the system: certificates, transfers, content, probes, a failure.
        XCTAssertEqual(t.workloads.map(\.kind),
                       ["trustchain", "transfer", "transfer", "transfer", "publish", "update", "fetch", "probe", "probe"])
        XCTAssertEqual(t.faults.count, 1)
        XCTAssertTrue(t.links.contains { $0.lossRate > 0 }, "a lossy link, so probes lose some")
        XCTAssertNotNil(t.node(named: "client-fra-1"))
        let fraSin = t.links.first { Set([$0.from, $0.to]) == ["core-fra", "core-sin"] }!
        XCTAssertEqual(fraSin.latency.milliseconds, 77, accuracy: 1)
    }

    /// edge-1000.yaml and mixed-backbone-300.yaml are generator output; they
    /// must match what the generator makes today. STOQ_REGENERATE_TOPOLOGIES=1 rewrites them.
    func testGeneratedTopologiesAreCurrentGeneratorOutput() throws {
        var edge = TopologyGenerator.Options()
        edge.nodes = 1000
        edge.seed = 1
        edge.name = "edge-1000"
        var mixed = TopologyGenerator.Options()
        mixed.nodes = 300
        mixed.seed = 3
        mixed.backboneCapacity = .mix
        mixed.degree = 4
        mixed.name = "mixed-backbone-300"
        for (file, options) in [("edge-1000.yaml", edge), ("mixed-backbone-300.yaml", mixed)] {
            let expected = try TopologyGenerator(options: options).generate()
            let path = bundled(file)
            if ProcessInfo.processInfo.environment["STOQ_REGENERATE_TOPOLOGIES"] == "1" {
                try expected.write(toFile: path, atomically: true, encoding: .utf8)
            }
            XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), expected,
                           "\(file): regenerate with STOQ_REGENERATE_TOPOLOGIES=1 swift test --filter BundledTopologyTests")
            let t = try TopologyParser.load(path: path)
            XCTAssertEqual(t.nodes.count, options.nodes, file)
            XCTAssertTrue(t.warnings.isEmpty, "\(file): \(t.warnings)")
            XCTAssertGreaterThan(Set(t.sites.map(\.region)).count, 3, file)
        }
    }
}
