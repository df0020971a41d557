import StoqNetwork
import StoqTopology
import XCTest
@testable import StoqEmulation

final class IPv6PacketTests: XCTestCase {
    let a = try! IPv6Address.parse("fd00:5354:4f00::1")
    let b = try! IPv6Address.parse("fd00:5354:4f01::2")

    /// RFC 8200 §8.1 checked word by word: a correct checksum makes the
    /// one's-complement sum over pseudo-header and segment 0xffff.
    private func assertChecksumValid(_ packet: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        var sum: UInt32 = UInt32(packet.count - 40) + 17
        for i in stride(from: 8, to: 40, by: 2) { sum += UInt32(packet[i]) << 8 | UInt32(packet[i + 1]) }
        var i = 40
        while i + 1 < packet.count { sum += UInt32(packet[i]) << 8 | UInt32(packet[i + 1]); i += 2 }
        if i < packet.count { sum += UInt32(packet[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        XCTAssertEqual(sum, 0xffff, "payload \(packet.count - 48) B", file: file, line: line)
    }

    func testUDPRoundTripAndChecksum() throws {
        let d = Datagram(source: SocketAddress(address: a, port: 49152), destination: SocketAddress(address: b, port: 7),
                         payload: Array("hello, odd length".utf8))
        let packet = IPv6Packet.build(d)
        XCTAssertEqual(packet.count, 40 + 8 + d.payload.count)
        XCTAssertEqual(packet[6], 17)
        assertChecksumValid(packet)

        guard case .datagram(let back) = IPv6Packet.parse(packet) else { return XCTFail("not parsed") }
        XCTAssertEqual(back.source, d.source)
        XCTAssertEqual(back.destination, d.destination)
        XCTAssertEqual(back.payload, d.payload)
        XCTAssertFalse(IPv6Packet.isCarried(back))
    }

    func testKnownChecksum() {
        // Computed independently (Python, RFC 8200 pseudo-header) for this exact packet.
        let d = Datagram(source: SocketAddress(address: a, port: 1234), destination: SocketAddress(address: b, port: 7),
                         payload: [1, 2, 3, 4])
        let packet = IPv6Packet.build(d)
        XCTAssertEqual(UInt16(packet[46]) << 8 | UInt16(packet[47]), 0xb848)
    }

    func testChecksumOfEveryLengthAndOfAllOnesPayloads() {
        // The eight-bytes-at-a-time sum against the word-by-word definition:
        // every tail length, and payloads of 0xff that carry on every add.
        var random = SystemRandomNumberGenerator()
        for length in Array(0...80) + [1199, 1200, 1201, 1452, 9000] {
            for fill in [nil, UInt8(0xff)] {
                let payload = (0..<length).map { _ in fill ?? UInt8.random(in: 0...255, using: &random) }
                let d = Datagram(source: SocketAddress(address: a, port: 65535), destination: SocketAddress(address: b, port: 65535), payload: payload)
                assertChecksumValid(IPv6Packet.build(d))
            }
        }
    }

    func testBuildIntoABufferReusedForPacketsOfDifferentSizes() {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: IPv6Packet.maximumPacketSize, alignment: 8)
        defer { out.deallocate() }
        for size in [1200, 17, 0, 1452] {
            let d = Datagram(source: SocketAddress(address: a, port: 1234), destination: SocketAddress(address: b, port: 7),
                             payload: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            let length = d.payload.withUnsafeBytes { IPv6Packet.build(source: d.source, destination: d.destination, payload: $0, into: out) }
            XCTAssertEqual(length, 48 + size)
            XCTAssertEqual(Array(out[0..<(length ?? 0)]), IPv6Packet.build(d), "the same bytes as a fresh packet, whatever the buffer held before")
        }
        // Too large for the 16-bit payload length: refused rather than truncated.
        let huge = [UInt8](repeating: 0, count: 0xffff)
        let refused = huge.withUnsafeBytes {
            IPv6Packet.build(source: SocketAddress(address: a, port: 1), destination: SocketAddress(address: b, port: 2), payload: $0, into: out)
        }
        XCTAssertNil(refused)
    }

    func testNonUDPIsCarriedVerbatim() throws {
        // An ICMPv6 echo request: the model carries it, the far end gets the same bytes.
        var packet = [UInt8](repeating: 0, count: 40 + 12)
        packet[0] = 0x60; packet[5] = 12; packet[6] = 58; packet[7] = 64
        packet.replaceSubrange(8..<24, with: a.bytes)
        packet.replaceSubrange(24..<40, with: b.bytes)
        packet.replaceSubrange(40..<52, with: [128, 0, 0x12, 0x34, 0, 1, 0, 1, 9, 8, 7, 6])
        guard case .datagram(let d) = IPv6Packet.parse(packet) else { return XCTFail("not parsed") }
        XCTAssertTrue(IPv6Packet.isCarried(d))
        XCTAssertEqual(d.destination.address, b)
        XCTAssertEqual(d.wireSize, packet.count + 9)
        XCTAssertEqual(IPv6Packet.build(d), packet)
    }

    func testMalformed() {
        XCTAssertTrue({ if case .malformed = IPv6Packet.parse([0x45, 0, 0, 20]) { return true }; return false }())
        var short = [UInt8](repeating: 0, count: 40)
        short[0] = 0x60; short[5] = 100
        XCTAssertTrue({ if case .malformed = IPv6Packet.parse(short) { return true }; return false }())
    }
}
