import StoqAnalyzer
import StoqEngine
import StoqNetwork

/// What differs between backends within one run; `SimulationRun` does the
/// rest (network, trace, workloads, link statistics, summary) once for all.
protocol RunBackend: AnyObject {
    /// The `backend` field of the trace's run header.
    var name: String { get }
    /// The network exists and no workload has started.
    func attach(network: Network, scheduler: Scheduler) throws
    /// A socket for a workload on `node` (the model's, or a real one).
    func bind(node: String, port: UInt16, network: Network) throws -> DatagramIO
    /// Runs events up to `end`: in virtual time, or paced by the wall clock.
    func advance(_ scheduler: Scheduler, until end: SimTime) -> RunOutcome
    /// Records the backend adds before the trace's `end` record.
    func finish(trace: (TraceRecord) -> Void)
    /// Releases what `attach` made; called on every path out of the run.
    func detach()
    /// Extra lines for the printed summary (e.g. a lag warning).
    var notes: [String] { get }
    /// The signal (SIGINT, SIGTERM) that stopped the run early, if one did.
    var interruptingSignal: Int32? { get }
}

/// The default backend: virtual time, the model's own sockets.
final class VirtualTimeBackend: RunBackend {
    var name: String { "sim" }
    func attach(network: Network, scheduler: Scheduler) throws {}
    func bind(node: String, port: UInt16, network: Network) throws -> DatagramIO {
        try network.bind(node: node, port: port)
    }
    func advance(_ scheduler: Scheduler, until end: SimTime) -> RunOutcome { scheduler.run(until: end) }
    func finish(trace: (TraceRecord) -> Void) {}
    func detach() {}
    var notes: [String] { [] }
    var interruptingSignal: Int32? { nil }
}

/// "SIGINT", "SIGTERM", or "signal N": how runs name the signal that stopped them.
func signalName(_ signal: Int32) -> String {
    switch signal {
    case 2: return "SIGINT"
    case 15: return "SIGTERM"
    default: return "signal \(signal)"
    }
}
