import StoqEngine

/// How a TrustChain request and response travel on one bidirectional STOQ
/// stream (after StoqServices' 4-byte service tag, e.g. "TCCA"), until HTTP/3
/// carries them: the client writes `METHOD SP PATH LF` then the body and
/// finishes the stream; the server answers `STATUS LF` then the JSON body and
/// finishes. The stream's end delimits the body, so no length field is needed.
public enum TrustChainWire {
    public static let serviceTag = "TCCA"

    public static func encode(_ r: TrustChainRequest) -> [UInt8] {
        Array("\(r.method) \(r.path)\n".utf8) + r.body
    }

    public static func encode(_ r: TrustChainResponse) -> [UInt8] {
        Array("\(r.status)\n".utf8) + r.body
    }

    /// Decodes a whole request stream; nil when the head line is malformed.
    public static func decodeRequest(_ bytes: [UInt8]) -> TrustChainRequest? {
        guard let (head, body) = splitHead(bytes) else { return nil }
        let parts = head.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].hasPrefix("/") else { return nil }
        return TrustChainRequest(method: String(parts[0]), path: String(parts[1]), body: body)
    }

    public static func decodeResponse(_ bytes: [UInt8]) -> TrustChainResponse? {
        guard let (head, body) = splitHead(bytes), let status = Int(head), (100...599).contains(status) else { return nil }
        return TrustChainResponse(status: status, body: body)
    }

    /// The head line is short; refuse to search far for it in a hostile stream.
    private static func splitHead(_ bytes: [UInt8]) -> (String, [UInt8])? {
        guard let lf = bytes.prefix(4096).firstIndex(of: 0x0a) else { return nil }
        return (String(decoding: bytes[..<lf], as: UTF8.self), Array(bytes[(lf + 1)...]))
    }
}

/// The server side of the stream protocol: feed it the bytes of one stream as
/// they arrive; at the end it answers with the bytes to write back.
public final class TrustChainStreamHandler {
    private let api: TrustChainAPI
    private var buffer: [UInt8] = []
    /// Larger requests are refused rather than buffered (a CSR and proof are a few KiB).
    public static let maximumRequestBytes = 64 * 1024

    public init(api: TrustChainAPI) { self.api = api }

    /// Returns the response bytes once the stream has ended (or grown too large), else nil.
    public func receive(_ bytes: [UInt8], fin: Bool, now: SimTime) -> [UInt8]? {
        buffer += bytes
        if buffer.count > Self.maximumRequestBytes {
            return TrustChainWire.encode(TrustChainAPI.error(Rejection(413, "request_too_large", "requests are limited to \(Self.maximumRequestBytes) bytes")))
        }
        guard fin else { return nil }
        guard let request = TrustChainWire.decodeRequest(buffer) else {
            return TrustChainWire.encode(TrustChainAPI.error(Rejection(400, "malformed_request", "the stream does not start with 'METHOD /path' and a newline")))
        }
        return TrustChainWire.encode(api.handle(request, now: now))
    }
}


