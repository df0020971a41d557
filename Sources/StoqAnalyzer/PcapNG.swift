import Foundation

/// pcapng encoding (draft-ietf-opsawg-pcapng) of simulated UDP datagrams as
/// raw IPv6 packets (LINKTYPE_RAW = 101), with nanosecond timestamps
/// (if_tsresol = 9). Little-endian, one interface per file.
public enum PcapNG {
    public static let linkTypeRaw: UInt16 = 101
    public static let sectionHeaderType: UInt32 = 0x0A0D_0D0A
    public static let interfaceDescriptionType: UInt32 = 1
    public static let enhancedPacketType: UInt32 = 6
    public static let byteOrderMagic: UInt32 = 0x1A2B_3C4D

    /// The header of a file: a section header and one interface named `interface`.
    public static func fileHeader(interface: String) -> [UInt8] {
        var out: [UInt8] = []
        var shbOptions: [UInt8] = []
        appendOption(&shbOptions, code: 4, Array("stoqsim".utf8))        // shb_userappl
        appendEndOfOptions(&shbOptions)
        var shb: [UInt8] = []
        append32(&shb, byteOrderMagic)
        append16(&shb, 1); append16(&shb, 0)                             // version 1.0
        append64(&shb, UInt64.max)                                       // section length unknown
        appendBlock(&out, type: sectionHeaderType, body: shb + shbOptions)

        var idb: [UInt8] = []
        append16(&idb, linkTypeRaw); append16(&idb, 0)
        append32(&idb, 0)                                                // no snap length limit
        appendOption(&idb, code: 2, Array(interface.utf8))              // if_name
        appendOption(&idb, code: 9, [9])                                 // if_tsresol: 10^-9 s
        appendEndOfOptions(&idb)
        appendBlock(&out, type: interfaceDescriptionType, body: idb)
        return out
    }

    /// One enhanced packet block on interface 0; `timestampNs` counts from the epoch of the capture.
    public static func appendPacket(_ packet: [UInt8], timestampNs: UInt64, to out: inout [UInt8]) {
        var body: [UInt8] = []
        body.reserveCapacity(20 + packet.count + 3)
        append32(&body, 0)
        append32(&body, UInt32(truncatingIfNeeded: timestampNs >> 32))
        append32(&body, UInt32(truncatingIfNeeded: timestampNs))
        append32(&body, UInt32(packet.count))
        append32(&body, UInt32(packet.count))
        body += packet
        pad(&body)
        appendBlock(&out, type: enhancedPacketType, body: body)
    }

    /// An IPv6 packet carrying one UDP datagram, with lengths and the UDP
    /// checksum (RFC 8200 §8.1 pseudo-header) filled in.
    public static func ipv6UDP(source: [UInt8], sourcePort: UInt16, destination: [UInt8], destinationPort: UInt16,
                               payload: [UInt8], hopLimit: UInt8 = 64) -> [UInt8] {
        precondition(source.count == 16 && destination.count == 16, "IPv6 addresses are 16 bytes")
        let udpLength = 8 + payload.count
        var p: [UInt8] = [0x60, 0, 0, 0]                                  // version 6, class 0, flow 0
        p += [UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 17, hopLimit]
        p += source + destination
        p += [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff),
              UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0]
        p += payload
        var checksum = internetChecksum(pseudoHeader: source + destination + [0, 0, UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0, 0, 17],
                                        p[40...])
        if checksum == 0 { checksum = 0xffff }                           // 0 means "no checksum", forbidden over IPv6
        p[46] = UInt8(checksum >> 8)
        p[47] = UInt8(checksum & 0xff)
        return p
    }

    /// One's-complement sum of 16-bit words, complemented (RFC 1071).
    public static func internetChecksum(pseudoHeader: [UInt8], _ data: ArraySlice<UInt8>) -> UInt16 {
        var sum: UInt64 = 0
        func add(_ bytes: some Collection<UInt8>) {
            var it = bytes.makeIterator()
            while let hi = it.next() {
                let lo = it.next() ?? 0
                sum += UInt64(hi) << 8 | UInt64(lo)
            }
        }
        add(pseudoHeader)
        add(data)
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    private static func appendBlock(_ out: inout [UInt8], type: UInt32, body: [UInt8]) {
        let total = UInt32(12 + body.count)
        append32(&out, type); append32(&out, total)
        out += body
        append32(&out, total)
    }

    private static func appendOption(_ out: inout [UInt8], code: UInt16, _ value: [UInt8]) {
        append16(&out, code); append16(&out, UInt16(value.count))
        out += value
        pad(&out)
    }

    private static func appendEndOfOptions(_ out: inout [UInt8]) { append32(&out, 0) }
    private static func pad(_ out: inout [UInt8]) { while out.count % 4 != 0 { out.append(0) } }
    static func append16(_ out: inout [UInt8], _ v: UInt16) { out += [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func append32(_ out: inout [UInt8], _ v: UInt32) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    static func append64(_ out: inout [UInt8], _ v: UInt64) { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
}

/// Many pcapng files written at once (one per node) under a fixed memory
/// budget: packets collect in per-file buffers, and when all buffers together
/// pass the budget they are appended to their files, each opened only for
/// that write, so a 10,000-node capture needs neither 10,000 open
/// descriptors nor unbounded memory.
public final class PcapNGFileSet {
    public let directory: String
    private let budget: Int
    private var buffers: [String: [UInt8]] = [:]
    private var started = Set<String>()
    /// Files created (truncated) by this set; later flushes append.
    private var created = Set<String>()
    private var buffered = 0
    public private(set) var packetsWritten: UInt64 = 0
    private var failure: Error?

    public init(directory: String, budgetBytes: Int = 8 << 20) throws {
        self.directory = directory
        self.budget = budgetBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public func path(of name: String) -> String { (directory as NSString).appendingPathComponent("\(name).pcapng") }

    /// Adds one packet to `name`'s file.
    public func write(_ name: String, packet: [UInt8], timestampNs: UInt64) {
        var b = buffers.removeValue(forKey: name) ?? []
        let before = b.count
        if !started.contains(name) {
            started.insert(name)
            b = PcapNG.fileHeader(interface: name)
        }
        PcapNG.appendPacket(packet, timestampNs: timestampNs, to: &b)
        buffered += b.count - before
        buffers[name] = b
        packetsWritten += 1
        if buffered >= budget { flush() }
    }

    /// Appends every buffer to its file, in name order (deterministic files).
    public func flush() {
        for name in buffers.keys.sorted() {
            guard let b = buffers[name], !b.isEmpty else { continue }
            let p = path(of: name)
            do {
                if created.insert(name).inserted, !FileManager.default.createFile(atPath: p, contents: nil) {
                    throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: p])
                }
                let h = try FileHandle(forWritingTo: URL(fileURLWithPath: p))
                try h.seekToEnd()
                try h.write(contentsOf: b)
                try h.close()
            } catch {
                if failure == nil { failure = error }
            }
        }
        buffers.removeAll(keepingCapacity: true)
        buffered = 0
    }

    /// Flushes and reports the first write error, if any; returns the files written, sorted.
    public func close() throws -> [String] {
        flush()
        if let failure { throw failure }
        return started.sorted().map(path(of:))
    }
}
