/// Chunks a stream fed in buffers of any size, giving exactly the boundaries
/// the one-shot `FastCDC.boundaries` gives for the concatenated bytes: it cuts
/// only once `maxSize` bytes are buffered (or the stream has ended), which is
/// all the one-shot cut ever looks at.
public struct StreamingChunker {
    public let chunker: FastCDC
    private var buffer: [UInt8] = []
    /// Index in `buffer` where the next chunk starts.
    private var start = 0
    /// Offset of `buffer[start]` in the whole stream.
    private var streamOffset = 0
    private var finished = false

    private let hash: ChunkHasher

    public init(_ parameters: ChunkerParameters = .default, hash: @escaping ChunkHasher = ChunkHash.sha256) {
        chunker = FastCDC(parameters)
        self.hash = hash
        buffer.reserveCapacity(2 * parameters.maxSize)
    }

    /// Appends bytes and calls `body` for every chunk now complete, with a view
    /// of its bytes valid only during the call (copy them to keep them).
    public mutating func feed(_ data: UnsafeRawBufferPointer, _ body: (Chunk, UnsafeRawBufferPointer) throws -> Void) rethrows {
        precondition(!finished, "feed after finish")
        buffer.append(contentsOf: data)
        try emit(final: false, body)
    }

    public mutating func feed(_ bytes: [UInt8], _ body: (Chunk, UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { try feed($0, body) }
    }

    /// Ends the stream: the rest of the buffer becomes the last chunk(s).
    public mutating func finish(_ body: (Chunk, UnsafeRawBufferPointer) throws -> Void) rethrows {
        precondition(!finished, "finish twice")
        finished = true
        try emit(final: true, body)
    }

    /// Convenience forms that collect the chunks (positions and IDs only).
    public mutating func feed(_ bytes: [UInt8]) -> [Chunk] {
        var out: [Chunk] = []
        feed(bytes) { c, _ in out.append(c) }
        return out
    }

    public mutating func finish() -> [Chunk] {
        var out: [Chunk] = []
        finish { c, _ in out.append(c) }
        return out
    }

    private mutating func emit(final: Bool, _ body: (Chunk, UnsafeRawBufferPointer) throws -> Void) rethrows {
        let maxSize = chunker.parameters.maxSize
        let chunker = self.chunker, hash = self.hash
        var start = self.start, streamOffset = self.streamOffset
        try buffer.withUnsafeBytes { all in
            while all.count - start >= maxSize || (final && start < all.count) {
                let rest = UnsafeRawBufferPointer(rebasing: all[start...])
                let len = chunker.cutPoint(rest)
                let bytes = UnsafeRawBufferPointer(rebasing: rest[..<(rest.startIndex + len)])
                try body(Chunk(offset: streamOffset, length: len, id: hash(bytes)), bytes)
                start += len
                streamOffset += len
            }
        }
        self.streamOffset = streamOffset
        // Compact only once a whole max-size worth is consumed, so tiny feeds
        // do not memmove the buffer every time (amortised O(1) per byte).
        if start >= maxSize || start == buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        self.start = start
    }
}
