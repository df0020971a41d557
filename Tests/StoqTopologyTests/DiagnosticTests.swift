import XCTest
@testable import StoqTopology

/// One test per error kind: the line it points at and what it says.
/// `baseSites` is lines 1–9, so appended sections start at line 10.
final class DiagnosticTests: XCTestCase {
    func testYAMLSyntaxErrorFromFixture() throws {
        XCTAssertThrowsError(try TopologyParser.load(path: fixture("syntax-error"))) { error in
            let d = (error as! TopologyErrors).diagnostics
            XCTAssertEqual(d.count, 1)
            XCTAssertEqual(d[0].location.line, 6)
            XCTAssertTrue(d[0].message.hasPrefix("YAML syntax error"), d[0].message)
            XCTAssertTrue(d[0].location.file.hasSuffix("syntax-error.yaml"))
        }
    }

    func testTabIndentationHint() {
        assertError("sites:\n\t- {name: a}\n", line: 2, "YAML syntax error", hint: "tab")
    }

    func testMissingFileAndEmptyFile() {
        XCTAssertThrowsError(try TopologyParser.load(path: "/nonexistent/x.yaml")) {
            XCTAssertTrue("\($0)".contains("cannot read topology file"))
        }
        assertError("", line: 1, "empty")
        assertError("- a\n- b\n", line: 1, "top level must be a mapping")
    }

    func testUnknownFieldWithSuggestion() {
        assertError(baseSites + "nodez: []\n", line: 10,
                    "unknown field 'nodez' in the top level", hint: "did you mean 'nodes'?")
        assertError(baseSites.replacingOccurrences(of: "role: edge,", with: "rol: edge, role: edge,"), line: 7,
                    "unknown field 'rol' in node", hint: "did you mean 'role'?")
        assertError(baseSites + "links: [{from: edge-fra, to: core-sin, tier: 1gbps, los: 0.1}]\n", line: 10,
                    "unknown field 'los' in link", hint: "did you mean 'loss'?")
    }

    func testDuplicateYAMLKey() {
        assertError(baseSites + "duration: 5s\nduration: 6s\n", line: 11, "duplicate key 'duration' (first given at line 10)")
    }

    func testMissingRequiredFields() {
        assertError(baseSites.replacingOccurrences(of: "role: edge, ", with: ""), line: 7, "missing field 'role' in node 'edge-fra'")
        assertError(baseSites.replacingOccurrences(of: "tier: 1gbps", with: "latency: 1ms"), line: 7, "missing field 'tier' in uplink", hint: "bandwidth")
        assertError(baseSites + "faults: [{node: core-fra}]\n", line: 10, "missing field 'down' in fault")
        assertError(baseSites + "workloads: [{from: a}]\n", line: 10, "missing field 'kind' in workload")
        assertError("sites: [{name: a, city: Oslo}]\n", line: 1, "missing field 'nodes' at the top level")
        assertError("sites: [{name: a, longitude: 3, region: europe}]\nnodes: [{name: n, site: a, role: core}]\n", line: 1,
                    "missing field 'latitude' in site 'a'", hint: "city")
    }

    func testUnknownSiteAndCity() {
        assertError("""
        sites: [{name: fra, city: Frankfurt}]
        nodes:
          - {name: a, site: fra, role: core}
          - {name: b, site: frx, role: edge, uplink: {to: a, tier: 1gbps}}
        """, line: 4, "unknown site 'frx' in node 'b'", hint: "did you mean 'fra'?")
    }

    func testUnknownNodesInEveryPlace() {
        assertError(baseSites + "links: [{from: core-fra, to: core-sni, tier: 1gbps}]\n", line: 10,
                    "unknown node 'core-sni' in link", hint: "did you mean 'core-sin'?")
        assertError(baseSites.replacingOccurrences(of: "to: core-fra", with: "to: core-frx"), line: 7,
                    "unknown node 'core-frx' in uplink of node 'edge-fra'")
        assertError(baseSites + "faults: [{node: edgefra, down: 1s}]\n", line: 10, "unknown node 'edgefra' in fault")
        assertError(baseSites + "faults: [{link: [edge-fra, core-sin], down: 1s}]\n", line: 10, "no link between 'edge-fra' and 'core-sin'")
        // A template name: say what the stamped names are.
        assertError(baseSites.replacingOccurrences(of: "backbones:", with: "  - {name: c, site: fra, role: client, count: 2, uplink: {to: edge-fra, tier: 100mbps}}\nbackbones:") +
                    "links: [{from: c, to: core-sin, tier: 1gbps}]\n",
                    line: 11, "unknown node 'c' in link", hint: "c-1 … c-2")
    }

    func testDuplicateNames() {
        assertError(baseSites.replacingOccurrences(of: "  - {name: sin, city: Singapore}", with: "  - {name: sin, city: Singapore}\n  - {name: fra, city: Paris}"),
                    line: 4, "duplicate site name 'fra' (first defined at line 2)")
        assertError("""
        sites: [{name: fra, city: Frankfurt}]
        nodes:
          - {name: a, site: fra, role: core}
          - {name: a, site: fra, role: edge}
        """, line: 4, "duplicate node name 'a'; first defined at line 3")
        assertError("""
        sites: [{name: fra, city: Frankfurt}]
        nodes:
          - {name: c-2, site: fra, role: core}
          - {name: c, site: fra, role: client, count: 3, uplink: {to: c-2, tier: 1gbps}}
        """, line: 4, "duplicate node name 'c-2' (made by 'count' on 'c'); first defined at line 3")
    }

    func testSelfLinkAndDuplicateLink() {
        assertError(baseSites + "links: [{from: core-fra, to: core-fra, tier: 1gbps}]\n", line: 10, "connects 'core-fra' to itself")
        assertError(baseSites + "links:\n  - {from: core-sin, to: core-fra, tier: 1gbps}\n", line: 11,
                    "duplicate link between 'core-sin' and 'core-fra' (first defined at line 9)")
    }

    func testBadNumbersAndUnits() {
        assertError(baseSites + "links: [{from: edge-fra, to: core-sin, tier: 1gbps, latency: 10 parsecs}]\n", line: 10,
                    "'latency' must be 'auto' or a duration; got '10 parsecs'")
        assertError(baseSites.replacingOccurrences(of: "tier: 2.5gbps", with: "tier: 3gbps"), line: 9,
                    "unknown tier '3gbps'", hint: "bandwidth: 3gbps")
        assertError(baseSites.replacingOccurrences(of: "tier: 2.5gbps", with: "bandwidth: 3 furlongs"), line: 9, "'bandwidth' must be a bandwidth")
        assertError(baseSites.replacingOccurrences(of: "tier: 2.5gbps", with: "tier: 1gbps, bandwidth: 2gbps"), line: 9, "either 'tier' or 'bandwidth'")
        assertError(baseSites + "links: [{from: edge-fra, to: core-sin, tier: 1gbps, queue: lots}]\n", line: 10, "'queue' must be a size in bytes")
        assertError(baseSites + "seed: -4\n", line: 10, "'seed' must be a whole number")
        assertError(baseSites + "latency: {inflation: 0.5}\n", line: 10, "'inflation' must be between 1 and 10")
    }

    func testCoordinatesOutOfRange() {
        assertError("sites: [{name: a, latitude: 91, longitude: 0, region: europe}]\nnodes: [{name: n, site: a, role: core}]\n",
                    line: 1, "latitude 91.0 is out of range", hint: "between -90 and 90")
        assertError("sites:\n  - {name: a, latitude: 1, longitude: -180.5, region: europe}\nnodes: [{name: n, site: a, role: core}]\n",
                    line: 2, "longitude -180.5 is out of range")
    }

    func testIPv4IsRejectedEverywhere() {
        assertError(baseSites.replacingOccurrences(of: "fra, role: core}", with: "fra, role: core, address: 192.0.2.1}"), line: 5,
                    "'192.0.2.1' is an IPv4 address; STOQ is IPv6-only")
        assertError(baseSites + "addressing: {prefix: 10.0.0.0/8}\n", line: 10, "is an IPv4 address")
        assertError(baseSites.replacingOccurrences(of: "city: Frankfurt}", with: "city: Frankfurt, prefix: 10.1.0.0/16}"), line: 2,
                    "bad site prefix")
        assertError(baseSites.replacingOccurrences(of: "fra, role: core}", with: "fra, role: core, address: \"::ffff:192.0.2.1\"}"), line: 5,
                    "IPv4-mapped")
        assertError(baseSites + "addressing: {prefix: \"fd00::\"}\n", line: 10, "has no prefix length")
    }

    func testDuplicateAddresses() {
        assertError(baseSites.replacingOccurrences(of: "role: core}", with: "role: core, address: \"fd00::1\"}"), line: 6,
                    "duplicate address fd00::1: node 'core-fra' (line 5) has it too")
        // An explicit address equal to another node's automatic one.
        assertError(baseSites.replacingOccurrences(of: "{name: core-sin, site: sin, role: core}",
                                                   with: "{name: core-sin, site: sin, role: core, address: \"fd00:5354:4f00::2\"}"),
                    line: 6, "also the automatic address of node 'edge-fra'")
    }

    func testLossOutOfRange() {
        assertError(baseSites + "links: [{from: edge-fra, to: core-sin, tier: 1gbps, loss: 1.5}]\n", line: 10,
                    "'loss' must be a probability between 0 and 1")
        assertError(baseSites + "links: [{from: edge-fra, to: core-sin, tier: 1gbps, loss: -0.1}]\n", line: 10, "probability")
    }

    func testCountMustBePositive() {
        for bad in ["0", "-3"] {
            assertError(baseSites.replacingOccurrences(of: "role: edge,", with: "role: edge, count: \(bad),"), line: 7,
                        "'count' must be at least 1; got \(bad)")
        }
        assertError(baseSites.replacingOccurrences(of: "role: edge,", with: "role: edge, count: many,"), line: 7, "'count' must be a whole number")
    }

    func testBadDurations() {
        assertError(baseSites + "duration: 10 fortnights\n", line: 10, "'duration' must be a duration with a unit")
        assertError(baseSites + "duration: 0s\n", line: 10, "'duration' must be longer than zero")
        assertError(baseSites + "faults: [{node: core-fra, down: soon}]\n", line: 10, "'down' must be a duration")
        assertError(baseSites + "faults: [{node: core-fra, down: 5s, up: 2s}]\n", line: 10, "not after going 'down'")
    }

    func testFaultAfterDuration() {
        assertError(baseSites + "duration: 10s\nfaults:\n  - {link: [core-fra, core-sin], down: 5s, up: 12s}\n", line: 12,
                    "fault 'up' at 12s is after the end of the run (duration 10s)", hint: "raise the top-level 'duration'")
        assertError(baseSites + "faults: [{node: core-fra, down: 31s}]\n", line: 10, "after the end of the run (duration 30s)")
    }

    func testBackboneProblems() {
        assertError(baseSites + "  - {sites: [fra, sni], tier: 1gbps}\n", line: 10, "unknown site 'sni' in backbone", hint: "did you mean 'sin'?")
        assertError(baseSites + "  - {chain: [fra, fra], tier: 1gbps}\n", line: 10, "listed twice")
        assertError(baseSites + "  - {sites: [fra], chain: [fra, sin], tier: 1gbps}\n", line: 10, "not several")
        assertError("""
        sites: [{name: a, city: Oslo}, {name: b, city: Lima}]
        nodes:
          - {name: n, site: a, role: core}
          - {name: m, site: b, role: client}
        backbones: [{sites: [a, b], tier: 1gbps}]
        """, line: 5, "site 'b' has no core or edge node")
    }

    func testOtherProblems() {
        assertError(baseSites.replacingOccurrences(of: "role: edge,", with: "role: router,"), line: 7,
                    "unknown role 'router'", hint: "roles: edge, core, client, ca")
        assertError(baseSites.replacingOccurrences(of: "name: edge-fra", with: "name: \"edge fra\""), line: 7, "invalid node name 'edge fra'")
        assertError(baseSites.replacingOccurrences(of: "city: Singapore", with: "city: Singapour"), line: 3,
                    "unknown city 'Singapour'", hint: "did you mean 'Singapore'?")
        assertError(baseSites.replacingOccurrences(of: "role: edge,", with: "role: edge, count: 2, address: \"fd00::5\","), line: 7,
                    "'address' cannot be combined with 'count'")
        assertError(baseSites + "links: 5\n", line: 10, "'links' must be a list, not a single value")
    }

    func testTooManySitesForThePrefix() {
        let sites = (0..<3).map { "  - {name: s\($0), latitude: 0, longitude: \($0), region: europe}" }.joined(separator: "\n")
        let d = diagnostics("addressing: {prefix: \"fd00::/47\"}\nsites:\n\(sites)\nnodes: [{name: n, site: s0, role: core}]\n")
        XCTAssertEqual(d.count, 1)
        XCTAssertEqual(d.first?.location.line, 5)
        XCTAssertTrue(d.first?.message.contains("holds 2 sites of /48, and 3 sites need one") == true, "\(d)")
    }

    /// Independent mistakes are all reported, in line order, from one parse.
    func testAllErrorsAtOnce() {
        XCTAssertThrowsError(try TopologyParser.load(path: fixture("many-errors"))) { error in
            let d = (error as! TopologyErrors).diagnostics
            XCTAssertEqual(d.map(\.location.line), [6, 8, 9, 9, 12, 13, 15], "\(error)")
            let text = "\(error)"
            for part in ["latitude 95.0 is out of range", "IPv4", "unknown field 'rol'", "missing field 'role'",
                         "unknown tier '3gbps'", "to itself", "after the end of the run"] {
                XCTAssertTrue(text.contains(part), "missing '\(part)' in:\n\(text)")
            }
            XCTAssertTrue(text.contains("many-errors.yaml:6:"), text)
            XCTAssertTrue(text.contains("    hint: "), text)
        }
    }
}

final class DiagnosticTextTests: XCTestCase {
    func testEmptyRequiredValue() {
        assertError(baseSites.replacingOccurrences(of: "site: fra, role: edge", with: "site: , role: edge"), line: 7, "'site' in node 'edge-fra' has no value")
    }

    /// What a person sees: file:line:column, severity, message, hint.
    func testPrintedForm() {
        let d = diagnostics(baseSites + "links: [{from: core-fra, to: core-sni, tier: 1gbps}]\n")
        XCTAssertEqual("\(TopologyErrors(d))", """
        test.yaml:10:30: error: unknown node 'core-sni' in link
            hint: did you mean 'core-sin'?
        """)
    }
}
