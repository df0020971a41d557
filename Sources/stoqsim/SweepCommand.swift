import ArgumentParser
import Foundation
import StoqAnalyzer
import StoqScenario
import StoqTopology

/// `stoqsim sweep FILE …` starts a sweep (the default subcommand);
/// `stoqsim sweep collect DIR` summarises one whose runs ran elsewhere (Slurm).
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every configuration of an experiment over its seeds, in parallel, and say what differs significantly.",
        discussion: "stoqsim sweep FILE … starts a sweep (see 'stoqsim sweep start --help'); see docs/experiments.md.",
        subcommands: [SweepStart.self, SweepCollect.self, SweepTask.self], defaultSubcommand: SweepStart.self)
}

struct SweepStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Run every configuration of an experiment over its seeds, in parallel, and say what differs significantly.",
        discussion: """
        FILE is an experiment (YAML naming its topology by path, with seeds and factors; see docs/experiments.md) or, with
        --seeds/--strategy/--set, a topology file. Each run is its own 'stoqsim run' process in DIR/runs/…; DIR gets
        experiment.json, sweep-summary.json, sweep.csv and sweep-report.html. Exit codes: 0 all runs finished,
        1 some failed (the rest are summarised), 2 bad input (nothing is run or written).
        """)

    @Argument(help: "Experiment file, or a topology file with --seeds/--strategy/--set.") var file: String
    @Option(help: "Runs at a time (default: the number of cores).") var jobs: Int?
    @Option(help: "Sweep directory (default: sweeps/NAME).") var out: String?
    @Flag(help: "Continue a sweep in --out: skip its finished runs, run the rest (and any new seeds).") var resume = false
    @Option(help: "With a topology file: seeds as a range 1..10 or a list 1,2,3 (default 1..10).") var seeds: String?
    @Option(help: "With a topology file: routing strategies to compare, comma-separated.") var strategy: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("With a topology file: vary a topology field, PATH=V1,V2 (repeatable), e.g. links[*].loss=0,0.01.", valueName: "path=values"))
    var assignments: [String] = []
    @Option(help: "Wall-clock limit per run, e.g. 10m (default: the experiment's 'timeout', else 1h).") var timeout: String?
    @Option(help: "The stoqsim binary each run uses (default: this one).") var binary: String?
    @Flag(help: "No progress line.") var quiet = false
    @Option(help: "Where runs execute: local (processes here) or slurm (one job array, then a collect job).") var executor = "local"
    @Option(help: "slurm: the partition to submit to.") var partition: String?
    @Option(help: "slurm: time limit per run in Slurm's format (default: the run timeout plus 5 minutes).") var time: String?
    @Option(help: "slurm: memory per run, e.g. 2G.") var mem: String?
    @Flag(help: "slurm: write the job script and its run list, do not submit.") var dryRun = false

    func validate() throws {
        guard ["local", "slurm"].contains(executor) else { throw ValidationError("--executor must be local or slurm, not '\(executor)'") }
        if executor == "local", partition != nil || time != nil || mem != nil || dryRun {
            throw ValidationError("--partition, --time, --mem and --dry-run go with --executor slurm")
        }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let timeout, (Units.parseDuration(timeout) ?? .zero) <= .zero {
            throw ValidationError("--timeout '\(timeout)' is not a positive duration (e.g. 10m, 90s)")
        }
    }

    func run() throws {
        let experiment = try loadExperiment()
        let plan = try SweepPlan(experiment: experiment)
        let outDir = out ?? "sweeps/\(experiment.name)"
        let previous = try checkOutputDirectory(outDir, plan: plan)
        try plan.write(into: outDir, experimentText: experimentYAML())

        let wallTimeout = (timeout.flatMap(Units.parseDuration) ?? experiment.timeout).seconds
        let done = Set(plan.runs.indices.filter { i in
            resume && SweepRunner.readOutcome(directory: plan.path(i, in: outDir))?.status == "ok" &&
                FileManager.default.fileExists(atPath: (plan.path(i, in: outDir) as NSString).appendingPathComponent(RunReport.summaryFile))
        })
        if !done.isEmpty { printError("sweep: resuming: \(done.count) of \(plan.runs.count) runs already finished") }
        let executable = binary ?? Self.selfExecutable()
        let jobCount = jobs ?? ProcessInfo.processInfo.activeProcessorCount
        let started = Date()
        // Written before the runs too, so an interrupted sweep can be resumed or collected.
        var record = SweepRecord(plan: plan, experiment: experiment, jobs: jobCount, binary: executable, timeout: wallTimeout,
                                 outcomes: [:], previous: previous)
        record.started = ISO8601DateFormatter().string(from: started)
        let todo = plan.runs.indices.filter { !done.contains($0) }
        if executor == "slurm", !todo.isEmpty {
            let slurm = SlurmSubmission(outDir: outDir, name: experiment.name, binary: executable, timeoutSeconds: wallTimeout,
                                        partition: partition, time: time, mem: mem)
            record.slurmJobs = try slurm.submit(runDirectories: todo.map { plan.path($0, in: outDir) }, dryRun: dryRun)
            try record.write(into: outDir)
            return
        }
        try record.write(into: outDir)
        let runner = SweepRunner(binary: executable, jobs: jobCount, timeoutSeconds: wallTimeout, total: plan.runs.count, alreadyDone: done.count)
        let work = todo.map { i in SweepRunner.Job(index: i, directory: plan.path(i, in: outDir), arguments: SweepRunner.runArguments(plan.path(i, in: outDir))) }
        var outcomes = runner.run(work, progress: !quiet)
        for i in done { outcomes[i] = SweepRunner.readOutcome(directory: plan.path(i, in: outDir)) }

        record = SweepRecord(plan: plan, experiment: experiment, jobs: jobCount, binary: executable, timeout: wallTimeout,
                             outcomes: outcomes, previous: previous)
        record.started = ISO8601DateFormatter().string(from: started)
        record.finished = ISO8601DateFormatter().string(from: Date())
        record.wallSeconds = Date().timeIntervalSince(started)
        try record.write(into: outDir)
        try SweepCollect.report(record.summary(outDir: outDir), outDir: outDir)
    }

    // MARK: Input

    static let commandLine = "(command line)"

    private var usesFlags: Bool { seeds != nil || strategy != nil || !assignments.isEmpty }

    /// The experiment file, or one made from the flags around a topology file.
    private func loadExperiment() throws -> Experiment {
        do {
            let root = try ConfigDocument.read(path: file)
            if Experiment.isExperiment(root) {
                guard !usesFlags else {
                    throw ValidationError("--seeds, --strategy and --set go with a topology file; \(file) is an experiment, so change its 'seeds' and 'factors' instead")
                }
                guard let root else { throw ValidationError("\(file) is empty") }
                return try Experiment.parse(root: root, file: file)
            }
            return try Experiment.parse(root: flagsExperiment(), file: Self.commandLine)
        } catch let e as TopologyErrors {
            Self.report(e.diagnostics, in: file)
        } catch let d as TopologyDiagnostic {
            Self.report([d], in: file)
        }
    }

    /// The flags as the experiment they stand for, so one code path checks both.
    private func flagsExperiment() throws -> ConfigValue {
        let loc = SourceLocation(file: Self.commandLine, line: 1, column: 1)
        func scalar(_ s: String) -> ConfigValue { .scalar(s, loc) }
        func list(_ text: String) -> ConfigValue {
            .sequence(text.split(separator: ",", omittingEmptySubsequences: false).map { scalar($0.trimmingCharacters(in: .whitespaces)) }, loc)
        }
        var entries = [ConfigMap.Entry(key: "topology", keyLocation: loc, value: scalar(file))]
        let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        let name = stem.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) } && !stem.isEmpty ? stem : "sweep"
        entries.append(.init(key: "name", keyLocation: loc, value: scalar(name)))
        if let seeds { entries.append(.init(key: "seeds", keyLocation: loc, value: seeds.contains("..") ? scalar(seeds) : list(seeds))) }
        var factors: [ConfigMap.Entry] = []
        if let strategy { factors.append(.init(key: "strategy", keyLocation: loc, value: list(strategy))) }
        for a in assignments {
            guard let eq = a.firstIndex(of: "="), eq != a.startIndex else {
                throw ValidationError("--set '\(a)' must be PATH=V1,V2, e.g. links[*].loss=0,0.01")
            }
            factors.append(.init(key: String(a[..<eq]), keyLocation: loc, value: list(String(a[a.index(after: eq)...]))))
        }
        if !factors.isEmpty { entries.append(.init(key: "factors", keyLocation: loc, value: .mapping(ConfigMap(entries: factors, location: loc)))) }
        return .mapping(ConfigMap(entries: entries, location: loc))
    }

    /// What the sweep directory keeps as experiment.yaml: the file, or the flags written out as one.
    private func experimentYAML() throws -> String {
        if !usesFlags, let data = FileManager.default.contents(atPath: file) { return String(decoding: data, as: UTF8.self) }
        var root = try flagsExperiment()
        if case .mapping(var m) = root, let i = m.entries.firstIndex(where: { $0.key == "topology" }) {
            // Absolute, so the copy in the sweep directory still finds it.
            let absolute = URL(fileURLWithPath: file).standardizedFileURL.path
            m.entries[i].value = .scalar(absolute, m.location)
            root = .mapping(m)
        }
        return "# stoqsim sweep \(CommandLine.arguments.dropFirst(2).joined(separator: " "))\n" + ConfigDocument.yaml(root)
    }

    /// Prints diagnostics like a compiler (flags have no line to point at) and exits 2.
    static func report(_ diagnostics: [TopologyDiagnostic], in file: String) -> Never {
        for d in diagnostics.prefix(100) {
            if d.location.file == commandLine {
                printError("error: \(d.message)" + (d.hint.map { "\n    hint: \($0)" } ?? ""))
            } else {
                printError(d.description)
            }
        }
        if diagnostics.count > 100 { printError("… \(diagnostics.count - 100) more errors not shown") }
        printError("\(file): \(diagnostics.count) error\(diagnostics.count == 1 ? "" : "s"); nothing was run")
        Foundation.exit(badInputExitCode)
    }

    /// Refuses a directory holding something else; returns the earlier record when resuming.
    private func checkOutputDirectory(_ dir: String, plan: SweepPlan) throws -> SweepRecord? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) else { return nil }
        guard isDirectory.boolValue else { throw Self.badInput("--out \(dir) is a file, not a directory") }
        let recordPath = (dir as NSString).appendingPathComponent(SweepRecord.file)
        guard FileManager.default.fileExists(atPath: recordPath) else {
            if (try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty ?? true { return nil }
            throw Self.badInput("\(dir) is not empty and holds no \(SweepRecord.file): not a sweep directory; choose another --out")
        }
        guard let previous = try? SweepRecord.read(from: recordPath) else {
            throw Self.badInput("\(recordPath) cannot be read as a sweep record; choose another --out")
        }
        if let clash = previous.conflict(with: plan) {
            throw Self.badInput("\(dir) holds another experiment (\(clash)); choose another --out")
        }
        guard resume else {
            throw Self.badInput("\(dir) already holds this sweep; pass --resume to run what is missing, or choose another --out")
        }
        return previous
    }

    /// Says what is wrong (without the usage text a flag error gets) and exits 2.
    static func badInput(_ message: String) -> ExitCode {
        printError("error: \(message)")
        return ExitCode(badInputExitCode)
    }

    /// This very binary, so runs use the same code as the sweep.
    static func selfExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// The runs of an experiment, checked: every configuration's topology is
/// resolved and validated (format, workloads, routing) before anything runs.
struct SweepPlan {
    struct PlannedRun {
        var configuration: Int
        var seed: UInt64
        /// Relative to the sweep directory.
        var directory: String
        /// The resolved topology as YAML, without the header comment (which
        /// names the base by the path it was given, so the hash ignores it).
        var topologyYAML: String
        var header: String
        var topologyText: String { header + topologyYAML }
    }

    static let topologyFile = "topology.yaml"
    static let experimentFile = "experiment.yaml"

    let experiment: Experiment
    let runs: [PlannedRun]
    let configurationDirectories: [String]

    init(experiment: Experiment) throws {
        self.experiment = experiment
        let base: ConfigValue?
        do {
            base = try ConfigDocument.read(path: experiment.topologyPath)
        } catch let e as TopologyErrors {
            SweepStart.report(e.diagnostics, in: experiment.topologyPath)
        } catch let d as TopologyDiagnostic {
            SweepStart.report([TopologyDiagnostic(at: experiment.topologyLocation, d.message, hint: d.hint)], in: experiment.file)
        }
        guard let base else {
            SweepStart.report([TopologyDiagnostic(at: experiment.topologyLocation, "the topology \(experiment.topologyPath) is empty")], in: experiment.file)
        }
        var diagnostics: [TopologyDiagnostic] = []
        var seen = Set<String>()
        var resolved: [ConfigValue] = []
        for c in experiment.configurations {
            var found: [TopologyDiagnostic] = []
            do {
                let root = try experiment.resolve(base: base, configuration: c, seed: experiment.seeds[0])
                resolved.append(root)
                let parsed = TopologyParser.parse(root: root, file: experiment.topologyPath)
                if let topology = parsed.topology {
                    do { _ = try Scenario(topology: topology, backend: "sim", earlierErrors: parsed.errors) } catch let e as TopologyErrors {
                        found = e.diagnostics
                    }
                } else {
                    found = parsed.errors
                }
            } catch let e as TopologyErrors {
                found = e.diagnostics
            }
            let fresh = found.filter { seen.insert($0.description).inserted }
            if !fresh.isEmpty, !experiment.factors.isEmpty {
                let label = zip(experiment.factors, c.valueIndices).map { "\($0.name)=\(Experiment.describe($0.values[$1]))" }
                    .joined(separator: ", ")
                diagnostics += fresh.map { d in
                    var d = d
                    d.message += " (configuration \(label))"
                    return d
                }
            } else {
                diagnostics += fresh
            }
        }
        guard diagnostics.isEmpty else { SweepStart.report(diagnostics, in: experiment.file == SweepStart.commandLine ? experiment.topologyPath : experiment.file) }

        configurationDirectories = experiment.configurations.map(experiment.directoryName)
        var runs: [PlannedRun] = []
        for (i, c) in experiment.configurations.enumerated() {
            for seed in experiment.seeds {
                var root = resolved[i]
                if case .mapping(var m) = root, let s = m.entries.firstIndex(where: { $0.key == "seed" }) {
                    m.entries[s].value = .scalar(String(seed), m.entries[s].value.location)
                    root = .mapping(m)
                }
                let header = "# Resolved by stoqsim sweep from \(experiment.topologyPath) for experiment \(experiment.name)" +
                    (experiment.factors.isEmpty ? "" : ": \(experiment.label(c))") + ", seed \(seed)\n"
                runs.append(PlannedRun(configuration: i, seed: seed, directory: "runs/\(configurationDirectories[i])/seed-\(seed)",
                                       topologyYAML: ConfigDocument.yaml(root), header: header))
            }
        }
        self.runs = runs
    }

    func path(_ run: Int, in outDir: String) -> String { (outDir as NSString).appendingPathComponent(runs[run].directory) }

    /// Run directories with their resolved topologies, and the experiment as given.
    func write(into outDir: String, experimentText: String) throws {
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        try Data(experimentText.utf8).write(to: URL(fileURLWithPath: (outDir as NSString).appendingPathComponent(Self.experimentFile)))
        for i in runs.indices {
            let dir = path(i, in: outDir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data(runs[i].topologyText.utf8).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(Self.topologyFile)))
        }
    }

    /// Numbers behind a factor's values (sizes in bytes, durations in seconds,
    /// rates in bit/s), when every value is one; nil otherwise.
    static func numeric(_ values: [ConfigValue]) -> [Double]? {
        let numbers = values.map { v -> Double? in
            guard case .scalar(let s, _) = v else { return nil }
            let t = s.trimmingCharacters(in: .whitespaces)
            return Double(t) ?? Units.parseProbability(t) ?? Units.parseBytes(t).map(Double.init)
                ?? Units.parseDuration(t).map(\.seconds) ?? Units.parseBandwidth(t).map(Double.init)
        }
        return numbers.contains(where: { $0 == nil }) ? nil : numbers.map { $0! }
    }
}

/// experiment.json: the matrix, the code and machine it ran on, and how each run went.
struct SweepRecord: Codable {
    struct Configuration: Codable {
        var label: String
        var directory: String
        var valueIndices: [Int]
    }
    struct Run: Codable {
        var directory: String
        var configurationIndex: Int
        var configuration: String
        var values: [String: String]
        var seed: UInt64
        /// FNV-1a of the resolved topology: a resumed sweep must not mix in other runs.
        var topologyHash: String
        var status: String?
        var exitCode: Int32?
        var signal: Int32?
        var wallSeconds: Double?
    }
    struct Machine: Codable {
        var host: String
        var cores: Int
        var memoryBytes: UInt64
        var os: String
    }

    static let file = "experiment.json"

    var schema = 1
    var experiment: String
    var experimentFile: String
    var topology: String
    var command: [String]
    var codeVersion: String?
    var binary: String
    var machine: Machine
    var jobs: Int
    var factors: [SweepSummary.Factor]
    var seeds: [UInt64]
    var configurations: [Configuration]
    var runs: [Run]
    var timeoutSeconds: Double
    /// Job ids when the runs were submitted to Slurm (the array, then its collect job).
    var slurmJobs: [String]?
    var started: String?
    var finished: String?
    var wallSeconds: Double?

    init(plan: SweepPlan, experiment: Experiment, jobs: Int, binary: String, timeout: Double, outcomes: [Int: SweepRunner.Outcome],
         previous: SweepRecord?) {
        self.experiment = experiment.name
        experimentFile = experiment.file
        topology = experiment.topologyPath
        command = CommandLine.arguments
        codeVersion = Self.codeVersion(binary: binary)
        self.binary = binary
        let info = ProcessInfo.processInfo
        machine = Machine(host: info.hostName, cores: info.activeProcessorCount, memoryBytes: info.physicalMemory,
                          os: info.operatingSystemVersionString)
        self.jobs = jobs
        factors = experiment.factors.map {
            SweepSummary.Factor(name: $0.name, label: $0.label, values: $0.values.map(Experiment.describe),
                                numericValues: SweepPlan.numeric($0.values))
        }
        seeds = experiment.seeds
        configurations = experiment.configurations.enumerated().map { i, c in
            Configuration(label: experiment.label(c), directory: "runs/\(plan.configurationDirectories[i])", valueIndices: c.valueIndices)
        }
        timeoutSeconds = timeout
        let earlier = Dictionary((previous?.runs ?? []).map { ($0.directory, $0) }, uniquingKeysWith: { a, _ in a })
        runs = plan.runs.enumerated().map { i, r in
            let c = experiment.configurations[r.configuration]
            let values = Dictionary(zip(experiment.factors, c.valueIndices).map { ($0.name, Experiment.describe($0.values[$1])) },
                                    uniquingKeysWith: { a, _ in a })
            // A run skipped on resume keeps the figures of the sweep that ran it.
            let o = outcomes[i]
            let wall = o.map { $0.wallSeconds } ?? earlier[r.directory]?.wallSeconds
            return Run(directory: r.directory, configurationIndex: r.configuration, configuration: experiment.label(c), values: values, seed: r.seed,
                       topologyHash: Self.hash(r.topologyYAML), status: o?.status, exitCode: o?.exitCode, signal: o?.signal,
                       wallSeconds: wall)
        }
    }

    /// Why `plan` is not this record's experiment (nil when it is, more seeds allowed).
    func conflict(with plan: SweepPlan) -> String? {
        if experiment != plan.experiment.name { return "experiment '\(experiment)', not '\(plan.experiment.name)'" }
        // Only seeds may be added to a sweep; other factors or values make it another study.
        let planned = plan.experiment.factors.map { "\($0.name)=\($0.values.map(Experiment.describe))" }
        if factors.map({ "\($0.name)=\($0.values)" }) != planned { return "other factors or values" }
        let mine = Dictionary(runs.map { ($0.directory, $0.topologyHash) }, uniquingKeysWith: { a, _ in a })
        for r in plan.runs {
            if let h = mine[r.directory], h != Self.hash(r.topologyYAML) { return "\(r.directory) ran a different topology" }
        }
        return nil
    }

    static func hash(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }

    /// `git describe` of the checkout the binary was built in, when there is one.
    static func codeVersion(binary: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["-C", (binary as NSString).deletingLastPathComponent, "describe", "--always", "--dirty", "--tags"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        guard (try? p.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// Statistics over whatever finished (each run's run-status.json says
    /// how it ended); failed and unfinished runs are listed.
    func summary(outDir: String) -> SweepSummary {
        let inputs = runs.map { run -> SweepSummary.RunInput in
            let dir = (outDir as NSString).appendingPathComponent(run.directory)
            let outcome = SweepRunner.readOutcome(directory: dir) ?? SweepRunner.Outcome(status: "not finished", exitCode: nil, signal: nil, wallSeconds: 0)
            let log = (run.directory as NSString).appendingPathComponent(SweepRunner.logFile)
            func failed(_ status: String) -> SweepSummary.RunInput {
                .init(configuration: run.configurationIndex, seed: run.seed, directory: run.directory, summary: nil,
                      failure: SweepSummary.FailedRun(directory: run.directory, configuration: run.configurationIndex, seed: run.seed,
                                                      status: status, exitCode: outcome.exitCode, signal: outcome.signal, log: log))
            }
            guard outcome.status == "ok" else { return failed(outcome.status) }
            guard let s = try? TraceAnalyzer.read(summaryAt: (dir as NSString).appendingPathComponent(RunReport.summaryFile)) else {
                return failed("no summary")
            }
            return .init(configuration: run.configurationIndex, seed: run.seed, directory: run.directory, summary: s, failure: nil)
        }
        return SweepSummary(experiment: experiment, topology: topology, seeds: seeds, factors: factors,
                            configurations: configurations.map { ($0.label, $0.directory, $0.valueIndices) }, runs: inputs)
    }

    func write(into dir: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(Self.file)))
    }

    static func read(from path: String) throws -> SweepRecord {
        try JSONDecoder().decode(SweepRecord.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
