import StoqAnalyzer
import StoqEngine
import StoqNetwork
import StoqNodeRuntime
import StoqTopology
import StoqTransport

/// What a workload sees of a run: the clock, the nodes' network endpoints and
/// the trace. Workloads reach the network only through `DatagramIO`, so the
/// same workload code runs on every backend.
public final class ScenarioContext: StoqNodeHost {
    public let topology: Topology
    public let scheduler: Scheduler
    public let network: Network
    public let seed: UInt64
    /// No workload starts new work at or after this instant.
    public let endTime: SimTime
    private let traceSink: (TraceRecord) -> Void
    /// Where sockets come from: the model's (sim) or real ones in namespaces (netns).
    var backend: RunBackend = VirtualTimeBackend()
    /// Where every QUIC connection writes its qlog (`run --qlog`); nil: none.
    package var qlogDirectory: String?
    /// Transfers per `transfer` workload whose congestion state is sampled (`TimeSeriesOptions`).
    var sampledTransfers = 0
    private var addresses: [String: IPv6Address] = [:]
    private var echoServices: [String: DatagramIO] = [:]
    private var nextEphemeralPort: [String: UInt16] = [:]
    /// The nodes' STOQ (QUIC) endpoints, made on first use.
    public private(set) lazy var stoq = StoqServices(context: self)
    /// The receiving side of every transfer workload of the run.
    lazy var transferSink = TransferSink()
    /// Published objects, edge caches and content exchanges, made on first use.
    public private(set) lazy var content = ContentDistribution(context: self)
    private var nodesByAddress: [IPv6Address: String] = [:]
    private var runEndHandlers: [() -> Void] = []

    init(topology: Topology, scheduler: Scheduler, network: Network, seed: UInt64, trace: @escaping (TraceRecord) -> Void) {
        self.topology = topology
        self.scheduler = scheduler
        self.network = network
        self.seed = seed
        self.endTime = SimTime.zero + topology.duration
        self.traceSink = trace
        for n in topology.nodes {
            addresses[n.name] = n.address
            nodesByAddress[n.address] = nodesByAddress[n.address] ?? n.name
        }
    }

    public func trace(_ record: TraceRecord) { traceSink(record) }

    /// Lines the run prints after its summary: wall-clock measurements
    /// (handshakes per wall second, memory), kept out of the trace so a seed
    /// still gives the same trace.
    public private(set) var notes: [String] = []
    public func note(_ line: String) { notes.append(line) }

    public func address(of node: String) -> IPv6Address { addresses[node]! }

    public func nodeName(of address: IPv6Address) -> String? { nodesByAddress[address] }

    /// Traces the route a workload's pair starts on, once per pair (the analyzer's stretch and hops).
    public func traceRoute(from: String, to: String) {
        guard routedPairs.insert([from, to]).inserted, let a = network.nodeIndex(named: from), let b = network.nodeIndex(named: to),
              let route = network.tables.route(from: a, to: b) else { return }
        trace(.route(.init(from: from, to: to, hops: route.hops, latencyNs: route.latency, lowerBoundNs: route.lowerBound)))
    }
    private var routedPairs = Set<[String]>()

    /// Runs `body` when the simulation has ended, before the final records
    /// are written: for totals a workload traces once (e.g. cache statistics).
    public func atRunEnd(_ body: @escaping () -> Void) { runEndHandlers.append(body) }

    func runEnded() {
        for h in runEndHandlers { h() }
        runEndHandlers = []
    }

    /// A seeded random stream private to `name` (a node or workload).
    public func randomStream(_ name: String) -> RandomStream { RandomStream(seed: seed, stream: name) }

    /// Runs `round(k)` at `start + k × interval` for k = 0, 1, … while k < `count`
    /// and the run lasts. Each round schedules the next when it fires, so a
    /// million rounds at 1 ns hold one pending event, not a million.
    public func scheduleRounds(start: SimDuration, interval: SimDuration, count: Int, _ round: @escaping (Int) -> Void) {
        let scheduler = self.scheduler, end = endTime
        func schedule(_ k: Int, at time: SimTime) {
            guard k < count, time < end else { return }
            scheduler.schedule(at: time) {
                // The next round first: it belongs before anything this round schedules at its instant.
                schedule(k + 1, at: time + interval)
                round(k)
            }
        }
        schedule(0, at: .zero + start)
    }

    public func bind(node: String, port: UInt16) throws -> DatagramIO {
        try backend.bind(node: node, port: port, network: network)
    }

    package func endpointConfiguration(for node: NodeSpec) throws -> TransportConfiguration {
        try TransportKnobs.endpointConfiguration(for: node, in: topology)
    }

    /// Client ports are handed out per node from the IANA dynamic range.
    public func ephemeralPort(for node: String) -> UInt16 {
        let port = nextEphemeralPort[node] ?? 49152
        nextEphemeralPort[node] = port + 1
        return port
    }

    /// Starts the UDP echo service on `node` unless it already runs.
    public func installEchoService(on node: String) throws {
        guard echoServices[node] == nil else { return }
        let io = try bind(node: node, port: ProbeWorkload.echoPort)
        io.receiveEach { [unowned io] d in io.send(to: d.source, d.payload) }
        echoServices[node] = io
    }
}
