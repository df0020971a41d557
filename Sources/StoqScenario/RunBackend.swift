import StoqAnalyzer
import StoqEmulation
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
    /// `poll` is called now and then while it runs (progress lines).
    func advance(_ scheduler: Scheduler, until end: SimTime, poll: () -> Void) -> RunOutcome
    /// Records the backend adds before the trace's `end` record.
    func finish(trace: (TraceRecord) -> Void)
    /// Releases what `attach` made; called on every path out of the run.
    func detach()
    /// Extra lines for the printed summary (e.g. a lag warning).
    var notes: [String] { get }
    /// The signal (SIGINT, SIGTERM) that stopped the run early, if one did.
    var interruptingSignal: Int32? { get }
}

/// The default backend: virtual time, the model's own sockets. Ctrl-C (or
/// SIGTERM) stops the run between slices of simulated time, and the trace,
/// summary and reports are written for what ran, marked incomplete.
final class VirtualTimeBackend: RunBackend {
    var name: String { "sim" }
    #if os(Linux)
    private var interrupt: InterruptWatch?
    #endif
    private var interruptedBy: Int32 = 0

    func attach(network: Network, scheduler: Scheduler) throws {
        #if os(Linux)
        interrupt = try InterruptWatch()
        #endif
    }
    func bind(node: String, port: UInt16, network: Network) throws -> DatagramIO {
        try network.bind(node: node, port: port)
    }
    func advance(_ scheduler: Scheduler, until end: SimTime, poll: () -> Void) -> RunOutcome {
        if interrupted { return .stopped }
        // A slice of simulated time can hold billions of events: look for a
        // signal, and let progress be reported, every 64 Ki of them.
        let outcome = scheduler.run(until: end, polling: 1 << 16) {
            poll()
            return interrupted
        }
        return interrupted ? .stopped : outcome
    }
    private var interrupted: Bool {
        #if os(Linux)
        if interruptedBy == 0, let s = interrupt?.signal, s != 0 { interruptedBy = s }
        #endif
        return interruptedBy != 0
    }
    func finish(trace: (TraceRecord) -> Void) {}
    func detach() {
        #if os(Linux)
        interrupt?.close()
        interrupt = nil
        #endif
    }
    var notes: [String] { interruptedBy == 0 ? [] : ["interrupted by \(signalName(interruptedBy)): the run stopped early"] }
    var interruptingSignal: Int32? { interruptedBy == 0 ? nil : interruptedBy }
}

/// "SIGINT", "SIGTERM", or "signal N": how runs name the signal that stopped them.
func signalName(_ signal: Int32) -> String {
    switch signal {
    case 2: return "SIGINT"
    case 15: return "SIGTERM"
    default: return "signal \(signal)"
    }
}
