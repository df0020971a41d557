#if os(Linux)
import CStoqEmulation
import Glibc
import StoqEngine
import StoqNetwork
import StoqTopology

/// A real kernel UDP socket behind the `DatagramIO` seam: AF_INET6 with
/// IPV6_V6ONLY (IPv4 and IPv4-mapped peers are refused), non-blocking, read
/// by the real-time driver whenever it is readable. Open it with
/// `NetnsEmulator.bind` to have it inside a node's namespace.
public final class UDPSocketIO: DatagramIO {
    public let localAddress: IPv6Address
    public let localPort: UInt16
    public var receiveHandler: ((Datagram) -> Void)?
    public private(set) var isClosed = false
    /// Sends the kernel refused (e.g. its buffer was full) and sends to IPv4-mapped peers.
    public private(set) var sendErrors = 0
    public private(set) var refusedIPv4 = 0
    /// The last send error's errno (0: none).
    public private(set) var lastSendErrno: Int32 = 0

    let fd: Int32
    private unowned let driver: RealTimeDriver
    private var buffer = [UInt8](repeating: 0, count: 65_536)

    /// Opens and binds a socket in the calling thread's network namespace.
    /// Port 0 lets the kernel pick one.
    public init(address: IPv6Address, port: UInt16, driver: RealTimeDriver, bufferBytes: Int32 = 1 << 20) throws {
        if address.isIPv4Mapped { throw EmulationError.ipv4Refused("binding a UDP socket to \(address)") }
        var bound: UInt16 = 0
        let fd = address.bytes.withUnsafeBufferPointer { cstoq_emu_udp_open($0.baseAddress, port, &bound) }
        if fd < 0 { throw EmulationError.system(operation: "binding UDP [\(address)]:\(port)", namespace: nil, errno: errno) }
        _ = cstoq_emu_set_buffers(fd, bufferBytes)
        self.fd = fd
        self.driver = driver
        localAddress = address
        localPort = bound
        do {
            try driver.register(fd: fd) { [unowned self] in self.drain() }
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit { close() }

    public func send(_ datagram: Datagram) {
        guard !isClosed else { return }
        let to = datagram.destination
        if to.address.isIPv4Mapped {
            refusedIPv4 += 1
            return
        }
        let n = to.address.bytes.withUnsafeBufferPointer { addr in
            datagram.payload.withUnsafeBufferPointer { p in
                cstoq_emu_udp_send(fd, addr.baseAddress, to.port, p.baseAddress, p.count)
            }
        }
        if n < 0 {
            sendErrors += 1
            lastSendErrno = errno
        }
    }

    /// Reads what is queued (at most a batch, so other descriptors get a turn;
    /// the driver calls again while more is left).
    private func drain() {
        var source = [UInt8](repeating: 0, count: 16)
        for _ in 0..<64 {
            guard !isClosed else { return }
            var port: UInt16 = 0
            let n = buffer.withUnsafeMutableBufferPointer { b in
                source.withUnsafeMutableBufferPointer { s in cstoq_emu_udp_recv(fd, b.baseAddress, b.count, s.baseAddress, &port) }
            }
            if n < 0 { return }   // EAGAIN: drained
            var high: UInt64 = 0, low: UInt64 = 0
            for i in 0..<8 { high = high << 8 | UInt64(source[i]) }
            for i in 8..<16 { low = low << 8 | UInt64(source[i]) }
            let d = Datagram(source: SocketAddress(address: IPv6Address(high: high, low: low), port: port),
                             destination: SocketAddress(address: localAddress, port: localPort),
                             payload: Array(buffer[0..<n]))
            receiveHandler?(d)
        }
    }

    /// Unregisters from the driver and closes the socket; later sends are ignored.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        receiveHandler = nil
        driver.unregister(fd: fd)
        Glibc.close(fd)
    }
}
#endif
