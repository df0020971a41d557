import ArgumentParser
import Foundation
import StoqAnalyzer
import StoqEmulation
import StoqRouting
import StoqScenario
import StoqTopology

/// `--limit KEY=N`, shared by the commands that read topology files.
struct LimitOptions: ParsableArguments {
    @Option(name: .customLong("limit"),
            help: ArgumentHelp("Raise a size limit, KEY=N (repeatable); keys: \(TopologyLimits.keys.joined(separator: ", ")). See docs/topology-format.md.",
                               valueName: "key=n"))
    var assignments: [String] = []

    func limits() throws -> TopologyLimits {
        var limits = TopologyLimits.standard
        for a in assignments {
            do { try limits.apply(a) } catch let e as TopologyLimits.BadAssignment { throw ValidationError(e.description) }
        }
        return limits
    }
}

/// Loads and fully validates a topology for a run on `backend` (file format,
/// workloads, routing), printing every diagnostic; exits 2 on errors.
func loadScenario(_ path: String, limits: TopologyLimits = .standard, backend: String = "sim") throws -> Scenario {
    do {
        let scenario = try Scenario.load(path: path, limits: limits, backend: backend)
        for w in scenario.topology.warnings { printError(w.description) }
        return scenario
    } catch let e as TopologyErrors {
        // Like a compiler: a generated file with 40,000 bad keys needs the first few, not all.
        let shown = 100
        for d in e.diagnostics.prefix(shown) { printError(d.description) }
        if e.diagnostics.count > shown { printError("… \(e.diagnostics.count - shown) more errors not shown") }
        printError("\(path): \(e.diagnostics.count) error\(e.diagnostics.count == 1 ? "" : "s")")
        throw ExitCode(badInputExitCode)
    } catch let e as TopologyDiagnostic {
        printError(e.description)
        throw ExitCode(badInputExitCode)
    }
}

func checkBackend(_ backend: String) throws {
    guard backend == "sim" || backend == "netns" else {
        throw ValidationError("unknown backend '\(backend)'; available: sim, netns")
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a topology file and print what it describes.")

    @Argument(help: "Topology file (YAML).") var file: String
    @Option(help: "Check for this backend too: sim or netns.") var backend: String = "sim"
    @OptionGroup var limits: LimitOptions

    func run() throws {
        try checkBackend(backend)
        let s = try loadScenario(file, limits: limits.limits(), backend: backend)
        let t = s.topology
        print("\(file): ok — \(t.name): \(t.sites.count) sites, \(t.nodes.count) nodes, \(t.links.count) links, " +
              "\(s.workloads.count) workloads, \(t.duration) simulated, seed \(t.seed)")
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a topology's workloads and write trace.jsonl, summary.json, report.md and report.html.")

    @Argument(help: "Topology file (YAML).") var file: String
    @Option(help: "Seed (overrides the file's).") var seed: UInt64?
    @Option(help: "Output directory (default: runs/NAME-seedN).") var out: String?
    @Option(help: "Routing strategy (overrides the file's): \(RoutingStrategies.names.joined(separator: ", ")).") var strategy: String?
    @Option(help: "Backend: sim (virtual time) or netns (a Linux network namespace per node, real sockets; needs root).")
    var backend: String = "sim"
    @Option(help: "netns: flag the run when the engine's lag p99 exceeds this.") var lagThreshold: String = "1ms"
    @Flag(help: "netns: do not run the engine thread under SCHED_FIFO.") var noRealtimePriority = false
    @Flag(help: "No progress lines.") var quiet = false
    @Option(help: "Also write each node's packets to DIR/NODE.pcapng.") var pcap: String?
    @Option(help: "With --pcap: capture only these nodes (names or selectors such as role:core, comma-separated), with the packets they forward.")
    var pcapNodes: String?
    @Flag(help: "With --pcap: also one file per link direction, DIR/link-A-to-B.pcapng.") var pcapLinks = false
    @Option(help: "Write one qlog file per QUIC connection into DIR (JSON-SEQ, open them in qvis).") var qlog: String?
    @Option(help: "sim: stop at this simulated time (e.g. 2s) instead of the file's duration; the summary says the run was cut short.")
    var until: String?
    @Option(help: "Write the TLS secrets of every QUIC connection to FILE (NSS key log format) so Wireshark/tshark decrypt the pcaps.")
    var keylog: String?

    @Option(help: "Trace the time series (utilisation, 10 ms peaks, queue, drops per bin) of the N busiest link directions; 0: none (default: the file's 'trace:', else \(TimeSeriesOptions().busiestLinks)).")
    var seriesTop: Int?
    @Option(help: "Track only these link directions for time series: a>b, or a node name for all its links (comma-separated).")
    var seriesLinks: String?
    @Option(help: "Time-series bin width (a multiple of 10ms, e.g. 100ms); default: the run cut into at most 300 bins.")
    var seriesBin: String?
    @Option(help: "Sample the congestion window and RTT of the first K transfers of each transfer workload (default: the file's 'trace:', else \(TimeSeriesOptions().sampledTransfers)).")
    var sampleTransfers: Int?

    @OptionGroup var limits: LimitOptions

    /// The file's `trace:` settings (`fromFile`) with the options given on the command line over them.
    func timeSeriesOptions(over fromFile: TimeSeriesOptions) throws -> TimeSeriesOptions {
        var o = fromFile
        guard seriesTop ?? 0 >= 0, sampleTransfers ?? 0 >= 0 else { throw ValidationError("--series-top and --sample-transfers must be 0 or more") }
        if let seriesTop { o.busiestLinks = seriesTop }
        if let sampleTransfers { o.sampledTransfers = sampleTransfers }
        if let seriesLinks { o.links = seriesLinks.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let seriesBin {
            guard let width = Units.parseDuration(seriesBin) else { throw ValidationError("--series-bin '\(seriesBin)' is not a duration (e.g. 100ms)") }
            do { try TimeSeriesOptions.checkBinWidth(width) } catch {
                throw ValidationError("--series-bin: \(error)")
            }
            o.binWidth = width
        }
        return o
    }

    func run() throws {
        try checkBackend(backend)
        guard let threshold = Units.parseDuration(lagThreshold) else {
            throw ValidationError("--lag-threshold '\(lagThreshold)' is not a duration (e.g. 1ms, 500us)")
        }
        var scenario = try loadScenario(file, limits: limits.limits(), backend: backend)
        if let keylog {
            // GnuTLS writes the NSS key log to SSLKEYLOGFILE, read at its first handshake.
            guard FileManager.default.createFile(atPath: keylog, contents: nil) || FileManager.default.isWritableFile(atPath: keylog) else {
                throw ValidationError("--keylog: cannot write \(keylog)")
            }
            setenv("SSLKEYLOGFILE", keylog, 1)
        }
        if let seed { scenario.topology.seed = seed }
        scenario.qlogDirectory = qlog
        if let until {
            guard backend == "sim" else { throw ValidationError("--until is for the sim backend (netns runs in real time: stop it with Ctrl-C)") }
            guard let t = Units.parseDuration(until), t > .zero else {
                throw ValidationError("--until '\(until)' is not a positive duration (e.g. 2s, 500ms)")
            }
            scenario.stopAt = t
        }
        scenario.timeSeries = try timeSeriesOptions(over: scenario.timeSeries)
        if pcapNodes != nil || pcapLinks {
            guard pcap != nil else { throw ValidationError("--pcap-nodes and --pcap-links need --pcap DIR") }
            let selectors = pcapNodes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if let selectors {
                do {
                    _ = try NodeSelector.resolve(selectors, in: scenario.topology, at: SourceLocation(file: "--pcap-nodes", line: 1, column: 1))
                } catch let d as TopologyDiagnostic {
                    throw ValidationError("--pcap-nodes: " + d.message + (d.hint.map { " (\($0))" } ?? ""))
                }
            }
            scenario.captureSelection = CaptureSelection(nodes: selectors, links: pcapLinks)
        }
        if let strategy {
            do { try scenario.setStrategy(strategy) } catch let e as TopologyDiagnostic {
                throw ValidationError(e.message + (e.hint.map { " (\($0))" } ?? ""))
            }
        }
        let dir = out ?? "runs/\(scenario.topology.name)-seed\(scenario.topology.seed)"
        let result: RunResult
        do {
            let progress: ((RunProgress) -> Void)? = quiet ? nil : { p in printError(p.description) }
            if backend == "netns" {
                var options = NetnsRunOptions()
                options.lagThresholdP99 = threshold
                options.realtimePriority = !noRealtimePriority
                result = try scenario.runOnNetns(outputDirectory: dir, pcapDirectory: pcap, options: options, progress: progress)
            } else {
                result = try scenario.run(outputDirectory: dir, pcapDirectory: pcap, progress: progress)
            }
        } catch EmulationError.interrupted(let signal) {
            // Stopped by the user before the run began; like a shell, exit 128 + the signal.
            printError("run stopped: \(EmulationError.interrupted(signal: signal))")
            throw ExitCode(128 + signal)
        } catch {
            printError("run failed: \(error)")
            throw ExitCode.failure
        }
        print(SummaryText.render(result.summary))
        for note in result.notes { print(note) }
        print("wrote \(result.tracePath)")
        for name in [RunReport.summaryFile, RunReport.markdownFile] {
            print("wrote \((dir as NSString).appendingPathComponent(name))")
        }
        if let pcap {
            print("wrote \(pcap)/NODE.pcapng for every " + (pcapNodes == nil ? "node that sent or received a packet" : "selected node a packet passed")
                  + (pcapLinks ? ", and \(pcap)/link-A-to-B.pcapng per link direction" : ""))
        }
        if let qlog { print("wrote \(qlog)/*.sqlog, one qlog per QUIC connection (transfers as WORKLOAD_FROM-to-TO_N)") }
        if let keylog { print("wrote \(keylog) (TLS secrets: tshark -o tls.keylog_file:\(keylog) decrypts the QUIC packets)") }
        // Last, where the eye lands: the report with the charts.
        print("report: \((dir as NSString).appendingPathComponent(RunReport.htmlFile))")
        // Like a shell: a run stopped by a signal exits 128 + its number.
        if let signal = result.interruptingSignal { throw ExitCode(128 + signal) }
    }
}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-analyze a finished run directory: rewrite summary.json, report.md and report.html from its trace.")

    @Argument(help: "Run directory (holding trace.jsonl).") var directory: String

    func run() throws {
        let trace = (directory as NSString).appendingPathComponent(RunReport.traceFile)
        guard FileManager.default.fileExists(atPath: trace) else {
            throw ValidationError("\(trace) does not exist; pass a directory written by 'stoqsim run'")
        }
        let result: (summary: RunSummary, paths: [String])
        do { result = try RunReport.analyze(directory: directory) } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
        print(SummaryText.render(result.summary))
        for p in result.paths { print("wrote \(p)") }
    }
}
