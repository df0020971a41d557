#if canImport(Glibc)
import Glibc
#endif
import StoqEngine
import StoqTopology

/// The network model's own per-packet cost: a probe flood on a topology, no
/// QUIC, no trace. Every node runs an echo socket; probes go between seeded
/// random pairs and come back, so the figure is link traversals (packet-hops)
/// per CPU second of the forwarding, queueing and delivery code.
/// Run from a release build (`stoqsim bench network`).
public enum NetworkBenchmarks {
    public struct Result: Sendable, CustomStringConvertible {
        public var probes: Int
        public var packetHops: UInt64
        public var cpuSeconds: Double
        public var hopsPerSecond: Double { Double(packetHops) / max(cpuSeconds, 1e-9) }
        /// Every probe came back (nothing dropped, nothing left in flight).
        public var verified: Bool
        public var nodes: Int

        public var description: String {
            "probe flood, \(nodes) nodes: \(probes) probes echoed, \(packetHops) packet-hops in "
                + "\((cpuSeconds * 1000).rounded() / 1000) s CPU = \((hopsPerSecond / 1e4).rounded() / 100) M hops/s"
                + (verified ? "" : " [CHECK FAILED]")
        }
    }

    static let echoPort: UInt16 = 7
    static let probePort: UInt16 = 9

    /// `probes` echo requests of `payloadBytes`, `perWave` of them every
    /// `waveInterval` from random nodes to random other nodes.
    public static func probeFlood(topology: Topology, probes: Int = 1_000_000, payloadBytes: Int = 64,
                                  perWave: Int = 100, waveInterval: SimDuration = .microseconds(100),
                                  seed: UInt64 = 1) throws -> Result {
        let scheduler = Scheduler()
        let network = Network(topology: topology, scheduler: scheduler, seed: seed)
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
        let start = cpuNanoseconds()
        scheduler.runUntilIdle()
        let seconds = Double(cpuNanoseconds() - start) / 1e9
        var hops: UInt64 = 0
        for e in 0..<network.graph.edgeCount { hops += network.counters(edge: e).packetsDelivered }
        return Result(probes: probes, packetHops: hops, cpuSeconds: seconds,
                      verified: echoed == probes && network.counters.dropped.total == 0, nodes: nodeCount)
    }

    static func cpuNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
