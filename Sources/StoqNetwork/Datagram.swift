import StoqTopology

/// An IPv6 address and UDP port.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv6Address
    public var port: UInt16

    public init(address: IPv6Address, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// "[fd00::1]:443", the RFC 3986 form.
    public var description: String { "[\(address)]:\(port)" }
}

/// One UDP datagram as nodes see it.
public struct Datagram: Sendable {
    /// IPv6 (40) + UDP (8) header bytes, charged on every link.
    public static let headerBytes = 48

    public var source: SocketAddress
    public var destination: SocketAddress
    public var payload: [UInt8]

    public init(source: SocketAddress, destination: SocketAddress, payload: [UInt8]) {
        self.source = source
        self.destination = destination
        self.payload = payload
    }

    /// Bytes on the wire: what serialization and queues account for.
    public var wireSize: Int { payload.count + Self.headerBytes }
}

/// The seam between node code and whatever carries its packets: the simulated
/// `Network` here, a real UDP socket on the netns backend. Node code only ever
/// holds a `DatagramIO`, so it runs on either unchanged.
public protocol DatagramIO: AnyObject {
    var localAddress: IPv6Address { get }
    var localPort: UInt16 { get }
    /// Sends `datagram`. Like a kernel socket, the source is always this
    /// endpoint's address and port, whatever the caller put there.
    func send(_ datagram: Datagram)
    /// Called for every datagram that arrives for this endpoint.
    var receiveHandler: ((Datagram) -> Void)? { get set }
}
