import XCTest
import StoqEngine
@testable import StoqTopology

final class ParserTests: XCTestCase {
    func testMinimalFixtureWithDefaults() throws {
        let t = try TopologyParser.load(path: fixture("minimal"))
        XCTAssertEqual(t.name, "minimal")
        XCTAssertEqual(t.seed, 1)
        XCTAssertEqual(t.duration, .seconds(5 as Int64))
        XCTAssertEqual(t.routeInflation, 1.5)
        XCTAssertEqual(t.routing.strategy, "latency")
        XCTAssertEqual(t.nodes.map(\.name), ["core-fra", "core-par", "client-1", "client-2"])
        XCTAssertEqual(t.site(named: "par")?.region, "europe")
        XCTAssertEqual(t.links.count, 3)
        XCTAssertTrue(t.warnings.isEmpty, "\(t.warnings)")
        // Node locations point at the (template) line, 1-based.
        XCTAssertEqual(t.node(named: "client-2")?.location.line, 12)
        XCTAssertEqual(t.node(named: "core-fra")?.location.line, 10)
        XCTAssertTrue(t.node(named: "core-fra")!.location.file.hasSuffix("minimal.yaml"))
    }

    func testNameDefaultsToFileStem() throws {
        let t = try TopologyParser.parse(yaml: baseSites, file: "/x/my-net.yaml")
        XCTAssertEqual(t.name, "my-net")
    }

    func testAddressingCarvesASlash48PerSite() throws {
        let t = try parse(baseSites + """
        addressing: {prefix: "fd12:3456:7800::/40"}
        """)
        XCTAssertEqual(t.sites.map(\.prefix.description), ["fd12:3456:7800::/48", "fd12:3456:7801::/48"])
        XCTAssertEqual(t.node(named: "core-fra")?.address.description, "fd12:3456:7800::1")
        XCTAssertEqual(t.node(named: "edge-fra")?.address.description, "fd12:3456:7800::2")
        XCTAssertEqual(t.node(named: "core-sin")?.address.description, "fd12:3456:7801::1")
    }

    func testDefaultPrefixAndExplicitAddresses() throws {
        let t = try parse("""
        sites:
          - {name: a, latitude: 0, longitude: 0, region: africa}
          - {name: b, latitude: 1, longitude: 1, region: africa, prefix: "2001:db8:1::/56"}
        nodes:
          - {name: x, site: a, role: core}
          - {name: y, site: b, role: core}
          - {name: z, site: b, role: client, address: "2001:db8::99", uplink: {to: y, tier: 1gbps}}
        links:
          - {from: x, to: y, bandwidth: 40gbps}
        """)
        XCTAssertEqual(t.node(named: "x")?.address.description, "fd00:5354:4f00::1")
        XCTAssertEqual(t.node(named: "y")?.address.description, "2001:db8:1::1")
        XCTAssertEqual(t.node(named: "z")?.address.description, "2001:db8::99")
        XCTAssertEqual(t.links.first { $0.from == "x" }?.bandwidthBitsPerSecond, 40_000_000_000)
    }

    func testAutoLatencyAndQueues() throws {
        let t = try parse(baseSites + """
        links:
          - {from: edge-fra, to: core-sin, tier: 1gbps, latency: 80ms, loss: 1%, queue: 1MiB}
        """)
        let backbone = t.links.first { $0.from == "core-fra" && $0.to == "core-sin" }!
        let km = Geography.greatCircleKilometers(lat1: 50.11, lon1: 8.68, lat2: 1.35, lon2: 103.82)
        XCTAssertTrue(backbone.latencyIsAuto)
        XCTAssertEqual(backbone.latency, Geography.fiberDelay(kilometers: km, inflation: 1.5))
        XCTAssertEqual(backbone.latency.milliseconds, 77, accuracy: 1)
        XCTAssertEqual(backbone.tier, .gbps2_5)
        // Default queue: one round-trip BDP, capped.
        XCTAssertEqual(backbone.queueBytes, TopologyParser.maximumDefaultQueueBytes)
        let uplink = t.links.first { $0.from == "edge-fra" && $0.to == "core-fra" }!
        XCTAssertEqual(uplink.latency, .microseconds(50 as Int64), "same site: the minimum")
        XCTAssertEqual(uplink.queueBytes, TopologyParser.minimumDefaultQueueBytes)
        let manual = t.links.first { $0.from == "edge-fra" && $0.to == "core-sin" }!
        XCTAssertFalse(manual.latencyIsAuto)
        XCTAssertEqual(manual.latency, .milliseconds(80))
        XCTAssertEqual(manual.lossRate, 0.01)
        XCTAssertEqual(manual.queueBytes, 1024 * 1024)
    }

    func testLatencySettings() throws {
        let t = try parse(baseSites + "latency: {inflation: 1.0, minimum: 10us}\n")
        XCTAssertEqual(t.routeInflation, 1.0)
        XCTAssertEqual(t.links.first { $0.from == "edge-fra" }?.latency, .microseconds(10 as Int64))
    }

    func testBackboneShapesUseFirstCoreElseEdge() throws {
        let t = try parse("""
        sites:
          - {name: a, city: Paris}
          - {name: b, city: Berlin}
          - {name: c, city: Madrid}
          - {name: d, city: Rome}
        nodes:
          - {name: a-edge, site: a, role: edge}
          - {name: a-core, site: a, role: core}
          - {name: b-edge, site: b, role: edge}
          - {name: c-core, site: c, role: core}
          - {name: d-core, site: d, role: core}
        backbones:
          - {ring: [a, b, c], tier: 1gbps}
          - {chain: [c, d], bandwidth: 10gbps}
        """)
        let pairs = t.links.map { "\($0.from)-\($0.to)" }
        XCTAssertEqual(pairs, ["a-core-b-edge", "b-edge-c-core", "c-core-a-core", "c-core-d-core"])
        let mesh = try parse(baseSites.replacingOccurrences(of: "{sites: [fra, sin]", with: "{sites: [sin, fra]"))
        XCTAssertEqual(mesh.links.last?.from, "core-sin")
    }

    func testFaultsAndWorkloads() throws {
        let t = try parse(baseSites + """
        duration: 30s
        faults:
          - {link: [core-sin, core-fra], down: 10s, up: 15s}
          - {node: edge-fra, down: 20s}
        workloads:
          - {kind: probe, from: edge-fra, to: [core-sin], interval: 100ms, size: 64, anything: goes}
        """)
        XCTAssertEqual(t.faults.count, 2)
        XCTAssertEqual(t.faults[0].target, .link("core-sin", "core-fra"))
        XCTAssertEqual(t.faults[0].downAt, .seconds(10 as Int64))
        XCTAssertEqual(t.faults[0].upAt, .seconds(15 as Int64))
        XCTAssertEqual(t.faults[1].target, .node("edge-fra"))
        XCTAssertNil(t.faults[1].upAt)
        XCTAssertEqual(t.workloads.count, 1)
        XCTAssertEqual(t.workloads[0].kind, "probe")
        XCTAssertEqual(t.workloads[0].location.line, 15)
        XCTAssertEqual(try t.workloads[0].fields.duration("interval"), .milliseconds(100))
        XCTAssertEqual(try t.workloads[0].fields.stringList("to"), ["core-sin"])
    }

    func testUplinkListForMultiHoming() throws {
        let multi = try parse("""
        sites: [{name: s, city: Oslo}]
        nodes:
          - {name: r1, site: s, role: core}
          - {name: r2, site: s, role: core}
          - name: c
            site: s
            role: client
            count: 2
            uplink:
              - {to: r1, tier: 100mbps}
              - {to: r2, tier: 100mbps}
        """)
        XCTAssertEqual(multi.links.map { "\($0.from)>\($0.to)" }, ["c-1>r1", "c-2>r1", "c-1>r2", "c-2>r2"])
        XCTAssertTrue(multi.warnings.isEmpty)
    }

    func testDisconnectedGraphIsAWarningListingComponents() throws {
        let t = try parse("""
        sites: [{name: s, city: Oslo}, {name: t, city: Lima}]
        nodes:
          - {name: r1, site: s, role: core}
          - {name: c, site: s, role: client, count: 6, uplink: {to: r1, tier: 100mbps}}
          - {name: island, site: t, role: core}
          - {name: rock, site: t, role: edge}
        """)
        XCTAssertEqual(t.warnings.count, 1)
        let w = t.warnings[0]
        XCTAssertEqual(w.severity, .warning)
        XCTAssertEqual(w.location.line, 5)
        XCTAssertTrue(w.message.contains("3 disconnected parts"), w.message)
        XCTAssertTrue(w.message.contains("{r1, c-1, c-2, c-3, … 3 more}"), w.message)
        XCTAssertTrue(w.message.contains("{island}") && w.message.contains("{rock}"), w.message)
        XCTAssertTrue(w.description.contains("warning:"))
    }

    func testUnknownRegionIsAWarning() throws {
        let t = try parse("""
        sites: [{name: s, latitude: 1, longitude: 2, region: eurpoe}]
        nodes: [{name: n, site: s, role: core}]
        """)
        XCTAssertEqual(t.warnings.count, 1)
        XCTAssertTrue(t.warnings[0].hint?.contains("did you mean 'europe'") == true)
    }
}
