import StoqEngine
import StoqNetwork
import StoqTopology

/// Two endpoints joined by an in-memory path, on a virtual clock that jumps
/// straight to the next thing that can happen (a datagram arriving or a
/// connection deadline). The path has a one-way delay, an optional bottleneck
/// rate (serialization, unbounded queue) and seeded random loss per direction.
///
/// No sockets, no wall clock: the same seed gives the same sequence of
/// (time, datagram size). Used by tests (StoqTestSupport) and by
/// `TransportBenchmarks`.
public final class InMemoryPair {
    public enum Side: Sendable { case client, server }

    /// One datagram put on the path.
    public struct TraceEntry: Equatable, Sendable {
        public var time: SimTime
        public var from: Side
        public var size: Int
        public var dropped: Bool
    }

    public let client: QuicEndpoint
    public let server: QuicEndpoint
    public private(set) var now: SimTime = .zero
    public var oneWayDelay: SimDuration
    /// Bottleneck rate in bits per second; nil: infinitely fast.
    public var bitsPerSecond: Double?
    /// Probability that a datagram is lost, each direction.
    public var lossRate: Double
    /// Record every datagram in `trace` (off by default: the 50 MiB tests send ~40,000).
    public var recordsTrace = false
    public private(set) var trace: [TraceEntry] = []
    public private(set) var datagramsDelivered = 0
    public private(set) var datagramsDropped = 0

    private var lossRandom: RandomStream
    private var toServer = Lane()
    private var toClient = Lane()

    /// In-flight datagrams of one direction: FIFO, since every datagram sees the same delay.
    private struct Lane {
        var queue: [(arrival: SimTime, datagram: Datagram)] = []
        var head = 0
        var linkFreeAt: SimTime = .zero
        var next: SimTime? { head < queue.count ? queue[head].arrival : nil }
        mutating func pop() -> Datagram {
            let d = queue[head].datagram
            head += 1
            if head > 1024 && head * 2 > queue.count { queue.removeFirst(head); head = 0 }
            return d
        }
    }

    public static let defaultClientAddress = SocketAddress(address: try! IPv6Address.parse("fd00::1"), port: 50000)
    public static let defaultServerAddress = SocketAddress(address: try! IPv6Address.parse("fd00::2"), port: 443)

    /// Endpoints from TLS settings; both endpoints' seeded streams derive from `seed`.
    public init(seed: UInt64 = 1, oneWayDelay: SimDuration = .milliseconds(10), bitsPerSecond: Double? = nil,
                lossRate: Double = 0, configuration: TransportConfiguration = TransportConfiguration(),
                clientTLS: ClientTLSConfiguration, serverTLS: ServerTLSConfiguration,
                clientAddress: SocketAddress = InMemoryPair.defaultClientAddress,
                serverAddress: SocketAddress = InMemoryPair.defaultServerAddress) throws {
        client = try QuicEndpoint(localAddress: clientAddress, configuration: configuration, client: clientTLS,
                                  random: RandomStream(seed: seed, stream: "client"))
        server = try QuicEndpoint(localAddress: serverAddress, configuration: configuration, server: serverTLS,
                                  random: RandomStream(seed: seed, stream: "server"))
        self.oneWayDelay = oneWayDelay
        self.bitsPerSecond = bitsPerSecond
        self.lossRate = lossRate
        lossRandom = RandomStream(seed: seed, stream: "path-loss")
    }

    /// Opens a client connection to the server endpoint.
    public func connect(serverName: String = "localhost") throws -> QuicConnection {
        try client.connect(to: server.localAddress, serverName: serverName, at: now)
    }

    /// Sends what both sides have ready, then moves the clock to the next
    /// arrival or deadline and handles everything due then. Returns false
    /// when nothing can happen any more.
    @discardableResult
    public func step() -> Bool {
        flush()
        guard let t = nextEventTime else { return false }
        if t > now { now = t }
        while let a = toServer.next, a <= now { deliver(toServer.pop(), to: server) }
        while let a = toClient.next, a <= now { deliver(toClient.pop(), to: client) }
        client.handleDeadlines(at: now)
        server.handleDeadlines(at: now)
        flush()
        return true
    }

    /// Steps until `condition` holds (true) or nothing can happen / virtual time passes `limit` (false).
    @discardableResult
    public func run(until condition: () -> Bool, timeLimit: SimDuration = .seconds(600)) -> Bool {
        let end = now + timeLimit
        while !condition() {
            guard step(), now <= end else { return condition() }
        }
        return true
    }

    /// Steps for `duration` of virtual time (or until idle).
    public func run(for duration: SimDuration) {
        let end = now + duration
        while true {
            flush()
            guard let t = nextEventTime, t <= end else { now = max(now, end); return }
            step()
        }
    }

    /// The earliest arrival or deadline on either side.
    private var nextEventTime: SimTime? {
        func earlier(_ a: SimTime?, _ b: SimTime?) -> SimTime? {
            guard let a else { return b }
            guard let b else { return a }
            return min(a, b)
        }
        return earlier(earlier(toServer.next, toClient.next), earlier(client.nextDeadline, server.nextDeadline))
    }

    private func flush() {
        client.transmit(at: now) { enqueue($0, from: .client) }
        server.transmit(at: now) { enqueue($0, from: .server) }
    }

    private func enqueue(_ d: Datagram, from side: Side) {
        let lost = lossRate > 0 && lossRandom.bernoulli(lossRate)
        if recordsTrace { trace.append(TraceEntry(time: now, from: side, size: d.payload.count, dropped: lost)) }
        if lost { datagramsDropped += 1; return }
        func schedule(_ lane: inout Lane) {
            var departure = now
            if let rate = bitsPerSecond {
                let start = max(now, lane.linkFreeAt)
                departure = start + .nanoseconds(Int64((Double(d.wireSize * 8) / rate * 1e9).rounded(.up)))
                lane.linkFreeAt = departure
            }
            lane.queue.append((departure + oneWayDelay, d))
        }
        if side == .client { schedule(&toServer) } else { schedule(&toClient) }
    }

    private func deliver(_ d: Datagram, to endpoint: QuicEndpoint) {
        datagramsDelivered += 1
        endpoint.receive(d, at: now)
    }
}
