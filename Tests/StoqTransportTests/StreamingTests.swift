import XCTest
import StoqEngine
import StoqTestSupport

/// The streaming write (`writableBytes`, `.streamWritable`, `write(stream:count:fill:)`)
/// and the in-place read (`withReadableBytes`, `discard(stream:count:)`).
final class StreamingTests: XCTestCase {
    /// The byte at stream offset `i` of the streamed payloads: varied, so a
    /// misplaced or repeated piece shows.
    static func pattern(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: i &* 31 &+ i >> 13) }

    /// Small windows so the bound is tight: the sender may have at most a
    /// window in flight and its send buffer unsent.
    static let window: UInt64 = 256 << 10

    static func smallWindows() -> TransportConfiguration {
        var config = TransportConfiguration()
        config.initialStreamWindow = window
        config.maxStreamWindow = window
        config.initialConnectionWindow = 2 * window
        config.maxConnectionWindow = 2 * window
        return config
    }

    /// A producer writes 24 MiB only as the send buffer drains, the reader
    /// checks every byte in place: everything arrives in order, and the bytes
    /// the sending connection holds (unsent + unacknowledged) stay within the
    /// send buffer plus the flow-control window, far below the payload.
    func testProducerHoldsAtMostBufferAndWindow() throws {
        let size = 24 << 20
        let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(5), bitsPerSecond: 1e9, configuration: Self.smallWindows())
        let (c, s) = try XCTUnwrap(pair.establish())
        c.streamSendBufferSize = 512 << 10
        let id = try c.openStream()
        var written = 0, writableEvents = 0
        func produce() {
            let n = min(size - written, c.writableBytes(stream: id))
            guard n > 0 else { return }
            try! c.write(stream: id, count: n, fin: written + n == size) { piece in
                for k in 0..<piece.count { piece[k] = Self.pattern(written + k) }
                written += piece.count
            }
        }
        c.onEvent = { event in
            if case .streamWritable(id) = event { writableEvents += 1; produce() }
        }
        var read = 0, mismatches = 0, finished = false
        s.onEvent = { [unowned s] event in
            guard case .streamReadable(let sid) = event else { return }
            let (_, fin) = s.withReadableBytes(stream: sid) { bytes, _ in
                for (k, b) in bytes.enumerated() where b != Self.pattern(read + k) { mismatches += 1 }
                read += bytes.count
                return bytes.count
            }
            if fin { finished = true }
        }
        produce()
        XCTAssertEqual(c.writableBytes(stream: id), 0, "the first write fills the buffer")
        var peak = 0
        XCTAssertTrue(pair.run(until: {
            peak = max(peak, c.bufferedSendBytes)
            return finished
        }), "read \(read) of \(size); client \(c.state), server \(s.state)")
        XCTAssertEqual(read, size)
        XCTAssertEqual(mismatches, 0)
        XCTAssertEqual(s.metrics.streamBytesRead, UInt64(size), "the in-place reader returned credit for every byte")
        XCTAssertGreaterThan(writableEvents, 10, "the producer was asked for more many times")
        let bound = c.streamSendBufferSize + Int(Self.window) + 64 << 10   // + one send chunk acknowledged in part
        XCTAssertLessThanOrEqual(peak, bound, "the sender held \(peak) bytes of a \(size)-byte stream")
        XCTAssertGreaterThan(peak, c.streamSendBufferSize / 2, "the gauge saw the buffer in use")
        XCTAssertEqual(c.writableBytes(stream: id), 0, "a finished stream takes no more bytes")
    }

    /// Without the streaming API the same transfer holds all of it: the gauge is real.
    func testWholeWriteIsHeldUntilAcknowledged() throws {
        let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(5), configuration: Self.smallWindows())
        let (c, s) = try XCTUnwrap(pair.establish())
        let sink = StreamSink(s)
        let id = try c.openStream()
        try c.write(stream: id, [UInt8](repeating: 1, count: 4 << 20), fin: true)
        XCTAssertEqual(c.bufferedSendBytes, 4 << 20)
        XCTAssertEqual(c.writableBytes(stream: id), 0)
        XCTAssertTrue(pair.run(until: { sink.finished.contains(id) }))
        XCTAssertTrue(pair.run(until: { c.bufferedSendBytes == 0 }), "acknowledged bytes are let go")
    }

    /// A reader that needs 8 bytes consumes none until all 8 are in; the
    /// stream is announced again when more arrives.
    func testInPlaceReadWaitsForAWholeHeader() throws {
        let pair = try InMemoryPair.verified()
        let (c, s) = try XCTUnwrap(pair.establish())
        var announcements = 0
        var header: [UInt8]?
        var rest: [UInt8] = []
        s.onEvent = { [unowned s] event in
            guard case .streamReadable(let id) = event else { return }
            announcements += 1
            if header == nil {
                s.withReadableBytes(stream: id) { bytes, _ in
                    guard bytes.count >= 8 else { return 0 }
                    header = Array(bytes.prefix(8))
                    return 8
                }
            }
            if header != nil { rest += s.read(stream: id).bytes }
        }
        let id = try c.openStream()
        try c.write(stream: id, [1, 2, 3])
        pair.run(for: .milliseconds(100))
        XCTAssertEqual(announcements, 1)
        XCTAssertNil(header, "3 bytes are not a header")
        try c.write(stream: id, [4, 5, 6, 7, 8, 9, 10], fin: true)
        pair.run(for: .milliseconds(100))
        XCTAssertEqual(announcements, 2, "the unconsumed bytes did not block the next announcement")
        XCTAssertEqual(header, [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(rest, [9, 10])
        XCTAssertEqual(s.metrics.streamBytesRead, 10)
    }

    /// `discard(count:)` drops only the front; the rest stays readable, and the end is reached only with the last byte.
    func testDiscardDropsThePrefixOnly() throws {
        let pair = try InMemoryPair.verified()
        let (c, s) = try XCTUnwrap(pair.establish())
        var seen: Int64?
        s.onEvent = { if case .streamReadable(let id) = $0 { seen = id } }
        let id = try c.openStream()
        try c.write(stream: id, Array(0..<10), fin: true)
        XCTAssertTrue(pair.run(until: { seen != nil }))
        let first = s.discard(stream: id, count: 3)
        XCTAssertEqual(first.count, 3)
        XCTAssertFalse(first.fin, "7 bytes are left before the end")
        let (bytes, fin) = s.read(stream: id)
        XCTAssertEqual(bytes, Array(3..<10))
        XCTAssertTrue(fin)
        XCTAssertEqual(s.discard(stream: id, count: -5).count, 0, "a negative count drops nothing")
    }

    /// A counting reader that asked for arriving bytes not to be kept still
    /// gets every byte counted and returns credit for them: a stream 16 times
    /// the window finishes.
    func testDiscardArrivingCountsWithoutKeeping() throws {
        let size = 4 << 20
        let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(2), configuration: Self.smallWindows())
        let (c, s) = try XCTUnwrap(pair.establish())
        var counted = 0, finished = false, kept = 0
        s.onEvent = { [unowned s] event in
            guard case .streamReadable(let id) = event else { return }
            if counted == 0 {
                kept = s.withReadableBytes(stream: id) { bytes, _ in bytes.count }.count   // what came first is kept
                counted = kept
                s.discardArriving(stream: id)
            }
            let (n, fin) = s.discard(stream: id)
            counted += n
            XCTAssertTrue(s.read(stream: id).bytes.isEmpty, "nothing arriving is kept")
            if fin { finished = true }
        }
        let id = try c.openStream()
        try c.write(stream: id, [UInt8](repeating: 7, count: size), fin: true)
        XCTAssertTrue(pair.run(until: { finished }), "counted \(counted) of \(size)")
        XCTAssertEqual(counted, size)
        XCTAssertGreaterThan(kept, 0)
        XCTAssertEqual(s.metrics.streamBytesRead, UInt64(size))
    }
}
