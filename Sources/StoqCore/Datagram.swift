#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

/// One UDP datagram that owns its payload: for code that keeps datagrams
/// (tests, packet capture, the netns backend's TUN framing). The packet path
/// itself never makes one: it hands bytes on borrowed (`DatagramIO`).
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

/// A datagram that arrived, lent to a receive handler: `payload` points into
/// the carrier's buffer and is valid only during the handler's call.
public struct ReceivedDatagram {
    public var source: SocketAddress
    public var destination: SocketAddress
    public var payload: UnsafeRawBufferPointer

    public init(source: SocketAddress, destination: SocketAddress, payload: UnsafeRawBufferPointer) {
        self.source = source
        self.destination = destination
        self.payload = payload
    }

    /// A copy that outlives the handler's call.
    public var owned: Datagram { Datagram(source: source, destination: destination, payload: Array(payload)) }
}

/// The datagrams a carrier hands over at once (those that arrived at the same
/// instant, or everything a socket had queued), lent for the handler's call.
public struct DatagramBatch: RandomAccessCollection {
    private let items: UnsafeBufferPointer<ReceivedDatagram>

    public init(_ items: UnsafeBufferPointer<ReceivedDatagram>) { self.items = items }

    public var startIndex: Int { 0 }
    public var endIndex: Int { items.count }
    public subscript(i: Int) -> ReceivedDatagram { items[i] }

    /// Calls `body` with a batch of `datagram` alone, without allocating.
    public static func withSingle<R>(_ datagram: ReceivedDatagram, _ body: (DatagramBatch) throws -> R) rethrows -> R {
        var d = datagram
        return try withUnsafePointer(to: &d) { try body(DatagramBatch(UnsafeBufferPointer(start: $0, count: 1))) }
    }
}

/// The seam between node code and whatever carries its packets: the simulated
/// `Network`, a real UDP socket on the netns backend and `stoqsim node`. Node
/// code (the QUIC driver, echo and probe services) only ever holds a
/// `DatagramIO`, so it runs on either unchanged. Bytes are lent in both
/// directions, so no carrier needs an array per datagram.
public protocol DatagramIO: AnyObject {
    var localAddress: IPv6Address { get }
    var localPort: UInt16 { get }
    /// Sends `payload` (read during the call only) to `destination`. Like a
    /// kernel socket, the source is always this endpoint's address and port.
    func send(to destination: SocketAddress, _ payload: UnsafeRawBufferPointer)
    /// Called with the datagrams that arrive for this endpoint, a batch at a time.
    var receiveHandler: ((DatagramBatch) -> Void)? { get set }
}

extension DatagramIO {
    public var socketAddress: SocketAddress { SocketAddress(address: localAddress, port: localPort) }

    /// Sends an owned datagram's payload to its destination (its source is ignored, as in `send(to:_:)`).
    public func send(_ datagram: Datagram) {
        datagram.payload.withUnsafeBytes { send(to: datagram.destination, $0) }
    }

    /// Sets a receive handler that takes arrivals one at a time.
    public func receiveEach(_ handler: @escaping (ReceivedDatagram) -> Void) {
        receiveHandler = { batch in for d in batch { handler(d) } }
    }
}

#if canImport(Glibc) || canImport(Darwin)
extension IPv6Address {
    public init(bytes a: in6_addr) {
        var copy = a
        var high: UInt64 = 0, low: UInt64 = 0
        withUnsafeBytes(of: &copy) { raw in
            for i in 0..<8 { high = high << 8 | UInt64(raw[i]) }
            for i in 8..<16 { low = low << 8 | UInt64(raw[i]) }
        }
        self.init(high: high, low: low)
    }
}

extension SocketAddress {
    /// The kernel's form of this address (sockets, and ngtcp2's path).
    public var sockaddr: sockaddr_in6 {
        var sa = sockaddr_in6()
        sa.sin6_family = sa_family_t(AF_INET6)
        sa.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &sa.sin6_addr) { raw in
            for i in 0..<8 { raw[i] = UInt8(truncatingIfNeeded: address.high >> (56 - 8 * UInt64(i))) }
            for i in 0..<8 { raw[8 + i] = UInt8(truncatingIfNeeded: address.low >> (56 - 8 * UInt64(i))) }
        }
        return sa
    }

    public init(_ sa: sockaddr_in6) {
        self.init(address: IPv6Address(bytes: sa.sin6_addr), port: UInt16(bigEndian: sa.sin6_port))
    }
}
#endif
