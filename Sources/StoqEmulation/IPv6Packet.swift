import StoqNetwork
import StoqTopology

/// IPv6 packets as the kernel writes them to a TUN device (IFF_NO_PI: the
/// packet starts at the IPv6 header) and as the engine writes them back.
///
/// The network model carries `Datagram`s. A UDP packet without extension
/// headers becomes an ordinary datagram (so sockets, observers and byte
/// counts see exactly what the sim backend sees). Anything else — ICMPv6 for
/// `ping -6`, TCP, fragments, extension headers — travels as a *carried*
/// datagram: both ports 0 (never a valid UDP destination port) and a payload
/// of the next-header byte followed by the IPv6 payload verbatim. Its
/// checksums stay valid because the addresses do not change. It is charged
/// 9 bytes more on links than on a real wire (48-byte UDP/IPv6 allowance
/// plus the next-header byte, against a 40-byte IPv6 header).
public enum IPv6Packet {
    public static let headerSize = 40
    static let udpHeaderSize = 8
    static let udpNextHeader: UInt8 = 17
    /// Hop limit of rebuilt packets: a fresh packet's default, so a program's
    /// hop count reads as if the model's hops were one.
    static let hopLimit: UInt8 = 64

    public enum Parsed {
        case datagram(Datagram)
        /// Not IPv6, truncated, or with a bad length field.
        case malformed
    }

    /// Parses the packet in `bytes` into the datagram the model carries.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Parsed {
        // The view writes into its buffer (a carried packet's next-header byte): parse a copy.
        var copy = Array(bytes)
        let datagram = copy.withUnsafeMutableBytes { buffer in
            withDatagram(in: buffer) { source, destination, payload in
                Datagram(source: source, destination: destination, payload: Array(payload))
            }
        }
        return datagram.map { .datagram($0) } ?? .malformed
    }

    public static func parse(_ bytes: [UInt8]) -> Parsed {
        bytes.withUnsafeBytes { parse($0) }
    }

    /// Calls `body` with the datagram the model carries for the packet in
    /// `bytes`, its payload lent from `bytes` itself (the TUN relay's path:
    /// nothing is allocated per packet); nil when the packet is malformed.
    /// A carried packet's payload is the next-header byte and the IPv6
    /// payload: the byte is written over the last byte of the header's
    /// destination address (already read), so that payload is contiguous.
    public static func withDatagram<R>(in bytes: UnsafeMutableRawBufferPointer,
                                       _ body: (SocketAddress, SocketAddress, UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard bytes.count >= headerSize, bytes[0] >> 4 == 6 else { return nil }
        let payloadLength = Int(bytes[4]) << 8 | Int(bytes[5])
        guard headerSize + payloadLength <= bytes.count else { return nil }
        let nextHeader = bytes[6]
        let source = address(UnsafeRawBufferPointer(bytes), at: 8), destination = address(UnsafeRawBufferPointer(bytes), at: 24)
        let ip = UnsafeRawBufferPointer(rebasing: bytes[headerSize..<(headerSize + payloadLength)])
        if nextHeader == udpNextHeader, ip.count >= udpHeaderSize {
            let udpLength = Int(ip[4]) << 8 | Int(ip[5])
            let sourcePort = UInt16(ip[0]) << 8 | UInt16(ip[1])
            let destinationPort = UInt16(ip[2]) << 8 | UInt16(ip[3])
            // Port 0 is reserved for carried packets; a real UDP packet never uses it as destination.
            if udpLength >= udpHeaderSize, udpLength <= ip.count, destinationPort != 0 {
                return try body(SocketAddress(address: source, port: sourcePort), SocketAddress(address: destination, port: destinationPort),
                                UnsafeRawBufferPointer(rebasing: ip[udpHeaderSize..<udpLength]))
            }
        }
        bytes[headerSize - 1] = nextHeader
        return try body(SocketAddress(address: source, port: 0), SocketAddress(address: destination, port: 0),
                        UnsafeRawBufferPointer(rebasing: bytes[(headerSize - 1)..<(headerSize + payloadLength)]))
    }

    /// Whether `d` is a carried non-UDP packet rather than a UDP datagram.
    public static func isCarried(_ d: Datagram) -> Bool {
        d.destination.port == 0 && d.source.port == 0 && !d.payload.isEmpty
    }

    /// The largest packet `build` writes: an IPv6 header and the largest payload its length field can state.
    public static let maximumPacketSize = headerSize + 0xffff

    /// The IPv6 packet for `d`: UDP with a computed checksum, or the carried
    /// packet restored. Empty when the datagram is too large for one IPv6 packet.
    public static func build(_ d: Datagram) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maximumPacketSize) { buffer, count in
            count = d.payload.withUnsafeBytes {
                build(source: d.source, destination: d.destination, payload: $0, into: UnsafeMutableRawBufferPointer(buffer)) ?? 0
            }
        }
    }

    /// Writes the IPv6 packet for a datagram at the start of `out` (at least
    /// `maximumPacketSize` bytes, or as many as the packet needs) and returns
    /// its length; nil when the datagram is too large for one IPv6 packet. The
    /// relay writes every packet into one buffer, straight from the network's lent bytes.
    public static func build(source: SocketAddress, destination: SocketAddress, payload: UnsafeRawBufferPointer,
                             into out: UnsafeMutableRawBufferPointer) -> Int? {
        let carried = destination.port == 0 && source.port == 0 && !payload.isEmpty
        let body = carried ? payload.count - 1 : udpHeaderSize + payload.count
        guard body <= 0xffff else { return nil }
        let total = headerSize + body
        precondition(out.count >= total, "IPv6Packet.build: output buffer too small")
        writeHeader(out, payloadLength: body, nextHeader: carried ? payload[0] : udpNextHeader, source: source.address,
                    destination: destination.address)
        if carried {
            UnsafeMutableRawBufferPointer(rebasing: out[headerSize..<total]).copyMemory(from: UnsafeRawBufferPointer(rebasing: payload[1...]))
            return total
        }
        out.storeBytes(of: source.port.bigEndian, toByteOffset: headerSize, as: UInt16.self)
        out.storeBytes(of: destination.port.bigEndian, toByteOffset: headerSize + 2, as: UInt16.self)
        out.storeBytes(of: UInt16(truncatingIfNeeded: body).bigEndian, toByteOffset: headerSize + 4, as: UInt16.self)
        if payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: out[(headerSize + udpHeaderSize)..<total]).copyMemory(from: payload)
        }
        let checksum = udpChecksum(UnsafeRawBufferPointer(rebasing: out[0..<total]))
        out.storeBytes(of: checksum.bigEndian, toByteOffset: headerSize + 6, as: UInt16.self)
        return total
    }

    /// RFC 8200 §8.1: one's-complement sum over the pseudo-header (addresses,
    /// upper-layer length, next header) and the UDP header and payload, with
    /// the checksum field zero; a result of 0 is sent as 0xffff.
    public static func udpChecksum(_ packet: [UInt8]) -> UInt16 {
        packet.withUnsafeBytes { udpChecksum($0) }
    }

    /// The same over the packet in `p` (its checksum field is skipped, whatever it holds).
    public static func udpChecksum(_ p: UnsafeRawBufferPointer) -> UInt16 {
        let udpLength = p.count - headerSize
        var sum = onesComplementSum(UnsafeRawBufferPointer(rebasing: p[8..<(headerSize + 6)]))
            &+ onesComplementSum(UnsafeRawBufferPointer(rebasing: p[(headerSize + 8)...]))
        // The sums above are of little- or big-endian words as the machine loads them; so are these.
        sum &+= UInt64(UInt16(truncatingIfNeeded: udpLength).bigEndian) &+ UInt64(UInt16(udpNextHeader).bigEndian)
        let result = ~UInt16(bigEndian: fold(sum))
        return result == 0 ? 0xffff : result
    }

    /// The one's-complement sum of `bytes` as 16-bit words in the machine's
    /// byte order (RFC 1071 §2(B): byte order does not change the folded sum
    /// but for a final swap), eight bytes per step; unfolded.
    static func onesComplementSum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var sum: UInt64 = 0
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            let v = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            sum &+= (v & 0xffff_ffff) &+ (v >> 32)   // two 32-bit halves: no carry lost for any packet size
            i += 8
        }
        while i + 2 <= n {
            sum &+= UInt64(bytes.loadUnaligned(fromByteOffset: i, as: UInt16.self))
            i += 2
        }
        if i < n {
            // The odd last byte is the high byte of a zero-padded big-endian word.
            sum &+= UInt64(UInt16(bigEndian: UInt16(bytes[i]) << 8))
        }
        return sum
    }

    private static func fold(_ value: UInt64) -> UInt16 {
        var sum = value
        while sum >> 16 != 0 { sum = (sum & 0xffff) &+ (sum >> 16) }
        return UInt16(sum)
    }

    private static func writeHeader(_ packet: UnsafeMutableRawBufferPointer, payloadLength: Int, nextHeader: UInt8,
                                    source: IPv6Address, destination: IPv6Address) {
        // Version 6, traffic class and flow label 0.
        packet.storeBytes(of: UInt32(0x6000_0000).bigEndian, toByteOffset: 0, as: UInt32.self)
        packet.storeBytes(of: UInt16(truncatingIfNeeded: payloadLength).bigEndian, toByteOffset: 4, as: UInt16.self)
        packet[6] = nextHeader
        packet[7] = hopLimit
        packet.storeBytes(of: source.high.bigEndian, toByteOffset: 8, as: UInt64.self)
        packet.storeBytes(of: source.low.bigEndian, toByteOffset: 16, as: UInt64.self)
        packet.storeBytes(of: destination.high.bigEndian, toByteOffset: 24, as: UInt64.self)
        packet.storeBytes(of: destination.low.bigEndian, toByteOffset: 32, as: UInt64.self)
    }

    private static func address(_ b: UnsafeRawBufferPointer, at offset: Int) -> IPv6Address {
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(b[offset + i]) }
        for i in 8..<16 { low = low << 8 | UInt64(b[offset + i]) }
        return IPv6Address(high: high, low: low)
    }
}
