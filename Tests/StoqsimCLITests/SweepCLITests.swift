import Foundation
import XCTest

/// `stoqsim sweep` end to end on a two-node topology whose probes lose
/// packets at random (seeded), so seeds differ. Each run takes a fraction of
/// a second in a debug build.
final class SweepCLITests: XCTestCase {
    static let topology = """
    name: pair
    duration: 2s
    sites:
      - {name: fra, city: Frankfurt}
      - {name: par, city: Paris}
    nodes:
      - {name: a, site: fra, role: edge}
      - {name: b, site: par, role: edge}
    links:
      - {from: a, to: b, tier: 1gbps, loss: 20%}
    workloads:
      - {kind: probe, from: a, to: b, interval: 20ms}
    """

    static let experiment = """
    topology: pair.yaml
    seeds: 1..3
    factors:
      strategy: [latency, hops]
      links[0].loss: [10%, 30%]
    """

    func stoqsim(_ args: [String]) throws -> StoqsimProcess.Outcome {
        try StoqsimProcess.run(StoqsimProcess.binary(near: SweepCLITests.self), args)
    }

    func write(_ text: String, _ path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    func testSerialAndParallelSweepsGiveIdenticalSummariesAndResumeSkipsFinishedRuns() throws {
        try StoqsimProcess.withTemporaryDirectory { dir in
            try write(Self.topology, dir + "/pair.yaml")
            try write(Self.experiment, dir + "/exp.yaml")
            let serial = try stoqsim(["sweep", dir + "/exp.yaml", "--out", dir + "/serial", "--jobs", "1"])
            XCTAssertEqual(serial.status, 0, serial.stderr)
            let parallel = try stoqsim(["sweep", dir + "/exp.yaml", "--out", dir + "/parallel", "--jobs", "3"])
            XCTAssertEqual(parallel.status, 0, parallel.stderr)
            for file in ["sweep-summary.json", "sweep.csv", "sweep-report.html"] {
                XCTAssertEqual(try read(dir + "/serial/" + file), try read(dir + "/parallel/" + file), file)
            }
            // Each run: its own directory named by its values, the resolved topology and what `run` writes.
            let run = dir + "/serial/runs/strategy-hops_loss-30%/seed-2"
            for file in ["topology.yaml", "summary.json", "trace.jsonl", "report.html", "run-status.json", "run.log"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/" + file), file)
            }
            XCTAssertTrue(try read(run + "/topology.yaml").contains("loss: 30%"))
            let summary = try json(dir + "/serial/sweep-summary.json")
            XCTAssertEqual((summary["configurations"] as? [Any])?.count, 4)
            let record = try json(dir + "/serial/experiment.json")
            XCTAssertEqual((record["runs"] as? [[String: Any]])?.count, 12)
            XCTAssertNotNil((record["machine"] as? [String: Any])?["cores"])
            XCTAssertTrue(serial.stdout.contains("findings"), serial.stdout)
            // Loss differs by a factor of three between the loss values: a significant finding.
            XCTAssertTrue(serial.stdout.contains("probe probe-1 loss:"), serial.stdout)

            let again = try stoqsim(["sweep", dir + "/exp.yaml", "--out", dir + "/serial"])
            XCTAssertEqual(again.status, 2)
            XCTAssertTrue(again.stderr.contains("already holds this sweep; pass --resume"), again.stderr)
            let resumed = try stoqsim(["sweep", dir + "/exp.yaml", "--out", dir + "/serial", "--resume"])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertTrue(resumed.stderr.contains("12 of 12 runs already finished"), resumed.stderr)
            XCTAssertEqual(try read(dir + "/serial/sweep-summary.json"), try read(dir + "/parallel/sweep-summary.json"))
        }
    }

    /// A wrapper around stoqsim stands in for a run that crashes (SIGSEGV)
    /// and one that fails (exit 1); the sweep records both and summarises the rest.
    func testFailedAndCrashedRunsAreReportedAndTheRestSummarised() throws {
        try StoqsimProcess.withTemporaryDirectory { dir in
            try write(Self.topology, dir + "/pair.yaml")
            let real = try StoqsimProcess.binary(near: SweepCLITests.self).path
            try write("""
            #!/bin/sh
            case "$*" in
              *latency/seed-2/*) kill -SEGV $$ ;;
              *hops/seed-1/*) echo "boom" >&2; exit 1 ;;
            esac
            exec "\(real)" "$@"
            """, dir + "/wrapper.sh")
            chmod(dir + "/wrapper.sh", 0o755)
            let r = try stoqsim(["sweep", dir + "/pair.yaml", "--seeds", "1..3", "--strategy", "latency,hops",
                                 "--out", dir + "/out", "--binary", dir + "/wrapper.sh", "--jobs", "2"])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stdout.contains("failed: runs/strategy-latency/seed-2: crashed (signal 11)"), r.stdout)
            XCTAssertTrue(r.stdout.contains("failed: runs/strategy-hops/seed-1: failed (exit 1)"), r.stdout)
            XCTAssertTrue(try read(dir + "/out/runs/strategy-hops/seed-1/run.log").contains("boom"))
            let summary = try json(dir + "/out/sweep-summary.json")
            let configurations = try XCTUnwrap(summary["configurations"] as? [[String: Any]])
            XCTAssertEqual(configurations.map { $0["seeds"] as? [Int] }, [[1, 3], [2, 3]])
            XCTAssertEqual(configurations.map { $0["failedSeeds"] as? [Int] }, [[2], [1]])
            let cells = try XCTUnwrap(summary["cells"] as? [[String: Any]])
            XCTAssertTrue(cells.contains { ($0["stats"] as? [String: Any])?["n"] as? Int == 2 })
            XCTAssertTrue(try read(dir + "/out/sweep-report.html").contains("Failed runs"))
            // The flags were kept as an experiment file: resuming from it reruns only the two failed runs.
            let resumed = try stoqsim(["sweep", dir + "/out/experiment.yaml", "--out", dir + "/out", "--resume"])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertTrue(resumed.stderr.contains("4 of 6 runs already finished"), resumed.stderr)
            let complete = try json(dir + "/out/sweep-summary.json")
            XCTAssertEqual((complete["failedRuns"] as? [Any])?.count, 0)
            XCTAssertEqual((complete["configurations"] as? [[String: Any]])?.map { $0["seeds"] as? [Int] }, [[1, 2, 3], [1, 2, 3]])
        }
    }

    /// `--executor slurm --dry-run` writes a job array script; its tasks, run
    /// here by the shell as Slurm would (SLURM_ARRAY_TASK_ID set), then
    /// `sweep collect`, give the summary a local sweep gives.
    func testSlurmScriptTasksAndCollectGiveTheLocalSummary() throws {
        try StoqsimProcess.withTemporaryDirectory { dir in
            try write(Self.topology, dir + "/pair.yaml")
            let flags = ["--seeds", "1..2", "--strategy", "latency,hops"]
            let local = try stoqsim(["sweep", dir + "/pair.yaml", "--out", dir + "/local", "--quiet"] + flags)
            XCTAssertEqual(local.status, 0, local.stderr)
            let dry = try stoqsim(["sweep", dir + "/pair.yaml", "--out", dir + "/slurm", "--executor", "slurm", "--dry-run",
                                   "--partition", "debug", "--mem", "1G"] + flags)
            XCTAssertEqual(dry.status, 0, dry.stderr)
            let script = try read(dir + "/slurm/slurm/sweep.sbatch")
            for line in ["#SBATCH --array=0-3", "#SBATCH --partition=debug", "#SBATCH --mem=1G", "#SBATCH --time=65"] {
                XCTAssertTrue(script.contains(line), script)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/slurm/sweep-summary.json"))
            let early = try stoqsim(["sweep", "collect", dir + "/slurm"])
            XCTAssertEqual(early.status, 1)
            XCTAssertTrue(early.stdout.contains("(4 runs failed)") && early.stdout.contains("not finished"), early.stdout)
            for task in 0..<4 {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/bin/sh")
                p.arguments = [dir + "/slurm/slurm/sweep.sbatch"]
                p.environment = ["SLURM_ARRAY_TASK_ID": String(task), "PATH": "/usr/bin:/bin"]
                p.standardOutput = FileHandle.nullDevice
                try p.run()
                p.waitUntilExit()
                XCTAssertEqual(p.terminationStatus, 0, "task \(task)")
            }
            let collected = try stoqsim(["sweep", "collect", dir + "/slurm"])
            XCTAssertEqual(collected.status, 0, collected.stderr + collected.stdout)
            XCTAssertEqual(try read(dir + "/slurm/sweep-summary.json"), try read(dir + "/local/sweep-summary.json"))
        }
    }

    /// The Slurm round trip for real: a single-node Slurm (tools/slurm-single-node.sh:
    /// munged, slurmctld, slurmd with a generated slurm.conf) runs a 2 × 3 sweep as
    /// a job array and its collect job; the summary equals the local sweep's.
    /// Needs root and Debian's slurm-wlm and munge, else skipped.
    func testSlurmRoundTripOnASingleNodeCluster() throws {
        guard getuid() == 0, ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch"]
            .allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("needs root and Slurm (tools/setup.sh installs slurm-wlm and munge)")
        }
        try StoqsimProcess.withTemporaryDirectory { dir in
            let tool = StoqsimProcess.root.appendingPathComponent("tools/slurm-single-node.sh")
            let start = try StoqsimProcess.run(tool, ["start", dir + "/cluster"])
            defer { _ = try? StoqsimProcess.run(tool, ["stop", dir + "/cluster"]) }
            XCTAssertEqual(start.status, 0, start.stderr + start.stdout)
            setenv("SLURM_CONF", dir + "/cluster/slurm.conf", 1)
            defer { unsetenv("SLURM_CONF") }
            try write(Self.topology, dir + "/pair.yaml")
            let flags = ["--seeds", "1..3", "--strategy", "latency,hops"]
            XCTAssertEqual(try stoqsim(["sweep", dir + "/pair.yaml", "--out", dir + "/local", "--quiet"] + flags).status, 0)
            let submit = try stoqsim(["sweep", dir + "/pair.yaml", "--out", dir + "/slurm", "--executor", "slurm"] + flags)
            XCTAssertEqual(submit.status, 0, submit.stderr)
            XCTAssertTrue(submit.stdout.contains("submitted job array"), submit.stdout)
            // The collect job writes the report last (each file atomically); wait for it,
            // bounded so a stuck cluster fails the test.
            let report = dir + "/slurm/sweep-report.html"
            for _ in 0..<600 where !FileManager.default.fileExists(atPath: report) { usleep(200_000) }
            let summary = dir + "/slurm/sweep-summary.json"
            XCTAssertEqual(try read(summary), try read(dir + "/local/sweep-summary.json"))
            let record = try json(dir + "/slurm/experiment.json")
            XCTAssertEqual((record["slurmJobs"] as? [String])?.count, 2)
            // The collect job wrote how each run ended into the record.
            XCTAssertEqual((record["runs"] as? [[String: Any]])?.compactMap { $0["status"] as? String }, Array(repeating: "ok", count: 6))
        }
    }

    func testBadInputExitsTwoAndWritesNothing() throws {
        try StoqsimProcess.withTemporaryDirectory { dir in
            try write(Self.topology, dir + "/pair.yaml")
            let cases: [(String, String)] = [
                ("topology: pair.yaml\nfactors:\n  workloads[transfer-1].size: [1MB]\n",
                 "exp.yaml:3:3: error: factor 'workloads[transfer-1].size': no entry of 'workloads' is named 'transfer-1'"),
                ("topology: pair.yaml\nfactors:\n  links[0].loss: [1%, much]\n",
                 "exp.yaml:3:23: error: 'loss' must be a probability"),
                ("topology: pair.yaml\nfactors:\n  strategy: [latency, teleport]\n",
                 "exp.yaml:3:3: error: unknown routing strategy 'teleport' (configuration strategy=teleport)"),
                ("topology: pair.yaml\nseeds: []\n", "exp.yaml:2:8: error: 'seeds' is empty"),
                ("topology: nowhere.yaml\n", "cannot read"),
            ]
            for (text, expected) in cases {
                try write(text, dir + "/exp.yaml")
                let r = try stoqsim(["sweep", dir + "/exp.yaml", "--out", dir + "/out"])
                XCTAssertEqual(r.status, 2, text)
                XCTAssertTrue(r.stderr.contains(expected), "\(text)\n\(r.stderr)")
                XCTAssertTrue(r.stderr.contains("nothing was run"), r.stderr)
                XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out"), text)
            }
            let flags = try stoqsim(["sweep", dir + "/pair.yaml", "--set", "links[*].los=0,1%", "--out", dir + "/out"])
            XCTAssertEqual(flags.status, 2)
            XCTAssertTrue(flags.stderr.contains("error: unknown field 'los' in link (configuration links[*].los=0)"), flags.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out"))

            // An output directory holding another experiment is refused and left as it was.
            try write("topology: pair.yaml\nseeds: [1]\nfactors:\n  strategy: [latency]\n", dir + "/exp.yaml")
            XCTAssertEqual(try stoqsim(["sweep", dir + "/exp.yaml", "--out", dir + "/out", "--quiet"]).status, 0)
            let before = try read(dir + "/out/experiment.json")
            try write("topology: pair.yaml\nseeds: [1]\nfactors:\n  strategy: [latency]\n  duration: [1s]\n", dir + "/exp.yaml")
            let other = try stoqsim(["sweep", dir + "/exp.yaml", "--out", dir + "/out", "--resume"])
            XCTAssertEqual(other.status, 2)
            XCTAssertTrue(other.stderr.contains("holds another experiment"), other.stderr)
            XCTAssertEqual(try read(dir + "/out/experiment.json"), before)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/runs/strategy-latency_duration-1s"))
            try FileManager.default.createDirectory(atPath: dir + "/full", withIntermediateDirectories: true)
            try write("x", dir + "/full/file")
            let notSweep = try stoqsim(["sweep", dir + "/pair.yaml", "--seeds", "1", "--out", dir + "/full"])
            XCTAssertEqual(notSweep.status, 2)
            XCTAssertTrue(notSweep.stderr.contains("not a sweep directory"), notSweep.stderr)
        }
    }
}
