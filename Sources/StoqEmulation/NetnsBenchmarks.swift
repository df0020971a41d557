#if os(Linux)
import CStoqLinux
import Dispatch
import Glibc
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
        public var senders: Senders
        public var measuredSeconds: Double
        /// Datagrams the receivers' sockets got, and the IPv6 bytes they were.
        public var delivered: UInt64
        public var deliveredIPv6Bytes: UInt64
        /// Datagrams the senders' kernels accepted.
        public var sent: UInt64
        public var lag: LagReport
        /// CPU time of the engine thread during the measurement, and the packets it wrote to TUN devices then.
        public var engineCPUSeconds: Double
        public var engineRelayed: UInt64
        public var leftovers: [String]
        /// The signal that ended the measurement early (0: it ran its time).
        public var interruptedBy: Int32 = 0

        public var packetsPerSecond: Double { measuredSeconds > 0 ? Double(delivered) / measuredSeconds : 0 }
        public var gigabitsPerSecond: Double { measuredSeconds > 0 ? Double(deliveredIPv6Bytes) * 8 / measuredSeconds / 1e9 : 0 }
        /// Share of one core the engine thread used during the measurement.
        public var engineLoad: Double { measuredSeconds > 0 ? engineCPUSeconds / measuredSeconds : 0 }

        public var description: String {
            func f(_ v: Double, _ d: Int = 3) -> String { String(format: "%.\(d)f", v) }
            return """
            namespaces: \(namespaces)
            set-up:     \(f(setupSeconds))s (\(f(setupSeconds / Double(max(namespaces, 1)) * 1000, 2)) ms per namespace)
            teardown:   \(f(teardownSeconds))s
            relay:      \(pairs) pairs, \(payloadBytes) B payload, \(f(measuredSeconds, 2))s: \(delivered) of \(sent) datagrams delivered
                        \(f(packetsPerSecond / 1000, 1)) k packets/s, \(f(gigabitsPerSecond, 3)) Gbit/s (IPv6 bytes)
            lag:        \(lag)
            engine:     \(f(engineLoad * 100, 0)) % of a core, \(f(engineCPUSeconds / Double(max(engineRelayed, 1)) * 1e6, 2)) µs CPU per relayed packet (\(senders == .thread ? "senders and receivers on their own thread" : "senders and receivers on the engine thread, included"))
            \(interruptedBy == 0 ? "" : "interrupted by signal \(interruptedBy): the figures cover the time until then\n")left behind: \(leftovers.isEmpty ? "nothing" : leftovers.joined(separator: ", "))
            """
        }
    }

    /// Where the benchmark's senders and receivers run.
    public enum Senders: String, CaseIterable, Sendable {
        /// On a thread of their own, as programs run by `exec` run in
        /// processes of their own: the engine thread only relays.
        case thread
        /// On the engine thread, as the run's own workloads' sockets are:
        /// the engine thread also pays their system calls.
        case engine
    }

    /// A star of `namespaces` nodes (a hub and leaves on 100 Gbps, 10 µs
    /// links, so the model is never the bottleneck); `pairs` leaves send
    /// `payload`-byte datagrams across the hub to other leaves as fast as the
    /// engine relays them (TUN → model → TUN), for `seconds` after a 0.3 s
    /// warm-up. The engine thread's CPU time is reported per relayed packet.
    public static func run(namespaces: Int, pairs: Int, payload: Int, seconds: Double, senders: Senders = .thread) throws -> Result {
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
                            payloadBytes: payload, senders: senders, measuredSeconds: seconds, delivered: 0, deliveredIPv6Bytes: 0,
                            sent: 0, lag: driver.lagReport, engineCPUSeconds: 0, engineRelayed: 0, leftovers: [])
        do {
            var flows: [ClosedLoopTraffic.Flow] = []
            for p in 0..<pairs {
                let rx = try emulator.openSocket(node: "n\(1 + pairs + p)", port: 9)
                let tx = try emulator.openSocket(node: "n\(1 + p)", port: 0)
                flows.append(.init(tx: tx, rx: rx, destination: SocketAddress(address: rx.localAddress, port: 9)))
            }
            let warmup: Int64 = 300_000_000
            let start = MonotonicClock.nanoseconds()
            let traffic = try ClosedLoopTraffic(flows: flows, payload: payload, measureFrom: start + warmup,
                                                until: start + warmup + Int64(seconds * 1e9))
            // The engine's share of the measurement starts when the traffic's does.
            var cpuAtStart = Double(CPUClock.threadNanoseconds()) / 1e9, relayedAtStart: UInt64 = 0
            func engineMeasurementStarts() {
                driver.resetLagReport()
                cpuAtStart = Double(CPUClock.threadNanoseconds()) / 1e9
                relayedAtStart = emulator.stats.packetsOut
            }
            switch senders {
            case .thread:
                // Told through a descriptor, which a busy engine still reads within
                // `backlogIOInterval` (an event at that instant would fire as late as the engine lags).
                try driver.register(fd: traffic.started) {
                    driver.unregister(fd: traffic.started)
                    engineMeasurementStarts()
                }
                try driver.register(fd: traffic.finished) { driver.stop() }
                let done = DispatchSemaphore(value: 0)
                DispatchQueue(label: "netns-bench-traffic").async { traffic.runOnOwnThread(); done.signal() }
                withExtendedLifetime((network, emulator)) { _ = driver.run() }
                // Stopped by the traffic's end or by a signal: either way the traffic thread ends before the sockets close.
                traffic.stop()
                done.wait()
                driver.unregister(fd: traffic.finished)
            case .engine:
                traffic.onMeasurementStart = engineMeasurementStarts
                let timer = try traffic.attach(to: driver)
                withExtendedLifetime((network, emulator)) { _ = driver.run() }
                timer.cancel()
                traffic.detach(from: driver)
                traffic.finish(at: MonotonicClock.nanoseconds())   // a signal stopped it early
            }
            driver.unregister(fd: traffic.started)   // when a signal came during the warm-up
            result.interruptedBy = interrupt.signal
            result.engineCPUSeconds = Double(CPUClock.threadNanoseconds()) / 1e9 - cpuAtStart
            result.engineRelayed = emulator.stats.packetsOut - relayedAtStart
            result.lag = driver.lagReport
            result.measuredSeconds = traffic.measuredSeconds
            result.delivered = traffic.delivered
            result.sent = traffic.sent
            result.deliveredIPv6Bytes = traffic.delivered * UInt64(payload + Datagram.headerBytes)
        }
        let prefix = emulator.prefix
        emulator.shutdown()
        result.teardownSeconds = emulator.teardownSeconds
        result.leftovers = Namespaces.list(prefix: prefix + "-")
        return result
    }
}

/// The relay benchmark's senders and receivers: each flow keeps `window`
/// datagrams in flight and sends one more per arrival (a closed loop, so the
/// offered load follows what the engine relays instead of piling up in kernel
/// queues). Runs on a thread of its own or on the engine's (`attach`).
final class ClosedLoopTraffic {
    struct Flow {
        var tx: IPv6UDPSocket
        var rx: IPv6UDPSocket
        var destination: SocketAddress
    }

    /// Called when the measurement starts, on the engine thread (when attached to it).
    var onMeasurementStart: (() -> Void)?
    /// Readable once the measurement has started, and once `runOnOwnThread` has ended (for the engine's epoll set).
    var started: Int32 { startedPipe[0] }
    var finished: Int32 { finishedPipe[0] }
    private(set) var sent: UInt64 = 0
    private(set) var delivered: UInt64 = 0
    private(set) var measuredSeconds = 0.0

    private let flows: [Flow]
    private let payload: [UInt8]
    private let window = 64
    private let measureFrom: Int64
    private let end: Int64
    private var inFlight: [Int]
    private var measuring = false
    private var measureStart: Int64 = 0
    private var arrivals: UInt64 = 0
    private var arrivalsAtRefill: UInt64 = 0
    private var lastRefill: Int64 = 0
    private var startedPipe: [Int32] = [-1, -1]
    private var finishedPipe: [Int32] = [-1, -1]
    private var stopPipe: [Int32] = [-1, -1]

    /// Counts what is sent and delivered from `measureFrom` until `end` (CLOCK_MONOTONIC instants).
    init(flows: [Flow], payload: Int, measureFrom: Int64, until end: Int64) throws {
        self.flows = flows
        self.payload = [UInt8](repeating: 0xab, count: payload)
        self.measureFrom = measureFrom
        self.end = end
        inFlight = [Int](repeating: 0, count: flows.count)
        guard pipe(&startedPipe) == 0, pipe(&finishedPipe) == 0, pipe(&stopPipe) == 0 else {
            throw EmulationError.system(operation: "creating the benchmark's traffic thread descriptors", namespace: nil, errno: errno)
        }
        for fd in startedPipe + finishedPipe + stopPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        for (p, flow) in flows.enumerated() {
            flow.rx.receiveHandler = { [unowned self] batch in
                let n = batch.count
                arrivals += UInt64(n)
                if measuring { delivered += UInt64(n) }
                inFlight[p] -= n
                send(p, n)
            }
        }
    }

    deinit {
        for fd in startedPipe + finishedPipe + stopPipe where fd >= 0 { close(fd) }
    }

    /// Starts the measurement, refills stalled windows every 10 ms, and
    /// returns false once the end is reached (then the counts are final).
    private func tick(now: Int64) -> Bool {
        if !measuring && now >= measureFrom && measureStart == 0 {
            measuring = true
            measureStart = now
            signal(startedPipe[1])
            onMeasurementStart?()
        }
        if now >= end {
            finish(at: now)
            return false
        }
        // A window lost in some queue would stall its flow; refill it (only
        // when nothing arrived for 10 ms: otherwise the window still circulates).
        if now - lastRefill >= 10_000_000 {
            if lastRefill > 0 && arrivals == arrivalsAtRefill { inFlight = inFlight.map { _ in 0 } }
            arrivalsAtRefill = arrivals
            lastRefill = now
            for p in flows.indices where inFlight[p] < window { send(p, window - inFlight[p]) }
        }
        return true
    }

    /// Ends the measurement at `now` (the end, or an interruption); later calls change nothing.
    func finish(at now: Int64) {
        guard measuring else { return }
        measuredSeconds = Double(now - measureStart) / 1e9
        measuring = false
    }

    // MARK: On a thread of its own

    /// Ends `runOnOwnThread` early (from another thread).
    func stop() { signal(stopPipe[1]) }

    private func signal(_ fd: Int32) {
        var byte: UInt8 = 1
        _ = write(fd, &byte, 1)
    }

    /// Sends and receives until the end or `stop()`, in its own epoll loop;
    /// then makes `finished` readable.
    func runOnOwnThread() {
        let epollFD = cstoq_epoll_create()
        let ready = UnsafeMutableBufferPointer<Int32>.allocate(capacity: flows.count + 1)
        defer {
            ready.deallocate()
            if epollFD >= 0 { close(epollFD) }
            signal(finishedPipe[1])
        }
        for fd in flows.map(\.rx.fileDescriptor) + [stopPipe[0]] { _ = cstoq_epoll_add(epollFD, fd) }
        while tick(now: MonotonicClock.nanoseconds()) {
            let n = cstoq_epoll_wait_fds(epollFD, ready.baseAddress, Int32(ready.count), 10)
            for fd in ready.prefix(Int(max(n, 0))) {
                if fd == stopPipe[0] { return finish(at: MonotonicClock.nanoseconds()) }
                flows.first { $0.rx.fileDescriptor == fd }?.rx.drain()
            }
        }
    }

    // MARK: On the engine thread

    /// Watches the receivers on `driver` and ticks from a 10 ms timer that
    /// stops the driver at the end. Cancel the returned timer and `detach` after the run.
    func attach(to driver: RealTimeDriver) throws -> Timer {
        for flow in flows { try flow.rx.attach(to: driver) }
        var onTick: () -> Void = {}
        let timer = driver.scheduler.makeTimer { onTick() }
        onTick = { [unowned self, unowned driver] in
            if tick(now: MonotonicClock.nanoseconds()) { timer.arm(after: .milliseconds(10)) } else { driver.stop() }
        }
        timer.arm(after: .zero)
        return timer
    }

    func detach(from driver: RealTimeDriver) {
        for flow in flows { driver.unregister(fd: flow.rx.fileDescriptor) }
    }

    private func send(_ p: Int, _ n: Int) {
        let flow = flows[p]
        payload.withUnsafeBytes { bytes in
            for _ in 0..<n {
                let before = flow.tx.sendFailures
                flow.tx.send(to: flow.destination, bytes)
                if flow.tx.sendFailures == before {
                    inFlight[p] += 1
                    if measuring { sent += 1 }
                }
            }
        }
    }
}
#endif
