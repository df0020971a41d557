import XCTest
@testable import StoqDedup

/// A node's content as the protocol sees it: manifests plus a chunk table.
private final class Holder: ContentSource, ContentSink {
    var manifests: [String: [UInt64: Manifest]] = [:]
    var chunks: [ChunkID: [UInt8]] = [:]
    var stored: [ChunkID] = []

    func add(_ data: [UInt8], objectID: String, version: UInt64, parameters: ChunkerParameters = .small) -> Manifest {
        let m = Manifest(objectID: objectID, version: version, data: data, parameters: parameters)
        var offset = 0
        for c in m.chunks {
            chunks[c.id] = Array(data[offset..<(offset + c.size)])
            offset += c.size
        }
        manifests[objectID, default: [:]][version] = m
        return m
    }

    func manifest(objectID: String, version: UInt64?) -> Manifest? {
        guard let versions = manifests[objectID] else { return nil }
        return version.map { versions[$0] } ?? versions.max { $0.key < $1.key }?.value
    }
    func payload(of id: ChunkID) -> [UInt8]? { chunks[id] }
    func holds(_ id: ChunkID) -> Bool { chunks[id] != nil }
    func store(_ id: ChunkID, payload: [UInt8]) { chunks[id] = payload; stored.append(id) }
    func accept(_ manifest: Manifest) { manifests[manifest.objectID, default: [:]][manifest.version] = manifest }

    /// Rebuilds an object from held chunks.
    func assemble(_ m: Manifest) -> [UInt8] { m.chunks.flatMap { chunks[$0.id]! } }
}

/// Runs two sessions back to back, delivering each one's output to the other
/// in pieces of `piece` bytes (streams deliver arbitrary splits).
private func exchange(_ a: ContentSession, _ b: ContentSession, piece: Int = 1000) {
    var rounds = 0
    while !(a.isFinished && b.isFinished) && rounds < 10_000 {
        rounds += 1
        for (from, to) in [(a, b), (b, a)] {
            let (bytes, fin) = from.takeOutput()
            if bytes.isEmpty {
                if fin { to.receive([], fin: true) }
                continue
            }
            var i = 0
            while i < bytes.count {
                let end = min(bytes.count, i + piece)
                to.receive(Array(bytes[i..<end]), fin: fin && end == bytes.count)
                i = end
            }
        }
    }
}

final class ContentProtocolTests: XCTestCase {
    let v0 = ContentGenerator.versions(seed: 11, baseSize: 400_000, count: 2, edits: .init(editsPerVersion: 2, maxEditSize: 64))

    func testMessagesRoundTripThroughSplitFrames() throws {
        let m = Manifest(objectID: "obj", version: 3, data: v0[0], parameters: .small)
        let messages: [ContentMessage] = [
            .request(objectID: "obj", version: 3), .request(objectID: "ünï", version: nil), .offer(m),
            .want(m.chunks.prefix(3).map(\.id)), .chunk(m.chunks[0].id, [1, 2, 3]), .missing([m.chunks[1].id]),
            .notFound(objectID: "gone"), .end, .want([]),
        ]
        let stream = messages.flatMap { $0.encoded() }
        var reader = ContentFrameReader()
        var decoded: [ContentMessage] = []
        for i in stride(from: 0, to: stream.count, by: 7) {
            reader.append(Array(stream[i..<min(stream.count, i + 7)]))
            while let message = try reader.next() { decoded.append(message) }
        }
        XCTAssertEqual(decoded, messages)
        XCTAssertFalse(reader.hasPartialFrame)
    }

    func testMalformedFramesAreRejected() {
        var reader = ContentFrameReader()
        reader.append([99, 0, 0, 0, 0])
        XCTAssertThrowsError(try reader.next()) { XCTAssertEqual($0 as? ContentProtocolError, .malformed("unknown message type 99")) }
        var odd = ContentFrameReader()
        odd.append([3, 0, 0, 0, 5, 1, 2, 3, 4, 5])
        XCTAssertThrowsError(try odd.next())
    }

    func testFetchSendsOnlyTheChunksTheReceiverLacks() {
        let origin = Holder(), client = Holder()
        let m0 = origin.add(v0[0], objectID: "obj", version: 0)
        let m1 = origin.add(v0[1], objectID: "obj", version: 1)

        let first = ContentSession.fetch(objectID: "obj", version: 0, into: client)
        let server1 = ContentSession.serve(from: origin)
        exchange(first, server1)
        XCTAssertEqual(first.outcome, .completed)
        XCTAssertEqual(server1.outcome, .completed)
        XCTAssertEqual(client.assemble(m0), v0[0])
        XCTAssertEqual(first.stats.payloadBytes, m0.uniqueBytes)

        // The newest version: only chunks touched by the edits cross.
        let second = ContentSession.fetch(objectID: "obj", version: nil, into: client)
        exchange(second, ContentSession.serve(from: origin))
        XCTAssertEqual(second.outcome, .completed)
        XCTAssertEqual(second.stats.manifest, m1)
        XCTAssertEqual(client.assemble(m1), v0[1])
        let newChunks = Set(m1.chunks.map(\.id)).subtracting(m0.chunks.map(\.id))
        XCTAssertEqual(second.stats.chunksTransferred, newChunks.count)
        XCTAssertEqual(Set(client.stored.suffix(newChunks.count)), newChunks)
        XCTAssertLessThan(second.stats.payloadBytes, m1.totalSize / 4)
        XCTAssertEqual(second.stats.bytesDeduplicated + second.stats.payloadBytes, m1.totalSize)
    }

    /// A server hands out a large answer as the stream has room: each piece is
    /// about `max` bytes (whole messages, at most one past it), and the pieces
    /// make the same stream as one take would.
    func testOutputIsTakenInPiecesTheStreamHasRoomFor() throws {
        let origin = Holder()
        let m = origin.add(v0[0], objectID: "obj", version: 0)
        func answer(max: Int) -> (pieces: [[UInt8]], fin: Bool) {
            let server = ContentSession.serve(from: origin)
            server.receive(ContentMessage.want(m.chunks.map(\.id)).encoded(), fin: true)
            XCTAssertTrue(server.isFinished && server.hasOutputPending, "the outcome is known before the bytes leave")
            var pieces: [[UInt8]] = [], fin = false
            while server.hasOutputPending {
                let (bytes, end) = server.takeOutput(max: max)
                pieces.append(bytes)
                fin = fin || end
            }
            return (pieces, fin)
        }
        let whole = answer(max: .max)
        XCTAssertEqual(whole.pieces.count, 1)
        let room = 16_384, largestFrame = try 5 + 32 + XCTUnwrap(m.chunks.map(\.size).max())
        let pieced = answer(max: room)
        XCTAssertGreaterThan(pieced.pieces.count, 10)
        for piece in pieced.pieces.dropLast() {
            XCTAssertGreaterThanOrEqual(piece.count, room)
            XCTAssertLessThan(piece.count, room + largestFrame)
        }
        XCTAssertTrue(pieced.fin && whole.fin)
        XCTAssertEqual(pieced.pieces.flatMap { $0 }, whole.pieces[0])
        // No room: nothing is taken, nothing is lost.
        let server = ContentSession.serve(from: origin)
        server.receive(ContentMessage.want(m.chunks.map(\.id)).encoded(), fin: true)
        XCTAssertEqual(server.takeOutput(max: 0).bytes, [])
        XCTAssertEqual(server.takeOutput().bytes, whole.pieces[0])
    }

    func testPushToAnEdgeAndMissingChunksAreReported() {
        let origin = Holder(), edge = Holder()
        let m = origin.add(v0[0], objectID: "obj", version: 0)
        let push = ContentSession.push(m, from: origin)
        let accept = ContentSession.serve(from: edge, acceptingInto: edge)
        exchange(push, accept)
        XCTAssertEqual(push.outcome, .completed)
        XCTAssertEqual(accept.outcome, .completed)
        XCTAssertEqual(edge.manifests["obj"]?[0], m)
        XCTAssertEqual(edge.assemble(m), v0[0])

        // The edge lost a chunk: it says so, and the client can ask the origin for it alone.
        let lost = m.chunks[1].id
        edge.chunks[lost] = nil
        let client = Holder()
        let fetch = ContentSession.fetch(objectID: "obj", version: 0, into: client)
        exchange(fetch, ContentSession.serve(from: edge))
        XCTAssertEqual(fetch.outcome, .completed)
        XCTAssertEqual(fetch.stats.missing, [lost])
        let rest = ContentSession.fetchChunks(fetch.stats.missing, into: client)
        exchange(rest, ContentSession.serve(from: origin))
        XCTAssertEqual(rest.outcome, .completed)
        XCTAssertEqual(client.assemble(m), v0[0])
    }

    func testUnknownObjectAndCorruptChunk() {
        let origin = Holder(), client = Holder()
        let unknown = ContentSession.fetch(objectID: "nope", version: nil, into: client)
        exchange(unknown, ContentSession.serve(from: origin))
        XCTAssertEqual(unknown.outcome, .notFound)

        let m = origin.add(v0[0], objectID: "obj", version: 0)
        origin.chunks[m.chunks[0].id]![0] ^= 0xff      // the sender's copy is corrupt
        let fetch = ContentSession.fetch(objectID: "obj", version: 0, into: client)
        exchange(fetch, ContentSession.serve(from: origin))
        XCTAssertEqual(fetch.outcome, .failed(.hashMismatch(m.chunks[0].id)))
        XCTAssertFalse(client.holds(m.chunks[0].id))
    }

    func testAStreamCutShortFailsTheReceiver() {
        let client = Holder()
        let fetch = ContentSession.fetch(objectID: "obj", version: 0, into: client)
        fetch.receive([], fin: true)
        XCTAssertEqual(fetch.outcome, .failed(.truncated))
    }
}
