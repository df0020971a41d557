#if canImport(Glibc)
import Glibc
#endif
import CStoq
import StoqEngine

/// One QUIC connection (client or server) over ngtcp2 + GnuTLS, sans-IO: it
/// takes datagrams and a time in and gives datagrams, events and a next
/// deadline out, through its `QuicEndpoint`. It never touches sockets or
/// clocks, and never calls the application: its events wait until the driver
/// takes them (`EndpointDriver`, or `poll()`).
///
/// Owns exactly one `ngtcp2_conn` and one GnuTLS session (via `TLSSession`),
/// both freed in `deinit`. Not thread-safe: use it from one thread.
public final class QuicConnection {
    public enum Role: Sendable { case client, server }

    public enum State: Equatable, Sendable {
        case handshaking
        case established
        case closed(CloseReason)
    }

    public let role: Role
    // Small fields together: stored properties are laid out in declaration
    // order, and every connection pays for padding between them.
    /// Set when something may be waiting to be written; the endpoint keeps a list.
    var needsTransmit = false
    /// Whether the endpoint's transmit list holds us (so adding is O(1)).
    var inTransmitList = false
    /// Whether the endpoint's list of connections with events holds us.
    var awaitingDelivery = false
    /// `deadline` changed since the endpoint last put it in its heap.
    var deadlineMoved = false
    /// The endpoint has dropped our connection IDs (after we closed).
    var closeNoted = false
    public private(set) var handshakeConfirmed = false
    private let countLostPackets: Bool
    /// Whether ngtcp2's pacer spaces packets (`TransportConfiguration.pacing`).
    private let pacing: Bool
    /// Where this connection's qlog goes (`run --qlog`); nil writes none.
    var qlogSink: QlogSink?
    public let localAddress: SocketAddress
    public let remoteAddress: SocketAddress
    /// The name the client dialled and verifies (nil on servers).
    public let serverName: String?
    public private(set) var state: State = .handshaking
    /// The application's handler: the driver hands it every event after the
    /// call that produced it returned, looking it up per event (a handler may
    /// replace itself, and the next event goes to its successor). Without a
    /// handler, events are kept for `poll()` / `pollEvents()`.
    public var onEvent: ((ConnectionEvent) -> Void)?

    // ngtcp2 / GnuTLS objects, owned here alone.
    private var conn: OpaquePointer?
    private var tls: TLSSession?
    /// C state at fixed addresses, in one allocation (see `NativeState`).
    private let native: UnsafeMutablePointer<NativeState>
    private var connRef: UnsafeMutablePointer<ngtcp2_crypto_conn_ref> { native.pointer(to: \.connRef)! }
    private var path: UnsafeMutablePointer<ngtcp2_path_storage> { native.pointer(to: \.path)! }
    /// Entries of the gather list the endpoint lends to `transmit`.
    static let maxVecs = 16
    private static let sendChunkSize = 64 << 10

    /// What we share with our endpoint: its transmit queue, random stream,
    /// event buffers and the CID changes it applies after each call into us.
    /// Not the endpoint itself: nothing here calls back into it.
    let shared: EndpointState
    /// Our entries in the endpoint's CID table (it drops them when we close).
    var registeredIDs: [ConnectionIDKey] = []
    /// ngtcp2's next timer, cached after every call into it.
    private(set) var deadline: SimTime? {
        // The endpoint keeps connections' deadlines in a heap and moves us after the call.
        didSet { if deadline != oldValue { deadlineMoved = true } }
    }
    /// This connection's index in the endpoint's deadline heap; -1 when not in it.
    /// (Int32: it fits in the padding after `deadline`.)
    var deadlineSlot: Int32 = -1
    /// Creation order within the endpoint: due timers run in this order (deterministic).
    var creationIndex = 0

    private var ts: UInt64 = 0
    /// The time of the latest call into the connection (datagram in, deadline, transmit).
    var lastCallTime: SimTime { SimTime(nanosecondsSinceStart: Int64(clamping: ts > Self.timestampOffset ? ts - Self.timestampOffset : 0)) }
    private var events: [ConnectionEvent] = []
    private var streams: [Int64: StreamState] = [:]
    private var lastStream: StreamState?
    private var sendQueue: [StreamState] = []
    private var pendingClose: PendingClose?
    /// Boxed: most connections neither resume nor update keys on a schedule.
    private var resumption: ResumptionAttempt?
    private var keyUpdateSchedule: KeyUpdateSchedule?

    private var handshakeStarted: SimTime
    private var handshakeCompletedAt: SimTime?
    private var keyUpdates: Int32 = 0   // fits in the padding after the optional above
    private var bytesSent: UInt64 = 0
    /// UDP payload bytes fed to ngtcp2 so far (as `metrics.bytesReceived`, without building the metrics).
    public private(set) var bytesReceived: UInt64 = 0
    private var datagramsSent: UInt64 = 0, datagramsReceived: UInt64 = 0
    private var packetsLost: UInt64 = 0
    private var closedStreamLosses: UInt64 = 0
    private var streamBytesWritten: UInt64 = 0, streamBytesRead: UInt64 = 0

    /// ngtcp2 timestamps are `SimTime` nanoseconds plus this offset: ngtcp2 uses
    /// 0 as "unset" in places, and SimTime starts at 0.
    static let timestampOffset: UInt64 = 1_000_000_000

    // MARK: Creation

    private init(role: Role, shared: EndpointState, local: SocketAddress, remote: SocketAddress, serverName: String?,
                 now: SimTime, config: TransportConfiguration) {
        self.role = role
        self.shared = shared
        self.pacing = config.pacing
        if let interval = config.keyUpdateInterval { keyUpdateSchedule = KeyUpdateSchedule(interval: interval) }
        self.localAddress = local
        self.remoteAddress = remote
        self.serverName = serverName
        self.handshakeStarted = now
        self.countLostPackets = config.countLostPackets
        native = .allocate(capacity: 1)
        native.initialize(to: NativeState())
        ts = Self.timestamp(now)
        var localSA = local.sockaddr, remoteSA = remote.sockaddr
        let len = ngtcp2_socklen(MemoryLayout<sockaddr_in6>.size)
        withUnsafePointer(to: &localSA) { l in
            withUnsafePointer(to: &remoteSA) { r in
                l.withMemoryRebound(to: ngtcp2_sockaddr.self, capacity: 1) { l in
                    r.withMemoryRebound(to: ngtcp2_sockaddr.self, capacity: 1) { r in
                        ngtcp2_path_storage_init(path, l, len, r, len, nil)
                    }
                }
            }
        }
    }

    deinit {
        if let conn { ngtcp2_conn_del(conn) }
        qlogSink?.finish()
        tls = nil   // after the ngtcp2_conn: it holds the session as its native handle
        native.deallocate()
    }

    /// A client connection; the endpoint registers its connection IDs.
    static func client(endpoint: QuicEndpoint, remote: SocketAddress, serverName: String,
                       tlsConfig: ClientTLSConfiguration, configuration: TransportConfiguration? = nil,
                       label: String? = nil, now: SimTime) throws -> QuicConnection {
        let config = configuration ?? endpoint.configuration
        let c = QuicConnection(role: .client, shared: endpoint.shared, local: endpoint.localAddress, remote: remote,
                               serverName: serverName, now: now, config: config)
        c.qlogSink = endpoint.qlogSink?(.client, label)
        let credentials: TLSCredentials
        var verify = false
        switch tlsConfig.verification {
        case let .verify(trustAnchors): credentials = trustAnchors; verify = true
        case .insecureSkipVerificationForLocalTesting: credentials = try endpoint.emptyClientCredentials()
        }
        c.installConnRef()
        c.certificateEpochUnixMilliseconds = tlsConfig.certificateEpochUnixMilliseconds
        // Resumption: an earlier session with this server, and a place for the tickets this one brings.
        let resumptionKey = config.resumption ? ResumptionKey(remote: remote, serverName: serverName, alpn: tlsConfig.alpn) : nil
        let earlier = resumptionKey.flatMap { endpoint.shared.resumableSession(for: $0) }
        if let resumptionKey { c.resumption = ResumptionAttempt(key: resumptionKey, offered: earlier != nil) }
        c.tls = try TLSSession(isServer: false, credentials: credentials, priority: endpoint.priority, alpn: tlsConfig.alpn,
                               serverName: serverName, verify: verify, resumeFrom: earlier?.sessionData,
                               captureTickets: resumptionKey != nil, connRef: c.connRef)
        var dcid = endpoint.shared.makeConnectionID(length: 18)
        var scid = endpoint.shared.makeConnectionID(length: config.connectionIDLength)
        var settings = c.makeSettings(config, now: now, qlogODCID: dcid)
        var params = Self.makeParams(config)
        var callbacks = Self.callbacks(server: false)
        var pconn: OpaquePointer?
        let rv = cstoq_ngtcp2_conn_client_new(&pconn, &dcid, &scid, &c.path.pointee.path, NGTCP2_PROTO_VER_V1,
                                              &callbacks, &settings, &params, Unmanaged.passUnretained(c).toOpaque())
        guard rv == 0, let pconn else { throw TransportError.ngtcp2("ngtcp2_conn_client_new", rv) }
        c.conn = pconn
        ngtcp2_conn_set_tls_native_handle(pconn, UnsafeMutableRawPointer(c.tls!.handle))
        if let keepAlive = config.keepAlive { ngtcp2_conn_set_keep_alive_timeout(pconn, UInt64(keepAlive.nanoseconds)) }
        if let earlier {
            // The server's remembered limits let streams open and carry 0-RTT data before it answers.
            var remembered = earlier.parameters.ngtcp2
            cstoq_ngtcp2_conn_set_early_remote_transport_params(pconn, &remembered)
        }
        endpoint.register(ConnectionIDKey(scid), for: c)
        c.needsTransmit = true
        c.refreshDeadline()
        return c
    }

    /// A server connection for a client's first Initial (already checked by ngtcp2_accept).
    static func server(endpoint: QuicEndpoint, remote: SocketAddress, header hd: ngtcp2_pkt_hd,
                       tlsConfig: ServerTLSConfiguration, now: SimTime) throws -> QuicConnection {
        let config = endpoint.configuration
        let c = QuicConnection(role: .server, shared: endpoint.shared, local: endpoint.localAddress, remote: remote,
                               serverName: nil, now: now, config: config)
        c.qlogSink = endpoint.qlogSink?(.server, nil)
        c.installConnRef()
        // A client's certificate is verified inside read_pkt too: on the simulated timeline if configured.
        c.certificateEpochUnixMilliseconds = tlsConfig.certificateEpochUnixMilliseconds
        c.tls = try TLSSession(isServer: true, credentials: tlsConfig.credentials, priority: endpoint.priority,
                               alpn: tlsConfig.alpn, serverName: nil, verify: false, clientCertificates: tlsConfig.clientCertificates,
                               tickets: try endpoint.sessionTicketIssuer(), connRef: c.connRef)
        var header = hd
        // Our first CID, the client's original DCID and the one NEW_CONNECTION_ID: exactly sized.
        c.registeredIDs.reserveCapacity(3)
        var scid = endpoint.shared.makeConnectionID(length: config.connectionIDLength)
        var settings = c.makeSettings(config, now: now, qlogODCID: header.dcid)
        var params = Self.makeParams(config)
        params.original_dcid = header.dcid   // mandatory for servers (RFC 9000 §7.3)
        var callbacks = Self.callbacks(server: true)
        var pconn: OpaquePointer?
        let rv = cstoq_ngtcp2_conn_server_new(&pconn, &header.scid, &scid, &c.path.pointee.path, header.version,
                                              &callbacks, &settings, &params, Unmanaged.passUnretained(c).toOpaque())
        guard rv == 0, let pconn else { throw TransportError.ngtcp2("ngtcp2_conn_server_new", rv) }
        c.conn = pconn
        ngtcp2_conn_set_tls_native_handle(pconn, UnsafeMutableRawPointer(c.tls!.handle))
        endpoint.register(ConnectionIDKey(scid), for: c)
        // The client keeps using the original DCID until our first packet reaches it.
        endpoint.register(ConnectionIDKey(header.dcid), for: c)
        return c
    }

    /// GnuTLS hands ngtcp2_crypto_gnutls this struct; its user_data is us, unretained:
    /// GnuTLS only calls back while one of our methods is inside ngtcp2, so we are alive.
    private func installConnRef() {
        connRef.pointee.user_data = Unmanaged.passUnretained(self).toOpaque()
        connRef.pointee.get_conn = { ref in
            Unmanaged<QuicConnection>.fromOpaque(ref!.pointee.user_data).takeUnretainedValue().conn
        }
    }

    private func makeSettings(_ config: TransportConfiguration, now: SimTime, qlogODCID: ngtcp2_cid) -> ngtcp2_settings {
        var s = ngtcp2_settings()
        cstoq_ngtcp2_settings_default(&s)
        s.initial_ts = Self.timestamp(now)
        s.max_tx_udp_payload_size = config.maxUDPPayloadSize
        s.max_window = config.maxConnectionWindow
        s.max_stream_window = config.maxStreamWindow
        s.initial_rtt = UInt64(max(1, config.initialRTT.nanoseconds))
        switch config.congestionControl {
        case .reno: s.cc_algo = NGTCP2_CC_ALGO_RENO
        case .cubic: s.cc_algo = NGTCP2_CC_ALGO_CUBIC
        case .bbr: s.cc_algo = NGTCP2_CC_ALGO_BBR
        case .bbr2: s.cc_algo = NGTCP2_CC_ALGO_BBR2
        }
        // The rand callback finds the endpoint's seeded stream through us (unretained, as above).
        s.rand_ctx.native_handle = Unmanaged.passUnretained(self).toOpaque()
        if countLostPackets || qlogSink != nil {
            s.qlog.odcid = qlogODCID
            s.qlog.write = { userData, flags, data, length in
                guard let userData, let data else { return }
                let c = Unmanaged<QuicConnection>.fromOpaque(userData).takeUnretainedValue()
                let chunk = UnsafeRawBufferPointer(start: data, count: length)
                if c.countLostPackets, QuicConnection.contains(chunk, QuicConnection.packetLostMarker) {
                    c.packetsLost += 1
                }
                if let sink = c.qlogSink {
                    sink.write(chunk)
                    if flags & UInt32(NGTCP2_QLOG_WRITE_FLAG_FIN) != 0 { sink.finish() }
                }
            }
        }
        return s
    }

    private static let packetLostMarker = Array("recovery:packet_lost".utf8)

    /// Whether `needle` occurs in `haystack` (glibc's memmem: every qlog chunk is searched).
    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard let base = haystack.baseAddress else { return false }
        return needle.withUnsafeBytes { cstoq_contains(base, haystack.count, $0.baseAddress, $0.count) != 0 }
    }

    private static func makeParams(_ config: TransportConfiguration) -> ngtcp2_transport_params {
        var p = ngtcp2_transport_params()
        cstoq_ngtcp2_transport_params_default(&p)
        p.initial_max_stream_data_bidi_local = config.initialStreamWindow
        p.initial_max_stream_data_bidi_remote = config.initialStreamWindow
        p.initial_max_stream_data_uni = config.initialStreamWindow
        p.initial_max_data = config.initialConnectionWindow
        p.initial_max_streams_bidi = config.maxBidirectionalStreams
        p.initial_max_streams_uni = config.maxUnidirectionalStreams
        p.max_idle_timeout = UInt64(max(0, config.idleTimeout.nanoseconds))
        p.max_ack_delay = UInt64(max(0, config.maxAckDelay.nanoseconds))
        p.ack_delay_exponent = config.ackDelayExponent
        return p
    }

    static func timestamp(_ t: SimTime) -> UInt64 { UInt64(max(0, t.nanosecondsSinceStart)) &+ timestampOffset }

    // MARK: Public API

    public var isHandshakeComplete: Bool { handshakeCompletedAt != nil }
    /// Whether this client connection offered an earlier session's ticket, so
    /// streams may open and carry 0-RTT data before the handshake completes.
    public var configurationResumes: Bool { resumption?.offered == true }
    /// Whether the handshake resumed an earlier session with a ticket
    /// (`TransportConfiguration.resumption`); known once it completed.
    public var isResumed: Bool { isHandshakeComplete && (tls?.isResumed ?? false) }
    /// Whether data sent in 0-RTT was taken (client: the server accepted
    /// early data; server: early data arrived and was accepted); nil before the
    /// handshake completed or when no earlier session was offered (client).
    public var earlyDataAccepted: Bool? {
        guard isHandshakeComplete, role == .server || resumption?.offered == true else { return nil }
        return tls?.earlyDataAccepted
    }
    public var isClosed: Bool { if case .closed = state { return true } else { return false } }

    /// The ALPN protocol both sides agreed on (after the handshake).
    public var negotiatedALPN: String? { tls?.selectedALPN }
    /// The peer's certificate (DER) as presented in the handshake, if it sent one.
    public var peerCertificate: [UInt8]? { tls?.peerCertificateDER }
    /// Client connections whose configuration dates certificate checks on a simulated timeline.
    private var certificateEpochUnixMilliseconds: Int64?

    /// Events not yet taken (kept while `onEvent` is nil), all at once.
    public func pollEvents() -> [ConnectionEvent] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// The oldest event not yet taken, for an application that drives the
    /// connection itself instead of setting `onEvent`.
    public func poll() -> ConnectionEvent? { events.isEmpty ? nil : events.removeFirst() }

    /// The transport settings of our endpoint (e.g. the stream limit it offers peers).
    public var endpointConfiguration: TransportConfiguration { shared.configuration }

    /// Opens a stream we initiate. Throws `.streamLimitReached` while the peer's limit is used up.
    public func openStream(bidirectional: Bool = true) throws -> Int64 {
        guard let conn, !isClosed else { throw TransportError.connectionClosed }
        var id: Int64 = -1
        let rv = bidirectional ? ngtcp2_conn_open_bidi_stream(conn, &id, nil) : ngtcp2_conn_open_uni_stream(conn, &id, nil)
        if rv == NGTCP2_ERR_STREAM_ID_BLOCKED { throw TransportError.streamLimitReached(bidirectional: bidirectional) }
        if rv != 0 { throw TransportError.ngtcp2(bidirectional ? "ngtcp2_conn_open_bidi_stream" : "ngtcp2_conn_open_uni_stream", rv) }
        streams[id] = StreamState(id: id)
        return id
    }

    /// Queues `bytes` on a stream (copied; freed once the peer acknowledges them).
    /// `fin` ends our side of the stream after these bytes. The whole of
    /// `bytes` is taken whatever the send buffer holds: a writer of more than
    /// a message should write `writableBytes(stream:)` at a time and go on at
    /// `.streamWritable`.
    public func write<C: Collection>(stream id: Int64, _ bytes: C, fin: Bool = false) throws where C.Element == UInt8 {
        let s = try writableStream(id)
        // Copied in pieces below glibc's mmap threshold, so freed pieces are reused
        // from the heap instead of costing an mmap, page faults and munmap each.
        var rest = bytes[...]
        while !rest.isEmpty {
            let piece = rest.prefix(Self.sendChunkSize)
            s.appendChunk(SendChunk(copying: piece, offset: s.queuedOffset))
            rest = rest[piece.endIndex...]
        }
        queued(bytes.count, on: s, fin: fin)
    }

    /// Queues `count` bytes that `fill` writes in place (each call fills one
    /// piece of the buffer ngtcp2 will send from; together they are the
    /// `count` bytes in order): a producer makes its payload straight into the
    /// send buffer, with no copy. `fin` ends our side after them.
    public func write(stream id: Int64, count: Int, fin: Bool = false,
                      fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        let s = try writableStream(id)
        var left = max(0, count)
        while left > 0 {
            let n = min(left, Self.sendChunkSize)
            let chunk = SendChunk(count: n, offset: s.queuedOffset)
            try fill(UnsafeMutableRawBufferPointer(start: chunk.base, count: n))
            s.appendChunk(chunk)
            left -= n
        }
        queued(count, on: s, fin: fin)
    }

    private func writableStream(_ id: Int64) throws -> StreamState {
        guard !isClosed else { throw TransportError.connectionClosed }
        guard let s = existingStream(id), !s.finQueued else { throw TransportError.unknownStream(id) }
        return s
    }

    private func queued(_ count: Int, on s: StreamState, fin: Bool) {
        streamBytesWritten += UInt64(count)
        if fin { s.finQueued = true }
        // A full buffer: the writer waits for `.streamWritable`, raised once it has drained to half.
        if s.unsentBytes >= streamSendBufferSize { s.wantsWritable = true }
        if s.finQueued { s.wantsWritable = false }
        if !s.inSendQueue && !s.blocked { s.inSendQueue = true; sendQueue.append(s) }
        needsTransmit = true
        shared.noteNeedsTransmit(self)
    }

    /// Ends our side of a stream without more data.
    public func finish(stream id: Int64) throws { try write(stream: id, EmptyCollection<UInt8>(), fin: true) }

    /// Unsent bytes a stream may hold before it counts as full (`writableBytes`
    /// is 0 and `.streamWritable` follows once half of it is sent). Bytes sent
    /// and not yet acknowledged are held too, but those the congestion and
    /// flow-control windows bound. The default keeps a 2.5 Gbit/s link busy
    /// between two transmit turns many times over.
    public var streamSendBufferSize = 1 << 20

    /// How many more bytes a stream's send buffer takes before it is full;
    /// 0 for streams we cannot write (unknown, finished, or the connection closed).
    public func writableBytes(stream id: Int64) -> Int {
        guard !isClosed, let s = existingStream(id), !s.finQueued else { return 0 }
        return max(0, streamSendBufferSize - s.unsentBytes)
    }

    /// Application bytes the connection holds for sending: unsent, or sent and
    /// not yet acknowledged (ngtcp2 resends from them), over all streams.
    public var bufferedSendBytes: Int { streams.values.reduce(0) { $0 + $1.heldBytes } }

    /// Takes the bytes received so far on a stream, and hands the same amount
    /// of credit back to the peer: a reader that stops reading stalls its sender
    /// once the window is used up. `fin` is true once the peer's last byte is in `bytes` or before.
    /// The bytes are copied out (one exactly sized array): the stream keeps
    /// its receive buffer for the next arrivals instead of growing a new one
    /// per read. Readers that can work in place use `withReadableBytes`.
    public func read(stream id: Int64) -> (bytes: [UInt8], fin: Bool) {
        var out: [UInt8] = []
        let (_, fin) = withReadableBytes(stream: id) { bytes, _ in
            out = Array(bytes)
            return bytes.count
        }
        return (out, fin)
    }

    /// Reads in place: lends `body` the bytes received so far on a stream (valid
    /// during the call only) and whether the peer's end follows them; `body`
    /// returns how many it consumed from the front. Consumed bytes are dropped
    /// and their credit goes back to the peer, as with `read`; the rest stay
    /// for the next call, which a `.streamReadable` announces when more
    /// arrives (consume 0 to wait for a whole header). Returns the bytes
    /// consumed, and whether that reached the peer's end.
    @discardableResult
    public func withReadableBytes(stream id: Int64,
                                  _ body: (UnsafeRawBufferPointer, _ fin: Bool) throws -> Int) rethrows -> (count: Int, fin: Bool) {
        guard let s = existingStream(id) else { return (0, false) }
        let wanted = try s.received.withUnsafeBytes { try body($0, s.receivedFin && s.uncopied == 0) }
        return consume(s, min(max(0, wanted), s.received.count))
    }

    /// Drops up to `count` received bytes of a stream unread (all by default),
    /// returning their credit: for readers that only count. Returns the bytes
    /// dropped, and whether that reached the peer's end.
    @discardableResult
    public func discard(stream id: Int64, count: Int = .max) -> (count: Int, fin: Bool) {
        guard let s = existingStream(id) else { return (0, false) }
        let kept = min(max(0, count), s.received.count)
        return consume(s, kept, uncopied: min(max(0, count) - kept, s.uncopied))
    }

    /// From now on the stream's arriving bytes are only counted, never copied
    /// out of their packets: for a reader that counts and nothing else (a
    /// sink). `discard` consumes them and returns their credit as before, so
    /// the peer still sends no faster than this reader goes; `read` and
    /// `withReadableBytes` see only bytes that arrived before.
    public func discardArriving(stream id: Int64) {
        existingStream(id)?.keepsArriving = false
    }

    /// Drops the first `n` kept and `uncopied` counted bytes, returns their credit, and re-arms `.streamReadable`.
    private func consume(_ s: StreamState, _ n: Int, uncopied: Int = 0) -> (count: Int, fin: Bool) {
        if n == s.received.count {
            // A small buffer is kept for the next packet's bytes; a big one (a burst) is let go.
            s.received.removeAll(keepingCapacity: s.received.capacity <= Self.keptReceiveCapacity)
        } else if n > 0 {
            s.received.removeFirst(n)
        }
        s.uncopied -= uncopied
        s.readableNotified = false
        let fin = s.receivedFin && !s.hasUnread
        if fin { s.finRead = true }
        giveCredit(s, n + uncopied)
        forgetIfDone(s)
        return (n + uncopied, fin)
    }

    private static let keptReceiveCapacity = 256 << 10

    /// Abandons a stream in both directions with an application error code (RESET_STREAM + STOP_SENDING).
    public func resetStream(_ id: Int64, errorCode: UInt64) throws {
        guard let conn, !isClosed else { throw TransportError.connectionClosed }
        let rv = ngtcp2_conn_shutdown_stream(conn, id, errorCode)
        if rv != 0 { throw TransportError.ngtcp2("ngtcp2_conn_shutdown_stream", rv) }
        if let s = existingStream(id), s.inSendQueue, let i = sendQueue.firstIndex(where: { $0 === s }) { dequeue(at: i) }
        needsTransmit = true
        shared.noteNeedsTransmit(self)
    }

    /// Abandons our sending side only (RESET_STREAM with `errorCode`); reading goes on.
    public func resetSending(stream id: Int64, errorCode: UInt64) throws {
        guard let conn, !isClosed else { throw TransportError.connectionClosed }
        let rv = ngtcp2_conn_shutdown_stream_write(conn, id, errorCode)
        if rv != 0 { throw TransportError.ngtcp2("ngtcp2_conn_shutdown_stream_write", rv) }
        if let s = existingStream(id) {
            s.finQueued = true   // no more writes
            if s.inSendQueue, let i = sendQueue.firstIndex(where: { $0 === s }) { dequeue(at: i) }
        }
        needsTransmit = true
        shared.noteNeedsTransmit(self)
    }

    /// Asks the peer to stop sending (STOP_SENDING with `errorCode`); our sending side goes on.
    public func stopReceiving(stream id: Int64, errorCode: UInt64) throws {
        guard let conn, !isClosed else { throw TransportError.connectionClosed }
        let rv = ngtcp2_conn_shutdown_stream_read(conn, id, errorCode)
        if rv != 0 { throw TransportError.ngtcp2("ngtcp2_conn_shutdown_stream_read", rv) }
        needsTransmit = true
        shared.noteNeedsTransmit(self)
    }

    /// Called after every transmit turn (the driver calls it right after the
    /// endpoint handed out this connection's datagrams and their events went
    /// out): `unsentBytes` may have dropped, so a layer above that holds data
    /// back (HTTP3Connection) can top streams up again. It may write; the
    /// driver's transmit loop picks that up in the same turn.
    public var onTransmitted: (() -> Void)?

    /// Bytes written to a stream that ngtcp2 has not taken yet: writers keep this
    /// bounded instead of queueing a whole file.
    public func unsentBytes(stream id: Int64) -> Int {
        existingStream(id)?.unsentBytes ?? 0
    }

    /// Streams with readable data or an unread end.
    public var readableStreams: [Int64] { streams.values.filter { $0.hasUnread || ($0.receivedFin && !$0.finRead) }.map(\.id).sorted() }

    /// Starts a QUIC key update (allowed once the handshake is confirmed and the previous update finished).
    public func initiateKeyUpdate(at now: SimTime) throws {
        guard let conn, !isClosed else { throw TransportError.connectionClosed }
        // ngtcp2 asserts (aborts) if asked before confirmation: refuse here instead.
        guard handshakeConfirmed else {
            throw TransportError.quic(operation: "ngtcp2_conn_initiate_key_update", code: NGTCP2_ERR_INVALID_STATE,
                                      message: "key updates are allowed only after the handshake is confirmed (.handshakeConfirmed)")
        }
        ts = Self.timestamp(now)
        let rv = ngtcp2_conn_initiate_key_update(conn, ts)
        if rv != 0 { throw TransportError.ngtcp2("ngtcp2_conn_initiate_key_update", rv) }
        needsTransmit = true
        shared.noteNeedsTransmit(self)
    }

    /// Closes with an application error code the peer will see; the CONNECTION_CLOSE goes out on the next transmit.
    public func close(errorCode: UInt64 = 0, reason: String = "") {
        guard !isClosed, pendingClose == nil, conn != nil else { return }
        pendingClose = PendingClose(applicationError: errorCode, reason: reason)
        needsTransmit = true
        shared.noteNeedsTransmit(self)
    }

    public var metrics: ConnectionMetrics {
        var stat = ngtcp2_conn_stat()
        if let conn { cstoq_ngtcp2_conn_get_conn_stat(conn, &stat) }
        var liveLosses: UInt64 = 0
        if let conn { for id in streams.keys { liveLosses += UInt64(ngtcp2_conn_get_stream_loss_count(conn, id)) } }
        func d(_ ns: UInt64) -> SimDuration { .nanoseconds(Int64(clamping: ns)) }
        return ConnectionMetrics(
            handshakeStarted: handshakeStarted, handshakeCompleted: handshakeCompletedAt,
            smoothedRTT: d(stat.smoothed_rtt), minRTT: d(stat.min_rtt == UInt64.max ? 0 : stat.min_rtt),
            rttVariance: d(stat.rttvar), latestRTT: d(stat.latest_rtt),
            congestionWindow: stat.cwnd, bytesInFlight: stat.bytes_in_flight, ptoCount: stat.pto_count,
            bytesSent: bytesSent, bytesReceived: bytesReceived,
            datagramsSent: datagramsSent, datagramsReceived: datagramsReceived,
            packetsLost: countLostPackets ? packetsLost : nil,
            streamPacketsRetransmitted: closedStreamLosses + liveLosses,
            streamBytesWritten: streamBytesWritten, streamBytesRead: streamBytesRead,
            keyUpdates: Int(keyUpdates))
    }

    // MARK: Driven by the endpoint (which settles its bookkeeping after each call)

    /// Feeds one received UDP payload to ngtcp2.
    func receive(_ packet: UnsafeRawBufferPointer, at now: SimTime) {
        guard let conn, !isClosed, let base = packet.baseAddress else { return }
        ts = Self.timestamp(now)
        bytesReceived += UInt64(packet.count)
        datagramsReceived += 1
        // The peer's certificate is verified inside read_pkt: on the simulated timeline if configured.
        let rv = withTLSClock(at: now) {
            cstoq_ngtcp2_conn_read_pkt(conn, &path.pointee.path, base.assumingMemoryBound(to: UInt8.self), packet.count, ts)
        }
        if rv != 0 { handleFailure(rv, operation: "ngtcp2_conn_read_pkt") }
        needsTransmit = true
        refreshDeadline()
    }

    /// GnuTLS reads its clock inside ngtcp2 calls (certificate dates, ticket
    /// ages): on the simulated timeline when the configuration dates
    /// certificates on it, the machine's clock otherwise.
    private func withTLSClock<R>(at now: SimTime, _ body: () -> R) -> R {
        guard let epoch = certificateEpochUnixMilliseconds else { return body() }
        cstoq_tls_set_clock((epoch + now.nanosecondsSinceStart / 1_000_000) / 1000)
        defer { cstoq_tls_set_clock(-1) }
        return body()
    }

    /// Runs ngtcp2's timers (loss detection, ACK delay, idle, pacing) and a
    /// scheduled key update when due.
    func handleDeadline(at now: SimTime) {
        guard let conn, !isClosed else { return }
        ts = Self.timestamp(now)
        if let schedule = keyUpdateSchedule, let due = schedule.next, due <= now {
            // Refused while the previous update is unfinished: try again an interval later.
            _ = ngtcp2_conn_initiate_key_update(conn, ts)
            schedule.next = now + schedule.interval
        }
        let rv = ngtcp2_conn_handle_expiry(conn, ts)
        if rv != 0 { handleFailure(Int32(rv), operation: "ngtcp2_conn_handle_expiry") }
        needsTransmit = true
        refreshDeadline()
    }

    /// Writes what ngtcp2 has to send into `buffer`, calling `emit` with each
    /// datagram's length. `vecs` (`maxVecs` entries) is scratch for the gather list.
    func transmit(at now: SimTime, buffer: UnsafeMutablePointer<UInt8>, capacity: Int,
                  vecs: UnsafeMutablePointer<ngtcp2_vec>, emit: (Int) -> Void) {
        needsTransmit = false
        guard let conn, !isClosed else { return }
        ts = Self.timestamp(now)
        if let close = pendingClose {
            var ccerr = close.ccerr
            let n = cstoq_ngtcp2_conn_write_connection_close(conn, nil, buffer, capacity, &ccerr, ts)
            if n > 0 { sent(Int(n), emit) }
            finish(close.reason)
            return
        }
        // The client's first flight carries a ticket's age: GnuTLS dates it on the run's clock too.
        if !isHandshakeComplete && certificateEpochUnixMilliseconds != nil {
            return withTLSClock(at: now) { writePackets(conn, now: now, buffer: buffer, capacity: capacity, vecs: vecs, emit: emit) }
        }
        writePackets(conn, now: now, buffer: buffer, capacity: capacity, vecs: vecs, emit: emit)
    }

    private func writePackets(_ conn: OpaquePointer, now: SimTime, buffer: UnsafeMutablePointer<UInt8>, capacity: Int,
                              vecs: UnsafeMutablePointer<ngtcp2_vec>, emit: (Int) -> Void) {
        // Paced: a send quantum per turn, and ngtcp2's pacer sets the next turn.
        // Unpaced: everything the congestion window allows, at once.
        let maxPackets = pacing
            ? max(1, min(64, ngtcp2_conn_get_send_quantum(conn) / max(1, ngtcp2_conn_get_max_tx_udp_payload_size(conn))))
            : Int.max
        var packets = 0
        var queueIndex = 0
        while packets < maxPackets {
            var stream: StreamState?
            if queueIndex < sendQueue.count { stream = sendQueue[queueIndex] }
            var flags = UInt32(NGTCP2_WRITE_STREAM_FLAG_MORE)
            var vecCount = 0
            var reachesEnd = true
            if let s = stream {
                (vecCount, reachesEnd) = s.gather(into: vecs, max: Self.maxVecs, bytesWanted: capacity)
                if reachesEnd && s.finQueued && !s.finSent { flags |= UInt32(NGTCP2_WRITE_STREAM_FLAG_FIN) }
            }
            var accepted: ngtcp2_ssize = -1
            let n = cstoq_ngtcp2_conn_writev_stream(conn, nil, buffer, capacity, &accepted, flags,
                                                    stream?.id ?? -1, vecs, vecCount, ts)
            if let s = stream, accepted >= 0 { sent(accepted, of: s, fin: flags & UInt32(NGTCP2_WRITE_STREAM_FLAG_FIN) != 0) }
            if n < 0 {
                switch Int32(n) {
                case NGTCP2_ERR_WRITE_MORE:
                    // The packet has room for more: move on to the next stream or close the packet.
                    if let s = stream, !s.hasUnsent { dequeue(at: queueIndex) } else { queueIndex += 1 }
                    continue
                case NGTCP2_ERR_STREAM_DATA_BLOCKED:
                    stream?.blocked = true
                    dequeue(at: queueIndex)
                    continue
                case NGTCP2_ERR_STREAM_SHUT_WR, NGTCP2_ERR_STREAM_NOT_FOUND:
                    dequeue(at: queueIndex)
                    continue
                default:
                    handleFailure(Int32(n), operation: "ngtcp2_conn_writev_stream")
                    if let close = pendingClose {   // send the CONNECTION_CLOSE the failure queued
                        var ccerr = close.ccerr
                        let m = cstoq_ngtcp2_conn_write_connection_close(conn, nil, buffer, capacity, &ccerr, ts)
                        if m > 0 { sent(Int(m), emit) }
                        finish(close.reason)
                    }
                    return
                }
            }
            if let s = stream, !s.hasUnsent { dequeue(at: queueIndex) }
            if n == 0 { break }   // congestion, flow control or pacing limited, or nothing left
            sent(Int(n), emit)
            packets += 1
            queueIndex = 0
            // Round robin between streams, one packet at a time.
            if sendQueue.count > 1, let s = stream, s.inSendQueue, sendQueue.first === s {
                sendQueue.append(sendQueue.removeFirst())
            }
        }
        if pacing { ngtcp2_conn_update_pkt_tx_time(conn, ts) }
        refreshDeadline()
    }

    /// ngtcp2 took `accepted` more bytes of `s` (and its FIN with them if `fin`):
    /// a writer waiting on a full buffer hears once it has drained to half.
    private func sent(_ accepted: ngtcp2_ssize, of s: StreamState, fin: Bool) {
        s.sentOffset += UInt64(accepted)
        if fin && s.sentOffset == s.queuedOffset { s.finSent = true }
        if s.wantsWritable && s.unsentBytes <= streamSendBufferSize / 2 {
            s.wantsWritable = false
            appendEvent(.streamWritable(s.id))
        }
    }

    private func sent(_ n: Int, _ emit: (Int) -> Void) {
        bytesSent += UInt64(n)
        datagramsSent += 1
        emit(n)
    }

    private func dequeue(at index: Int) {
        guard index < sendQueue.count else { return }
        sendQueue[index].inSendQueue = false
        sendQueue.remove(at: index)
    }

    var hasEvents: Bool { !events.isEmpty }

    /// Takes every waiting event at once (the driver's dispatch). Swapped out
    /// rather than copied: an idle connection holds no event buffer (memory
    /// per connection counts); the taker returns it to `shared`, which lends
    /// it to the next connection with an event (no allocation per delivery).
    func takeEvents() -> [ConnectionEvent] {
        var batch: [ConnectionEvent] = []
        swap(&batch, &events)
        return batch
    }

    /// Puts back events a dispatch could not hand out (the handler went away), ahead of any newer ones.
    func keepEvents(_ rest: ArraySlice<ConnectionEvent>) {
        events.insert(contentsOf: rest, at: 0)
    }

    /// Queues an event for the driver, in a buffer borrowed from the endpoint.
    private func appendEvent(_ event: ConnectionEvent) {
        if events.capacity == 0 { events = shared.lendEventBuffer() }
        events.append(event)
    }

    private func refreshDeadline() {
        guard let conn, !isClosed else { deadline = nil; return }
        let expiry = ngtcp2_conn_get_expiry(conn)
        var next: SimTime? = expiry == UInt64.max ? nil
            : SimTime(nanosecondsSinceStart: Int64(clamping: expiry > Self.timestampOffset ? expiry - Self.timestampOffset : 0))
        if let keyUpdate = keyUpdateSchedule?.next { next = min(next ?? keyUpdate, keyUpdate) }
        deadline = next
    }

    /// ngtcp2 reported an error from read/write/expiry: end the connection the way the error asks.
    private func handleFailure(_ rv: Int32, operation: String) {
        guard let conn else { return }
        switch rv {
        case NGTCP2_ERR_DRAINING:
            // The peer sent CONNECTION_CLOSE: report its code; nothing more to send.
            var ccerr = ngtcp2_connection_close_error()
            ngtcp2_conn_get_connection_close_error(conn, &ccerr)
            let reason = ccerr.reason.map { String(decoding: UnsafeBufferPointer(start: $0, count: ccerr.reasonlen), as: UTF8.self) } ?? ""
            if ccerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION {
                finish(.application(code: ccerr.error_code, reason: reason, byPeer: true))
            } else {
                finish(.transport(code: ccerr.error_code, reason: reason, byPeer: true))
            }
        case NGTCP2_ERR_IDLE_CLOSE:
            finish(.idleTimeout)
        case NGTCP2_ERR_DROP_CONN, NGTCP2_ERR_CLOSING:
            finish(.transport(code: 0, reason: "\(operation): \(String(cString: ngtcp2_strerror(rv)))", byPeer: false))
        case NGTCP2_ERR_CRYPTO:
            // TLS failed: tell the peer with the TLS alert, and say why in words.
            var ccerr = ngtcp2_connection_close_error()
            let alert = ngtcp2_conn_get_tls_alert(conn)
            ngtcp2_connection_close_error_set_transport_error_tls_alert(&ccerr, alert, nil, 0)
            let why = tls?.verificationFailure.map { "certificate verification failed: \($0)" }
                ?? "TLS alert \(alert) (\(gnutls_alert_get_name(gnutls_alert_description_t(UInt32(alert))).map { String(cString: $0) } ?? "unknown"))"
            pendingClose = PendingClose(ccerr, .handshakeFailed(why))
        default:
            if pendingClose != nil { return }
            var ccerr = ngtcp2_connection_close_error()
            ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, rv, nil, 0)
            pendingClose = PendingClose(ccerr, .transport(code: ccerr.error_code,
                                                          reason: "\(operation): \(String(cString: ngtcp2_strerror(rv)))", byPeer: false))
        }
        if pendingClose != nil { needsTransmit = true }
    }

    /// The connection is over: free stream buffers and tell the application
    /// (the endpoint sees `isClosed` when the call returns and forgets us).
    private func finish(_ reason: CloseReason) {
        guard !isClosed else { return }
        state = .closed(reason)
        pendingClose = nil
        deadline = nil
        sendQueue.removeAll()
        for s in streams.values { s.releaseAll() }
        appendEvent(.closed(reason))
    }

    /// The client's first DCID routes its packets until ours reaches it; it
    /// switched before it could finish the handshake, so the entry can go.
    private func forgetOriginalDestinationID() {
        guard let conn, let odcid = ngtcp2_conn_get_client_initial_dcid(conn) else { return }
        let key = ConnectionIDKey(odcid.pointee)
        shared.idChanges.append(.removeIfOwned(key, self))
        registeredIDs.removeAll { $0 == key }
    }

    private func confirmHandshake() {
        guard !handshakeConfirmed else { return }
        handshakeConfirmed = true
        appendEvent(.handshakeConfirmed)
        // Key updates are allowed from here on (RFC 9001 §6).
        if let schedule = keyUpdateSchedule { schedule.next = lastCallTime + schedule.interval }
    }

    /// Server: issues one session ticket when resumption is on for this endpoint.
    private func issueSessionTicket() {
        guard shared.issuesSessionTickets, let tls else { return }
        do { try tls.sendSessionTicket() } catch { handleFailure(NGTCP2_ERR_CALLBACK_FAILURE, operation: "\(error)") }
    }

    /// Client, at handshake completion: a server that refused our 0-RTT data
    /// made ngtcp2 forget the streams it carried; open them again (same IDs, in
    /// the same order) and send their data from the start in 1-RTT packets.
    private func recoverRejectedEarlyData() {
        guard let conn, let attempt = resumption, attempt.offered, tls?.earlyDataAccepted == false else { return }
        guard ngtcp2_conn_early_data_rejected(conn) == 0 else { return }
        for s in streams.values.sorted(by: { $0.id < $1.id }) where ngtcp2_conn_is_local_stream(conn, s.id) != 0 {
            var id: Int64 = -1
            let bidirectional = s.id & 0x2 == 0
            _ = bidirectional ? ngtcp2_conn_open_bidi_stream(conn, &id, nil) : ngtcp2_conn_open_uni_stream(conn, &id, nil)
            guard id == s.id else { continue }
            s.rewindUnacknowledged()
            if s.hasUnsent && !s.inSendQueue && !s.blocked { s.inSendQueue = true; sendQueue.append(s) }
        }
        needsTransmit = true
    }

    /// Client: a NewSessionTicket arrived (GnuTLS hook, inside read_pkt):
    /// remember it with the server's transport parameters for the next connection.
    func sessionTicketArrived() {
        guard let conn, let key = resumption?.key, let data = tls?.resumptionData,
              let params = ngtcp2_conn_get_remote_transport_params(conn) else { return }
        shared.rememberSession(ResumptionState(sessionData: data, parameters: RememberedTransportParameters(params.pointee)), for: key)
    }

    private func giveCredit(_ s: StreamState, _ n: Int) {
        guard n > 0, let conn, !isClosed else { return }
        streamBytesRead += UInt64(n)
        if !s.closed { ngtcp2_conn_extend_max_stream_offset(conn, s.id, UInt64(n)) }
        ngtcp2_conn_extend_max_offset(conn, UInt64(n))
        needsTransmit = true
        shared.noteNeedsTransmit(self)
    }

    private func forgetIfDone(_ s: StreamState) {
        if s.closed && !s.hasUnread && (s.finRead || !s.receivedFin) {
            streams[s.id] = nil
            if lastStream === s { lastStream = nil }
        }
    }

    // MARK: ngtcp2 callbacks (called only from inside our own calls into ngtcp2)

    private static func from(_ userData: UnsafeMutableRawPointer?) -> QuicConnection {
        Unmanaged<QuicConnection>.fromOpaque(userData!).takeUnretainedValue()
    }

    private func stream(_ id: Int64) -> StreamState {
        if let s = existingStream(id) { return s }
        let s = StreamState(id: id)
        streams[id] = s
        lastStream = s
        return s
    }

    /// `streams[id]`, remembering the last stream found: consecutive packets,
    /// ACKs and reads mostly concern one stream, and this skips their hashing.
    private func existingStream(_ id: Int64) -> StreamState? {
        if let s = lastStream, s.id == id { return s }
        guard let s = streams[id] else { return nil }
        lastStream = s
        return s
    }

    /// The callback table. user_data is the QuicConnection, passed unretained:
    /// ngtcp2 calls back only while one of the connection's own methods is
    /// inside an ngtcp2 call, and the connection frees the ngtcp2_conn in
    /// deinit, so no callback can outlive it.
    private static func callbacks(server: Bool) -> ngtcp2_callbacks {
        var cb = ngtcp2_callbacks()
        if server {
            cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb
        } else {
            cb.client_initial = ngtcp2_crypto_client_initial_cb
            cb.recv_retry = ngtcp2_crypto_recv_retry_cb
        }
        cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb
        cb.encrypt = ngtcp2_crypto_encrypt_cb
        cb.decrypt = ngtcp2_crypto_decrypt_cb
        cb.hp_mask = ngtcp2_crypto_hp_mask_cb
        cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb
        cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb
        cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb
        cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb
        cb.update_key = { conn, rxSecret, txSecret, rxAead, rxIV, txAead, txIV, curRx, curTx, secretLen, userData in
            QuicConnection.from(userData).keyUpdates += 1
            return ngtcp2_crypto_update_key_cb(conn, rxSecret, txSecret, rxAead, rxIV, txAead, txIV, curRx, curTx, secretLen, userData)
        }
        cb.rand = { dest, length, ctx in
            guard let dest, let handle = ctx?.pointee.native_handle else { return }
            QuicConnection.from(handle).shared.fillRandom(dest, count: length)
        }
        cb.get_new_connection_id = { _, cid, token, length, userData in
            let c = QuicConnection.from(userData)
            guard let cid, let token else { return NGTCP2_ERR_CALLBACK_FAILURE }
            let fresh = c.shared.makeConnectionID(length: length)
            cid.pointee = fresh
            // Stateless-reset tokens from the seeded stream: deterministic, not secret (simulation use).
            c.shared.fillRandom(token, count: Int(NGTCP2_STATELESS_RESET_TOKENLEN))
            c.shared.idChanges.append(.add(ConnectionIDKey(fresh), c))
            return 0
        }
        cb.remove_connection_id = { _, cid, userData in
            guard let cid else { return 0 }
            QuicConnection.from(userData).shared.idChanges.append(.remove(ConnectionIDKey(cid.pointee)))
            return 0
        }
        cb.handshake_completed = { _, userData in
            let c = QuicConnection.from(userData)
            c.handshakeCompletedAt = SimTime(nanosecondsSinceStart: Int64(c.ts - QuicConnection.timestampOffset))
            c.state = .established
            c.appendEvent(.handshakeCompleted)
            // A server's handshake is confirmed when it completes (RFC 9001 §4.1.2).
            if c.role == .server {
                c.confirmHandshake()
                c.forgetOriginalDestinationID()
                c.issueSessionTicket()
            } else {
                c.recoverRejectedEarlyData()
            }
            return 0
        }
        cb.handshake_confirmed = { _, userData in
            QuicConnection.from(userData).confirmHandshake()
            return 0
        }
        cb.recv_stream_data = { _, flags, streamID, _, data, length, userData, _ in
            let c = QuicConnection.from(userData)
            let s = c.stream(streamID)
            if length > 0, let data {
                if s.keepsArriving { s.received.append(contentsOf: UnsafeBufferPointer(start: data, count: length)) } else { s.uncopied += length }
            }
            if flags & UInt32(NGTCP2_STREAM_DATA_FLAG_FIN) != 0 { s.receivedFin = true }
            if !s.readableNotified {
                s.readableNotified = true
                c.appendEvent(.streamReadable(streamID))
            }
            return 0
        }
        cb.acked_stream_data_offset = { _, streamID, offset, length, userData, _ in
            QuicConnection.from(userData).existingStream(streamID)?.acknowledge(upTo: offset + length)
            return 0
        }
        cb.stream_open = { _, streamID, userData in
            let c = QuicConnection.from(userData)
            _ = c.stream(streamID)
            c.appendEvent(.streamOpened(streamID))
            return 0
        }
        cb.stream_close = { conn, _, streamID, _, userData, _ in
            let c = QuicConnection.from(userData)
            // ngtcp2 forgets the stream after this call: take its loss count now.
            c.closedStreamLosses += UInt64(ngtcp2_conn_get_stream_loss_count(conn, streamID))
            if let s = c.existingStream(streamID) {
                s.closed = true
                s.releaseAll()
                if s.inSendQueue, let i = c.sendQueue.firstIndex(where: { $0 === s }) { c.dequeue(at: i) }
                c.forgetIfDone(s)
            }
            // Give the peer its stream credit back (ngtcp2 leaves MAX_STREAMS to the application).
            if ngtcp2_conn_is_local_stream(conn, streamID) == 0 {
                if streamID & 0x2 == 0 { ngtcp2_conn_extend_max_streams_bidi(conn, 1) } else { ngtcp2_conn_extend_max_streams_uni(conn, 1) }
            }
            c.appendEvent(.streamClosed(streamID))
            return 0
        }
        cb.stream_reset = { _, streamID, _, code, userData, _ in
            QuicConnection.from(userData).appendEvent(.streamReset(streamID, errorCode: code))
            return 0
        }
        cb.extend_max_local_streams_bidi = { _, _, userData in
            QuicConnection.from(userData).appendEvent(.streamsAvailable(bidirectional: true))
            return 0
        }
        cb.extend_max_local_streams_uni = { _, _, userData in
            QuicConnection.from(userData).appendEvent(.streamsAvailable(bidirectional: false))
            return 0
        }
        cb.extend_max_stream_data = { _, streamID, _, userData, _ in
            let c = QuicConnection.from(userData)
            if let s = c.existingStream(streamID), s.blocked {
                s.blocked = false
                if s.hasUnsent && !s.inSendQueue { s.inSendQueue = true; c.sendQueue.append(s) }
            }
            return 0
        }
        return cb
    }
}

/// What C code holds pointers into, so it must not move: the conn_ref GnuTLS
/// finds the connection through, and the path read_pkt must be given (writes
/// pass no path: we do not migrate, packets always go to `remoteAddress`).
struct NativeState {
    var connRef = ngtcp2_crypto_conn_ref()
    var path = ngtcp2_path_storage()
}

/// A CONNECTION_CLOSE waiting for the next transmit; boxed because most
/// connections never hold one (it would cost every connection ~100 bytes inline).
private final class PendingClose {
    let ccerr: ngtcp2_connection_close_error
    let reason: CloseReason
    /// The reason phrase `ccerr` points into, kept alive with it.
    private let reasonBytes: UnsafeMutableBufferPointer<UInt8>?

    init(_ ccerr: ngtcp2_connection_close_error, _ reason: CloseReason) {
        self.ccerr = ccerr
        self.reason = reason
        reasonBytes = nil
    }

    init(applicationError code: UInt64, reason: String) {
        let bytes = Array(reason.utf8)
        let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, bytes.count))
        _ = copy.initialize(from: bytes)
        var ccerr = ngtcp2_connection_close_error()
        ngtcp2_connection_close_error_set_application_error(&ccerr, code, copy.baseAddress, bytes.count)
        self.ccerr = ccerr
        self.reason = .application(code: code, reason: reason, byPeer: false)
        reasonBytes = copy
    }

    deinit { reasonBytes?.deallocate() }
}

/// One chunk of application data, kept at a fixed address until the peer
/// acknowledges it: ngtcp2 retransmits straight from the memory it was given.
final class SendChunk {
    let base: UnsafeMutableRawPointer
    let count: Int
    /// Stream offset of the first byte.
    let offset: UInt64

    init<C: Collection>(copying bytes: C, offset: UInt64) where C.Element == UInt8 {
        count = bytes.count
        self.offset = offset
        base = .allocate(byteCount: max(count, 1), alignment: 1)
        let typed = base.bindMemory(to: UInt8.self, capacity: count)
        if bytes.withContiguousStorageIfAvailable({ typed.update(from: $0.baseAddress!, count: count) }) == nil {
            _ = UnsafeMutableBufferPointer(start: typed, count: count).initialize(from: bytes)
        }
    }

    /// Uninitialized room for `count` bytes, for a producer to fill.
    init(count: Int, offset: UInt64) {
        self.count = count
        self.offset = offset
        base = .allocate(byteCount: max(count, 1), alignment: 1)
    }

    deinit { base.deallocate() }

    var end: UInt64 { offset + UInt64(count) }
}

/// Send and receive state of one stream.
final class StreamState {
    let id: Int64
    // Send side: chunks[head...] hold bytes from the lowest unacknowledged
    // offset; acknowledged chunks are let go at once (nil) and their slots
    // dropped in batches.
    private var chunks: [SendChunk?] = []
    private var head = 0
    /// Index of the chunk holding `sentOffset` (≥ head).
    private var cursor = 0
    /// Bytes in the chunks still held (unsent, or sent and unacknowledged).
    private(set) var heldBytes = 0
    var sentOffset: UInt64 = 0
    var queuedOffset: UInt64 = 0
    var finQueued = false
    var finSent = false
    var inSendQueue = false
    var blocked = false
    /// The send buffer filled up: raise `.streamWritable` once it has drained to half.
    var wantsWritable = false
    // Receive side: kept bytes, then (once the reader asked for it) bytes only counted.
    var received: [UInt8] = []
    var keepsArriving = true
    var uncopied = 0
    var hasUnread: Bool { !received.isEmpty || uncopied > 0 }
    var receivedFin = false
    var finRead = false
    var readableNotified = false
    var closed = false

    init(id: Int64) { self.id = id }

    var hasUnsent: Bool { sentOffset < queuedOffset || (finQueued && !finSent) }
    var unsentBytes: Int { Int(queuedOffset - sentOffset) }

    func appendChunk(_ chunk: SendChunk) {
        chunks.append(chunk)
        queuedOffset = chunk.end
        heldBytes += chunk.count
    }

    /// Points `vecs` at unsent bytes; returns the count and whether they run to the end of what is queued.
    /// Stops once `bytesWanted` are gathered: more than one datagram can carry is never written.
    func gather(into vecs: UnsafeMutablePointer<ngtcp2_vec>, max: Int, bytesWanted: Int) -> (Int, Bool) {
        while cursor < chunks.count && (chunks[cursor]?.end ?? 0) <= sentOffset { cursor += 1 }   // nil: acknowledged
        var n = 0
        var i = cursor
        var position = sentOffset
        while n < max && i < chunks.count && position - sentOffset < UInt64(bytesWanted) {
            let chunk = chunks[i]!
            let skip = Int(position - chunk.offset)
            vecs[n] = ngtcp2_vec(base: chunk.base.assumingMemoryBound(to: UInt8.self) + skip, len: chunk.count - skip)
            position = chunk.end
            n += 1
            i += 1
        }
        return (n, i == chunks.count)
    }

    /// Frees chunks whose bytes the peer has all acknowledged.
    func acknowledge(upTo offset: UInt64) {
        while head < chunks.count, let chunk = chunks[head], chunk.end <= offset {
            heldBytes -= chunk.count
            chunks[head] = nil
            head += 1
        }
        // Drop freed slots in batches so the array does not shift on every ACK.
        if head >= 64 || head == chunks.count {
            chunks.removeFirst(head)
            cursor -= head
            head = 0
        }
        if cursor < 0 { cursor = 0 }
    }

    func releaseAll() {
        chunks.removeAll()
        head = 0
        cursor = 0
        heldBytes = 0
    }

    /// The peer never got what was sent (0-RTT data it refused): send again from
    /// the lowest unacknowledged byte (all of it: nothing was acknowledged).
    func rewindUnacknowledged() {
        sentOffset = chunks.indices.contains(head) ? chunks[head]?.offset ?? queuedOffset : queuedOffset
        cursor = head
        finSent = false
    }
}

/// A client connection's part in session resumption.
final class ResumptionAttempt {
    let key: ResumptionKey
    /// Whether an earlier session was offered (and 0-RTT data possibly sent).
    let offered: Bool

    init(key: ResumptionKey, offered: Bool) {
        self.key = key
        self.offered = offered
    }
}

/// `TransportConfiguration.keyUpdateInterval` at work: when the next update is due.
final class KeyUpdateSchedule {
    let interval: SimDuration
    var next: SimTime?

    init(interval: SimDuration) { self.interval = interval }
}
