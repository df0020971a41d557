import Foundation
import StoqAnalyzer
import StoqEngine
import StoqNetwork
import StoqRouting
import StoqTopology

/// A validated topology with its workloads: what `stoqsim validate` checks and
/// `stoqsim run` runs.
public struct Scenario {
    public var topology: Topology
    /// The workloads as parsed at load time (for listing; each run builds fresh ones).
    public private(set) var workloads: [Workload]
    /// What `--pcap` captures besides each node's own packets (`--pcap-nodes`, `--pcap-links`).
    public var captureSelection = CaptureSelection()
    /// `--qlog DIR`: one qlog file per QUIC connection there; nil writes none.
    public var qlogDirectory: String?
    /// `--until TIME` (sim backend): stop at this simulated time, before the
    /// file's `duration`, and say so in the summary — a quick look at a big
    /// topology without editing its workloads. nil runs to the end.
    public var stopAt: SimDuration?
    /// Link activity and transfers' congestion state over time (`run --series-*`).
    public var timeSeries = TimeSeriesOptions()

    /// Validates `topology`: every workload, the routing strategy and its
    /// parameters, and with a `backend` that each workload can run on it (nil:
    /// the run checks that). All problems are thrown together, after
    /// `earlierErrors` (those of the parse), so one pass shows them all.
    public init(topology: Topology, backend: String? = nil, earlierErrors: [TopologyDiagnostic] = []) throws {
        self.topology = topology
        var errors = earlierErrors
        let made = WorkloadRegistry.makeAll(for: topology, backend: backend)
        self.workloads = made.workloads
        errors += made.errors
        errors += TransportKnobs.check(topology)
        do {
            timeSeries = try TimeSeriesOptions(section: topology.trace, topology: topology)
        } catch let d as TopologyDiagnostic {
            errors.append(d)
        }
        do {
            _ = try strategy()
            // Per-region strategies and routing parameters are checked against the graph.
            errors += RoutingPolicy.check(topology)
        } catch let d as TopologyDiagnostic {
            errors.append(d)
        }
        if !errors.isEmpty { throw TopologyErrors(inFileOrder: errors) }
    }

    /// Parses, validates and checks the workloads of the file at `path` for a
    /// run on `backend`: everything `run` would refuse, `validate` refuses.
    public static func load(path: String, limits: TopologyLimits = .standard, backend: String? = nil) throws -> Scenario {
        let parsed = try TopologyParser.read(path: path, limits: limits)
        guard let topology = parsed.topology else { throw TopologyErrors(parsed.errors) }
        return try Scenario(topology: topology, backend: backend, earlierErrors: parsed.errors)
    }

    /// Replaces the default routing strategy named in the file (`--strategy`),
    /// keeping its per-region choices, weights and detection delay.
    public mutating func setStrategy(_ name: String) throws {
        topology.routing.strategy = name
        topology.routing.location = nil
        _ = try strategy()
    }

    func strategy() throws -> RoutingStrategy {
        guard let s = RoutingStrategies.named(topology.routing.strategy, config: topology.routing) else {
            throw TopologyDiagnostic(at: topology.routing.location ?? SourceLocation(file: topology.sourceFile, line: 1, column: 1),
                                     "unknown routing strategy '\(topology.routing.strategy)'",
                                     hint: "known strategies: \(RoutingStrategies.names.joined(separator: ", "))")
        }
        return s
    }

    /// Runs on the virtual-time backend and writes `trace.jsonl` and
    /// `summary.json` into `outputDirectory` (created if needed).
    public func run(outputDirectory: String, progress: ((RunProgress) -> Void)? = nil) throws -> RunResult {
        try run(outputDirectory: outputDirectory, pcapDirectory: nil, progress: progress)
    }
}

/// Reported about once per wall-clock second during long runs.
public struct RunProgress: CustomStringConvertible {
    public var simulated: SimTime
    /// The run's `duration`: the percentage is of this.
    public var end: SimTime
    /// How far past `end` in-flight work may still run (a probe's timeout, a transfer's last bytes).
    public var drainEnd: SimTime
    public var wallSeconds: Double
    public var events: UInt64

    public init(simulated: SimTime, end: SimTime, drainEnd: SimTime? = nil, wallSeconds: Double, events: UInt64) {
        self.simulated = simulated; self.end = end; self.drainEnd = drainEnd ?? end
        self.wallSeconds = wallSeconds; self.events = events
    }

    public var eventsPerSecond: Double { wallSeconds > 0 ? Double(events) / wallSeconds : 0 }

    public var description: String {
        let pct = end.nanosecondsSinceStart > 0 ? 100 * Double(simulated.nanosecondsSinceStart) / Double(end.nanosecondsSinceStart) : 100
        let phase = simulated <= end ? "simulated \(Self.clock(simulated)) of \(Self.clock(end))"
            : "simulated \(Self.clock(simulated)), past the end (\(Self.clock(end))) finishing in-flight work, at most to \(Self.clock(drainEnd))"
        return String(format: "[%5.1f%%] %@, wall %.1fs, %.2fM events/s", min(pct, 100), phase, wallSeconds, eventsPerSecond / 1e6)
    }

    /// Simulated time for people: "850ms", "42.5s", "12m 3s", "3h 12m", "12d 3h".
    public static func clock(_ t: SimTime) -> String {
        let ns = t.nanosecondsSinceStart, s = ns / 1_000_000_000
        switch s {
        case ..<60: return "\(SimDuration(nanoseconds: ns))"
        case ..<3600: return "\(s / 60)m \(s % 60)s"
        case ..<86_400: return "\(s / 3600)h \(s % 3600 / 60)m"
        default: return "\(s / 86_400)d \(s % 86_400 / 3600)h"
        }
    }
}

public struct RunResult {
    public var summary: RunSummary
    public var tracePath: String
    public var summaryPath: String
    public var wallSeconds: Double
    /// What the backend wants said besides the summary (e.g. a lag warning).
    public var notes: [String] = []
    /// The signal that stopped the run early (the trace is complete up to then).
    public var interruptingSignal: Int32?
}
