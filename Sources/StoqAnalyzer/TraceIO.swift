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
/// trace in memory.
public enum TraceReader {
    /// Calls `body` for each record of the file at `path`, in order.
    /// Throws on an unreadable file or a malformed line (naming the line).
    public static func forEach(path: String, _ body: (TraceRecord) throws -> Void) throws {
        guard let file = fopen(path, "r") else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        var linePointer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer {
            fclose(file)
            free(linePointer)
        }
        var lineNumber = 0
        while getline(&linePointer, &capacity, file) >= 0 {
            lineNumber += 1
            let line = String(cString: linePointer!)
            if line.allSatisfy(\.isWhitespace) { continue }
            if let record = try TraceRecord.decode(Substring(line), lineNumber: lineNumber) {
                try body(record)
            }
        }
    }
}
