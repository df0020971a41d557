import Foundation
@testable import StoqAnalyzer
import XCTest

/// A minimal pcapng reader: enough to check what PcapNG writes.
struct PcapNGFile {
    struct Block { var type: UInt32; var body: [UInt8] }
    var blocks: [Block] = []

    init(_ d: [UInt8]) throws {
        var i = 0
        while i < d.count {
            guard i + 12 <= d.count else { throw Bad("truncated block header at \(i)") }
            let type = le32(d, i), length = Int(le32(d, i + 4))
            guard length % 4 == 0, length >= 12, i + length <= d.count else { throw Bad("bad length \(length) at \(i)") }
            guard le32(d, i + length - 4) == UInt32(length) else { throw Bad("trailing length differs at \(i)") }
            blocks.append(Block(type: type, body: Array(d[(i + 8)..<(i + length - 4)])))
            i += length
        }
    }

    struct Bad: Error, CustomStringConvertible { var description: String; init(_ d: String) { description = d } }

    /// Options (code → value) starting at `offset` of a block body.
    static func options(_ body: [UInt8], from offset: Int) -> [UInt16: [UInt8]] {
        var out: [UInt16: [UInt8]] = [:]
        var i = offset
        while i + 4 <= body.count {
            let code = le16(body, i), len = Int(le16(body, i + 2))
            if code == 0 { break }
            out[code] = Array(body[(i + 4)..<(i + 4 + len)])
            i += 4 + (len + 3) / 4 * 4
        }
        return out
    }
}

/// RFC 1071 internet checksum (complemented one's-complement sum of 16-bit words).
func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    for i in stride(from: 0, to: bytes.count, by: 2) {
        sum += UInt32(bytes[i]) << 8 | (i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0)
    }
    while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
    return ~UInt16(sum)
}

/// The pseudo-header (RFC 8200 §8.1) followed by the UDP header and payload of an IPv6 packet.
func checksummedBytes(_ ip: [UInt8]) -> [UInt8] {
    let udp = Array(ip[40...])
    return Array(ip[8..<40]) + [0, 0, UInt8(udp.count >> 8), UInt8(udp.count & 0xff), 0, 0, 0, 17] + udp
}

/// An IPv6 + UDP packet with lengths and checksum filled in (test input; the
/// simulator's packets come from StoqEmulation's `IPv6Packet`).
func udpPacket(source: [UInt8], destination: [UInt8], sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8]) -> [UInt8] {
    let len = 8 + payload.count
    var p: [UInt8] = [0x60, 0, 0, 0, UInt8(len >> 8), UInt8(len & 0xff), 17, 64] + source + destination
    p += [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff),
          UInt8(len >> 8), UInt8(len & 0xff), 0, 0] + payload
    let c = internetChecksum(checksummedBytes(p))
    p[46] = UInt8((c == 0 ? 0xffff : c) >> 8)
    p[47] = UInt8((c == 0 ? 0xffff : c) & 0xff)
    return p
}

func le16(_ d: [UInt8], _ i: Int) -> UInt16 { UInt16(d[i]) | UInt16(d[i + 1]) << 8 }
func le32(_ d: [UInt8], _ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(d[i + $1]) << (8 * $1) } }
func be16(_ d: [UInt8], _ i: Int) -> Int { Int(d[i]) << 8 | Int(d[i + 1]) }

final class PcapNGTests: XCTestCase {
    let a: [UInt8] = [0xfd, 0, 0x53, 0x54, 0x4f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    let b: [UInt8] = [0xfd, 0, 0x53, 0x54, 0x4f, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]

    func writeCapture(in dir: String) throws -> [String] {
        let files = try PcapNGFileSet(directory: dir, budgetBytes: 4096)   // small budget: several flushes
        for i in 0..<50 {
            let payload = (0..<(i * 7 % 61)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }   // odd and even lengths
            let packet = udpPacket(source: a, destination: b, sourcePort: 49152, destinationPort: 7, payload: payload)
            files.write("node-a", packet: packet, timestampNs: UInt64(i) * 1_000_000_007)
            if i % 2 == 0 { files.write("node-b", packet: packet, timestampNs: UInt64(i) * 1_000_000_007 + 5) }
        }
        return try files.close()
    }

    func testStructureLengthsTimestampsAndChecksums() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = try writeCapture(in: dir)
        XCTAssertEqual(paths.map { ($0 as NSString).lastPathComponent }, ["node-a.pcapng", "node-b.pcapng"])
        let file = try PcapNGFile(Array(Data(contentsOf: URL(fileURLWithPath: paths[0]))))
        XCTAssertEqual(file.blocks.count, 2 + 50)
        let shb = file.blocks[0]
        XCTAssertEqual(shb.type, PcapNG.sectionHeaderType)
        XCTAssertEqual(le32(shb.body, 0), PcapNG.byteOrderMagic)
        XCTAssertEqual(le16(shb.body, 4), 1)
        let idb = file.blocks[1]
        XCTAssertEqual(idb.type, PcapNG.interfaceDescriptionType)
        XCTAssertEqual(le16(idb.body, 0), 101)
        let options = PcapNGFile.options(idb.body, from: 8)
        XCTAssertEqual(options[9], [9], "if_tsresol: nanoseconds")
        XCTAssertEqual(options[2], Array("node-a".utf8))

        for (i, epb) in file.blocks.dropFirst(2).enumerated() {
            XCTAssertEqual(epb.type, PcapNG.enhancedPacketType)
            let ts = UInt64(le32(epb.body, 4)) << 32 | UInt64(le32(epb.body, 8))
            XCTAssertEqual(ts, UInt64(i) * 1_000_000_007)
            let captured = Int(le32(epb.body, 12))
            XCTAssertEqual(Int(le32(epb.body, 16)), captured)
            let ip = Array(epb.body[20..<(20 + captured)])
            XCTAssertEqual(ip[0] >> 4, 6)
            XCTAssertEqual(be16(ip, 4), captured - 40, "IPv6 payload length")
            XCTAssertEqual(ip[6], 17)
            XCTAssertEqual(Array(ip[8..<24]), a)
            XCTAssertEqual(Array(ip[24..<40]), b)
            XCTAssertEqual(be16(ip, 44), captured - 40, "UDP length")
            XCTAssertEqual(be16(ip, 40), 49152)
            XCTAssertEqual(be16(ip, 42), 7)
            XCTAssertNotEqual(be16(ip, 46), 0, "UDP over IPv6 must carry a checksum")
            // Summing the pseudo-header and the datagram, checksum included, gives 0xffff (complement 0).
            XCTAssertEqual(internetChecksum(checksummedBytes(ip)), 0, "packet \(i)")
        }
        XCTAssertEqual(try PcapNGFile(Array(Data(contentsOf: URL(fileURLWithPath: paths[1])))).blocks.count, 2 + 25)
    }

    /// RFC 1071's worked example: the sum of 0001 f203 f4f5 f6f7 is ddf2, so the checksum is 220d.
    func testChecksumMatchesRFC1071Example() {
        XCTAssertEqual(internetChecksum([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d)
    }

    func testTsharkReadsTheCapture() throws {
        let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let tshark else { throw XCTSkip("tshark is not installed (Debian package 'tshark'); the structural test above still runs") }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeCapture(in: dir)[0]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tshark)
        p.arguments = ["-r", path, "-o", "udp.check_checksum:TRUE", "-T", "fields", "-e", "ipv6.plen", "-e", "udp.checksum.status"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, stderr)
        let rows = stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        XCTAssertEqual(rows.count, 50)
        XCTAssertTrue(rows.allSatisfy { $0.last == "1" }, "checksum status 1 = good: \(rows.prefix(3))")
        XCTAssertFalse(stderr.lowercased().contains("error"), stderr)
    }
}
