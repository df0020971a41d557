import Foundation

/// What `stoqsim chunk` reports for one file: every chunk and a summary.
public struct ChunkReport: Codable, Sendable {
    public struct Row: Codable, Sendable, Equatable {
        public var offset: Int, length: Int, id: String
        public init(offset: Int, length: Int, id: String) { self.offset = offset; self.length = length; self.id = id }
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var chunks: Int, bytes: Int, meanSize: Double, minSize: Int, maxSize: Int
        public var uniqueChunks: Int, uniqueBytes: Int
        /// 1 - uniqueBytes / bytes: what storing the file by chunk saves.
        public var dedupRatio: Double
    }

    public var file: String
    public var parameters: ChunkerParameters
    public var chunks: [Row]
    public var summary: Summary

    /// Builds the rows and the summary from the file's chunks, in order.
    public init(file: String, parameters: ChunkerParameters, chunks: [Chunk]) {
        self.file = file
        self.parameters = parameters
        var seen = Set<ChunkID>(minimumCapacity: chunks.count)
        var uniqueBytes = 0, total = 0
        var smallest = Int.max, largest = 0
        self.chunks = chunks.map { c in
            if seen.insert(c.id).inserted { uniqueBytes += c.length }
            total += c.length
            smallest = Swift.min(smallest, c.length)
            largest = Swift.max(largest, c.length)
            return Row(offset: c.offset, length: c.length, id: c.id.hex)
        }
        summary = Summary(chunks: chunks.count, bytes: total,
                          meanSize: chunks.isEmpty ? 0 : Double(total) / Double(chunks.count),
                          minSize: chunks.isEmpty ? 0 : smallest, maxSize: largest,
                          uniqueChunks: seen.count, uniqueBytes: uniqueBytes,
                          dedupRatio: total == 0 ? 0 : 1 - Double(uniqueBytes) / Double(total))
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
            out.append(contentsOf: "    {\n      \"id\" : \"".utf8)
            out.append(contentsOf: row.id.utf8)
            out.append(contentsOf: "\",\n      \"length\" : ".utf8)
            out.append(contentsOf: String(row.length).utf8)
            out.append(contentsOf: ",\n      \"offset\" : ".utf8)
            out.append(contentsOf: String(row.offset).utf8)
            out.append(contentsOf: (i == chunks.count - 1 ? "\n    }\n  ],\n" : "\n    },\n").utf8)
        }
        out.append(rest.dropFirst(2))   // without its "{\n"
        return out
    }
}
