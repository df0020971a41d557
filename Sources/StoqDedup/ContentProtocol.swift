/// The content protocol's messages. One exchange runs on one bidirectional
/// stream; every message is a frame: type (1 byte), body length (4 bytes,
/// big-endian), body. The format is versioned by the service tag that opens
/// the stream (`CONT` = version 1); see docs/dedup.md.
///
/// Two exchanges share these messages:
/// - fetch: receiver → `request`; sender → `offer` (or `notFound`); receiver →
///   `want` (only the chunks it lacks); sender → `chunk`…, `missing`?, `end`.
/// - push: sender → `offer`; receiver → `want`; sender → `chunk`…, `end`.
/// A receiver that already knows the manifest may open with `want`.
public enum ContentMessage: Equatable, Sendable {
    /// Asks for an object's manifest; nil version = the newest the sender holds.
    case request(objectID: String, version: UInt64?)
    case offer(Manifest)
    case want([ChunkID])
    case chunk(ChunkID, [UInt8])
    /// Chunks the sender was asked for but does not hold (an edge whose copy expired).
    case missing([ChunkID])
    case notFound(objectID: String)
    /// The sender has sent everything it will.
    case end

    enum Tag: UInt8 {
        case request = 1, offer, want, chunk, missing, notFound, end
    }

    /// The largest frame body accepted: a manifest of a 64 GiB object in 4 KiB chunks.
    public static let maxBodySize = 1 << 30

    public func encoded() -> [UInt8] {
        var body: [UInt8] = []
        let tag: Tag
        switch self {
        case .request(let object, let version):
            tag = .request
            body.append(version == nil ? 0 : 1)
            appendBigEndian(version ?? 0, to: &body)
            body += Array(object.utf8)
        case .offer(let manifest):
            tag = .offer
            body = manifest.encoded()
        case .want(let ids):
            tag = .want
            body = Self.idList(ids)
        case .chunk(let id, let payload):
            tag = .chunk
            body.reserveCapacity(32 + payload.count)
            body += id.bytes
            body += payload
        case .missing(let ids):
            tag = .missing
            body = Self.idList(ids)
        case .notFound(let object):
            tag = .notFound
            body = Array(object.utf8)
        case .end:
            tag = .end
        }
        var frame: [UInt8] = [tag.rawValue]
        frame.reserveCapacity(5 + body.count)
        appendBigEndian(UInt32(body.count), to: &frame)
        return frame + body
    }

    private static func idList(_ ids: [ChunkID]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 32)
        for id in ids { out += id.bytes }
        return out
    }

    static func decode(tag raw: UInt8, body: ArraySlice<UInt8>) throws -> ContentMessage {
        guard let tag = Tag(rawValue: raw) else { throw ContentProtocolError.malformed("unknown message type \(raw)") }
        func ids() throws -> [ChunkID] {
            guard body.count % 32 == 0 else { throw ContentProtocolError.malformed("chunk id list of \(body.count) bytes") }
            return stride(from: body.startIndex, to: body.endIndex, by: 32).map { ChunkID(bytes: body[$0..<($0 + 32)])! }
        }
        func text(_ bytes: ArraySlice<UInt8>) throws -> String {
            guard let s = String(validating: bytes, as: UTF8.self) else { throw ContentProtocolError.malformed("object id is not UTF-8") }
            return s
        }
        switch tag {
        case .request:
            guard body.count >= 9 else { throw ContentProtocolError.malformed("request of \(body.count) bytes") }
            let version = body[(body.startIndex + 1)..<(body.startIndex + 9)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return .request(objectID: try text(body.dropFirst(9)), version: body.first! == 0 ? nil : version)
        case .offer:
            do { return .offer(try Manifest(decoding: Array(body))) } catch {
                throw ContentProtocolError.malformed("offer: \(error)")
            }
        case .want: return .want(try ids())
        case .chunk:
            guard body.count > 32 else { throw ContentProtocolError.malformed("chunk of \(body.count) bytes") }
            return .chunk(ChunkID(bytes: body.prefix(32))!, Array(body.dropFirst(32)))
        case .missing: return .missing(try ids())
        case .notFound: return .notFound(objectID: try text(body))
        case .end:
            guard body.isEmpty else { throw ContentProtocolError.malformed("end with a body") }
            return .end
        }
    }
}

private func appendBigEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    for i in stride(from: T.bitWidth - 8, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> T(i))) }
}

public enum ContentProtocolError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    /// A message that is valid but not allowed at this point of the exchange.
    case unexpected(String)
    case hashMismatch(ChunkID)
    case unrequestedChunk(ChunkID)
    /// The stream ended before the exchange did.
    case truncated

    public var description: String {
        switch self {
        case .malformed(let m): return "malformed content message: \(m)"
        case .unexpected(let m): return "unexpected content message: \(m)"
        case .hashMismatch(let id): return "chunk \(id.shortHex) does not hash to its id"
        case .unrequestedChunk(let id): return "chunk \(id.shortHex) was not asked for"
        case .truncated: return "the stream ended in the middle of the exchange"
        }
    }
}

/// Reassembles frames from stream bytes that arrive in arbitrary pieces.
public struct ContentFrameReader {
    private var buffer: [UInt8] = []
    private var position = 0

    public init() {}

    public var hasPartialFrame: Bool { position < buffer.count }

    public mutating func append(_ bytes: [UInt8]) {
        if position > 0 && position >= buffer.count / 2 {
            buffer.removeFirst(position)
            position = 0
        }
        buffer += bytes
    }

    /// The next complete message, or nil until more bytes arrive.
    public mutating func next() throws -> ContentMessage? {
        guard buffer.count - position >= 5 else { return nil }
        let length = buffer[(position + 1)..<(position + 5)].reduce(0) { $0 << 8 | Int($1) }
        guard length <= ContentMessage.maxBodySize else { throw ContentProtocolError.malformed("frame of \(length) bytes") }
        guard buffer.count - position - 5 >= length else { return nil }
        let tag = buffer[position]
        let body = buffer[(position + 5)..<(position + 5 + length)]
        position += 5 + length
        return try ContentMessage.decode(tag: tag, body: body)
    }
}
