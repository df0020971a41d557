import Foundation

/// What `stoqsim chunk` reports for one file: every chunk and a summary.
/// Without ids (`--no-ids`: boundaries only, no SHA-256) the rows have no
/// `id` and the summary no unique-chunk figures; those keys are left out.
public struct ChunkReport: Codable, Sendable {
    public struct Row: Codable, Sendable, Equatable {
        public var offset: Int, length: Int, id: String?
        public init(offset: Int, length: Int, id: String?) { self.offset = offset; self.length = length; self.id = id }
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var chunks: Int, bytes: Int, meanSize: Double, minSize: Int, maxSize: Int
        public var uniqueChunks: Int?, uniqueBytes: Int?
        /// 1 - uniqueBytes / bytes: what storing the file by chunk saves.
        public var dedupRatio: Double?
    }

    public var file: String
    public var parameters: ChunkerParameters
    public var chunks: [Row]
    public var summary: Summary

    /// Builds the rows and the summary from the file's chunks, in order.
    public init(file: String, parameters: ChunkerParameters, chunks: [Chunk]) {
        var seen = Set<ChunkID>(minimumCapacity: chunks.count)
        var uniqueBytes = 0
        for c in chunks where seen.insert(c.id).inserted { uniqueBytes += c.length }
        self.init(file: file, parameters: parameters, rows: chunks.map { Row(offset: $0.offset, length: $0.length, id: $0.id.hex) })
        summary.uniqueChunks = seen.count
        summary.uniqueBytes = uniqueBytes
        summary.dedupRatio = summary.bytes == 0 ? 0 : 1 - Double(uniqueBytes) / Double(summary.bytes)
    }

    /// Boundaries only: no ids, no unique-chunk figures.
    public init(file: String, parameters: ChunkerParameters, boundaries: [ChunkBoundary]) {
        self.init(file: file, parameters: parameters, rows: boundaries.map { Row(offset: $0.offset, length: $0.length, id: nil) })
    }

    private init(file: String, parameters: ChunkerParameters, rows: [Row]) {
        self.file = file
        self.parameters = parameters
        chunks = rows
        var total = 0, smallest = Int.max, largest = 0
        for r in rows { total += r.length; smallest = Swift.min(smallest, r.length); largest = Swift.max(largest, r.length) }
        summary = Summary(chunks: rows.count, bytes: total,
                          meanSize: rows.isEmpty ? 0 : Double(total) / Double(rows.count),
                          minSize: rows.isEmpty ? 0 : smallest, maxSize: largest)
    }

    /// Pretty-printed JSON with sorted keys, byte for byte what `JSONEncoder`
    /// gives, without its per-row cost (≈ 30 MB/s of output): the rows, all
    /// of one shape, are written directly; the rest goes through `JSONEncoder`.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard !chunks.isEmpty else { return try encoder.encode(self) }
        // "chunks" sorts before the other keys, so it opens the object.
        struct Rest: Codable { var file: String; var parameters: ChunkerParameters; var summary: Summary }
        let rest = try encoder.encode(Rest(file: file, parameters: parameters, summary: summary))
        var out = Data()
        out.reserveCapacity(chunks.count * 150 + rest.count + 32)
        out.append(contentsOf: "{\n  \"chunks\" : [\n".utf8)
        for (i, row) in chunks.enumerated() {
            out.append(contentsOf: "    {\n".utf8)
            if let id = row.id {
                out.append(contentsOf: "      \"id\" : \"".utf8)
                out.append(contentsOf: id.utf8)
                out.append(contentsOf: "\",\n".utf8)
            }
            out.append(contentsOf: "      \"length\" : ".utf8)
            out.append(contentsOf: String(row.length).utf8)
            out.append(contentsOf: ",\n      \"offset\" : ".utf8)
            out.append(contentsOf: String(row.offset).utf8)
            out.append(contentsOf: (i == chunks.count - 1 ? "\n    }\n  ],\n" : "\n    },\n").utf8)
        }
        out.append(rest.dropFirst(2))   // without its "{\n"
        return out
    }
}
