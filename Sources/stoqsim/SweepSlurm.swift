import ArgumentParser
import Foundation
import StoqAnalyzer
import StoqTopology

/// `--executor slurm`: one job array with a task per run (each `stoqsim sweep
/// task RUNDIR`, which runs and records it like the local executor), and a
/// job depending on it that runs `stoqsim sweep collect DIR`.
struct SlurmSubmission {
    var outDir: String
    var name: String
    var binary: String
    var timeoutSeconds: Double
    var partition: String?
    var time: String?
    var mem: String?

    static let directory = "slurm"
    static let scriptFile = "sweep.sbatch"
    static let runsFile = "runs.txt"

    /// Paths in the script are absolute: tasks start wherever Slurm puts them.
    private var root: String { URL(fileURLWithPath: outDir).standardizedFileURL.path }
    private var slurmDir: String { (root as NSString).appendingPathComponent(Self.directory) }

    /// POSIX shell single quoting.
    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    func script(tasks: Int) -> String {
        // Slurm's limit is whole minutes; the margin lets a run's own timeout act first.
        let limit = time ?? String(Int((timeoutSeconds / 60).rounded(.up)) + 5)
        var lines = [
            "#!/bin/sh",
            "#SBATCH --job-name=stoqsim-\(name)",
            "#SBATCH --array=0-\(tasks - 1)",
            "#SBATCH --cpus-per-task=1",
            "#SBATCH --time=\(limit)",
            "#SBATCH --output=\(slurmDir)/task-%a.out",
        ]
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let mem { lines.append("#SBATCH --mem=\(mem)") }
        lines += [
            "# Written by stoqsim sweep: one array task per run, the run directory on line TASK + 1 of \(Self.runsFile).",
            "# A task records how its run ended in the run's run-status.json; 'stoqsim sweep collect' summarises.",
            "run=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \(Self.quote((slurmDir as NSString).appendingPathComponent(Self.runsFile))))",
            "exec \(Self.quote(binary)) sweep task \"$run\" --timeout-seconds \(Int(timeoutSeconds.rounded(.up)))",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the script and run list; unless `dryRun`, submits the array and
    /// the collect job and returns their ids.
    func submit(runDirectories: [String], dryRun: Bool) throws -> [String]? {
        try FileManager.default.createDirectory(atPath: slurmDir, withIntermediateDirectories: true)
        let scriptPath = (slurmDir as NSString).appendingPathComponent(Self.scriptFile)
        let list = runDirectories.map { URL(fileURLWithPath: $0).standardizedFileURL.path }.joined(separator: "\n") + "\n"
        try Data(list.utf8).write(to: URL(fileURLWithPath: (slurmDir as NSString).appendingPathComponent(Self.runsFile)))
        try Data(script(tasks: runDirectories.count).utf8).write(to: URL(fileURLWithPath: scriptPath))
        print("wrote \(scriptPath) (\(runDirectories.count) array task\(runDirectories.count == 1 ? "" : "s"))")
        guard !dryRun else {
            print("not submitted (--dry-run): sbatch \(scriptPath); then stoqsim sweep collect \(outDir)")
            return nil
        }
        let array = try sbatch(["--parsable", scriptPath])
        var collect = ["--parsable", "--dependency=afterany:\(array)", "--job-name=stoqsim-\(name)-collect",
                       "--output=\(slurmDir)/collect.out", "--wrap", "\(Self.quote(binary)) sweep collect \(Self.quote(root))"]
        if let partition { collect.insert("--partition=\(partition)", at: 0) }
        let collector = try sbatch(collect)
        print("submitted job array \(array) (\(runDirectories.count) runs) and collect job \(collector); " +
              "when they finish: \((root as NSString).appendingPathComponent(SweepReport.htmlFile))")
        return [array, collector]
    }

    /// Runs sbatch, returning the job id (`--parsable` prints `ID` or `ID;CLUSTER`).
    private func sbatch(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sbatch"] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch {
            printError("error: cannot start sbatch: \(error); is Slurm installed? (--dry-run writes the script only)")
            throw ExitCode.failure
        }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problem = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let id = text.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard p.terminationStatus == 0, !id.isEmpty else {
            printError("error: sbatch failed (exit \(p.terminationStatus)): \(problem.trimmingCharacters(in: .whitespacesAndNewlines))")
            throw ExitCode.failure
        }
        return id
    }
}

struct SweepCollect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Summarise a sweep directory from whatever runs finished (after a Slurm sweep, or to rebuild the reports).")

    @Argument(help: "Sweep directory (holding experiment.json).") var directory: String

    func run() throws {
        let path = (directory as NSString).appendingPathComponent(SweepRecord.file)
        guard var record = try? SweepRecord.read(from: path) else {
            printError("error: \(path) is missing or unreadable; pass a directory written by 'stoqsim sweep'")
            throw ExitCode(badInputExitCode)
        }
        // The record learns how each run ended (runs elsewhere wrote only their own status).
        for i in record.runs.indices {
            guard let o = SweepRunner.readOutcome(directory: (directory as NSString).appendingPathComponent(record.runs[i].directory)) else { continue }
            (record.runs[i].status, record.runs[i].exitCode, record.runs[i].signal, record.runs[i].wallSeconds) =
                (o.status, o.exitCode, o.signal, o.wallSeconds)
        }
        record.finished = ISO8601DateFormatter().string(from: Date())
        try record.write(into: directory)
        try Self.report(record.summary(outDir: directory), outDir: directory)
    }

    /// Writes the summary files, prints the findings; exits 1 when runs failed.
    static func report(_ summary: SweepSummary, outDir: String) throws {
        let paths = try SweepReport.writeAll(summary, directory: outDir)
        print(SweepReport.text(summary), terminator: "")
        print("wrote \((outDir as NSString).appendingPathComponent(SweepRecord.file))")
        for p in paths { print("wrote \(p)") }
        if !summary.failedRuns.isEmpty { throw ExitCode.failure }
    }
}

/// One run of a sweep, as a Slurm array task runs it: the same process,
/// timeout and run-status.json as the local executor.
struct SweepTask: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Run one run directory of a sweep and record how it ended (used by Slurm tasks).",
        shouldDisplay: false)

    @Argument(help: "Run directory holding topology.yaml.") var directory: String
    @Option(help: "Wall-clock limit in seconds.") var timeoutSeconds: Double = Experiment.defaultTimeout.seconds

    func run() throws {
        let runner = SweepRunner(binary: SweepStart.selfExecutable(), jobs: 1, timeoutSeconds: timeoutSeconds, total: 1, alreadyDone: 0)
        let outcome = runner.run([SweepRunner.Job(index: 0, directory: directory, arguments: SweepRunner.runArguments(directory))],
                                 progress: false)[0]
        print("\(directory): \(outcome?.status ?? "not run")")
        if outcome?.status != "ok" { throw ExitCode.failure }
    }
}
