import Foundation
import XCTest

/// Hostile topology files, one per kind of mistake, fed to `validate` and
/// `run` as a user would: each must exit 2 with its located errors, never
/// crash. The files live in Malformed/ and say what they expect:
///
///     # what the file tries
///     # expect: LINE:COLUMN message
///
/// Files too large to keep in the repository are generated here.
final class MalformedInputTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Malformed")

    func stoqsim(_ args: [String]) throws -> StoqsimProcess.Outcome {
        try StoqsimProcess.run(StoqsimProcess.binary(near: MalformedInputTests.self), args)
    }

    /// The `# expect:` lines of a fixture, as `LINE:COLUMN: error: message`.
    func expectations(of file: URL) throws -> [String] {
        let text = String(decoding: try Data(contentsOf: file), as: UTF8.self)
        return text.split(separator: "\n").prefix(40).compactMap { line in
            guard line.hasPrefix("# expect: ") else { return nil }
            let rest = line.dropFirst("# expect: ".count)
            guard let space = rest.firstIndex(of: " ") else { return nil }
            return "\(rest[..<space]): error: \(rest[rest.index(after: space)...])"
        }
    }

    /// Exit 2, no signal, every expected error at its place, nothing else broken.
    func assertRefused(_ outcome: StoqsimProcess.Outcome, file: String, expecting expected: [String],
                       _ context: String, line: UInt = #line) {
        XCTAssertNil(outcome.signal, "\(context) crashed with signal \(outcome.signal ?? 0): \(outcome.stderr.suffix(2000))", line: line)
        XCTAssertEqual(outcome.status, 2, "\(context): \(outcome.stderr.prefix(2000))", line: line)
        for e in expected {
            XCTAssertTrue(outcome.stderr.contains("\(file):\(e)"), "\(context) should report '\(file):\(e)'; it said:\n\(outcome.stderr.prefix(3000))", line: line)
        }
    }

    func testEveryMalformedFileIsRefusedWithItsLocatedErrorsByValidateAndRun() throws {
        let files = try FileManager.default.contentsOfDirectory(at: Self.fixtures, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "yaml" }.sorted { $0.path < $1.path }
        XCTAssertGreaterThanOrEqual(files.count, 60, "the suite covers at least 60 kinds of broken file")
        try StoqsimProcess.withTemporaryDirectory { dir in
            for file in files {
                let expected = try expectations(of: file)
                XCTAssertFalse(expected.isEmpty, "\(file.lastPathComponent) has no '# expect:' line")
                assertRefused(try stoqsim(["validate", file.path]), file: file.path, expecting: expected, "validate \(file.lastPathComponent)")
                let out = dir + "/" + file.deletingPathExtension().lastPathComponent
                assertRefused(try stoqsim(["run", file.path, "--out", out, "--quiet"]), file: file.path, expecting: expected,
                              "run \(file.lastPathComponent)")
                XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a refused run leaves no run directory")
            }
        }
    }

    /// Cases too big to commit: written to a temporary directory, then refused.
    func testGeneratedHugeAndDeepFilesAreRefusedQuickly() throws {
        let header = """
        name: t
        sites:
          - {name: fra, city: Frankfurt}
        nodes:
          - {name: a, site: fra, role: core}

        """
        let sites = (0..<2000).map { "  - {name: s\($0), latitude: 1, longitude: 1, region: europe}\n" }.joined()
        let nodes = (0..<2000).map { "  - {name: n\($0), site: s\($0), role: core}\n" }.joined()
        let mesh = "name: t\naddressing: {prefix: \"fd00::/16\"}\nsites:\n" + sites + "nodes:\n" + nodes
            + "backbones:\n  - {sites: [" + (0..<2000).map { "s\($0)" }.joined(separator: ", ") + "], tier: 1gbps}\n"
        let cases: [(name: String, text: String, expected: [String])] = [
            ("flow-nesting-100k", "name: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n",
             ["1:70: error: the YAML nesting is deeper than 64 levels"]),
            ("many-keys", "name: t\n" + (0..<40_000).map { "k\($0): 1\n" }.joined(),
             ["1:1: error: missing field 'sites' at the top level", "2:1: error: unknown field 'k0' in the top level"]),
            ("node-name-10MB", header + "  - {name: " + String(repeating: "n", count: 10_000_000) + ", site: fra, role: edge}\n",
             ["6:12: error: node name 'nnnnnnnn", "is longer than 255 bytes"]),
            ("key-1MB", header + String(repeating: "x", count: 1_000_000) + ": 1\n",
             ["6:1000001: error: YAML syntax error: could not find expected ':'"]),
            ("backbone-2000-sites", mesh, ["4006:5: error: this makes 1999000 links, more than the limit of 1000000"]),
        ]
        try StoqsimProcess.withTemporaryDirectory { dir in
            for c in cases {
                let path = dir + "/" + c.name + ".yaml"
                try Data(c.text.utf8).write(to: URL(fileURLWithPath: path))
                let r = try stoqsim(["validate", path])
                XCTAssertNil(r.signal, "\(c.name) crashed: \(r.stderr.suffix(2000))")
                XCTAssertEqual(r.status, 2, "\(c.name): \(r.stderr.prefix(1000))")
                for e in c.expected {
                    XCTAssertTrue(r.stderr.contains(e), "\(c.name) should report '\(e)'; it said:\n\(r.stderr.prefix(2000))")
                }
                XCTAssertLessThan(r.stderr.utf8.count, 64_000, "\(c.name): errors quote a few bytes of long values and stop after 100")
            }
        }
    }

    /// A 400-byte billion-laughs file expands to gigabytes if aliases are
    /// followed; it is refused from the event stream, before any value is built.
    func testAliasBombIsRefusedWithinOneSecondOfCPUAnd100MB() throws {
        let bomb = Self.fixtures.appendingPathComponent("yaml-alias-bomb.yaml")
        let r = try stoqsim(["validate", bomb.path])
        assertRefused(r, file: bomb.path, expecting: try expectations(of: bomb), "validate the alias bomb")
        XCTAssertLessThan(r.cpuSeconds, 1.0, "CPU time of the whole validate process")
        let peak = try StoqsimProcess.peakResidentKiB(StoqsimProcess.binary(near: MalformedInputTests.self), ["validate", bomb.path])
        XCTAssertLessThan(peak, 100 * 1024, "peak memory of the whole validate process")
    }

    /// `validate` runs every check `run` would for the chosen backend: an exec
    /// workload is fine for netns and refused for sim, by both commands.
    func testValidateChecksForTheChosenBackend() throws {
        let file = Self.fixtures.appendingPathComponent("exec-on-sim.yaml")
        let netns = try stoqsim(["validate", "--backend", "netns", file.path])
        XCTAssertEqual(netns.status, 0, netns.stderr)
        let expected = try expectations(of: file)
        assertRefused(try stoqsim(["validate", file.path]), file: file.path, expecting: expected, "validate for sim")
        assertRefused(try stoqsim(["run", file.path, "--quiet", "--out", NSTemporaryDirectory() + "never-\(UUID().uuidString)"]),
                      file: file.path, expecting: expected, "run on sim")
        XCTAssertEqual(try stoqsim(["validate", "--backend", "vm", file.path]).status, 2)
    }

    /// `--limit KEY=N` raises a limit the file would exceed; a bad assignment is bad input.
    func testLimitFlagRaisesALimitAndBadAssignmentsExitTwo() throws {
        let file = Self.fixtures.appendingPathComponent("links-over-limit.yaml")
        XCTAssertEqual(try stoqsim(["validate", file.path]).status, 2)
        let raised = try stoqsim(["validate", "--limit", "links=10", file.path])
        XCTAssertEqual(raised.status, 0, "the command line wins over the file's limits: \(raised.stderr)")
        for bad in ["links", "links=0", "linkz=5", "links=-3", "links=1e3"] {
            let r = try stoqsim(["validate", "--limit", bad, file.path])
            XCTAssertEqual(r.status, 2, "--limit \(bad): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("--limit"), r.stderr)
        }
    }

    /// `generate` options out of range are bad input, not an overflow.
    func testGenerateRefusesOutOfRangeOptions() throws {
        for args in [["--nodes", "0"], ["--nodes", "99999999999999"], ["--edges-per-site", "9223372036854775807"],
                     ["--extra-links", "-1"], ["--neighbors", "4611686018427387904"], ["--duration", "1000000d"]] {
            let r = try stoqsim(["generate"] + args)
            XCTAssertNil(r.signal, "generate \(args) crashed: \(r.stderr.suffix(1000))")
            XCTAssertEqual(r.status, 2, "generate \(args): \(r.stderr)")
        }
    }

    /// Values at the edge of the documented ranges run to the end: a Poisson
    /// rate whose gaps outlast the run, probes every nanosecond, a run of years.
    func testExtremeButValidFilesRunToTheEnd() throws {
        let base = """
        name: extreme
        duration: DURATION
        sites:
          - {name: fra, city: Frankfurt}
          - {name: par, city: Paris}
        nodes:
          - {name: a, site: fra, role: core}
          - {name: b, site: par, role: core}
        backbones:
          - {sites: [fra, par], tier: 1gbps}
        workloads:
          - WORKLOAD

        """
        let cases = [
            ("1s", "{kind: transfer, from: a, to: b, size: 1MB, rate: 1e-12/s}"),
            ("1s", "{kind: probe, from: a, to: b, interval: 1ns, count: 5}"),
            ("3650d", "{kind: probe, from: a, to: b, interval: 365d}"),
            ("2s", "{kind: transfer, from: a, to: b, size: 10KB, count: 1000000000, interval: 1s}"),
        ]
        try StoqsimProcess.withTemporaryDirectory { dir in
            for (i, (duration, workload)) in cases.enumerated() {
                let path = dir + "/extreme-\(i).yaml"
                try base.replacingOccurrences(of: "DURATION", with: duration).replacingOccurrences(of: "WORKLOAD", with: workload)
                    .write(toFile: path, atomically: true, encoding: .utf8)
                let r = try stoqsim(["run", path, "--quiet", "--out", dir + "/run-\(i)"])
                XCTAssertNil(r.signal, "\(workload) crashed: \(r.stderr.suffix(2000))")
                XCTAssertEqual(r.status, 0, "\(workload): \(r.stderr.prefix(2000))")
            }
        }
    }
}
