import CStoq
import StoqCore

/// A node's QUIC endpoint, sans-IO: one local address, any number of
/// connections. It demultiplexes arriving datagrams by destination connection
/// ID, accepts new server connections, and gathers what every connection has
/// to send and the earliest deadline among them. The caller owns time and I/O:
///
///     endpoint.receive(batch, at: now)             // for every batch of arriving datagrams
///     endpoint.handleDeadlines(at: now)            // when `nextDeadline` is reached
///     endpoint.transmitBytes(at: now) { io.send(to: $0, $1) }   // after either, and after app writes
///
/// `EndpointDriver` does exactly this over a `DatagramIO` and a scheduler.
public final class QuicEndpoint {
    public let localAddress: SocketAddress
    public let configuration: TransportConfiguration
    /// New connections take the current value: replace it to rotate a client certificate.
    public var clientTLS: ClientTLSConfiguration?
    /// New connections take the current value: replace it to rotate the certificate.
    public var serverTLS: ServerTLSConfiguration?
    /// Called for each connection a client opened to us, before its first events are delivered.
    public var onNewConnection: ((QuicConnection) -> Void)?
    /// Called when any connection of this endpoint (ours or a peer's) completes
    /// its handshake, after the connection's own handler saw it: e.g. to check
    /// the peer's certificate against a transparency log.
    public var onHandshakeCompleted: ((QuicConnection) -> Void)?
    /// Called when a connection of this endpoint ends because its own TLS
    /// handshake failed (e.g. a server refused the client's certificate), after
    /// the connection's handler saw the close, with the reason in words. Not
    /// called when the peer refused us: that arrives as the peer's close.
    public var onHandshakeFailed: ((QuicConnection, String) -> Void)?

    let priority: TLSPriority
    /// The node's seeded stream: connection IDs, reset tokens and ngtcp2's own draws.
    private var random: RandomStream
    private var byID: [ConnectionIDKey: QuicConnection] = [:]
    /// The last entry `route` found: a burst of datagrams mostly belongs to one
    /// connection, and comparing 24 bytes is cheaper than hashing them.
    private var lastRoute: (key: ConnectionIDKey, connection: QuicConnection)?
    /// Every live connection, in creation order (deterministic iteration).
    private var order: [QuicConnection] = []
    private var transmitList: [QuicConnection] = []
    private var closedSinceReap = false
    /// Scratch every connection's `transmit` writes into: one datagram, and its gather list.
    private let buffer: UnsafeMutablePointer<UInt8>
    private let bufferCapacity = 65536
    private let vecs: UnsafeMutablePointer<ngtcp2_vec>
    private var emptyCredentials: TLSCredentials?

    /// Datagrams dropped because no connection matched and they could not start one.
    public private(set) var unroutableDatagrams = 0

    /// Server: send each client a session ticket when its handshake completes
    /// and accept tickets (and 0-RTT data) from earlier connections. Starts as
    /// the configuration's `resumption`; a workload that resumes connections to
    /// this node turns it on. Off, no ticket is sent (packet sizes as before).
    public var issuesSessionTickets: Bool
    private var ticketIssuer: SessionTicketIssuer?
    /// Client: the latest ticket from each server, used once (a new connection
    /// brings a fresh one).
    private var resumableSessions: [ResumptionKey: ResumptionState] = [:]

    /// `client` to dial out, `server` to accept; either or both.
    public init(localAddress: SocketAddress, configuration: TransportConfiguration = TransportConfiguration(),
                client: ClientTLSConfiguration? = nil, server: ServerTLSConfiguration? = nil,
                random: RandomStream) throws {
        guard !localAddress.address.isIPv4Mapped else {
            throw TransportError.invalidAddress("\(localAddress) is an IPv4-mapped address; STOQ is IPv6-only")
        }
        self.localAddress = localAddress
        self.configuration = configuration
        self.clientTLS = client
        self.serverTLS = server
        self.random = random
        issuesSessionTickets = configuration.resumption
        priority = try TLSPriority()
        buffer = .allocate(capacity: bufferCapacity)
        vecs = .allocate(capacity: QuicConnection.maxVecs)
    }

    deinit {
        // Connections outlive us only if the application holds them; they stop finding us then.
        for c in order { c.endpoint = nil }
        buffer.deallocate()
        vecs.deallocate()
    }

    /// Live connections (closed ones are dropped on the next call).
    public var connections: [QuicConnection] { order.filter { !$0.isClosed } }

    /// Starts a handshake with `remote`, verifying it as `serverName` (a DNS name or an IPv6 literal).
    /// `alpn` replaces the client configuration's protocols for this
    /// connection (e.g. ["h3"] for an HTTP/3 service on a STOQ node).
    /// Gives each new connection (its role, and the label `connect` was given)
    /// a place for its qlog; nil, or nil returned, writes none.
    public var qlogSink: ((QuicConnection.Role, String?) -> QlogSink?)?

    /// `configuration` replaces the endpoint's transport settings for this
    /// connection only (a workload's congestion controller, windows, …);
    /// `tls` its client TLS configuration (e.g. no client certificate for a
    /// public service); `label` names it for its qlog.
    public func connect(to remote: SocketAddress, serverName: String, alpn: [String]? = nil, tls: ClientTLSConfiguration? = nil,
                        configuration: TransportConfiguration? = nil, label: String? = nil,
                        at now: SimTime) throws -> QuicConnection {
        guard var clientTLS = tls ?? clientTLS else {
            throw TransportError.certificate("this endpoint has no client TLS configuration; pass `client:` to QuicEndpoint.init")
        }
        guard !remote.address.isIPv4Mapped else {
            throw TransportError.invalidAddress("\(remote) is an IPv4-mapped address; STOQ is IPv6-only")
        }
        if let alpn { clientTLS.alpn = alpn }
        let c = try QuicConnection.client(endpoint: self, remote: remote, serverName: serverName, tlsConfig: clientTLS,
                                          configuration: configuration, label: label, now: now)
        adopt(c)
        return c
    }

    /// Feeds datagrams a `DatagramIO` handed over together (see `receiveBatch`).
    public func receive(_ batch: DatagramBatch, at now: SimTime) {
        receiveBatch(at: now) { feed in for d in batch { feed(d.payload, d.source) } }
    }

    /// Feeds one arriving UDP datagram's bytes (read during the call only).
    public func receive(_ packet: UnsafeRawBufferPointer, from remote: SocketAddress, at now: SimTime) {
        guard let base = packet.baseAddress?.assumingMemoryBound(to: UInt8.self), packet.count > 0 else { return }
        var vc = ngtcp2_version_cid()
        guard ngtcp2_pkt_decode_version_cid(&vc, base, packet.count, configuration.connectionIDLength) == 0,
              let dcid = vc.dcid else {
            // Unknown versions would get a Version Negotiation packet; we speak only v1 and drop them.
            unroutableDatagrams += 1
            return
        }
        if let c = route(ConnectionIDKey(dcid, count: vc.dcidlen)) {
            c.receive(packet, at: now)
            noteNeedsTransmit(c)
            deliverEvents(of: c)
            return
        }
        guard let serverTLS, !remote.address.isIPv4Mapped else { unroutableDatagrams += 1; return }
        var hd = ngtcp2_pkt_hd()
        guard ngtcp2_accept(&hd, base, packet.count) == 0 else { unroutableDatagrams += 1; return }
        guard let c = try? QuicConnection.server(endpoint: self, remote: remote, header: hd, tlsConfig: serverTLS, now: now) else {
            unroutableDatagrams += 1
            return
        }
        adopt(c)
        onNewConnection?(c)
        c.receive(packet, at: now)
        noteNeedsTransmit(c)
        deliverEvents(of: c)
    }

    /// Feeds datagrams that arrived at the same instant: `feed` calls the
    /// function it is given once per datagram. Each connection's events are
    /// delivered once, after the last datagram, so a flight of 64 packets
    /// wakes the application once rather than 64 times.
    public func receiveBatch(at now: SimTime, _ feed: ((UnsafeRawBufferPointer, SocketAddress) -> Void) -> Void) {
        batchDepth += 1
        feed { packet, remote in self.receive(packet, from: remote, at: now) }
        batchDepth -= 1
        guard batchDepth == 0 else { return }
        var waiting = Self.take(&awaitingDelivery, spare: &awaitingSpare)
        for c in waiting {
            c.awaitingDelivery = false
            c.deliverEvents()
        }
        waiting.removeAll(keepingCapacity: true)
        awaitingSpare = waiting
    }

    /// Inside `receiveBatch`, connections whose events wait for its end.
    private var batchDepth = 0
    private var awaitingDelivery: [QuicConnection] = []
    /// Empty arrays with capacity that `take` swaps in, so the work lists of
    /// the packet path (`awaitingDelivery`, `transmitList`, due deadlines)
    /// reuse two buffers each instead of allocating one per call.
    private var awaitingSpare: [QuicConnection] = []
    private var transmitSpare: [QuicConnection] = []
    private var dueSpare: [QuicConnection] = []

    /// Returns `list`'s contents and leaves `list` empty with `spare`'s buffer.
    /// The caller empties what it got back and returns it as the next spare.
    private static func take(_ list: inout [QuicConnection], spare: inout [QuicConnection]) -> [QuicConnection] {
        var taken: [QuicConnection] = []
        swap(&taken, &spare)
        swap(&taken, &list)
        return taken
    }

    private func deliverEvents(of c: QuicConnection) {
        guard batchDepth > 0 else { c.deliverEvents(); return }
        if !c.awaitingDelivery {
            c.awaitingDelivery = true
            awaitingDelivery.append(c)
        }
    }

    private func route(_ key: ConnectionIDKey) -> QuicConnection? {
        if let last = lastRoute, last.key == key { return last.connection }
        guard let c = byID[key] else { return nil }
        lastRoute = (key, c)
        return c
    }

    /// The earliest time any connection needs `handleDeadlines`.
    public var nextDeadline: SimTime? { deadlines.top?.deadline }

    /// Runs the timers of every connection whose deadline is at or before `now`,
    /// in creation order (as a scan of all connections would, but in O(due · log n)).
    public func handleDeadlines(at now: SimTime) {
        var due = dueSpare
        dueSpare = []
        while let top = deadlines.top, let d = top.deadline, d <= now {
            deadlines.remove(top)
            due.append(top)
        }
        if due.count > 1 { due.sort { $0.creationIndex < $1.creationIndex } }
        for c in due where !c.isClosed {
            if let d = c.deadline, d <= now {
                c.handleDeadline(at: now)
                noteNeedsTransmit(c)
                c.deliverEvents()
            }
            // An unchanged deadline (due again at once) left it out of the heap: back in.
            if c.deadlineSlot < 0 && c.deadline != nil && !c.isClosed { deadlines.update(c) }
        }
        due.removeAll(keepingCapacity: true)
        dueSpare = due
        reap()
    }

    /// Connections that have a deadline, earliest first.
    private var deadlines = DeadlineHeap()
    private var connectionsCreated = 0

    /// Called by a connection whenever its deadline changes.
    func deadlineChanged(_ c: QuicConnection) {
        if c.deadline != nil && !c.isClosed { deadlines.update(c) } else { deadlines.remove(c) }
    }

    /// Whether some connection has something to send (`transmitBytes` would send).
    public var hasPendingTransmit: Bool { !transmitList.isEmpty }

    /// Hands every datagram the connections have ready to `send`, as its
    /// destination and bytes that are valid only during the call (the
    /// carrier copies them: `DatagramIO.send(to:_:)`), so no array is made per datagram.
    public func transmitBytes(at now: SimTime, _ send: (SocketAddress, UnsafeRawBufferPointer) -> Void) {
        while !transmitList.isEmpty {
            var batch = Self.take(&transmitList, spare: &transmitSpare)
            defer { batch.removeAll(keepingCapacity: true); transmitSpare = batch }
            for c in batch { c.inTransmitList = false }
            for c in batch where c.needsTransmit {
                let destination = c.remoteAddress
                c.transmit(at: now, buffer: buffer, capacity: bufferCapacity, vecs: vecs) { n in
                    send(destination, UnsafeRawBufferPointer(start: buffer, count: n))
                }
                c.deliverEvents()
                if !c.isClosed { c.onTransmitted?() }
            }
        }
        reap()
    }

    // MARK: Used by connections

    /// Empty event buffers with capacity, lent to connections while their
    /// events wait for delivery (see `QuicConnection.appendEvent`).
    private var eventBuffers: [[ConnectionEvent]] = []

    func lendEventBuffer() -> [ConnectionEvent] { eventBuffers.popLast() ?? [] }

    func returnEventBuffer(_ buffer: [ConnectionEvent]) {
        if buffer.capacity > 0 && eventBuffers.count < 16 { eventBuffers.append(buffer) }
    }

    func adopt(_ c: QuicConnection) {
        order.append(c)
        connectionsCreated += 1
        c.creationIndex = connectionsCreated
        if c.deadline != nil { deadlines.update(c) }
        noteNeedsTransmit(c)
    }

    func noteNeedsTransmit(_ c: QuicConnection) {
        c.needsTransmit = true
        if !c.inTransmitList { c.inTransmitList = true; transmitList.append(c) }
    }

    func register(_ key: ConnectionIDKey, for c: QuicConnection) {
        byID[key] = c
        if lastRoute?.key == key { lastRoute = nil }
        c.registeredIDs.append(key)
    }

    func unregister(_ key: ConnectionIDKey) {
        byID[key] = nil
        if lastRoute?.key == key { lastRoute = nil }
    }

    /// Removes `key` if it still routes to `c` (a later connection may have reused it).
    func unregister(_ key: ConnectionIDKey, of c: QuicConnection) {
        if byID[key] === c { unregister(key) }
    }

    func connectionClosed(_ c: QuicConnection) {
        for key in c.registeredIDs where byID[key] === c { unregister(key) }
        c.registeredIDs.removeAll()
        closedSinceReap = true
    }

    /// Drops closed connections (after their final events went out).
    private func reap() {
        guard closedSinceReap else { return }
        closedSinceReap = false
        order.removeAll { c in
            guard c.isClosed else { return false }
            c.deliverEvents()
            c.endpoint = nil   // it holds us unowned: once dropped, it must not find us
            return true
        }
        transmitList.removeAll { c in
            if c.isClosed { c.inTransmitList = false }
            return c.isClosed
        }
    }

    func makeConnectionID(length: Int) -> ngtcp2_cid {
        var cid = ngtcp2_cid()
        var bytes = [UInt8](repeating: 0, count: min(max(length, 1), 20))
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: random.next()) }
        ngtcp2_cid_init(&cid, bytes, bytes.count)
        return cid
    }

    func fillRandom(_ dest: UnsafeMutablePointer<UInt8>, count: Int) {
        var i = 0
        while i < count {
            var word = random.next()
            let n = min(8, count - i)
            withUnsafeBytes(of: &word) { raw in for k in 0..<n { dest[i + k] = raw[k] } }
            i += n
        }
    }

    /// The endpoint's ticket key and anti-replay record, made on first use; nil while tickets are off.
    func sessionTicketIssuer() throws -> SessionTicketIssuer? {
        guard issuesSessionTickets else { return nil }
        if let ticketIssuer { return ticketIssuer }
        let issuer = try SessionTicketIssuer()
        ticketIssuer = issuer
        return issuer
    }

    /// Server: seals new tickets with a fresh key. Tickets issued before can
    /// no longer be opened: their clients fall back to a full handshake, and
    /// the 0-RTT data they sent is refused and sent again in 1-RTT packets.
    public func rotateSessionTicketKey() { ticketIssuer = nil }

    func rememberSession(_ state: ResumptionState, for key: ResumptionKey) { resumableSessions[key] = state }

    /// The session to resume with `key`'s server, taken out of the cache (tickets are single-use).
    func resumableSession(for key: ResumptionKey) -> ResumptionState? { resumableSessions.removeValue(forKey: key) }

    func emptyClientCredentials() throws -> TLSCredentials {
        if let emptyCredentials { return emptyCredentials }
        let c = try TLSCredentials.empty()
        emptyCredentials = c
        return c
    }
}

/// A binary min-heap of connections by (deadline, creation order). Each
/// connection is in it at most once and knows its slot (`deadlineSlot`), so a
/// changed deadline moves it in place: the heap holds exactly the connections
/// that have a deadline, one reference each, with no stale entries.
struct DeadlineHeap {
    private var entries: [QuicConnection] = []

    var top: QuicConnection? { entries.first }

    private static func before(_ a: QuicConnection, _ b: QuicConnection) -> Bool {
        // Only connections with a deadline are in the heap.
        let x = a.deadline!.nanosecondsSinceStart, y = b.deadline!.nanosecondsSinceStart
        return x != y ? x < y : a.creationIndex < b.creationIndex
    }

    /// Inserts `c`, or moves it after its deadline changed.
    mutating func update(_ c: QuicConnection) {
        if c.deadlineSlot < 0 {
            c.deadlineSlot = Int32(entries.count)
            entries.append(c)
        }
        siftDown(siftUp(Int(c.deadlineSlot)))
    }

    mutating func remove(_ c: QuicConnection) {
        let i = Int(c.deadlineSlot)
        guard i >= 0, i < entries.count, entries[i] === c else { return }
        c.deadlineSlot = -1
        let last = entries.removeLast()
        guard i < entries.count else { return }
        entries[i] = last
        last.deadlineSlot = Int32(i)
        siftDown(siftUp(i))
    }

    private mutating func place(_ c: QuicConnection, at i: Int) {
        entries[i] = c
        c.deadlineSlot = Int32(i)
    }

    /// Moves the entry at `i` towards the root while it sorts first; returns where it ended.
    private mutating func siftUp(_ start: Int) -> Int {
        var i = start
        let c = entries[i]
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.before(c, entries[parent]) else { break }
            place(entries[parent], at: i)
            i = parent
        }
        place(c, at: i)
        return i
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let c = entries[i]
        while true {
            let l = 2 * i + 1, r = l + 1
            var child = l
            guard l < entries.count else { break }
            if r < entries.count, Self.before(entries[r], entries[l]) { child = r }
            guard Self.before(entries[child], c) else { break }
            place(entries[child], at: i)
            i = child
        }
        place(c, at: i)
    }
}
