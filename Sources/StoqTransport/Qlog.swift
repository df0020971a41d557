import Foundation

/// Where a connection's qlog goes. ngtcp2 writes JSON text sequences (RFC
/// 7464: each record starts with 0x1E), the form qvis opens as `.sqlog`.
public protocol QlogSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer)
    /// The trace is complete (ngtcp2's FIN flag, or the connection went away).
    func finish()
}

/// A qlog written to a file, buffered; closed on `finish()`.
public final class QlogFile: QlogSink {
    private var handle: FileHandle?
    private var buffer: [UInt8] = []

    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw TransportError.invalidAddress("cannot create qlog file \(path)")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    private func flush() {
        guard let handle, !buffer.isEmpty else { return }
        try? handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    public func finish() {
        flush()
        try? handle?.close()
        handle = nil
    }

    deinit { finish() }
}
