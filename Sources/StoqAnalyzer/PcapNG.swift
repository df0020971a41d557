import Foundation

/// pcapng encoding (draft-ietf-opsawg-pcapng) of raw IPv6 packets
/// (LINKTYPE_RAW = 101) with nanosecond timestamps (if_tsresol = 9).
/// Little-endian, one interface per file. The packets themselves come from
/// the caller (StoqEmulation's `IPv6Packet` builds them from datagrams).
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
