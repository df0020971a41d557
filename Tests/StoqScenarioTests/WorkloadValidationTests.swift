import StoqScenario
import StoqTopology
import XCTest

final class WorkloadValidationTests: XCTestCase {
    func diagnostics(_ workload: String) -> [TopologyDiagnostic] {
        let yaml = twoSiteYAML.components(separatedBy: "workloads:")[0] + "workloads:\n" + workload + "\n"
        do {
            _ = try scenario(yaml: yaml, file: "w.yaml")
            return []
        } catch let e as TopologyErrors {
            return e.diagnostics
        } catch let d as TopologyDiagnostic {
            return [d]
        } catch {
            XCTFail("unexpected error \(error)")
            return []
        }
    }

    /// The workload line is line 17 of the file built above.
    func assertError(_ workload: String, contains text: String, line: Int = 17, file: StaticString = #filePath, sourceLine: UInt = #line) {
        let d = diagnostics(workload)
        XCTAssertEqual(d.count, 1, "\(d)", file: file, line: sourceLine)
        guard let first = d.first else { return }
        XCTAssertTrue(first.description.contains(text), first.description, file: file, line: sourceLine)
        XCTAssertEqual(first.location.file, "w.yaml", file: file, line: sourceLine)
        XCTAssertEqual(first.location.line, line, file: file, line: sourceLine)
    }

    func testUnknownKind() { assertError("  - {kind: pingg, from: a, to: b}", contains: "unknown workload kind 'pingg'") }
    func testUnknownField() { assertError("  - {kind: probe, from: a, to: b, intervall: 1s}", contains: "did you mean 'interval'") }
    func testUnknownNode() { assertError("  - {kind: probe, from: a, to: zz}", contains: "unknown node 'zz'") }
    func testUnknownNodeSuggestsTheClosestName() { assertError("  - {kind: probe, from: a, to: slw}", contains: "did you mean 'slow'?") }

    /// A `count` template's name in a workload points at its stamped nodes.
    func testTemplateNameInAWorkloadNamesItsStampedNodes() throws {
        let yaml = twoSiteYAML.components(separatedBy: "workloads:")[0]
            .replacingOccurrences(of: "nodes:\n", with: "nodes:\n  - {name: client, site: fra, role: client, count: 3, uplink: {to: a, tier: 1gbps}}\n")
            + "workloads:\n  - {kind: probe, from: client, to: b}\n"
        XCTAssertThrowsError(try scenario(yaml: yaml, file: "w.yaml")) { error in
            XCTAssertTrue("\(error)".contains("'client' has count: 3, so its nodes are client-1 … client-3"), "\(error)")
        }
    }

    /// The tier hint proposes the text as a bandwidth only when it is one.
    func testTierHintNeverProposesAnInvalidBandwidth() throws {
        for (tier, proposal) in [("40gbps", "'bandwidth: 40gbps'"), ("100mpbs", "'bandwidth: <rate>' such as 40gbps")] {
            let yaml = twoSiteYAML.replacingOccurrences(of: "tier: 1gbps, latency: 1ms}", with: "tier: \(tier), latency: 1ms}")
            XCTAssertThrowsError(try scenario(yaml: yaml)) { error in
                XCTAssertTrue("\(error)".contains("for another speed write " + proposal), "\(error)")
            }
        }
    }

    func testUnknownRoleSelector() { assertError("  - {kind: probe, from: role:server, to: b}", contains: "unknown role 'server'") }
    func testBadInterval() { assertError("  - {kind: probe, from: a, to: b, interval: 5 parsecs}", contains: "'interval' must be a duration") }
    func testTooSmallProbe() { assertError("  - {kind: probe, from: a, to: b, size: 8}", contains: "between 16 and 65487") }
    func testSelfOnlyPair() { assertError("  - {kind: probe, from: a, to: a}", contains: "no pair of distinct nodes") }
    func testMissingTo() { assertError("  - {kind: probe, from: a}", contains: "missing field 'to'") }

    func testSelectorsExpand() throws {
        let yaml = twoSiteYAML.components(separatedBy: "workloads:")[0] + """
        workloads:
          - {kind: probe, from: site:fra, to: region:asia, count: 1}
        """
        let s = try scenario(yaml: yaml)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pairs = try s.run(outputDirectory: dir).summary.probes.map { "\($0.from)>\($0.to)" }
        XCTAssertEqual(pairs.sorted(), ["a>b", "fast>b", "slow>b"])
    }
}

final class BundledScenarioTests: XCTestCase {
    /// Every bundled topology loads with its workloads and routing settings.
    func testEveryBundledTopologyValidates() throws {
        let dir = repositoryRoot + "/topologies"
        // Experiment files (stoqsim sweep) sit beside the topologies they vary.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { $0.hasSuffix(".yaml") && !$0.hasSuffix(".experiment.yaml") }.sorted()
        XCTAssertTrue(files.contains("quickstart.yaml") && files.contains("tiers.yaml"), "\(files)")
        for f in files {
            let s = try Scenario.load(path: dir + "/" + f)
            XCTAssertFalse(s.workloads.isEmpty, f)
        }
    }
}
