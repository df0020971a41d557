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
    private let toServer = Lane()
    private let toClient = Lane()

    /// In-flight datagrams of one direction: FIFO, since every datagram sees
    /// the same delay. Their bytes live in one ring buffer, so carrying a
    /// datagram allocates nothing once the ring has grown to the flight size.
    private final class Lane {
        private var entries: [(arrival: SimTime, start: Int, count: Int)] = []
        private var head = 0
        private var ring: UnsafeMutableRawPointer
        private var capacity: Int
        /// Where the next datagram's bytes go.
        private var writePosition = 0
        var linkFreeAt: SimTime = .zero

        init() {
            capacity = 1 << 16
            ring = .allocate(byteCount: capacity, alignment: 16)
        }

        deinit { ring.deallocate() }

        var next: SimTime? { head < entries.count ? entries[head].arrival : nil }

        func push(_ packet: UnsafeRawBufferPointer, arrival: SimTime) {
            if head > 1024 && head * 2 > entries.count { entries.removeFirst(head); head = 0 }
            let start = reserve(packet.count)
            if let base = packet.baseAddress { (ring + start).copyMemory(from: base, byteCount: packet.count) }
            entries.append((arrival, start, packet.count))
            writePosition = start + packet.count
        }

        /// Hands the oldest datagram's bytes to `body` and drops it. Nothing may
        /// be pushed during `body` (delivery never sends: `flush` does).
        func pop(_ body: (UnsafeRawBufferPointer) -> Void) {
            let e = entries[head]
            head += 1
            body(UnsafeRawBufferPointer(start: ring + e.start, count: e.count))
        }

        /// A start offset with `n` free bytes after it, growing the ring if needed.
        /// Each datagram's bytes stay contiguous: one that does not fit before
        /// the end starts again at 0 if the oldest datagram leaves room there.
        private func reserve(_ n: Int) -> Int {
            guard head < entries.count else { writePosition = 0; return n <= capacity ? 0 : grow(n) }
            let readPosition = entries[head].start
            if writePosition > readPosition {
                if capacity - writePosition >= n { return writePosition }
                if readPosition > n { return 0 }
            } else if readPosition - writePosition > n {
                return writePosition
            }
            return grow(n)
        }

        /// Moves the datagrams in flight, oldest first, to the start of a larger ring.
        private func grow(_ n: Int) -> Int {
            var newCapacity = capacity * 2
            while newCapacity < 2 * n { newCapacity *= 2 }
            let newRing = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
            var position = 0
            for i in head..<entries.count {
                newRing.advanced(by: position).copyMemory(from: ring + entries[i].start, byteCount: entries[i].count)
                entries[i].start = position
                position += entries[i].count
            }
            ring.deallocate()
            ring = newRing
            capacity = newCapacity
            writePosition = position
            return position
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
        deliverArrivals(on: toServer, from: client, to: server)
        deliverArrivals(on: toClient, from: server, to: client)
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
        client.transmitBytes(at: now) { enqueue($1, from: .client) }
        server.transmitBytes(at: now) { enqueue($1, from: .server) }
    }

    private func enqueue(_ packet: UnsafeRawBufferPointer, from side: Side) {
        let lost = lossRate > 0 && lossRandom.bernoulli(lossRate)
        if recordsTrace { trace.append(TraceEntry(time: now, from: side, size: packet.count, dropped: lost)) }
        if lost { datagramsDropped += 1; return }
        let lane = side == .client ? toServer : toClient
        var departure = now
        if let rate = bitsPerSecond {
            let start = max(now, lane.linkFreeAt)
            let wireBits = Double((packet.count + Datagram.headerBytes) * 8)
            departure = start + .nanoseconds(Int64((wireBits / rate * 1e9).rounded(.up)))
            lane.linkFreeAt = departure
        }
        lane.push(packet, arrival: departure + oneWayDelay)
    }

    /// Hands `endpoint` every datagram on `lane` due by now, as one batch (they arrive together).
    private func deliverArrivals(on lane: Lane, from sender: QuicEndpoint, to endpoint: QuicEndpoint) {
        guard let first = lane.next, first <= now else { return }
        endpoint.receiveBatch(at: now) { feed in
            while let a = lane.next, a <= now {
                datagramsDelivered += 1
                lane.pop { feed($0, sender.localAddress) }
            }
        }
    }
}
