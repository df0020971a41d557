import XCTest
@testable import StoqTopology

/// Experiment files: the matrix, factor paths into the topology tree, and
/// errors located in the experiment file (docs/experiments.md).
final class ExperimentTests: XCTestCase {
    static let topology = """
    name: tiny
    sites:
      - {name: fra, city: Frankfurt}
      - {name: par, city: Paris}
    nodes:
      - {name: a, site: fra, role: edge}
      - {name: b, site: par, role: edge}
    links:
      - {from: a, to: b, tier: 1gbps}
    backbones: []
    workloads:
      - {kind: probe, from: a, to: b, size: 64}
      - {name: bulk, kind: transfer, from: a, to: b, size: 1MB}
    """

    func base() throws -> ConfigValue {
        try XCTUnwrap(ConfigDocument.read(bytes: Array(Self.topology.utf8), file: "tiny.yaml"))
    }

    func experiment(_ text: String) throws -> Experiment {
        let root = try XCTUnwrap(ConfigDocument.read(bytes: Array(text.utf8), file: "exp.yaml"))
        return try Experiment.parse(root: root, file: "exp.yaml")
    }

    /// The single diagnostic `body` throws.
    func diagnostic(_ body: () throws -> Void) -> TopologyDiagnostic? {
        do { try body() } catch let d as TopologyDiagnostic { return d } catch let e as TopologyErrors {
            XCTAssertEqual(e.diagnostics.count, 1, "\(e.diagnostics)")
            return e.diagnostics.first
        } catch { XCTFail("\(error)") }
        return nil
    }

    func testMatrixIsTheProductOfTheFactorsFirstFactorSlowest() throws {
        let e = try experiment("""
        topology: tiny.yaml
        seeds: 3..5
        factors:
          strategy: [latency, hops]
          workloads[bulk].size: [1MB, 10MB, 100MB]
        """)
        XCTAssertEqual(e.seeds, [3, 4, 5])
        XCTAssertEqual(e.configurations.map(\.valueIndices), [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]])
        XCTAssertEqual(e.factors.map(\.label), ["strategy", "size"])
        XCTAssertEqual(e.label(e.configurations[4]), "strategy=hops, size=10MB")
        XCTAssertEqual(e.directoryName(e.configurations[4]), "strategy-hops_size-10MB")
        XCTAssertEqual(e.name, "exp")
        XCTAssertEqual(e.timeout, Experiment.defaultTimeout)
    }

    func testExplicitConfigurationsAndDefaultSeeds() throws {
        let e = try experiment("""
        topology: tiny.yaml
        configurations:
          - {strategy: latency, "links[*].loss": 0}
          - {strategy: weighted, "links[*].loss": 1%}
        """)
        XCTAssertEqual(e.seeds, Experiment.defaultSeeds)
        XCTAssertEqual(e.configurations.map(\.valueIndices), [[0, 0], [1, 1]])
        XCTAssertEqual(e.label(e.configurations[1]), "strategy=weighted, loss=1%")
        XCTAssertEqual(e.directoryName(e.configurations[1]), "strategy-weighted_loss-1%")
    }

    func testResolvedTopologyCarriesTheValuesAndTheSeed() throws {
        let e = try experiment("""
        topology: tiny.yaml
        seeds: [7]
        factors:
          strategy: [hops]
          links[*].loss: [0.02]
          workloads[bulk].size: [2MB]
          workloads[probe-1].interval: [250ms]
        """)
        let root = try e.resolve(base: base(), configuration: e.configurations[0], seed: 7)
        // Written out and read back: the run directory's topology.yaml is this text.
        let text = ConfigDocument.yaml(root)
        let topology = try TopologyParser.parse(yaml: text, file: "resolved.yaml")
        XCTAssertEqual(topology.seed, 7)
        XCTAssertEqual(topology.routing.strategy, "hops")
        XCTAssertEqual(topology.links[0].lossRate, 0.02)
        XCTAssertEqual(try topology.workloads[1].fields.byteCount("size"), 2_000_000)
        XCTAssertEqual(try topology.workloads[0].fields.duration("interval"), .milliseconds(250 as Int64))
        XCTAssertEqual(topology.name, "tiny")
    }

    func testYAMLWriterRoundTripsAwkwardScalars() throws {
        let text = """
        a: "x: y"
        b: "#not a comment"
        c: ""
        d: null-ish
        e: "null"
        f: [fd00::1, "-", "quote \\" and back\\\\slash"]
        g: {h: [[1, 2], {i: j}]}
        """
        let root = try XCTUnwrap(ConfigDocument.read(bytes: Array(text.utf8), file: "t.yaml"))
        let written = ConfigDocument.yaml(root)
        let again = try XCTUnwrap(ConfigDocument.read(bytes: Array(written.utf8), file: "t.yaml"))
        XCTAssertEqual(ConfigDocument.yaml(again), written)
        XCTAssertEqual(Experiment.describe(again), "{a: x: y, b: #not a comment, c: , d: null-ish, e: null, " +
                       "f: [fd00::1, -, quote \" and back\\slash], g: {h: [[1, 2], {i: j}]}}")
    }

    func testUnknownWorkloadIsLocatedAtTheFactor() throws {
        let e = try experiment("""
        topology: tiny.yaml
        seeds: 1..2
        factors:
          workloads[transfer-9].size: [1MB]
        """)
        let d = diagnostic { _ = try e.resolve(base: base(), configuration: e.configurations[0], seed: 1) }
        XCTAssertEqual(d?.location, SourceLocation(file: "exp.yaml", line: 4, column: 3))
        XCTAssertTrue(d?.message.contains("no entry of 'workloads' is named 'transfer-9'") == true, d?.message ?? "")
        XCTAssertTrue(d?.hint?.contains("probe-1, bulk") == true, d?.hint ?? "")
    }

    func testPathErrorsSayWhatIsWrong() throws {
        for (path, expected) in [
            ("links[3].loss", "'links' has 1 entries; [3] is past the end"),
            ("name.first", "'name' is a single value, so it has no field 'first'"),
            ("nodes.role", "'nodes' is a list, so it has no field 'role'"),
            ("faults[0].down", "the topology has no 'faults' list"),
            ("backbones[*].tier", "'backbones' has no entries"),
        ] {
            let e = try experiment("topology: tiny.yaml\nfactors:\n  \(path): [1]\n")
            let d = diagnostic { _ = try e.resolve(base: base(), configuration: e.configurations[0], seed: 1) }
            XCTAssertEqual(d?.location.line, 3, path)
            XCTAssertTrue(d?.message.contains(expected) == true, "\(path): \(d?.message ?? "none")")
        }
        for bad in ["links[*", "links[]", "[0].loss", "links..loss", "links[*]", "a]b"] {
            let d = diagnostic { _ = try experiment("topology: tiny.yaml\nfactors:\n  \"\(bad)\": [1]\n") }
            XCTAssertEqual(d?.location, SourceLocation(file: "exp.yaml", line: 3, column: 3), bad)
            XCTAssertTrue(d?.message.hasPrefix("bad factor path") == true, "\(bad): \(d?.message ?? "none")")
        }
    }

    /// A value of the wrong type reaches the topology parser, which reports it
    /// where the value was written: in the experiment file.
    func testWrongTypedValueIsReportedInTheExperimentFile() throws {
        let e = try experiment("""
        topology: tiny.yaml
        factors:
          links[*].loss: [0.01, lots]
        """)
        let root = try e.resolve(base: base(), configuration: e.configurations[1], seed: 1)
        let result = TopologyParser.parse(root: root, file: "tiny.yaml")
        XCTAssertEqual(result.errors.count, 1, "\(result.errors)")
        XCTAssertEqual(result.errors.first?.location, SourceLocation(file: "exp.yaml", line: 3, column: 25))
        XCTAssertTrue(result.errors.first?.message.contains("probability") == true, result.errors.first?.message ?? "")
        // A misspelt field is added where the factor says, and then refused there.
        let typo = try experiment("topology: tiny.yaml\nfactors:\n  links[0].los: [0.01]\n")
        let bad = TopologyParser.parse(root: try typo.resolve(base: base(), configuration: typo.configurations[0], seed: 1), file: "tiny.yaml")
        XCTAssertEqual(bad.errors.first?.location, SourceLocation(file: "exp.yaml", line: 3, column: 3))
        XCTAssertTrue(bad.errors.first?.message.contains("unknown field 'los'") == true, bad.errors.first?.message ?? "")
    }

    func testBadExperimentFiles() throws {
        for (text, line, expected) in [
            ("topology: t.yaml\nseeds: []\n", 2, "'seeds' is empty"),
            ("topology: t.yaml\nseeds: 5..1\n", 2, "the seed range '5..1' is empty"),
            ("topology: t.yaml\nseeds: [1, x]\n", 2, "a seed must be a whole number"),
            ("topology: t.yaml\nseeds: [1, 1]\n", 2, "seed 1 is listed twice"),
            ("topology: t.yaml\nfactors:\n  strategy: []\n", 3, "factor 'strategy' has no values"),
            ("topology: t.yaml\nfactors:\n  strategy: [a]\n  routing.strategy: [b]\n", 4, "sets the same field as 'strategy'"),
            ("topology: t.yaml\nfactors:\n  seed: [1, 2]\n", 3, "the seed is not a factor"),
            ("topology: t.yaml\nfactor:\n  strategy: [a]\n", 2, "unknown field 'factor'"),
            ("seeds: 1..3\n", 1, "missing field 'topology'"),
            ("topology: t.yaml\ntimeout: 0s\n", 2, "'timeout' must be more than 0"),
            ("topology: t.yaml\nfactors: {strategy: [a]}\nconfigurations: [{strategy: a}]\n", 3, "either 'factors' or 'configurations'"),
            ("topology: t.yaml\nconfigurations: [{strategy: a}, {size: 1}]\n", 2, "does not set"),
        ] {
            let d = diagnostic { _ = try experiment(text) }
            XCTAssertEqual(d?.location.line, line, text)
            XCTAssertTrue(d?.message.contains(expected) == true, "\(text): \(d?.message ?? "none")")
        }
    }

    func testExperimentsAreToldFromTopologiesThatImportAGraph() throws {
        func root(_ text: String) throws -> ConfigValue? { try ConfigDocument.read(bytes: Array(text.utf8), file: "x.yaml") }
        XCTAssertTrue(Experiment.isExperiment(try root("topology: t.yaml\n")))
        XCTAssertTrue(Experiment.isExperiment(try root("seeds: 1..3\n")))
        XCTAssertFalse(Experiment.isExperiment(try root("topology: {import: zoo.gml}\nduration: 10s\n")))
        XCTAssertFalse(Experiment.isExperiment(try root(Self.topology)))
    }

    func testValuesThatCollideAsDirectoryNamesAreNumbered() throws {
        let e = try experiment("topology: t.yaml\nfactors:\n  workloads[0].to: [a/b, a_b, [x, y]]\n")
        XCTAssertEqual(e.configurations.map(e.directoryName), ["to-v1", "to-v2", "to-v3"])
        let plain = try experiment("topology: t.yaml\nfactors:\n  duration: [1s, 2s]\n")
        XCTAssertEqual(plain.configurations.map(plain.directoryName), ["duration-1s", "duration-2s"])
        XCTAssertEqual(plain.label(plain.configurations[1]), "2s")
    }
}
