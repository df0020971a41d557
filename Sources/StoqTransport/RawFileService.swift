#if canImport(Glibc)
import Glibc
#endif

/// A minimal file service over raw QUIC streams, until HTTP/3 arrives: the
/// client opens a bidirectional stream and sends "GET /path\r\n" (then FIN);
/// the server answers with the file's bytes and FIN, or resets the stream with
/// error code 404 (no such file), 403 (the path leads outside the served
/// directory through a symbolic link) or 400 (malformed request).
public enum RawFileProtocol {
    public static let notFound: UInt64 = 404
    public static let forbidden: UInt64 = 403
    public static let badRequest: UInt64 = 400

    /// The reset code that tells the client why its request was refused.
    public static func code(for refusal: ServedFile.Refusal) -> UInt64 {
        switch refusal {
        case .badPath: return badRequest
        case .outsideRoot: return forbidden
        case .notFound, .notAFile: return notFound
        }
    }
    public static func request(path: String) -> [UInt8] { Array("GET \(path)\r\n".utf8) }
}

/// Serves files under `root`. Attach it to an endpoint: each file is read
/// into its stream as the peer takes it, `window` bytes at most waiting
/// unsent (the connection's send buffer), topped up at `.streamWritable`.
public final class RawFileServer {
    public let root: String
    public var window = 8 << 20
    /// Files being sent, by connection and stream (a connection's go when it closes).
    private var transfers: [ObjectIdentifier: [Int64: Transfer]] = [:]
    private var requests: [ObjectIdentifier: [Int64: [UInt8]]] = [:]
    public private(set) var requestsServed = 0
    /// Called when a connection ends, with its final metrics.
    public var onConnectionClosed: ((QuicConnection, CloseReason) -> Void)?

    private final class Transfer {
        let fd: Int32
        init(fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }
    /// What one `read` of a file takes (the send buffer is copied from it).
    private var chunk = [UInt8](repeating: 0, count: 1 << 20)

    public init(root: String) { self.root = root }

    /// Takes over `endpoint.onNewConnection` and the new connections' `onEvent`.
    public func attach(to endpoint: QuicEndpoint) {
        endpoint.onNewConnection = { [weak self] c in
            c.streamSendBufferSize = self?.window ?? c.streamSendBufferSize
            c.onEvent = { [weak self, unowned c] event in self?.handle(event, on: c) }
        }
    }

    private func handle(_ event: ConnectionEvent, on c: QuicConnection) {
        switch event {
        case let .streamReadable(id):
            let (bytes, fin) = c.read(stream: id)
            var buffer = requests[ObjectIdentifier(c), default: [:]][id, default: []]
            buffer += bytes
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                requests[ObjectIdentifier(c)]?[id] = nil
                start(String(decoding: buffer[..<end], as: UTF8.self), stream: id, on: c)
            } else if fin || buffer.count > 4096 {
                requests[ObjectIdentifier(c)]?[id] = nil
                try? c.resetStream(id, errorCode: RawFileProtocol.badRequest)
            } else {
                requests[ObjectIdentifier(c), default: [:]][id] = buffer
            }
        case let .streamWritable(id):
            fill(stream: id, on: c)
        case let .streamClosed(id), let .streamReset(id, _):
            transfers[ObjectIdentifier(c)]?[id] = nil
        case let .closed(reason):
            onConnectionClosed?(c, reason)
            requests[ObjectIdentifier(c)] = nil
            transfers[ObjectIdentifier(c)] = nil
        default:
            break
        }
    }

    private func start(_ line: String, stream id: Int64, on c: QuicConnection) {
        var text = Substring(line)
        if text.hasSuffix("\r") { text = text.dropLast() }
        guard text.hasPrefix("GET /") else {
            try? c.resetStream(id, errorCode: RawFileProtocol.badRequest)
            return
        }
        let fd: Int32
        switch ServedFile.open(text.dropFirst(4), under: root) {
        case .success(let opened): fd = opened
        case .failure(let refusal):
            try? c.resetStream(id, errorCode: RawFileProtocol.code(for: refusal))
            return
        }
        requestsServed += 1
        transfers[ObjectIdentifier(c), default: [:]][id] = Transfer(fd: fd)
        fill(stream: id, on: c)
    }

    /// Reads the stream's file into its send buffer until the buffer is full
    /// (`.streamWritable` asks for more) or the file ends (with the stream).
    private func fill(stream id: Int64, on c: QuicConnection) {
        guard let t = transfers[ObjectIdentifier(c)]?[id] else { return }
        while c.writableBytes(stream: id) > 0 {
            let wanted = min(chunk.count, c.writableBytes(stream: id))
            let n = chunk.withUnsafeMutableBytes { read(t.fd, $0.baseAddress, wanted) }
            if n < 0 { try? c.resetStream(id, errorCode: RawFileProtocol.notFound) }
            if n <= 0 || (try? c.write(stream: id, chunk[0..<n], fin: false)) == nil {
                if n == 0 { try? c.finish(stream: id) }
                transfers[ObjectIdentifier(c)]?[id] = nil
                return
            }
        }
    }
}
