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

    /// The IPv6 packet for `d`: UDP with a computed checksum, or the carried
    /// packet restored.
    public static func build(_ d: Datagram) -> [UInt8] {
        var packet: [UInt8] = []
        d.payload.withUnsafeBytes { build(source: d.source, destination: d.destination, payload: $0, into: &packet) }
        return packet
    }

    /// Writes the IPv6 packet for a datagram into `packet`, replacing what it
    /// held but keeping its capacity: the relay reuses one buffer for every
    /// packet it writes to a TUN device, straight from the network's lent bytes.
    public static func build(source: SocketAddress, destination: SocketAddress, payload: UnsafeRawBufferPointer,
                             into packet: inout [UInt8]) {
        let carried = destination.port == 0 && source.port == 0 && !payload.isEmpty
        let body = carried ? payload.count - 1 : udpHeaderSize + payload.count
        packet.removeAll(keepingCapacity: true)
        packet.append(contentsOf: repeatElement(0, count: headerSize + body))
        writeHeader(&packet, payloadLength: body, nextHeader: carried ? payload[0] : udpNextHeader, source: source.address,
                    destination: destination.address)
        packet.withUnsafeMutableBytes { out in
            if carried {
                UnsafeMutableRawBufferPointer(rebasing: out[headerSize...]).copyMemory(from: UnsafeRawBufferPointer(rebasing: payload[1...]))
            } else if payload.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[(headerSize + udpHeaderSize)...]).copyMemory(from: payload)
            }
        }
        guard !carried else { return }
        put16(&packet, headerSize, source.port)
        put16(&packet, headerSize + 2, destination.port)
        put16(&packet, headerSize + 4, UInt16(truncatingIfNeeded: body))
        put16(&packet, headerSize + 6, udpChecksum(packet))
    }

    /// RFC 8200 §8.1: one's-complement sum over the pseudo-header (addresses,
    /// upper-layer length, next header) and the UDP header and payload, with
    /// the checksum field zero; a result of 0 is sent as 0xffff.
    public static func udpChecksum(_ packet: [UInt8]) -> UInt16 {
        let udpLength = packet.count - headerSize
        var sum: UInt64 = 0
        packet.withUnsafeBytes { p in
            func add(_ range: Range<Int>, skipping skip: Int? = nil) {
                var i = range.lowerBound
                while i + 1 < range.upperBound {
                    if i != skip { sum += UInt64(p[i]) << 8 | UInt64(p[i + 1]) }
                    i += 2
                }
                if i < range.upperBound { sum += UInt64(p[i]) << 8 }
            }
            add(8..<40)
            add(headerSize..<packet.count, skipping: headerSize + 6)
        }
        sum += UInt64(udpLength) + UInt64(udpNextHeader)
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        let result = ~UInt16(sum)
        return result == 0 ? 0xffff : result
    }

    private static func writeHeader(_ packet: inout [UInt8], payloadLength: Int, nextHeader: UInt8,
                                    source: IPv6Address, destination: IPv6Address) {
        packet[0] = 0x60
        put16(&packet, 4, UInt16(truncatingIfNeeded: payloadLength))
        packet[6] = nextHeader
        packet[7] = hopLimit
        for i in 0..<8 {
            packet[8 + i] = UInt8(truncatingIfNeeded: source.high >> (56 - 8 * UInt64(i)))
            packet[16 + i] = UInt8(truncatingIfNeeded: source.low >> (56 - 8 * UInt64(i)))
            packet[24 + i] = UInt8(truncatingIfNeeded: destination.high >> (56 - 8 * UInt64(i)))
            packet[32 + i] = UInt8(truncatingIfNeeded: destination.low >> (56 - 8 * UInt64(i)))
        }
    }

    private static func put16(_ p: inout [UInt8], _ at: Int, _ v: UInt16) {
        p[at] = UInt8(v >> 8)
        p[at + 1] = UInt8(v & 0xff)
    }

    private static func address(_ b: UnsafeRawBufferPointer, at offset: Int) -> IPv6Address {
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(b[offset + i]) }
        for i in 8..<16 { low = low << 8 | UInt64(b[offset + i]) }
        return IPv6Address(high: high, low: low)
    }
}
