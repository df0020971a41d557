#if canImport(Glibc)
import Glibc
#endif
import StoqEngine
import StoqTopology

/// Why a real socket could not be made or used.
public enum SocketError: Error, Equatable, CustomStringConvertible {
    /// An IPv4, IPv4-mapped or malformed address.
    case invalidAddress(String)
    /// A socket system call failed.
    case system(operation: String, errno: Int32, message: String)

    public var description: String {
        switch self {
        case let .invalidAddress(message): return "address: \(message)"
        case let .system(op, errno, message): return "socket: \(op) failed: \(message) (errno \(errno))"
        }
    }
}

/// A real IPv6-only UDP socket behind the `DatagramIO` seam, for the netns
/// backend (opened inside a node's namespace) and the `stoqsim node` commands. Non-blocking; register it
/// with a `RealTimeDriver` and it drains itself whenever readable.
///
/// IPV6_V6ONLY is set, so IPv4 peers cannot reach it through mapped addresses,
/// and IPv4-mapped addresses are refused for binding and sending.
public final class IPv6UDPSocket: DatagramIO {
    public let fileDescriptor: Int32
    public let localAddress: IPv6Address
    public let localPort: UInt16
    public var receiveHandler: ((DatagramBatch) -> Void)?
    /// Datagrams the kernel would not take (full buffer) or we refused (IPv4-mapped destination).
    public private(set) var sendFailures = 0
    /// Where `drain` reads a batch: datagrams back to back, each read with
    /// room for the largest one, so a batch holds at least `arenaBytes / 64 KiB` of them.
    private let arena = UnsafeMutableRawBufferPointer.allocate(byteCount: IPv6UDPSocket.arenaBytes, alignment: 16)
    private static let arenaBytes = 320 << 10
    private static let largestDatagram = 65536
    private static let batchLimit = 64
    private var batch: [ReceivedDatagram] = []
    private weak var driver: RealTimeDriver?
    private var closed = false

    /// Binds `address`; port 0 picks a free port (read it back from `localPort`).
    public init(bind address: SocketAddress) throws {
        guard !address.address.isIPv4Mapped else {
            throw SocketError.invalidAddress("refusing to bind \(address): IPv4-mapped addresses are IPv4; STOQ is IPv6-only")
        }
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Self.error("socket(AF_INET6, SOCK_DGRAM)") }
        var one: Int32 = 1
        guard setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let e = Self.error("setsockopt(IPV6_V6ONLY)"); Glibc.close(fd); throw e
        }
        var sa = address.sockaddr
        let rv = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard rv == 0 else { let e = Self.error("bind(\(address))"); Glibc.close(fd); throw e }
        var bound = sockaddr_in6()
        var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        fileDescriptor = fd
        localAddress = address.address
        localPort = UInt16(bigEndian: bound.sin6_port)
    }

    deinit {
        close()
        arena.deallocate()
    }

    /// Sets the kernel's send and receive buffers (a relay or a busy server
    /// needs more than the default to ride out bursts).
    public func setBufferSizes(_ bytes: Int32) {
        var size = bytes
        _ = setsockopt(fileDescriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fileDescriptor, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Watches the socket on `driver`'s epoll set; arriving datagrams go to `receiveHandler`.
    public func attach(to driver: RealTimeDriver) throws {
        try driver.register(fd: fileDescriptor) { [weak self] in self?.drain() }
        self.driver = driver
    }

    public func close() {
        guard !closed else { return }
        closed = true
        driver?.unregister(fd: fileDescriptor)
        Glibc.close(fileDescriptor)
    }

    public func send(to destination: SocketAddress, _ payload: UnsafeRawBufferPointer) {
        guard !closed, !destination.address.isIPv4Mapped else { sendFailures += 1; return }
        var sa = destination.sockaddr
        let n = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fileDescriptor, payload.baseAddress, payload.count, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        // UDP: a full send buffer drops the datagram, and QUIC recovers as from any loss.
        if n < 0 { sendFailures += 1 }
    }

    /// Reads until the socket would block, handing the datagrams over in
    /// batches (one handler call, so one QUIC flush, per batch rather than per datagram).
    public func drain() {
        var drained = false
        while !drained && !closed {
            batch.removeAll(keepingCapacity: true)
            var used = 0
            while batch.count < Self.batchLimit && used + Self.largestDatagram <= arena.count {
                var from = sockaddr_in6()
                var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
                let n = withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(fileDescriptor, arena.baseAddress! + used, Self.largestDatagram, 0, $0, &len)
                    }
                }
                // EAGAIN (drained) or a transient error; epoll wakes us again. A
                // batch that ends full reads on without this extra system call.
                if n < 0 { drained = true; break }
                guard from.sin6_family == sa_family_t(AF_INET6) else { continue }
                let source = SocketAddress(from)
                if source.address.isIPv4Mapped { continue }
                batch.append(ReceivedDatagram(source: source, destination: socketAddress,
                                              payload: UnsafeRawBufferPointer(start: arena.baseAddress! + used, count: n)))
                used += (n + 15) & ~15
            }
            if !batch.isEmpty, let handler = receiveHandler {
                batch.withUnsafeBufferPointer { handler(DatagramBatch($0)) }
            }
        }
    }

    private static func error(_ operation: String) -> SocketError {
        let e = errno
        return .system(operation: operation, errno: e, message: String(cString: strerror(e)))
    }
}

/// Parses "[addr]:port" (the RFC 3986 form), refusing IPv4 with a clear message.
public func parseSocketAddress(_ text: String, what: String = "address") throws -> SocketAddress {
    guard text.hasPrefix("["), let close = text.lastIndex(of: "]") else {
        if text.split(separator: ".").count == 4 || text.contains(".") && !text.contains(":") {
            throw SocketError.invalidAddress("\(what) '\(text)' looks like IPv4; STOQ is IPv6-only: use e.g. [::1]:4433")
        }
        throw SocketError.invalidAddress("\(what) '\(text)' must look like [ADDRESS]:PORT, e.g. [::1]:4433")
    }
    let host = String(text[text.index(after: text.startIndex)..<close])
    let rest = text[text.index(after: close)...]
    guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else {
        throw SocketError.invalidAddress("\(what) '\(text)' needs a port after the bracket, e.g. [\(host)]:4433")
    }
    let address: IPv6Address
    do { address = try IPv6Address.parse(host) } catch {
        throw SocketError.invalidAddress("\(what) '\(text)': \(error)")
    }
    guard !address.isIPv4Mapped else {
        throw SocketError.invalidAddress("\(what) '\(text)' is an IPv4-mapped address; STOQ is IPv6-only")
    }
    return SocketAddress(address: address, port: port)
}
