#if canImport(Glibc)
import Glibc
#endif
import StoqEngine
import StoqNetwork
import StoqTransport

/// One QUIC endpoint on a real IPv6 UDP socket, turned by the real-time
/// driver (SimTime follows the wall clock): the scheduler, driver, socket,
/// endpoint and `EndpointDriver` wired once for `stoqsim node serve|get` and
/// `stoqsim trustchain ca serve|enroll|verify`, which only add their
/// application (a file server, the TrustChain API, a client) and print.
public final class RealTimeNode {
    public let scheduler = Scheduler()
    public let driver: RealTimeDriver
    public let socket: IPv6UDPSocket
    public let endpoint: QuicEndpoint
    /// The only path between the socket and the endpoint's connections.
    public let io: EndpointDriver
    private let wall: WallClock?
    private var shutdown: ShutdownSignal?

    /// `wallClock`: connections read the wall clock itself, not the instant of
    /// the event being handled, so handshake and transfer times are exact
    /// (what `node get` prints); otherwise they see the scheduler's time.
    public init(bind address: SocketAddress, configuration: TransportConfiguration = TransportConfiguration(),
                client: ClientTLSConfiguration? = nil, server: ServerTLSConfiguration? = nil, wallClock: Bool = false) throws {
        driver = try RealTimeDriver(scheduler: scheduler)
        socket = try IPv6UDPSocket(bind: address)
        try socket.attach(to: driver)
        endpoint = try QuicEndpoint(localAddress: socket.socketAddress, configuration: configuration, client: client, server: server,
                                    random: RandomStream(seed: UInt64.random(in: .min ... .max)))
        let wall = wallClock ? WallClock(scheduler) : nil
        self.wall = wall
        io = EndpointDriver(endpoint: endpoint, io: socket, scheduler: scheduler, clock: wall.map { w in { w.now() } })
    }

    deinit { socket.close() }

    /// A client on an ephemeral port of every local address.
    public convenience init(client: ClientTLSConfiguration, wallClock: Bool = false) throws {
        try self.init(bind: SocketAddress(address: IPv6Address(high: 0, low: 0), port: 0), client: client, wallClock: wallClock)
    }

    /// What the connections see as now (the wall clock with `wallClock`).
    public var now: SimTime { wall?.now() ?? scheduler.now }

    /// Sends what the connections have ready; call after writing outside an event handler.
    public func flush() { io.flush() }

    /// SIGINT and SIGTERM make `run` return instead of ending the process;
    /// `stoppedBy` then names the signal.
    public func stopOnSignals() throws { shutdown = try ShutdownSignal(driver: driver) }
    public var stoppedBy: String? { shutdown?.received }

    /// Turns the loop until `stop()`, a signal (`stopOnSignals`) or, with a
    /// `timeout`, that much wall time.
    @discardableResult
    public func run(timeout: SimDuration? = nil) -> RunOutcome {
        timeout.map { driver.run(for: $0) } ?? driver.run()
    }

    public func stop() { driver.stop() }

    /// Closes every connection (sending each peer its CONNECTION_CLOSE now).
    public func closeConnections(errorCode: UInt64, reason: String = "") {
        for c in endpoint.connections { c.close(errorCode: errorCode, reason: reason) }
        io.flush()
    }
}

/// The wall clock in the scheduler's SimTime terms, for EndpointDriver.clock:
/// pinned to the scheduler at the first event of the run (the real-time driver
/// pins SimTime to the wall clock when `run` starts).
private final class WallClock {
    private let scheduler: Scheduler
    private var origin: (sim: SimTime, wall: Int64)?

    init(_ scheduler: Scheduler) {
        self.scheduler = scheduler
        _ = scheduler.schedule(at: scheduler.now) { [weak self] in
            guard let self else { return }
            self.origin = (scheduler.now, MonotonicClock.nanoseconds())
        }
    }

    func now() -> SimTime {
        guard let origin else { return scheduler.now }
        return max(scheduler.now, origin.sim + .nanoseconds(MonotonicClock.nanoseconds() - origin.wall))
    }
}

/// SIGINT/SIGTERM stop the driver (self-pipe: the handler only writes a byte; the driver reads it).
private final class ShutdownSignal {
    private(set) var received: String?
    private let readFD: Int32

    struct PipeError: Error, CustomStringConvertible {
        let code: Int32
        var description: String { "cannot make the shutdown signal's pipe: \(String(cString: strerror(code)))" }
    }

    init(driver: RealTimeDriver) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw PipeError(code: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFL, O_NONBLOCK); _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        readFD = fds[0]
        shutdownPipeWriteFD = fds[1]
        let handler: @convention(c) (Int32) -> Void = { sig in
            var byte = UInt8(truncatingIfNeeded: sig)
            _ = write(shutdownPipeWriteFD, &byte, 1)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        try driver.register(fd: readFD) { [weak self, weak driver] in
            guard let self else { return }
            var byte: UInt8 = 0
            while read(self.readFD, &byte, 1) == 1 { self.received = byte == UInt8(SIGINT) ? "SIGINT" : "SIGTERM" }
            driver?.unregister(fd: self.readFD)
            driver?.stop()
        }
    }
}

/// Written only by the signal handler's one `write`; set before the handler is installed.
nonisolated(unsafe) private var shutdownPipeWriteFD: Int32 = -1
