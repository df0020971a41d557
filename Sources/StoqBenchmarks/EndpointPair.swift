import StoqEngine
import StoqNetwork
import StoqTopology
import StoqTransport

/// Two QUIC endpoints on a two-node `Network` joined by one link, each behind
/// an `EndpointDriver` on one virtual-time `Scheduler`: exactly the path a
/// `sim` run takes (driver → socket → payload slab → link → socket → driver),
/// without workloads or a trace. The transport benchmarks measure it, and
/// tests (through StoqTestSupport's `InMemoryPair`) drive connections over it
/// step by step.
///
/// The link has a one-way delay, an optional bit rate (nil: serialization
/// takes no time), an unbounded queue and seeded random loss per direction;
/// the same seed gives the same sequence of (time, datagram size).
public final class EndpointPair {
    public enum Side: Sendable { case client, server }

    /// One datagram put on the path.
    public struct TraceEntry: Equatable, Sendable {
        public var time: SimTime
        public var from: Side
        public var size: Int
        /// Lost on the link (random loss).
        public var dropped: Bool
    }

    public let client: QuicEndpoint
    public let server: QuicEndpoint
    public let network: Network
    public let scheduler: Scheduler
    public let clientDriver: EndpointDriver
    public let serverDriver: EndpointDriver
    public var now: SimTime { scheduler.now }
    /// Record every datagram in `trace` (off by default: the 50 MiB tests send ~40,000).
    public var recordsTrace: Bool {
        get { recorder != nil }
        set {
            recorder = newValue ? (recorder ?? TraceRecorder(clientNode: clientNode)) : nil
            network.observer = recorder
        }
    }
    public var trace: [TraceEntry] { recorder?.entries ?? [] }
    public var datagramsDelivered: Int { Int(network.counters.packetsDelivered) }
    public var datagramsDropped: Int { Int(network.counters.dropped.total) }

    private let clientNode: Int32
    private var recorder: TraceRecorder?

    public static let defaultClientAddress = SocketAddress(address: IPv6Address(high: 0xfd00 << 48, low: 1), port: 50000)
    public static let defaultServerAddress = SocketAddress(address: IPv6Address(high: 0xfd00 << 48, low: 2), port: 443)

    /// Endpoints from TLS settings; both endpoints' seeded streams and the link's loss draws derive from `seed`.
    public init(seed: UInt64 = 1, oneWayDelay: SimDuration = .milliseconds(10), bitsPerSecond: Double? = nil,
                lossRate: Double = 0, configuration: TransportConfiguration = TransportConfiguration(),
                clientTLS: ClientTLSConfiguration, serverTLS: ServerTLSConfiguration,
                clientAddress: SocketAddress = EndpointPair.defaultClientAddress,
                serverAddress: SocketAddress = EndpointPair.defaultServerAddress) throws {
        client = try QuicEndpoint(localAddress: clientAddress, configuration: configuration, client: clientTLS,
                                  random: RandomStream(seed: seed, stream: "client"))
        server = try QuicEndpoint(localAddress: serverAddress, configuration: configuration, server: serverTLS,
                                  random: RandomStream(seed: seed, stream: "server"))
        scheduler = Scheduler()
        network = Network(topology: Self.topology(seed: seed, oneWayDelay: oneWayDelay, bitsPerSecond: bitsPerSecond,
                                                  lossRate: lossRate, client: clientAddress.address, server: serverAddress.address),
                          scheduler: scheduler, seed: seed)
        clientNode = network.nodeIndex(named: "client")!
        clientDriver = EndpointDriver(endpoint: client, io: try network.bind(node: "client", port: clientAddress.port), scheduler: scheduler)
        serverDriver = EndpointDriver(endpoint: server, io: try network.bind(node: "server", port: serverAddress.port), scheduler: scheduler)
    }

    /// Two nodes in one site and one link between them. A bit rate of 0 is a
    /// link whose serialization takes no time.
    static func topology(seed: UInt64, oneWayDelay: SimDuration, bitsPerSecond: Double?, lossRate: Double,
                         client: IPv6Address, server: IPv6Address) -> Topology {
        let here = SourceLocation(file: "endpoint-pair", line: 0, column: 0)
        let site = Site(name: "lab", latitude: 0, longitude: 0, region: "lab",
                        prefix: IPv6Prefix(address: client, length: 48), location: here)
        let link = LinkSpec(from: "client", to: "server", bandwidthBitsPerSecond: bitsPerSecond.map { UInt64($0) } ?? 0,
                            latency: oneWayDelay, latencyIsAuto: false, lossRate: lossRate, queueBytes: Int.max / 4, location: here)
        return Topology(name: "endpoint-pair", sourceFile: "endpoint-pair", seed: seed, duration: .seconds(3600), routeInflation: 1,
                        sites: [site],
                        nodes: [NodeSpec(name: "client", site: "lab", role: .client, address: client, location: here),
                                NodeSpec(name: "server", site: "lab", role: .edge, address: server, location: here)],
                        links: [link], faults: [], workloads: [], routing: RoutingConfig(), warnings: [])
    }

    /// Opens a client connection to the server endpoint.
    public func connect(serverName: String = "localhost") throws -> QuicConnection {
        try client.connect(to: server.localAddress, serverName: serverName, at: now)
    }

    /// Sends what both sides have ready (writes made outside event handlers),
    /// then runs everything due at the next instant something happens (an
    /// arrival or a deadline). Returns false when nothing can happen any more.
    @discardableResult
    public func step() -> Bool {
        flush()
        guard let t = scheduler.nextEventTime else { return false }
        scheduler.run(until: t)
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

    /// Runs `duration` of virtual time (or until idle, the clock still moving to the end).
    public func run(for duration: SimDuration) {
        flush()
        scheduler.run(until: now + duration)
    }

    private func flush() {
        clientDriver.flush()
        serverDriver.flush()
    }

    /// Records datagrams as the network sees them leave a node.
    private final class TraceRecorder: NetworkObserver {
        let clientNode: Int32
        var entries: [TraceEntry] = []
        /// Packet id of `entries[0]` (ids are sequential per network).
        var firstID: UInt64?

        init(clientNode: Int32) { self.clientNode = clientNode }

        func packetSent(_ packet: Packet, time: SimTime) {
            if firstID == nil { firstID = packet.id }
            entries.append(TraceEntry(time: time, from: packet.sourceNode == clientNode ? .client : .server,
                                      size: packet.payload.count, dropped: false))
        }

        func packetDropped(_ packet: Packet, reason: DropReason, location: DropLocation, time: SimTime) {
            guard let first = firstID, packet.id >= first, reason == .loss else { return }
            entries[Int(packet.id - first)].dropped = true
        }
    }
}
