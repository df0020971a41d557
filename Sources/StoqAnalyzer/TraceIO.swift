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
        buffer.append(contentsOf: record.jsonLine.utf8)
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
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { close(fd) }
        var capacity = 1 << 20
        var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var filled = 0
        var lineNumber = 0
        var parser = FlatJSONObject()

        func handle(_ start: Int, _ end: Int) throws {
            lineNumber += 1
            var s = start, e = end
            while s < e, buffer[s] == 0x20 || buffer[s] == 0x09 { s += 1 }
            while e > s, buffer[e - 1] == 0x0d || buffer[e - 1] == 0x20 || buffer[e - 1] == 0x09 { e -= 1 }
            if s == e { return }
            if let record = try TraceRecord.decode(UnsafeBufferPointer(start: buffer + s, count: e - s),
                                                   parser: &parser, lineNumber: lineNumber) {
                try body(record)
            }
        }

        while true {
            let n = read(fd, buffer + filled, capacity - filled)
            if n < 0 {
                if errno == EINTR { continue }
                throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path])
            }
            filled += n
            var start = 0
            while start < filled, let nl = memchr(buffer + start, 0x0a, filled - start) {
                let end = buffer.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                try handle(start, end)
                start = end + 1
            }
            if n == 0 {
                if start < filled { try handle(start, filled) }   // last line without a newline
                return
            }
            // Keep the partial last line; a line longer than the buffer grows it.
            if start > 0 {
                memmove(buffer, buffer + start, filled - start)
                filled -= start
            } else if filled == capacity {
                let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                bigger.update(from: buffer, count: filled)
                buffer.deallocate()
                buffer = bigger
                capacity *= 2
            }
        }
    }
}
