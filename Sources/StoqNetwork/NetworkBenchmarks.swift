#if canImport(Glibc)
import Glibc
#endif
import StoqEngine
import StoqTopology

/// The network model's own per-packet cost: a probe flood on a topology, no
/// QUIC, no trace. Every node runs an echo socket; probes go between seeded
/// random pairs and come back, so the figure is link traversals (packet-hops)
/// per CPU second of the forwarding, queueing and delivery code, with the
/// link models off (the topology as written) or `busyLinkModels` on every link.
/// Run from a release build (`stoqsim bench network`).
public enum NetworkBenchmarks {
    public struct Result: Sendable, CustomStringConvertible {
        public var probes: Int
        public var packetHops: UInt64
        public var cpuSeconds: Double
        public var hopsPerSecond: Double { Double(packetHops) / max(cpuSeconds, 1e-9) }
        /// Without link models: every probe came back (nothing dropped, nothing
        /// left in flight). With them: every packet sent or duplicated was
        /// delivered or dropped.
        public var verified: Bool
        public var nodes: Int
        /// The link models were on.
        public var models: Bool

        public var description: String {
            "probe flood, \(nodes) nodes, link models \(models ? "on" : "off"): \(probes) probes sent, \(packetHops) packet-hops in "
                + "\((cpuSeconds * 1000).rounded() / 1000) s CPU = \((hopsPerSecond / 1e4).rounded() / 100) M hops/s"
                + (verified ? "" : " [CHECK FAILED]")
        }
    }

    static let echoPort: UInt16 = 7
    static let probePort: UInt16 = 9

    /// Every model with every stage drawing per packet, at rates that leave
    /// most probes alone: in-order normal jitter, Gilbert–Elliott loss, 0.1 %
    /// corruption and duplication, a 1500-byte MTU.
    public static let busyLinkModels = LinkModels(
        jitter: JitterModel(distribution: .normal, mean: .microseconds(50), deviation: .microseconds(20)),
        burstLoss: GilbertElliottModel(p: 0.001, r: 0.5), corrupt: 0.001, duplicate: 0.001, mtu: 1500)

    /// `probes` echo requests of `payloadBytes`, `perWave` of them every
    /// `waveInterval` from random nodes to random other nodes; `linkSeries`
    /// also bins link activity over time (`LinkTimeSeries`).
    public static func probeFlood(topology: Topology, probes: Int = 1_000_000, payloadBytes: Int = 64,
                                  perWave: Int = 100, waveInterval: SimDuration = .microseconds(100),
                                  seed: UInt64 = 1, linkModels: LinkModels? = nil, linkSeries: Bool = false) throws -> Result {
        var topology = topology
        if let linkModels { for i in topology.links.indices { topology.links[i].models = linkModels } }
        let scheduler = Scheduler()
        let network = Network(topology: topology, scheduler: scheduler, seed: seed)
        // As a run records it: every direction in bins over the topology's duration.
        if linkSeries {
            network.linkSeries = try LinkTimeSeries.make(edgeCount: network.graph.edgeCount, chosen: nil,
                                                         durationNs: topology.duration.nanoseconds, binNs: nil)
        }
        let nodeCount = network.graph.nodeCount
        let names = (0..<nodeCount).map { network.graph.nodeNames[$0] }
        var echoed = 0
        var senders: [NetworkSocket] = []
        for name in names {
            let echo = try network.bind(node: name, port: echoPort)
            echo.receiveEach { [unowned echo] d in echo.send(to: d.source, d.payload) }
            let sender = try network.bind(node: name, port: probePort)
            sender.receiveHandler = { batch in echoed += batch.count }
            senders.append(sender)
        }
        var random = RandomStream(seed: seed, stream: "probe-flood")
        let payload = [UInt8](repeating: 0x5a, count: payloadBytes)
        var sent = 0
        func wave() {
            for _ in 0..<min(perWave, probes - sent) {
                let from = Int(random.next() % UInt64(nodeCount))
                var to = Int(random.next() % UInt64(nodeCount - 1))
                if to >= from { to += 1 }
                payload.withUnsafeBytes {
                    senders[from].send(to: SocketAddress(address: network.graph.nodeAddresses[to], port: echoPort), $0)
                }
                sent += 1
            }
            if sent < probes { scheduler.schedule(after: waveInterval) { wave() } }
        }
        scheduler.schedule(at: .zero) { wave() }
        let start = CPUClock.threadNanoseconds()
        scheduler.runUntilIdle()
        let seconds = Double(CPUClock.threadNanoseconds() - start) / 1e9
        var hops: UInt64 = 0, duplicated: UInt64 = 0
        for e in 0..<network.graph.edgeCount {
            hops += network.counters(edge: e).packetsDelivered
            duplicated += network.counters(edge: e).duplicated
        }
        let c = network.counters
        let verified = linkModels == nil
            ? echoed == probes && c.dropped.total == 0
            : c.packetsDelivered + c.dropped.total == c.packetsSent + duplicated
        return Result(probes: probes, packetHops: hops, cpuSeconds: seconds, verified: verified, nodes: nodeCount,
                      models: linkModels != nil)
    }

}
