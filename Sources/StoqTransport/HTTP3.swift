#if canImport(Glibc)
import Glibc
#endif
import CStoq
import StoqEngine

// HTTP/3 (RFC 9114) over STOQ's QUIC connections, through nghttp3 0.8. Sans-IO
// like the rest of StoqTransport: an `HTTP3Connection` sits on one
// `QuicConnection`, takes its events (stream data in) and writes what nghttp3
// frames back into it (stream data out); the endpoint and its driver move the
// datagrams and own the clock.
//
// Who buffers what: `QuicConnection.write` copies bytes and keeps them until
// the peer acknowledges them (it retransmits from its own copy and waits for
// QUIC flow-control credit itself). So as soon as a piece nghttp3 framed is
// handed over, nghttp3 is told it was both written (add_write_offset) and
// acknowledged (add_ack_offset): it may drop its copy. What nghttp3 must still
// learn is back-pressure: once a request stream holds `sendHighWater` bytes the
// QUIC layer has not sent yet (QUIC flow control or congestion holding it),
// the stream is blocked in nghttp3 (nghttp3_conn_block_stream) and unblocked
// after a transmit turn drained it below half of that.

/// One header field (names are sent lowercase, as HTTP/3 requires).
public struct HTTP3Header: Equatable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

extension Array where Element == HTTP3Header {
    /// The value of the first field called `name` (case-insensitive).
    public func value(for name: String) -> String? {
        let lower = name.lowercased()
        return first { $0.name.lowercased() == lower }?.value
    }
}

/// A request as a server handler sees it (pseudo-header fields taken apart).
public struct HTTP3Request: Equatable, Sendable {
    public var method: String
    public var path: String
    public var authority: String
    public var scheme: String
    /// Regular fields only (no ":method" etc.).
    public var headers: [HTTP3Header]
    public var body: [UInt8]
    /// When the datagram completing the request was handed to the endpoint (its
    /// caller's clock: virtual or wall): the "now" of a sans-IO handler.
    public var receivedAt: SimTime

    public init(method: String, path: String, authority: String = "", scheme: String = "https",
                headers: [HTTP3Header] = [], body: [UInt8] = [], receivedAt: SimTime = .zero) {
        self.method = method; self.path = path; self.authority = authority; self.scheme = scheme
        self.headers = headers; self.body = body; self.receivedAt = receivedAt
    }
}

/// A complete response: status, regular fields, body in memory.
public struct HTTP3Response: Equatable, Sendable {
    public var status: Int
    public var headers: [HTTP3Header]
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }

    public init(status: Int, headers: [HTTP3Header] = [], body: [UInt8] = []) {
        self.status = status; self.headers = headers; self.body = body
    }
}

/// Why a request got no response.
public enum HTTP3Error: Error, Equatable, CustomStringConvertible {
    /// The QUIC connection ended first.
    case connectionClosed(CloseReason)
    /// The peer reset the request stream with this HTTP/3 error code (0x10c: H3_REQUEST_CANCELLED, …).
    case streamReset(code: UInt64)
    /// The stream closed before a complete response arrived.
    case incompleteResponse
    /// An nghttp3 call failed; the connection is closed with the matching HTTP/3 error code.
    case nghttp3(operation: String, code: Int32, message: String)
    /// The transport refused (e.g. the connection was already closing).
    case transport(TransportError)

    public var description: String {
        switch self {
        case let .connectionClosed(reason): return "HTTP/3: connection closed before the response: \(reason)"
        case let .streamReset(code): return "HTTP/3: the peer reset the request stream (code 0x\(String(code, radix: 16)))"
        case .incompleteResponse: return "HTTP/3: the stream closed before the whole response arrived"
        case let .nghttp3(op, code, message): return "HTTP/3: \(op) failed: \(message) (nghttp3 error \(code))"
        case let .transport(error): return "HTTP/3: \(error)"
        }
    }

    static func library(_ operation: String, _ code: Int32) -> HTTP3Error {
        .nghttp3(operation: operation, code: code, message: String(cString: nghttp3_strerror(code)))
    }
}

/// Bounds a server puts on requests and peers (nil: unbounded, the default).
/// A request over a bound is answered by the server itself (`HTTP3Refusal`)
/// without reaching the handler, and the rest of it is not read.
public struct HTTP3ServerLimits: Sendable, Equatable {
    /// Largest request body (413 above it, as soon as it is exceeded or announced in content-length).
    public var maxBodyBytes: Int?
    /// Longest `:path` (414).
    public var maxPathBytes: Int?
    /// Largest header section: name + value + 32 bytes per field, pseudo-headers included (RFC 9114 §4.2.2) (431).
    public var maxHeaderBytes: Int?
    /// A request still incomplete this long after its first bytes arrived is answered 408 (`expireStalledRequests`).
    public var requestTimeout: SimDuration?
    /// Live connections one peer address may hold; a connection beyond it is closed at once (H3_EXCESSIVE_LOAD).
    public var maxConnectionsPerPeer: Int?
    /// Live connections in all (peers with many addresses are still bounded).
    public var maxConnections: Int?

    public init(maxBodyBytes: Int? = nil, maxPathBytes: Int? = nil, maxHeaderBytes: Int? = nil,
                requestTimeout: SimDuration? = nil, maxConnectionsPerPeer: Int? = nil, maxConnections: Int? = nil) {
        self.maxBodyBytes = maxBodyBytes; self.maxPathBytes = maxPathBytes; self.maxHeaderBytes = maxHeaderBytes
        self.requestTimeout = requestTimeout; self.maxConnectionsPerPeer = maxConnectionsPerPeer; self.maxConnections = maxConnections
    }
}

/// Why a server answered a request itself instead of passing it to the handler.
public enum HTTP3Refusal: Sendable, Equatable, CustomStringConvertible {
    case bodyTooLarge(limit: Int)
    case pathTooLong(limit: Int)
    case headersTooLarge(limit: Int)
    case timedOut(after: SimDuration)

    public var status: Int {
        switch self {
        case .bodyTooLarge: return 413
        case .pathTooLong: return 414
        case .headersTooLarge: return 431
        case .timedOut: return 408
        }
    }

    public var description: String {
        switch self {
        case let .bodyTooLarge(n): return "the request body is larger than \(n) bytes"
        case let .pathTooLong(n): return "the request path is longer than \(n) bytes"
        case let .headersTooLarge(n): return "the request's header fields are larger than \(n) bytes"
        case let .timedOut(d): return "the request was not complete \(d) after it started"
        }
    }

    /// The answer when no `refusalResponse` is set: the status and the reason as text.
    public var defaultResponse: HTTP3Response {
        HTTP3Response(status: status, headers: [HTTP3Header("content-type", "text/plain")], body: Array((description + "\n").utf8))
    }
}

/// HTTP/3 on one QUIC connection, client or server (the QUIC role decides).
///
/// Owns one `nghttp3_conn`, freed in `deinit`. Takes over the QUIC connection's
/// `onEvent` and `onTransmitted`; every event is passed on to `onEvent` after
/// HTTP/3 has seen it. Completions and the server handler run after nghttp3
/// returns, never from inside it, so they may call back in freely. Like
/// everything in StoqTransport: one thread.
///
/// Writes made outside an event handler (e.g. `request` from a test or a
/// timer) go out on the endpoint's next transmit (`EndpointDriver.flush()`,
/// `InMemoryPair.step()`).
public final class HTTP3Connection {
    public typealias Handler = (HTTP3Request) -> HTTP3Response
    public typealias Completion = (Result<HTTP3Response, HTTP3Error>) -> Void

    public let quic: QuicConnection
    /// Every transport event, after HTTP/3 handled it.
    public var onEvent: ((ConnectionEvent) -> Void)?
    /// Server side: answers each complete request.
    public var handler: Handler?
    /// A request stream holding this many bytes QUIC has not sent yet is blocked in nghttp3.
    public var sendHighWater = 256 << 10
    /// Requests answered (server) / responses received (client).
    public private(set) var completedRequests = 0
    /// Times a request stream was blocked in nghttp3 because QUIC had not sent enough of it yet.
    public private(set) var streamsBlocked = 0
    /// Set when the peer sent GOAWAY (its id: requests from that stream id on will not be served).
    public private(set) var goawayID: Int64?
    /// Server side: bounds on each request (see `HTTP3ServerLimits`).
    public var limits = HTTP3ServerLimits()
    /// Server side: the answer to a refused request (default: `HTTP3Refusal.defaultResponse`).
    public var refusalResponse: ((HTTP3Refusal) -> HTTP3Response)?
    /// Requests the server answered itself because they broke a limit.
    public private(set) var refusedRequests = 0

    private var h3: OpaquePointer?
    private var bound = false
    private var streams: [Int64: H3Stream] = [:]
    private var queued: [(HTTP3Request, Completion)] = []
    /// Filled by nghttp3 callbacks, handled after nghttp3 returns.
    private var ended: [Int64] = []
    private var closedByH3: [(Int64, UInt64)] = []
    /// Server streams that broke a limit inside an nghttp3 callback, answered after it returns.
    private var refused: [Int64] = []
    private var blocked: Set<Int64> = []
    private var maxClientBidi: UInt64 = 0
    private var failed = false
    private let vecs: UnsafeMutablePointer<nghttp3_vec>
    private static let maxVecs = 16
    /// Body bytes handed to nghttp3 per read_data call (so back-pressure can act between pieces).
    private static let bodyPiece = 64 << 10

    /// HTTP/3 client on a client connection (attach right after `QuicEndpoint.connect`).
    public convenience init(client quic: QuicConnection) throws {
        precondition(quic.role == .client, "HTTP3Connection(client:) needs a client QuicConnection")
        try self.init(quic: quic, handler: nil)
    }

    /// HTTP/3 server on an accepted connection (attach in `QuicEndpoint.onNewConnection`).
    public convenience init(server quic: QuicConnection, handler: @escaping Handler) throws {
        precondition(quic.role == .server, "HTTP3Connection(server:) needs a server QuicConnection")
        try self.init(quic: quic, handler: handler)
    }

    private init(quic: QuicConnection, handler: Handler?) throws {
        self.quic = quic
        self.handler = handler
        vecs = .allocate(capacity: Self.maxVecs)
        var settings = nghttp3_settings()
        cstoq_nghttp3_settings_default(&settings)
        settings.qpack_max_dtable_capacity = 4096
        settings.qpack_blocked_streams = 100
        var callbacks = Self.callbacks()
        var conn: OpaquePointer?
        let me = Unmanaged.passUnretained(self).toOpaque()
        let rv = quic.role == .client
            ? cstoq_nghttp3_conn_client_new(&conn, &callbacks, &settings, me)
            : cstoq_nghttp3_conn_server_new(&conn, &callbacks, &settings, me)
        guard rv == 0, let conn else {
            vecs.deallocate()
            throw HTTP3Error.library(quic.role == .client ? "nghttp3_conn_client_new" : "nghttp3_conn_server_new", rv)
        }
        h3 = conn
        if quic.role == .server {
            maxClientBidi = quic.endpointConfiguration.maxBidirectionalStreams
            nghttp3_conn_set_max_client_streams_bidi(conn, maxClientBidi)
        }
        quic.onEvent = { [weak self] event in self?.handle(event) }
        quic.onTransmitted = { [weak self] in self?.transmitted() }
        // Events raised before we attached (kept by the connection while it had no handler).
        for event in quic.pollEvents() { handle(event) }
        if quic.isHandshakeComplete { bind() }
    }

    deinit {
        if let h3 { nghttp3_conn_del(h3) }
        vecs.deallocate()
    }

    // MARK: Client

    /// Sends a request; `completion` runs once, with the whole response or why there is none.
    /// Requests made before the handshake completes, or while the peer's stream
    /// limit is used up, wait and go out when they can.
    public func request(method: String = "GET", path: String, authority: String? = nil, scheme: String = "https",
                        headers: [HTTP3Header] = [], body: [UInt8] = [], completion: @escaping Completion) {
        precondition(quic.role == .client, "only a client sends requests")
        let request = HTTP3Request(method: method, path: path, authority: authority ?? defaultAuthority, scheme: scheme,
                                   headers: headers, body: body)
        if case let .closed(reason) = quic.state { completion(.failure(.connectionClosed(reason))); return }
        queued.append((request, completion))
        if bound { startQueued(); pump() }
    }

    /// Requests sent but not yet answered, plus those waiting to go out.
    public var outstandingRequests: Int { queued.count + streams.values.filter { $0.completion != nil }.count }

    /// "host" or "[v6]", with ":port" unless 443.
    private var defaultAuthority: String {
        var host = quic.serverName ?? quic.remoteAddress.address.description
        if host.contains(":") { host = "[\(host)]" }
        return quic.remoteAddress.port == 443 ? host : "\(host):\(quic.remoteAddress.port)"
    }

    private func startQueued() {
        guard let h3, bound, !failed else { return }
        while !queued.isEmpty {
            let id: Int64
            do {
                id = try quic.openStream(bidirectional: true)
            } catch TransportError.streamLimitReached {
                return   // retried on .streamsAvailable
            } catch let error as TransportError {
                let waiting = queued
                queued.removeAll()
                for (_, completion) in waiting { completion(.failure(.transport(error))) }
                return
            } catch { return }
            let (request, completion) = queued.removeFirst()
            let s = H3Stream(id: id)
            s.completion = completion
            if !request.body.isEmpty { s.outgoing = OutgoingBody(request.body) }
            streams[id] = s
            var fields = [(":method", request.method), (":scheme", request.scheme),
                          (":authority", request.authority), (":path", request.path)]
            fields += request.headers.map { ($0.name.lowercased(), $0.value) }
            if !request.body.isEmpty && request.headers.value(for: "content-length") == nil {
                fields.append(("content-length", String(request.body.count)))
            }
            let rv = Self.withNameValues(fields) { nva, count -> Int32 in
                var reader = nghttp3_data_reader(read_data: Self.readData)
                return s.outgoing == nil
                    ? nghttp3_conn_submit_request(h3, id, nva, count, nil, nil)
                    : nghttp3_conn_submit_request(h3, id, nva, count, &reader, nil)
            }
            if rv != 0 {
                streams[id] = nil
                try? quic.resetStream(id, errorCode: UInt64(NGHTTP3_H3_INTERNAL_ERROR))
                completion(.failure(.library("nghttp3_conn_submit_request", rv)))
            }
        }
    }

    // MARK: Server

    private func respond(_ s: H3Stream) {
        guard !s.answered else { return }
        if let refusal = s.refusal { refuse(s, refusal); return }
        let request = HTTP3Request(method: s.method, path: s.path, authority: s.authority, scheme: s.scheme,
                                   headers: s.headers, body: s.body, receivedAt: quic.lastCallTime)
        s.body = []
        let response = handler?(request) ?? HTTP3Response(status: 500, body: Array("no handler\n".utf8))
        completedRequests += 1
        submit(response, on: s)
    }

    /// Answers a request that broke a limit, and stops reading the rest of it
    /// (STOP_SENDING with H3_NO_ERROR: RFC 9114 §4.1.1 lets a server answer before the request is complete).
    private func refuse(_ s: H3Stream, _ refusal: HTTP3Refusal) {
        guard !s.answered else { return }
        s.refusal = refusal
        s.body = []
        s.headers = []
        refusedRequests += 1
        submit(refusalResponse?(refusal) ?? refusal.defaultResponse, on: s)
        if let h3 { _ = nghttp3_conn_shutdown_stream_read(h3, s.id) }
        try? quic.stopReceiving(stream: s.id, errorCode: UInt64(NGHTTP3_H3_NO_ERROR))
    }

    /// Server side: answers 408 every request still incomplete `limits.requestTimeout`
    /// after its first bytes (the caller's clock, as given to the endpoint).
    public func expireStalledRequests(now: SimTime) {
        guard quic.role == .server, let timeout = limits.requestTimeout, !failed, !quic.isClosed else { return }
        let stalled = streams.values.filter { !$0.answered && $0.startedAt.map { now - $0 >= timeout } ?? false }
        guard !stalled.isEmpty else { return }
        for s in stalled.sorted(by: { $0.id < $1.id }) { refuse(s, .timedOut(after: timeout)) }
        pump()
    }

    private func submit(_ response: HTTP3Response, on s: H3Stream) {
        guard let h3 else { return }
        s.answered = true
        if !response.body.isEmpty { s.outgoing = OutgoingBody(response.body) }
        var fields = [(":status", String(response.status))]
        fields += response.headers.map { ($0.name.lowercased(), $0.value) }
        if response.headers.value(for: "content-length") == nil {
            fields.append(("content-length", String(response.body.count)))
        }
        let rv = Self.withNameValues(fields) { nva, count -> Int32 in
            var reader = nghttp3_data_reader(read_data: Self.readData)
            return s.outgoing == nil
                ? nghttp3_conn_submit_response(h3, s.id, nva, count, nil)
                : nghttp3_conn_submit_response(h3, s.id, nva, count, &reader)
        }
        if rv != 0 { try? quic.resetStream(s.id, errorCode: UInt64(NGHTTP3_H3_INTERNAL_ERROR)) }
    }

    // MARK: Driven by the QUIC connection

    private func handle(_ event: ConnectionEvent) {
        switch event {
        case .handshakeCompleted:
            bind()
        case let .streamReadable(id):
            readStream(id)
        case let .streamReset(id, code):
            if let h3 { _ = nghttp3_conn_shutdown_stream_read(h3, id) }
            if let s = streams[id], let completion = s.completion {
                s.completion = nil
                completion(.failure(.streamReset(code: code)))
            }
        case let .streamClosed(id):
            closeStream(id)
        case .streamsAvailable(bidirectional: true):
            startQueued()
        case let .closed(reason):
            failAll(.connectionClosed(reason))
        default:
            break
        }
        pump()
        onEvent?(event)
    }

    /// Opens our control stream and the QPACK encoder/decoder streams.
    private func bind() {
        guard let h3, !bound, !failed else { return }
        do {
            let control = try quic.openStream(bidirectional: false)
            let encoder = try quic.openStream(bidirectional: false)
            let decoder = try quic.openStream(bidirectional: false)
            var rv = nghttp3_conn_bind_control_stream(h3, control)
            if rv != 0 { fail(rv, "nghttp3_conn_bind_control_stream"); return }
            rv = nghttp3_conn_bind_qpack_streams(h3, encoder, decoder)
            if rv != 0 { fail(rv, "nghttp3_conn_bind_qpack_streams"); return }
        } catch {
            quic.close(errorCode: UInt64(NGHTTP3_H3_INTERNAL_ERROR), reason: "cannot open HTTP/3 control streams: \(error)")
            failed = true
            return
        }
        bound = true
        startQueued()
    }

    private func readStream(_ id: Int64) {
        let (bytes, fin) = quic.read(stream: id)
        guard let h3, !failed, !bytes.isEmpty || fin else { return }
        // A client request stream's clock starts with its first bytes (the request timeout counts from here).
        if quic.role == .server && id & 0x3 == 0 && streams[id]?.startedAt == nil { stream(id).startedAt = quic.lastCallTime }
        let rv = bytes.withUnsafeBufferPointer { nghttp3_conn_read_stream(h3, id, $0.baseAddress, $0.count, fin ? 1 : 0) }
        if rv < 0 { fail(Int32(rv), "nghttp3_conn_read_stream"); return }
        // Flow-control credit: QuicConnection.read already returned it for every byte.
        runDeferred()
    }

    private func closeStream(_ id: Int64) {
        blocked.remove(id)
        var reportedByH3 = false
        if let h3, !failed {
            let rv = nghttp3_conn_close_stream(h3, id, UInt64(NGHTTP3_H3_NO_ERROR))
            if rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND { fail(rv, "nghttp3_conn_close_stream"); return }
            // A request stream nghttp3 knows ends through its stream_close callback (`closedByH3`):
            // at once, or — when the stream's headers wait for QPACK encoder instructions that
            // arrive after the stream's FIN — once they are decoded and the response delivered.
            // Failing it here would lose that response.
            reportedByH3 = rv == 0 && id & 0x3 == 0
            // QuicConnection hands the client one more bidirectional stream per closed one: tell nghttp3.
            if quic.role == .server && id & 0x3 == 0 {
                maxClientBidi += 1
                nghttp3_conn_set_max_client_streams_bidi(h3, maxClientBidi)
            }
        }
        runDeferred()
        if !reportedByH3, let s = streams.removeValue(forKey: id), let completion = s.completion {
            s.completion = nil
            completion(.failure(.incompleteResponse))
        }
    }

    /// What nghttp3 callbacks recorded: complete messages and closed streams.
    private func runDeferred() {
        while !ended.isEmpty || !closedByH3.isEmpty || !refused.isEmpty {
            let refusing = refused
            refused.removeAll()
            for id in refusing { if let s = streams[id], let r = s.refusal { refuse(s, r) } }
            let done = ended
            ended.removeAll()
            for id in done {
                guard let s = streams[id] else { continue }
                if quic.role == .server {
                    respond(s)
                } else if let completion = s.completion {
                    s.completion = nil
                    completedRequests += 1
                    completion(.success(HTTP3Response(status: s.status, headers: s.headers, body: s.body)))
                    s.body = []
                }
            }
            let closed = closedByH3
            closedByH3.removeAll()
            for (id, code) in closed {
                guard let s = streams.removeValue(forKey: id) else { continue }
                if let completion = s.completion {
                    s.completion = nil
                    completion(.failure(code == UInt64(NGHTTP3_H3_NO_ERROR) ? .incompleteResponse : .streamReset(code: code)))
                }
            }
        }
    }

    /// Moves everything nghttp3 has framed into the QUIC streams.
    private func pump() {
        guard let h3, !failed, !quic.isClosed else { return }
        runDeferred()   // answers submitted here are written below
        while !failed {
            var id: Int64 = -1
            var fin: Int32 = 0
            let n = nghttp3_conn_writev_stream(h3, &id, &fin, vecs, Self.maxVecs)
            if n < 0 { fail(Int32(n), "nghttp3_conn_writev_stream"); return }
            if id < 0 {
                if ended.isEmpty && closedByH3.isEmpty { break }
                runDeferred()
                continue
            }
            var total = 0
            do {
                if n == 0 { try quic.write(stream: id, EmptyCollection<UInt8>(), fin: fin != 0) }
                for i in 0..<Int(n) {
                    let v = vecs[i]
                    try quic.write(stream: id, UnsafeBufferPointer(start: v.base, count: v.len), fin: fin != 0 && i == Int(n) - 1)
                    total += v.len
                }
            } catch {
                // The QUIC stream is gone or reset: nghttp3 must not offer it again.
                nghttp3_conn_shutdown_stream_write(h3, id)
                continue
            }
            var rv = nghttp3_conn_add_write_offset(h3, id, total)
            if rv != 0 { fail(rv, "nghttp3_conn_add_write_offset"); return }
            // QuicConnection holds its own copy until the peer acknowledges it.
            if total > 0 {
                rv = nghttp3_conn_add_ack_offset(h3, id, UInt64(total))
                if rv != 0 { fail(rv, "nghttp3_conn_add_ack_offset"); return }
            }
            if id & 0x2 == 0 && fin == 0 && quic.unsentBytes(stream: id) >= sendHighWater {
                nghttp3_conn_block_stream(h3, id)
                blocked.insert(id)
                streamsBlocked += 1
            }
        }
    }

    /// After a transmit turn: unblock streams the QUIC layer drained, and top them up.
    private func transmitted() {
        guard let h3, !blocked.isEmpty, !failed else { return }
        let drained = blocked.filter { quic.unsentBytes(stream: $0) < sendHighWater / 2 }
        guard !drained.isEmpty else { return }
        for id in drained.sorted() {
            blocked.remove(id)
            _ = nghttp3_conn_unblock_stream(h3, id)
        }
        pump()
    }

    /// A fatal nghttp3 error: close the connection with the HTTP/3 code nghttp3 infers.
    private func fail(_ rv: Int32, _ operation: String) {
        guard !failed else { return }
        failed = true
        let error = HTTP3Error.library(operation, rv)
        quic.close(errorCode: nghttp3_err_infer_quic_app_error_code(rv), reason: "\(operation): \(String(cString: nghttp3_strerror(rv)))")
        failAll(error)
    }

    private func failAll(_ error: HTTP3Error) {
        let waiting = queued
        queued.removeAll()
        let pending = streams.values.filter { $0.completion != nil }.sorted { $0.id < $1.id }
        streams.removeAll()
        blocked.removeAll()
        for (_, completion) in waiting { completion(.failure(error)) }
        for s in pending {
            let completion = s.completion
            s.completion = nil
            completion?(.failure(error))
        }
    }

    /// Inside an nghttp3 callback: the request broke a limit; it is answered once nghttp3 returns.
    private func noteRefusal(_ s: H3Stream, _ refusal: HTTP3Refusal) {
        guard s.refusal == nil else { return }
        s.refusal = refusal
        s.body = []
        refused.append(s.id)
    }

    private func stream(_ id: Int64) -> H3Stream {
        if let s = streams[id] { return s }
        let s = H3Stream(id: id)
        streams[id] = s
        return s
    }

    /// Builds an nghttp3_nv array over one buffer; nghttp3 copies the fields during the call.
    private static func withNameValues<R>(_ fields: [(String, String)], _ body: (UnsafePointer<nghttp3_nv>, Int) -> R) -> R {
        let encoded = fields.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        let total = encoded.reduce(0) { $0 + $1.0.count + $1.1.count }
        let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
        defer { storage.deallocate() }
        var nva: [nghttp3_nv] = []
        nva.reserveCapacity(encoded.count)
        var offset = 0
        for (name, value) in encoded {
            let n = storage + offset
            n.update(from: name, count: name.count)
            let v = n + name.count
            v.update(from: value, count: value.count)
            offset += name.count + value.count
            nva.append(nghttp3_nv(name: n, value: v, namelen: name.count, valuelen: value.count, flags: UInt8(NGHTTP3_NV_FLAG_NONE)))
        }
        return nva.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
    }

    // MARK: nghttp3 callbacks (only from inside our own calls into nghttp3)

    private static func from(_ userData: UnsafeMutableRawPointer?) -> HTTP3Connection {
        Unmanaged<HTTP3Connection>.fromOpaque(userData!).takeUnretainedValue()
    }

    private static func string(_ rcbuf: OpaquePointer?) -> String {
        guard let rcbuf else { return "" }
        let v = nghttp3_rcbuf_get_buf(rcbuf)
        return String(decoding: UnsafeBufferPointer(start: v.base, count: v.len), as: UTF8.self)
    }

    /// Hands out the outgoing body in pieces; the memory stays put until the stream is forgotten.
    private static let readData: nghttp3_read_data_callback = { _, id, vec, veccnt, flags, userData, _ in
        let c = HTTP3Connection.from(userData)
        guard let s = c.streams[id], let body = s.outgoing, let vec, veccnt > 0 else {
            flags?.pointee |= UInt32(NGHTTP3_DATA_FLAG_EOF)
            return 0
        }
        let n = min(HTTP3Connection.bodyPiece, body.count - s.outgoingOffset)
        if n > 0 {
            vec[0] = nghttp3_vec(base: body.base + s.outgoingOffset, len: n)
            s.outgoingOffset += n
        }
        if s.outgoingOffset == body.count { flags?.pointee |= UInt32(NGHTTP3_DATA_FLAG_EOF) }
        return n > 0 ? 1 : 0
    }

    /// user_data is the HTTP3Connection, unretained: nghttp3 calls back only
    /// while one of our methods is inside it, and deinit frees the nghttp3_conn.
    private static func callbacks() -> nghttp3_callbacks {
        var cb = nghttp3_callbacks()
        cb.acked_stream_data = { _, _, _, _, _ in 0 }   // bodies are freed with the stream state
        cb.stream_close = { _, id, code, userData, _ in
            HTTP3Connection.from(userData).closedByH3.append((id, code))
            return 0
        }
        cb.recv_data = { _, id, data, length, userData, _ in
            let c = HTTP3Connection.from(userData)
            let s = c.stream(id)
            guard let data, length > 0, s.refusal == nil else { return 0 }
            if c.quic.role == .server, let max = c.limits.maxBodyBytes, s.body.count + length > max {
                c.noteRefusal(s, .bodyTooLarge(limit: max))
                return 0
            }
            s.body.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
            return 0
        }
        cb.deferred_consume = { _, _, _, _, _ in 0 }   // credit already returned by QuicConnection.read
        cb.begin_headers = { _, id, userData, _ in
            let s = HTTP3Connection.from(userData).stream(id)
            s.headers.removeAll()   // a final response after 1xx ones replaces them
            return 0
        }
        cb.recv_header = { _, id, _, name, value, _, userData, _ in
            let c = HTTP3Connection.from(userData)
            let s = c.stream(id)
            if c.quic.role == .server {
                guard s.refusal == nil else { return 0 }
                let nameLength = name.map { nghttp3_rcbuf_get_buf($0).len } ?? 0, valueLength = value.map { nghttp3_rcbuf_get_buf($0).len } ?? 0
                s.headerBytes += nameLength + valueLength + 32
                if let max = c.limits.maxHeaderBytes, s.headerBytes > max { c.noteRefusal(s, .headersTooLarge(limit: max)); return 0 }
                if let max = c.limits.maxPathBytes, valueLength > max, HTTP3Connection.string(name) == ":path" {
                    c.noteRefusal(s, .pathTooLong(limit: max))
                    return 0
                }
            }
            let n = HTTP3Connection.string(name), v = HTTP3Connection.string(value)
            switch n {
            case ":method": s.method = v
            case ":path": s.path = v
            case ":authority": s.authority = v
            case ":scheme": s.scheme = v
            case ":status": s.status = Int(v) ?? 0
            default:
                // An announced body over the limit is refused before any of it arrives.
                if c.quic.role == .server, n == "content-length", let max = c.limits.maxBodyBytes, let announced = UInt64(v), announced > UInt64(max) {
                    c.noteRefusal(s, .bodyTooLarge(limit: max))
                    return 0
                }
                s.headers.append(HTTP3Header(n, v))
            }
            return 0
        }
        cb.end_headers = { _, _, _, _, _ in 0 }
        cb.begin_trailers = { _, _, _, _ in 0 }
        cb.recv_trailer = { _, _, _, _, _, _, _, _ in 0 }
        cb.end_trailers = { _, _, _, _, _ in 0 }
        cb.end_stream = { _, id, userData, _ in
            HTTP3Connection.from(userData).ended.append(id)
            return 0
        }
        cb.stop_sending = { _, id, code, userData, _ in
            try? HTTP3Connection.from(userData).quic.stopReceiving(stream: id, errorCode: code)
            return 0
        }
        cb.reset_stream = { _, id, code, userData, _ in
            try? HTTP3Connection.from(userData).quic.resetSending(stream: id, errorCode: code)
            return 0
        }
        cb.shutdown = { _, id, userData in
            HTTP3Connection.from(userData).goawayID = id
            return 0
        }
        return cb
    }
}

/// Per-stream HTTP/3 state: the message coming in, the body going out.
final class H3Stream {
    let id: Int64
    var method = "", path = "", authority = "", scheme = ""
    var status = 0
    var headers: [HTTP3Header] = []
    var body: [UInt8] = []
    var completion: HTTP3Connection.Completion?
    var outgoing: OutgoingBody?
    var outgoingOffset = 0
    /// Server side: when the request's first bytes arrived, its header bytes so far, why it was refused, whether it was answered.
    var startedAt: SimTime?
    var headerBytes = 0
    var refusal: HTTP3Refusal?
    var answered = false
    init(id: Int64) { self.id = id }
}

/// A body at a fixed address for nghttp3's data reader.
final class OutgoingBody {
    let base: UnsafeMutablePointer<UInt8>
    let count: Int
    init(_ bytes: [UInt8]) {
        count = bytes.count
        base = .allocate(capacity: max(count, 1))
        base.update(from: bytes, count: count)
    }
    deinit { base.deallocate() }
}

/// Serves HTTP/3 on every connection an endpoint accepts, with one handler.
public final class HTTP3Server {
    public var handler: HTTP3Connection.Handler
    /// Called when a connection ends, with its final metrics available on it.
    public var onConnectionClosed: ((QuicConnection, CloseReason) -> Void)?
    public private(set) var connections: [HTTP3Connection] = []
    private var servedByClosed = 0
    /// Bounds for every request and peer; new connections take the current value.
    public var limits = HTTP3ServerLimits()
    /// The answer to a refused request (default: `HTTP3Refusal.defaultResponse`).
    public var refusalResponse: ((HTTP3Refusal) -> HTTP3Response)?
    /// Connections closed at once because of `maxConnections` or `maxConnectionsPerPeer`.
    public private(set) var connectionsRefused = 0
    private var refusedByClosed = 0

    /// Requests answered by the server itself because they broke a limit.
    public var requestsRefused: Int { refusedByClosed + connections.reduce(0) { $0 + $1.refusedRequests } }

    /// Answers 408 every request on every connection incomplete for longer than `limits.requestTimeout`.
    /// The owner calls it periodically on the endpoint's clock (sans-IO: no timers here).
    public func expireStalledRequests(now: SimTime) {
        for h in connections { h.expireStalledRequests(now: now) }
    }

    public init(handler: @escaping HTTP3Connection.Handler) { self.handler = handler }

    /// Requests answered on all connections so far.
    public var requestsServed: Int { servedByClosed + connections.reduce(0) { $0 + $1.completedRequests } }

    /// Takes over `endpoint.onNewConnection`; the endpoint keeps this server
    /// alive from then on. (To talk to other HTTP/3 peers the endpoint's TLS
    /// configuration must accept ALPN "h3".)
    public func attach(to endpoint: QuicEndpoint) {
        endpoint.onNewConnection = { c in self.accept(c) }
    }

    /// Serves HTTP/3 on one accepted connection.
    public func accept(_ c: QuicConnection) {
        let live = connections.lazy.filter { !$0.quic.isClosed }
        var refusal: String?
        if let cap = limits.maxConnections, live.count >= cap { refusal = "more than \(cap) connections" }
        if let cap = limits.maxConnectionsPerPeer, live.filter({ $0.quic.remoteAddress.address == c.remoteAddress.address }).count >= cap {
            refusal = "more than \(cap) connections from \(c.remoteAddress.address)"
        }
        if let refusal {
            connectionsRefused += 1
            c.close(errorCode: UInt64(NGHTTP3_H3_EXCESSIVE_LOAD), reason: refusal)
            return
        }
        let h: HTTP3Connection
        do {
            h = try HTTP3Connection(server: c) { [weak self] request in
                self?.handler(request) ?? HTTP3Response(status: 503)
            }
        } catch {
            c.close(errorCode: UInt64(NGHTTP3_H3_INTERNAL_ERROR), reason: "\(error)")
            return
        }
        h.limits = limits
        h.refusalResponse = refusalResponse
        h.onEvent = { [weak self, weak h] event in
            guard let self, let h, case let .closed(reason) = event else { return }
            self.servedByClosed += h.completedRequests
            self.refusedByClosed += h.refusedRequests
            self.connections.removeAll { $0 === h }
            self.onConnectionClosed?(h.quic, reason)
        }
        connections.append(h)
    }
}

/// A handler serving the regular files under `root` (GET and HEAD): 200 with
/// the bytes; 400 for malformed paths, 403 for paths that lead outside the
/// root through a symbolic link, 404 when missing (see `ServedFile`); 405 for
/// other methods. Refusals carry the reason as a text body. Files are read
/// whole into memory.
public enum HTTP3FileHandler {
    public static func serving(root: String) -> HTTP3Connection.Handler {
        { request in
            guard request.method == "GET" || request.method == "HEAD" else {
                return HTTP3Response(status: 405, headers: [HTTP3Header("allow", "GET, HEAD")])
            }
            var path = Substring(request.path)
            if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<q] }
            let fd: Int32
            switch ServedFile.open(path, under: root) {
            case .success(let opened): fd = opened
            case .failure(let refusal):
                let status = refusal == .badPath ? 400 : refusal == .outsideRoot ? 403 : 404
                return HTTP3Response(status: status, headers: [HTTP3Header("content-type", "text/plain")],
                                     body: Array("\(refusal)\n".utf8))
            }
            defer { close(fd) }
            guard let bytes = ServedFile.readAll(fd) else {
                return HTTP3Response(status: 500, body: Array("read error\n".utf8))
            }
            let headers = [HTTP3Header("content-type", "application/octet-stream")]
            if request.method == "HEAD" {
                return HTTP3Response(status: 200, headers: headers + [HTTP3Header("content-length", String(bytes.count))])
            }
            return HTTP3Response(status: 200, headers: headers, body: bytes)
        }
    }
}
