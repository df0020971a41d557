import Foundation

/// One chunk of a content object, in object order.
public struct ManifestEntry: Hashable, Codable, Sendable {
    public var id: ChunkID
    public var size: Int
    public init(id: ChunkID, size: Int) { self.id = id; self.size = size }
}

/// What a receiver needs to rebuild a content object: its chunk IDs and sizes
/// in order, plus how it was chunked so a sender can re-chunk the next version
/// the same way.
public struct Manifest: Hashable, Codable, Sendable {
    public var objectID: String
    public var version: UInt64
    public var totalSize: Int
    public var parameters: ChunkerParameters
    public var chunks: [ManifestEntry]

    public init(objectID: String, version: UInt64 = 0, parameters: ChunkerParameters, chunks: [ManifestEntry]) {
        self.objectID = objectID
        self.version = version
        self.parameters = parameters
        self.chunks = chunks
        totalSize = chunks.reduce(0) { $0 + $1.size }
    }

    /// Chunks and hashes `data`.
    public init(objectID: String, version: UInt64 = 0, data: [UInt8], parameters: ChunkerParameters = .default) {
        let chunks = FastCDC(parameters).chunks(data).map { ManifestEntry(id: $0.id, size: $0.length) }
        self.init(objectID: objectID, version: version, parameters: parameters, chunks: chunks)
    }

    /// Distinct chunk IDs in first-occurrence order.
    public var uniqueChunkIDs: [ChunkID] {
        var seen = Set<ChunkID>()
        return chunks.compactMap { seen.insert($0.id).inserted ? $0.id : nil }
    }

    /// Bytes of distinct chunks: what storing the object once costs.
    public var uniqueBytes: Int {
        var seen = Set<ChunkID>()
        return chunks.reduce(0) { seen.insert($1.id).inserted ? $0 + $1.size : $0 }
    }

    // MARK: binary form
    //
    // "STQM", format version (1 byte), then LEB128 varints: version, min, avg,
    // max, normalization, object-id length + UTF-8, chunk count, and per chunk
    // 32 digest bytes + size. The total size is not stored: it is the sum.

    static let magic: [UInt8] = Array("STQM".utf8)
    static let formatVersion: UInt8 = 1

    public func encoded() -> [UInt8] {
        var out = Self.magic
        out.append(Self.formatVersion)
        func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
            out.append(UInt8(v))
        }
        varint(version)
        for v in [parameters.minSize, parameters.avgSize, parameters.maxSize, parameters.normalization] { varint(UInt64(v)) }
        let name = Array(objectID.utf8)
        varint(UInt64(name.count))
        out += name
        varint(UInt64(chunks.count))
        out.reserveCapacity(out.count + chunks.count * 36)
        for c in chunks {
            out += c.id.bytes
            varint(UInt64(c.size))
        }
        return out
    }

    public init(decoding bytes: [UInt8]) throws {
        var r = ByteReader(bytes: bytes)
        guard Array(try r.take(4)) == Self.magic else { throw ManifestError.badMagic }
        let fv = try r.take(1).first!
        guard fv == Self.formatVersion else { throw ManifestError.unsupportedFormat(fv) }
        let version = try r.varint()
        let p = try (0..<4).map { _ in try r.int() }
        let parameters: ChunkerParameters
        do { parameters = try ChunkerParameters(minSize: p[0], avgSize: p[1], maxSize: p[2], normalization: p[3]) } catch {
            throw ManifestError.invalid("chunker parameters: \(error)")
        }
        guard let name = String(validating: try r.take(r.int()), as: UTF8.self) else {
            throw ManifestError.invalid("object id is not UTF-8")
        }
        let count = try r.int()
        // Each entry takes at least 33 bytes: refuse counts the input cannot hold before allocating.
        guard count <= (bytes.count - r.position) / 33 else { throw ManifestError.truncated }
        var chunks: [ManifestEntry] = []
        chunks.reserveCapacity(count)
        for _ in 0..<count {
            let id = ChunkID(bytes: try r.take(32))!
            let size = try r.int()
            guard size > 0, size <= parameters.maxSize else {
                throw ManifestError.invalid("chunk \(chunks.count) has size \(size), outside 1...\(parameters.maxSize)")
            }
            chunks.append(ManifestEntry(id: id, size: size))
        }
        guard r.position == bytes.count else { throw ManifestError.invalid("\(bytes.count - r.position) trailing bytes") }
        self.init(objectID: name, version: version, parameters: parameters, chunks: chunks)
    }

    // MARK: JSON (Codable; chunk IDs as hex strings)

    public func jsonData(pretty: Bool = false) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        return try e.encode(self)
    }

    public init(json: Data) throws {
        self = try JSONDecoder().decode(Manifest.self, from: json)
        do { try parameters.validate() } catch { throw ManifestError.invalid("chunker parameters: \(error)") }
        guard totalSize == chunks.reduce(0, { $0 + $1.size }) else {
            throw ManifestError.invalid("totalSize \(totalSize) is not the sum of the chunk sizes")
        }
    }
}

public enum ManifestError: Error, Equatable, CustomStringConvertible {
    case badMagic
    case unsupportedFormat(UInt8)
    case truncated
    case invalid(String)

    public var description: String {
        switch self {
        case .badMagic: return "not a STOQ manifest (missing 'STQM' magic)"
        case .unsupportedFormat(let v): return "manifest format version \(v) is not supported (expected \(Manifest.formatVersion))"
        case .truncated: return "manifest is truncated"
        case .invalid(let m): return "invalid manifest: \(m)"
        }
    }
}

private struct ByteReader {
    let bytes: [UInt8]
    var position = 0

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - position else { throw ManifestError.truncated }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else { throw ManifestError.truncated }
            let b = bytes[position]
            position += 1
            guard shift < 64 else { throw ManifestError.invalid("varint longer than 64 bits") }
            v |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }

    mutating func int() throws -> Int {
        let v = try varint()
        guard v <= UInt64(Int.max) else { throw ManifestError.invalid("value \(v) out of range") }
        return Int(v)
    }
}
