#if os(Linux)
import Dispatch
import StoqEngine
import StoqNetwork
import StoqTopology

/// What `stoqsim bench netns` measures: namespace set-up and teardown at
/// scale, and how many packets per second the engine relays TUN to TUN.
public enum NetnsBenchmarks {
    public struct Result: CustomStringConvertible {
        public var namespaces: Int
        public var setupSeconds: Double
        public var teardownSeconds: Double
        public var pairs: Int
        public var payloadBytes: Int
        public var measuredSeconds: Double
        /// Datagrams the receivers' sockets got, and the IPv6 bytes they were.
        public var delivered: UInt64
        public var deliveredIPv6Bytes: UInt64
        /// Datagrams the senders' kernels accepted.
        public var sent: UInt64
        public var lag: LagReport
        public var leftovers: [String]

        public var packetsPerSecond: Double { Double(delivered) / measuredSeconds }
        public var gigabitsPerSecond: Double { Double(deliveredIPv6Bytes) * 8 / measuredSeconds / 1e9 }

        public var description: String {
            func f(_ v: Double, _ d: Int = 3) -> String { String(format: "%.\(d)f", v) }
            return """
            namespaces: \(namespaces)
            set-up:     \(f(setupSeconds))s (\(f(setupSeconds / Double(max(namespaces, 1)) * 1000, 2)) ms per namespace)
            teardown:   \(f(teardownSeconds))s
            relay:      \(pairs) pairs, \(payloadBytes) B payload, \(f(measuredSeconds, 2))s: \(delivered) of \(sent) datagrams delivered
                        \(f(packetsPerSecond / 1000, 1)) k packets/s, \(f(gigabitsPerSecond, 3)) Gbit/s (IPv6 bytes)
            lag:        \(lag)
            left behind: \(leftovers.isEmpty ? "nothing" : leftovers.joined(separator: ", "))
            """
        }
    }

    /// A star of `namespaces` nodes (a hub and leaves on 100 Gbps, 10 µs
    /// links, so the model is never the bottleneck); `pairs` leaves send
    /// `payload`-byte datagrams across the hub to other leaves as fast as the
    /// engine takes them, for `seconds`.
    public static func run(namespaces: Int, pairs: Int, payload: Int, seconds: Double) throws -> Result {
        precondition(namespaces >= 3 && pairs >= 1 && 2 * pairs <= namespaces - 1)
        var yaml = """
        name: bench-netns
        duration: 1h
        sites:
          - {name: s, city: Frankfurt}
        nodes:
          - {name: hub, site: s, role: core}

        """
        for i in 1..<namespaces { yaml += "  - {name: n\(i), site: s, role: edge, uplink: {to: hub, bandwidth: 100gbps, latency: 10us, queue: 64MB}}\n" }
        let topology = try TopologyParser.parse(yaml: yaml, file: "bench-netns.yaml")
        let scheduler = Scheduler()
        let network = Network(topology: topology, scheduler: scheduler, seed: 1)
        let driver = try RealTimeDriver(scheduler: scheduler)
        let raised = RealtimePriority.raise()
        defer { if raised { RealtimePriority.restore() } }
        // Ctrl-C stops the measurement and still removes the namespaces.
        let interrupt = try InterruptWatch(driver: driver)
        defer { interrupt.close() }
        let emulator = try NetnsEmulator(network: network, driver: driver, interrupted: { interrupt.signal })
        var result = Result(namespaces: namespaces, setupSeconds: emulator.setupSeconds, teardownSeconds: 0, pairs: pairs,
                            payloadBytes: payload, measuredSeconds: seconds, delivered: 0, deliveredIPv6Bytes: 0, sent: 0,
                            lag: driver.lagReport, leftovers: [])
        do {
            // Closed loop: each pair keeps `window` datagrams in flight and
            // sends one more per arrival, so the offered load follows what the
            // engine relays instead of piling up a backlog of timer events.
            let window = 64
            var delivered: UInt64 = 0, sent: UInt64 = 0
            var measuring = false
            var pairsIO: [(tx: IPv6UDPSocket, rx: IPv6UDPSocket, datagram: Datagram)] = []
            var inFlight = [Int](repeating: 0, count: pairs)
            var arrivals: UInt64 = 0, arrivalsAtLastTick: UInt64 = 0
            // Phases end by the wall clock: a saturated engine's simulated
            // clock falls behind (that is its lag), so "run for N simulated
            // seconds" would take much longer than N.
            var deadline: UInt64 = 0
            func checkDeadline() { if DispatchTime.now().uptimeNanoseconds >= deadline { driver.stop() } }
            func send(_ p: Int, _ n: Int) {
                let (tx, _, d) = pairsIO[p]
                for _ in 0..<n {
                    let before = tx.sendFailures
                    tx.send(d)
                    if tx.sendFailures == before {
                        inFlight[p] += 1
                        if measuring { sent += 1 }
                    }
                }
            }
            for p in 0..<pairs {
                let rx = try emulator.bind(node: "n\(1 + pairs + p)", port: 9)
                let tx = try emulator.bind(node: "n\(1 + p)", port: 0)
                pairsIO.append((tx, rx, Datagram(source: SocketAddress(address: tx.localAddress, port: tx.localPort),
                                                 destination: SocketAddress(address: rx.localAddress, port: 9),
                                                 payload: [UInt8](repeating: 0xab, count: payload))))
                rx.receiveHandler = { batch in
                    let n = batch.count
                    let before = arrivals
                    arrivals += UInt64(n)
                    if before >> 8 != arrivals >> 8 { checkDeadline() }
                    if measuring { delivered += UInt64(n) }
                    inFlight[p] -= n
                    send(p, n)
                }
            }
            // Every 10 ms: a window lost in some queue would stall its pair; refill it
            // (only when nothing arrived: otherwise the window is still circulating).
            var refill: () -> Void = {}
            let tick = scheduler.makeTimer { refill() }
            refill = {
                if arrivals == arrivalsAtLastTick { for p in 0..<pairs { inFlight[p] = 0 } }
                arrivalsAtLastTick = arrivals
                for p in 0..<pairs where inFlight[p] < window { send(p, window - inFlight[p]) }
                tick.arm(after: .milliseconds(10))
                checkDeadline()
            }
            tick.arm(after: .zero)
            // Warm up, then measure over `seconds` of wall (= simulated) time.
            withExtendedLifetime((network, emulator, pairsIO)) {
                deadline = DispatchTime.now().uptimeNanoseconds + 300_000_000
                driver.run()
                measuring = true
                driver.resetLagReport()
                let start = DispatchTime.now().uptimeNanoseconds
                deadline = start + UInt64(seconds * 1e9)
                driver.run()
                result.measuredSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                measuring = false
                tick.cancel()
            }
            result.lag = driver.lagReport
            result.delivered = delivered
            result.sent = sent
            result.deliveredIPv6Bytes = delivered * UInt64(payload + Datagram.headerBytes)
        }
        let prefix = emulator.prefix
        emulator.shutdown()
        result.teardownSeconds = emulator.teardownSeconds
        result.leftovers = Namespaces.list(prefix: prefix + "-")
        return result
    }
}
#endif
