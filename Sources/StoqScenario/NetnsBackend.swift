#if os(Linux)
import Foundation
import StoqAnalyzer
import StoqEmulation
import StoqEngine
import StoqNetwork

/// Options of a run on the netns backend.
public struct NetnsRunOptions {
    /// A run whose engine lag p99 exceeds this says so: programs run by exec
    /// (and packets the kernel hands over late) saw the network slower by
    /// about the lag; the workloads' own sockets keep the model's instants.
    public var lagThresholdP99: SimDuration = .milliseconds(1)
    /// Run the engine thread under SCHED_FIFO (see `RealtimePriority`).
    public var realtimePriority = true
    /// Where to say what the run cleaned up before starting (namespaces
    /// of runs that were killed); stderr by default.
    public var diagnostics: (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
    public init() {}
}

/// The netns backend: the same network model, paced by the wall clock, with
/// every node a network namespace whose real sockets and programs the model
/// connects (see `NetnsEmulator`).
final class NetnsBackend: RunBackend {
    let options: NetnsRunOptions
    let outputDirectory: String
    private var driver: RealTimeDriver?
    private var emulator: NetnsEmulator?
    /// Installed by the caller before anything of the run exists.
    private let interrupt: InterruptWatch
    private var raisedPriority = false
    private(set) var report: TraceRecord.RealtimeReport?
    private(set) var interruptedBy: Int32 = 0

    init(options: NetnsRunOptions, outputDirectory: String, interrupt: InterruptWatch) {
        self.options = options
        self.outputDirectory = outputDirectory
        self.interrupt = interrupt
    }

    var name: String { "netns" }

    func attach(network: Network, scheduler: Scheduler) throws {
        // The run calls detach only after attach succeeded: undo a partial attach here.
        do { try attachParts(network: network, scheduler: scheduler) } catch {
            detach()
            throw error
        }
    }

    private func attachParts(network: Network, scheduler: Scheduler) throws {
        let driver = try RealTimeDriver(scheduler: scheduler)
        self.driver = driver
        try interrupt.watch(driver)
        let interrupt = self.interrupt
        if options.realtimePriority { raisedPriority = RealtimePriority.raise() }
        let emulator = try NetnsEmulator(network: network, driver: driver, interrupted: { interrupt.signal })
        self.emulator = emulator
        // Which namespace is which node, for `ip netns exec` while the run lasts.
        let map = network.topology.nodes.enumerated().map { i, n in "\(n.name)\t\(emulator.namespaceNames[i])\t\(n.address)" }
        try (["node\tnamespace\taddress"] + map).joined(separator: "\n").appending("\n")
            .write(toFile: (outputDirectory as NSString).appendingPathComponent("namespaces.tsv"), atomically: true, encoding: .utf8)
    }

    func bind(node: String, port: UInt16, network: Network) throws -> DatagramIO {
        try emulator!.bindWorkloadSocket(node: node, port: port)
    }

    func spawn(node: String, arguments: [String], stdoutPath: String, stderrPath: String,
               onExit: @escaping (ChildProcess.Status) -> Void) throws -> ChildProcess {
        try emulator!.spawn(node: node, arguments: arguments, stdoutPath: stdoutPath, stderrPath: stderrPath, onExit: onExit)
    }

    func advance(_ scheduler: Scheduler, until end: SimTime, poll: () -> Void) -> RunOutcome {
        guard let driver else { return .idle }
        let outcome = interrupt.signal == 0 ? driver.run(until: end) : .stopped
        if interrupt.signal != 0 {
            interruptedBy = interrupt.signal
            return .stopped
        }
        return outcome
    }

    func finish(trace: (TraceRecord) -> Void) {
        guard let driver, let emulator else { return }
        let lag = driver.lagReport
        let r = TraceRecord.RealtimeReport(events: lag.count, lagMeanNs: lag.mean.nanoseconds, lagP50Ns: lag.p50.nanoseconds,
                                           lagP99Ns: lag.p99.nanoseconds, lagMaxNs: lag.max.nanoseconds,
                                           thresholdP99Ns: options.lagThresholdP99.nanoseconds,
                                           packetsRelayed: emulator.stats.packetsOut,
                                           setupNs: Int64(emulator.setupSeconds * 1e9))
        report = r
        trace(.realtime(r))
    }

    func detach() {
        if raisedPriority { RealtimePriority.restore() }
        emulator?.shutdown()
    }

    var interruptingSignal: Int32? { interruptedBy == 0 ? nil : interruptedBy }

    var notes: [String] {
        var notes: [String] = []
        if let r = report {
            let fmt = SummaryText.formatNs
            notes.append("real-time engine: \(r.events) events, lag p50 \(fmt(r.lagP50Ns)), p99 \(fmt(r.lagP99Ns)), " +
                         "max \(fmt(r.lagMaxNs)); \(r.packetsRelayed) packets relayed; set-up \(fmt(r.setupNs))" +
                         (raisedPriority ? "" : "; SCHED_FIFO not granted"))
            if r.exceedsThreshold {
                notes.append("WARNING: engine lag p99 \(fmt(r.lagP99Ns)) exceeds the \(fmt(r.thresholdP99Ns)) threshold (machine busy?): " +
                             "the workloads' own packets keep the model's times, but programs run by exec " +
                             "saw the network up to the lag slower")
            }
        }
        if let emulator, emulator.stats.writeErrors > 0 {
            notes.append("WARNING: \(emulator.stats.writeErrors) packets could not be written to TUN devices")
        }
        if interruptedBy != 0 { notes.append("interrupted by \(signalName(interruptedBy)): the run stopped early; namespaces removed") }
        return notes
    }
}

extension Scenario {
    /// Runs on the netns backend: needs root and namespace support (the error
    /// says what is missing). Writes what `run` writes, with backend "netns",
    /// a `realtime` record and `realtime` in summary.json, plus
    /// `namespaces.tsv` and exec workloads' output files.
    public func runOnNetns(outputDirectory: String, pcapDirectory: String? = nil, options: NetnsRunOptions = NetnsRunOptions(),
                           progress: ((RunProgress) -> Void)? = nil) throws -> RunResult {
        // Handlers first: from here on a signal only stops the run, so every
        // namespace made (the check's too) is removed by this process.
        let interrupt = try InterruptWatch()
        defer { interrupt.close() }
        if let reason = Namespaces.unavailableReason() { throw EmulationError.unsupported(reason) }
        let leftovers = Namespaces.cleanupLeftovers()
        for line in leftovers.messages { options.diagnostics(line) }
        if !leftovers.failed.isEmpty {
            options.diagnostics("could not remove namespaces of dead runs: \(leftovers.failed.joined(separator: ", "))")
        }
        if interrupt.signal != 0 { throw EmulationError.interrupted(signal: interrupt.signal) }
        let run = SimulationRun(topology: topology, strategy: try strategy(), outputDirectory: outputDirectory)
        let backend = NetnsBackend(options: options, outputDirectory: outputDirectory, interrupt: interrupt)
        run.backend = backend
        run.timeSeries = timeSeries
        run.pcapDirectory = pcapDirectory
        run.captureSelection = captureSelection
        run.qlogDirectory = qlogDirectory
        let result = try run.execute(progress: progress)
        if let r = backend.report { try Self.addRealtime(r, toSummaryAt: result.summaryPath) }
        return result
    }

    /// summary.json gains `realtime` (the analyzer does not read the record yet).
    static func addRealtime(_ r: TraceRecord.RealtimeReport, toSummaryAt path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard var json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return }
        json["realtime"] = ["events": r.events, "lag_mean_ns": r.lagMeanNs, "lag_p50_ns": r.lagP50Ns,
                            "lag_p99_ns": r.lagP99Ns, "lag_max_ns": r.lagMaxNs, "lag_threshold_p99_ns": r.thresholdP99Ns,
                            "lag_exceeds_threshold": r.exceedsThreshold, "packets_relayed": r.packetsRelayed,
                            "setup_ns": r.setupNs] as [String: Any]
        let out = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try out.write(to: URL(fileURLWithPath: path))
    }
}
#endif
