import StoqEngine

/// A datagram on its way through the network, as observers see it. A plain
/// value (no references), so queues move it without reference counting.
public struct Packet {
    /// Sequential per network, so traces of equal runs line up.
    public let id: UInt64
    public let source: SocketAddress
    public let destination: SocketAddress
    /// The payload in the network's `PayloadSlab`: valid while the packet is
    /// in the network, so observers must copy what they keep (`datagram`).
    public let payload: UnsafeRawBufferPointer
    /// The slab slot holding `payload`, freed at delivery or drop.
    let slot: PayloadSlab.Slot
    public let sourceNode: Int32
    /// -1 when the destination address belongs to no node.
    public let destinationNode: Int32
    public let sentAt: SimTime
    /// `FlowHash` of the 4-tuple when the tables have several next hops or
    /// planes to choose from; 0 otherwise (nothing reads it then).
    public internal(set) var flowHash: UInt64 = 0

    /// Bytes on the wire: what serialization and queues account for.
    public var wireSize: Int { payload.count + Datagram.headerBytes }
    /// An owned copy (e.g. for packet capture).
    public var datagram: Datagram { Datagram(source: source, destination: destination, payload: Array(payload)) }
    /// The packet as the receiving socket sees it (borrowed, like `payload`).
    public var received: ReceivedDatagram { ReceivedDatagram(source: source, destination: destination, payload: payload) }
}

public enum DropReason: String, CaseIterable, Sendable {
    /// The link's drop-tail queue had no room.
    case queueFull = "queue-full"
    /// Random loss on the link.
    case loss
    /// The link was down when the packet reached it, or went down while the
    /// packet was queued or in flight.
    case linkDown = "link-down"
    /// The sending, forwarding or receiving node was down.
    case nodeDown = "node-down"
    /// The forwarding tables have no route to the destination node.
    case noRoute = "no-route"
    /// The destination address belongs to no node.
    case unknownDestination = "unknown-destination"
    /// Nothing is bound to the destination port.
    case portUnreachable = "port-unreachable"
    /// Larger than the link's `mtu`.
    case mtu = "mtu-exceeded"
}

/// Where a packet was dropped: at a node, or on one link direction (an edge of
/// `Network.graph`).
public enum DropLocation: Hashable, Sendable {
    case node(Int32)
    case link(edge: Int32)
}

/// Drop counts by reason, kept in an array indexed by reason so counting never hashes.
public struct DropCounts: Equatable, Sendable {
    private var counts = [UInt64](repeating: 0, count: DropReason.allCases.count)

    public init() {}

    public subscript(reason: DropReason) -> UInt64 {
        get { counts[reason.index] }
        set { counts[reason.index] = newValue }
    }

    public var total: UInt64 { counts.reduce(0, +) }
}

extension DropReason {
    @inline(__always) var index: Int {
        switch self {
        case .queueFull: return 0
        case .loss: return 1
        case .linkDown: return 2
        case .nodeDown: return 3
        case .noRoute: return 4
        case .unknownDestination: return 5
        case .portUnreachable: return 6
        case .mtu: return 7
        }
    }
}

/// Counters of one link direction. `packetsSent` counts every packet offered
/// to the link, so sent + duplicated = delivered + dropped + still queued or
/// in flight (`dropped[.loss]` counts what the loss model took, `dropped[.mtu]`
/// what was larger than the link's MTU).
public struct LinkCounters: Equatable, Sendable {
    public var packetsSent: UInt64 = 0
    public var bytesSent: UInt64 = 0
    public var packetsDelivered: UInt64 = 0
    public var bytesDelivered: UInt64 = 0
    public var dropped = DropCounts()
    public var bytesDropped: UInt64 = 0
    /// Peak queue occupancy, the packet being serialized included.
    public var maxQueuedBytes = 0
    /// Time the serializer spent sending (for utilisation).
    public var busyTime = SimDuration.zero
    /// Packets that left with a flipped bit (`corrupt`); they still count as delivered.
    public var corrupted: UInt64 = 0
    /// Extra copies made (`duplicate`); each copy counts as delivered too.
    public var duplicated: UInt64 = 0
    /// Packets that overtook one admitted ahead of them (`jitter` with `reorder`).
    public var reordered: UInt64 = 0

    public init() {}

    public var packetsDropped: UInt64 { dropped.total }

    /// Fraction of `interval` the link direction was transmitting.
    public func utilisation(over interval: SimDuration) -> Double {
        interval.nanoseconds > 0 ? Double(busyTime.nanoseconds) / Double(interval.nanoseconds) : 0
    }
}

/// Network-wide counters: what nodes sent and what reached a bound port.
public struct NetworkCounters: Equatable, Sendable {
    public var packetsSent: UInt64 = 0
    public var bytesSent: UInt64 = 0
    public var packetsDelivered: UInt64 = 0
    public var bytesDelivered: UInt64 = 0
    /// Every drop, on links and at nodes.
    public var dropped = DropCounts()
    /// Packets sent whose geographic route falls back to recovery on the way.
    public var recoveryPackets: UInt64 = 0

    public init() {}
}

/// A failure and how the routes caught up with it, reported when the tables
/// are recomputed after it (`routesReconverged`).
public struct OutageReport: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        /// Indexes `topology.links`.
        case link(Int)
        case node(Int32)
    }
    public var target: Target
    public var failedAt: SimTime
    /// When the tables stopped using the failed element.
    public var recomputedAt: SimTime
    /// Packets dropped at the failed link or node (`link-down`/`node-down`)
    /// from the failure until the recomputation, those on it at the instant included.
    public var packetsLost: UInt64 = 0

    public init(target: Target, failedAt: SimTime, recomputedAt: SimTime? = nil, packetsLost: UInt64 = 0) {
        self.target = target
        self.failedAt = failedAt
        self.recomputedAt = recomputedAt ?? failedAt
        self.packetsLost = packetsLost
    }

    /// Recompute time − failure time.
    public var reconvergence: SimDuration { recomputedAt - failedAt }
}

/// Receives what happens inside the network, e.g. to write a trace. Every
/// method has an empty default, so observers implement only what they need.
/// Node and edge indices refer to `Network.graph`.
public protocol NetworkObserver: AnyObject {
    /// A node handed `packet` to the network.
    func packetSent(_ packet: Packet, time: SimTime)
    /// `packet` crossed `edge` and reached the node at its far end.
    func packetHop(_ packet: Packet, edge: Int32, time: SimTime)
    /// `packet` reached the socket it was addressed to.
    func packetDelivered(_ packet: Packet, time: SimTime)
    func packetDropped(_ packet: Packet, reason: DropReason, location: DropLocation, time: SimTime)
    /// `link` indexes `topology.links`.
    func linkStateChanged(link: Int, up: Bool, time: SimTime)
    func nodeStateChanged(node: Int32, up: Bool, time: SimTime)
    /// The tables were rebuilt (after a failure or repair, or a load sample).
    func routesRecomputed(time: SimTime)
    /// After `routesRecomputed`, once per failure (link or node down) the new
    /// tables are the first to take into account.
    func routesReconverged(_ outage: OutageReport)
}

public extension NetworkObserver {
    func packetSent(_ packet: Packet, time: SimTime) {}
    func packetHop(_ packet: Packet, edge: Int32, time: SimTime) {}
    func packetDelivered(_ packet: Packet, time: SimTime) {}
    func packetDropped(_ packet: Packet, reason: DropReason, location: DropLocation, time: SimTime) {}
    func linkStateChanged(link: Int, up: Bool, time: SimTime) {}
    func nodeStateChanged(node: Int32, up: Bool, time: SimTime) {}
    func routesRecomputed(time: SimTime) {}
    func routesReconverged(_ outage: OutageReport) {}
}
