import Foundation

/// Appends trace records to a file through a large buffer: the trace is on the
/// hot path of big runs, so records are written in batches, not line by line.
public final class TraceWriter {
    private let handle: FileHandle
    private var buffer = [UInt8]()
    private let flushThreshold = 1 << 20
    public private(set) var recordsWritten: UInt64 = 0

    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        buffer.reserveCapacity(flushThreshold + 4096)
    }

    public func write(_ record: TraceRecord) {
        record.appendJSONLine(to: &buffer)
        buffer.append(0x0a)
        recordsWritten += 1
        if buffer.count >= flushThreshold { flush() }
    }

    public func flush() {
        guard !buffer.isEmpty else { return }
        handle.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    public func close() {
        flush()
        try? handle.close()
    }

    deinit { close() }
}

/// Reads a trace one record at a time, so analysis never holds the whole
/// trace in memory: the file is read in 1 MiB blocks and each line is parsed
/// in place (see `FlatJSONObject`).
public enum TraceReader {
    /// Calls `body` for each record of the file at `path`, in order.
    /// Throws on an unreadable file or a malformed line (naming the line).
    public static func forEach(path: String, _ body: (TraceRecord) throws -> Void) throws {
        let file = try TraceFile(path: path)
        var parser = FlatJSONObject()
        _ = try file.forEachLine(in: 0..<file.size) { line, index in
            if let record = try TraceRecord.decode(line, parser: &parser, lineNumber: index + 1) { try body(record) }
            return true
        }
    }
}

/// A trace file open for reading lines from any byte range, so several
/// threads can each read a segment (each call has its own buffer).
final class TraceFile {
    let path: String
    let size: Int
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        self.path = path
        // Not a regular file (a pipe, say): read to the end whatever its size.
        size = (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : Int.max
    }

    deinit { close(fd) }

    static let blockSize = 1 << 20

    /// Calls `body` with each non-blank line of `range` (spaces, tabs and a
    /// CR trimmed) and its index among the range's lines, blank ones counted.
    /// `range` starts at a line's start; a line running past its end is read
    /// to its newline. `body` returns false to stop before that line. Returns
    /// the number of lines read and the offset just past the last one.
    func forEachLine(in range: Range<Int>,
                     _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Bool) throws -> (lines: Int, end: Int) {
        var capacity = Self.blockSize
        var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var filled = 0
        var offset = range.lowerBound      // file offset of buffer[0]
        var lines = 0
        var readAt = range.lowerBound

        func handle(_ start: Int, _ end: Int) throws -> Bool {
            lines += 1
            var s = start, e = end
            while s < e, buffer[s] == 0x20 || buffer[s] == 0x09 { s += 1 }
            while e > s, buffer[e - 1] == 0x0d || buffer[e - 1] == 0x20 || buffer[e - 1] == 0x09 { e -= 1 }
            if s == e { return true }
            return try body(UnsafeBufferPointer(start: buffer + s, count: e - s), lines - 1)
        }

        while true {
            let n = size == Int.max ? read(fd, buffer + filled, capacity - filled)
                                    : pread(fd, buffer + filled, capacity - filled, off_t(readAt))
            if n < 0 {
                if errno == EINTR { continue }
                throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path])
            }
            filled += n
            readAt += n
            var start = 0
            while start < filled, offset + start < range.upperBound, let nl = memchr(buffer + start, 0x0a, filled - start) {
                let end = buffer.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                guard try handle(start, end) else { return (lines - 1, offset + start) }
                start = end + 1
            }
            if offset + start >= range.upperBound { return (lines, offset + start) }
            if n == 0 {
                if start < filled { _ = try handle(start, filled) }   // last line without a newline
                return (lines, offset + filled)
            }
            // Keep the partial last line; a line longer than the buffer grows it.
            if start > 0 {
                memmove(buffer, buffer + start, filled - start)
                filled -= start
                offset += start
            } else if filled == capacity {
                let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                bigger.update(from: buffer, count: filled)
                buffer.deallocate()
                buffer = bigger
                capacity *= 2
            }
        }
    }

    /// The offset of the start of the first line that begins at or after
    /// `offset` (the file size when none does): where a segment may start.
    func lineStart(atOrAfter offset: Int) throws -> Int {
        guard offset > 0 else { return 0 }
        if offset >= size { return size }
        // The line starting at `offset` begins just after the newline at or after `offset - 1`.
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var at = offset - 1
        while at < size {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(at)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path])
            }
            if n == 0 { return size }
            if let i = chunk[0..<n].firstIndex(of: 0x0a) { return at + i + 1 }
            at += n
        }
        return size
    }
}
