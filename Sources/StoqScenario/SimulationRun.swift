import Dispatch
import Foundation
import StoqAnalyzer
import StoqEngine
import StoqNetwork
import StoqRouting
import StoqTopology

/// One run on the virtual-time backend: wires the topology onto a scheduler
/// and a simulated network, starts the workloads, runs to the end, and writes
/// the trace and the summary.
final class SimulationRun {
    let topology: Topology
    let strategy: RoutingStrategy
    let outputDirectory: String
    /// Where to write per-node pcapng files (`--pcap`); nil captures nothing.
    var pcapDirectory: String?
    var captureSelection = CaptureSelection()
    var qlogDirectory: String?
    /// Simulated time to stop at before the end (`--until`); nil runs to the end.
    var stopAt: SimDuration?
    var timeSeries = TimeSeriesOptions()
    /// Virtual time by default; the netns backend swaps in real namespaces.
    var backend: RunBackend = VirtualTimeBackend()

    init(topology: Topology, strategy: RoutingStrategy, outputDirectory: String) {
        self.topology = topology
        self.strategy = strategy
        self.outputDirectory = outputDirectory
    }

    func execute(progress: ((RunProgress) -> Void)?) throws -> RunResult {
        let wallStart = DispatchTime.now().uptimeNanoseconds
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let tracePath = (outputDirectory as NSString).appendingPathComponent("trace.jsonl")
        let summaryPath = (outputDirectory as NSString).appendingPathComponent("summary.json")

        let writer = try TraceWriter(path: tracePath)
        defer { writer.close() }
        let scheduler = Scheduler()
        let network = Network(topology: topology, scheduler: scheduler, seed: topology.seed, strategy: strategy)
        let recorder = TraceRecorder(network: network, writer: writer)
        let capture = try pcapDirectory.map {
            try PacketCapture(network: network, directory: $0, selection: captureSelection, topology: topology)
        }
        network.observer = capture.map { ObserverFanOut([recorder, $0]) } ?? recorder
        try network.scheduleFaults()
        network.linkSeries = try timeSeries.makeLinkSeries(for: network)
        try backend.attach(network: network, scheduler: scheduler)
        defer { backend.detach() }

        writer.write(.run(.init(topology: topology.name, seed: topology.seed, backend: backend.name, strategy: strategy.name,
                                durationNs: topology.duration.nanoseconds, nodes: topology.nodes.count)))
        for e in 0..<network.graph.edgeCount {
            let spec = topology.links[Int(network.graph.edgeLink[e])]
            writer.write(.link(.init(name: network.graph.name(ofEdge: e),
                                     from: network.graph.name(ofNode: network.graph.edgeSource[e]),
                                     to: network.graph.name(ofNode: network.graph.edgeTarget[e]),
                                     bandwidthBps: spec.bandwidthBitsPerSecond, tier: spec.tier.rawValue,
                                     latencyNs: spec.latency.nanoseconds)))
        }
        for n in topology.nodes {
            let site = topology.site(named: n.site)
            writer.write(.node(.init(name: n.name, site: n.site, region: site?.region ?? "", role: n.role.rawValue,
                                     address: n.address.description, latitude: site?.latitude ?? 0,
                                     longitude: site?.longitude ?? 0)))
        }

        let context = ScenarioContext(topology: topology, scheduler: scheduler, network: network,
                                      seed: topology.seed, trace: writer.write)
        context.backend = backend
        context.sampledTransfers = timeSeries.sampledTransfers
        if let qlogDirectory {
            try FileManager.default.createDirectory(atPath: qlogDirectory, withIntermediateDirectories: true)
            context.qlogDirectory = qlogDirectory
        }
        let made = WorkloadRegistry.makeAll(for: topology, backend: backend.name)
        if !made.errors.isEmpty { throw TopologyErrors(inFileOrder: made.errors) }
        let workloads = made.workloads
        let configuring = workloads.filter { type(of: $0).configuresEndpoints }
        for w in configuring + workloads.filter({ !type(of: $0).configuresEndpoints }) { try w.start(in: context) }

        // Run in slices of simulated time so long runs can report progress
        // about once per wall-clock second.
        let end = context.endTime
        let drain = workloads.map(\.drainTime).max() ?? .zero
        // `--until` cuts the run (drain included) short at that instant.
        let cut = stopAt.map { SimTime.zero + $0 }.flatMap { $0 < end + drain ? $0 : nil }
        let finish = cut ?? end + drain
        let slice = SimDuration(nanoseconds: max(topology.duration.nanoseconds / 200, 1_000_000))
        var lastReport = wallStart
        func wallSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9 }
        var reported = false
        func reportProgress(final: Bool = false) {
            let nowWall = DispatchTime.now().uptimeNanoseconds
            // A run long enough to show progress also ends with a line: its wall time and events/s.
            guard let progress, nowWall - lastReport >= 1_000_000_000 || (final && reported) else { return }
            reported = true
            lastReport = nowWall
            progress(RunProgress(simulated: scheduler.now, end: end, drainEnd: finish, wallSeconds: wallSeconds(),
                                 events: scheduler.eventsExecuted))
        }
        // Scheduled events hold their owners unowned (cycles would leak), so the
        // owners must outlive the loop; the optimizer would free them earlier.
        withExtendedLifetime((network, recorder, capture, context, workloads)) {
        // Past the end, run on only while some workload still waits for
        // in-flight work (a probe's reply, a transfer's last byte).
        while scheduler.now < min(end, finish) || (scheduler.now < finish && workloads.contains { $0.hasOutstandingWork }) {
            let outcome = backend.advance(scheduler, until: min(scheduler.now + slice, scheduler.now < end ? min(end, finish) : finish),
                                          poll: { reportProgress() })
            reportProgress()
            if outcome == .idle || outcome == .stopped { break }
        }
        context.runEnded()
        reportProgress(final: true)
        }

        for e in 0..<network.graph.edgeCount {
            let c = network.counters(edge: e)
            let models = network.topology.links[Int(network.graph.edgeLink[e])].models
            writer.write(.linkStats(.init(link: network.graph.name(ofEdge: e), packetsSent: c.packetsSent,
                                          bytesSent: c.bytesSent, packetsDelivered: c.packetsDelivered,
                                          bytesDelivered: c.bytesDelivered, droppedQueueFull: c.dropped[.queueFull],
                                          droppedLoss: c.dropped[.loss], droppedLinkDown: c.dropped[.linkDown],
                                          busyNs: c.busyTime.nanoseconds, maxQueuedBytes: c.maxQueuedBytes,
                                          // Only for the models the link has: other traces keep their bytes.
                                          droppedMTU: models.mtu != nil ? c.dropped[.mtu] : nil,
                                          corrupted: models.corrupt > 0 ? c.corrupted : nil,
                                          duplicated: models.duplicate > 0 ? c.duplicated : nil,
                                          reordered: models.jitter != nil ? c.reordered : nil)))
        }
        if let series = network.linkSeries { timeSeries.linkSeriesRecords(series, network: network).forEach(writer.write) }
        backend.finish(trace: writer.write)
        writer.write(.end(.init(t: scheduler.now.nanosecondsSinceStart, events: scheduler.eventsExecuted,
                                interruptedBy: backend.interruptingSignal.map(signalName)
                                    ?? cut.map { "--until \(SimDuration(nanoseconds: $0.nanosecondsSinceStart))" })))
        writer.close()
        _ = try capture?.close()

        let summary = try TraceAnalyzer.summarize(tracePath: tracePath)
        try RunReport.writeAll(summary, directory: outputDirectory)
        return RunResult(summary: summary, tracePath: tracePath, summaryPath: summaryPath, wallSeconds: wallSeconds(),
                         notes: context.notes + backend.notes, interruptingSignal: backend.interruptingSignal)
    }
}

extension Scenario {
    /// `run(outputDirectory:progress:)`, also writing each node's packets to
    /// `pcapDirectory/<node>.pcapng` when it is given.
    public func run(outputDirectory: String, pcapDirectory: String?,
                    progress: ((RunProgress) -> Void)? = nil) throws -> RunResult {
        let run = SimulationRun(topology: topology, strategy: try strategy(), outputDirectory: outputDirectory)
        run.pcapDirectory = pcapDirectory
        run.captureSelection = captureSelection
        run.qlogDirectory = qlogDirectory
        run.stopAt = stopAt
        run.timeSeries = timeSeries
        return try run.execute(progress: progress)
    }
}

/// Turns network events worth keeping into trace records. Per-packet events
/// are not traced (a big run moves billions); links' counters are, at the end.
final class TraceRecorder: NetworkObserver {
    let network: Network
    let writer: TraceWriter

    init(network: Network, writer: TraceWriter) {
        self.network = network
        self.writer = writer
    }

    func linkStateChanged(link: Int, up: Bool, time: SimTime) {
        let spec = network.topology.links[link]
        writer.write(.linkState(.init(t: time.nanosecondsSinceStart, target: "\(spec.from)<>\(spec.to)", isNode: false, up: up)))
    }

    func nodeStateChanged(node: Int32, up: Bool, time: SimTime) {
        writer.write(.linkState(.init(t: time.nanosecondsSinceStart, target: network.graph.name(ofNode: node), isNode: true, up: up)))
    }

    func routesReconverged(_ outage: OutageReport) {
        let (target, isNode): (String, Bool)
        switch outage.target {
        case .link(let i): (target, isNode) = ("\(network.topology.links[i].from)<>\(network.topology.links[i].to)", false)
        case .node(let n): (target, isNode) = (network.graph.name(ofNode: n), true)
        }
        writer.write(.reconverged(.init(t: outage.recomputedAt.nanosecondsSinceStart, target: target, isNode: isNode,
                                        failedAtNs: outage.failedAt.nanosecondsSinceStart,
                                        reconvergenceNs: (outage.recomputedAt - outage.failedAt).nanoseconds,
                                        packetsLost: outage.packetsLost)))
    }
}
