import StoqEngine
import StoqTopology
import XCTest
@testable import TrustChain

final class NodeDirectoryTests: XCTestCase {
    /// Topology nodes become NAME.stoq with their address, the names StoqScenario's endpoints dial.
    func testDirectoryFromATopology() throws {
        let yaml = """
        name: tc
        sites:
          - {name: fra, city: Frankfurt}
        nodes:
          - {name: core-fra, site: fra, role: core}
          - {name: edge, site: fra, role: edge, count: 2, uplink: {to: core-fra, tier: 1gbps}}
        """
        let topology = try TopologyParser.parse(yaml: yaml, file: "tc.yaml")
        let directory = NodeDirectory(topology: topology)
        XCTAssertEqual(Set(directory.nodes.keys), ["core-fra", "edge-1", "edge-2"])
        let edge = try XCTUnwrap(directory.nodes["edge-2"])
        XCTAssertEqual(edge.dnsName, "edge-2.stoq")
        XCTAssertEqual(edge.addresses, [try XCTUnwrap(topology.node(named: "edge-2")).address])
    }
}
