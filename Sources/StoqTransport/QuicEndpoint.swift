import CStoq
import StoqCore

/// A node's QUIC endpoint, sans-IO and pull-based (the quinn-proto way): one
/// local address, any number of connections. It demultiplexes arriving
/// datagrams by destination connection ID, accepts new server connections,
/// and gathers what every connection has to send, the events they raised and
/// the earliest deadline among them. It never calls the application: the
/// caller owns time, I/O and dispatch, in one loop:
///
///     endpoint.receive(batch, at: now)        // input: arriving datagrams, or
///     endpoint.handleDeadlines(at: now)       //        the time `pollTimeout()` named
///     while let c = endpoint.pollAccepted() { … }             // new server connections
///     while let c = endpoint.pollConnectionWithEvents() { … c.poll() … }   // dispatch
///     while let c = endpoint.pollTransmit(at: now, send) { … }             // output, once
///     timer.arm(at: endpoint.pollTimeout())
///
/// `EndpointDriver` is that loop over a `DatagramIO` and a scheduler.
public final class QuicEndpoint {
    public let localAddress: SocketAddress
    public let configuration: TransportConfiguration
    /// New connections take the current value: replace it to rotate a client certificate.
    public var clientTLS: ClientTLSConfiguration?
    /// New connections take the current value: replace it to rotate the certificate.
    public var serverTLS: ServerTLSConfiguration?
    // The application's hooks. The endpoint only holds them: `EndpointDriver`
    // calls them while it dispatches (never from inside a protocol call).
    /// Called for each connection a client opened to us, before its first events are delivered.
    public var onNewConnection: ((QuicConnection) -> Void)?
    /// Called when any connection of this endpoint (ours or a peer's) completes
    /// its handshake, after the connection's own handler saw it and the events
    /// that came with it: e.g. to check the peer's certificate against a transparency log.
    public var onHandshakeCompleted: ((QuicConnection) -> Void)?
    /// Called when a connection of this endpoint ends because its own TLS
    /// handshake failed (e.g. a server refused the client's certificate), after
    /// the connection's handler saw the close, with the reason in words. Not
    /// called when the peer refused us: that arrives as the peer's close.
    public var onHandshakeFailed: ((QuicConnection, String) -> Void)?

    let priority: TLSPriority
    /// What connections write to while they are called (see `EndpointState`).
    let shared: EndpointState
    private var byID: [ConnectionIDKey: QuicConnection] = [:]
    /// The last entry `route` found: a burst of datagrams mostly belongs to one
    /// connection, and comparing 24 bytes is cheaper than hashing them.
    private var lastRoute: (key: ConnectionIDKey, connection: QuicConnection)?
    /// Every live connection, in creation order (deterministic iteration).
    private var order: [QuicConnection] = []
    /// Server connections `pollAccepted` has not handed out yet.
    private var accepted: [QuicConnection] = []
    /// Connections with events, in the order they were first called since the
    /// last dispatch (`pollConnectionWithEvents` takes them from `eventfulHead`).
    private var eventful: [QuicConnection] = []
    private var eventfulHead = 0
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
    public var issuesSessionTickets: Bool {
        get { shared.issuesSessionTickets }
        set { shared.issuesSessionTickets = newValue }
    }
    private var ticketIssuer: SessionTicketIssuer?

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
        shared = EndpointState(configuration: configuration, random: random)
        priority = try TLSPriority()
        buffer = .allocate(capacity: bufferCapacity)
        vecs = .allocate(capacity: QuicConnection.maxVecs)
    }

    deinit {
        // Connections outlive us only if the application holds them; what they queue then goes nowhere.
        shared.endpointAlive = false
        shared.clearTransmitQueue()
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
        for d in batch { receive(d.payload, from: d.source, at: now) }
    }

    /// Feeds one arriving UDP datagram's bytes (read during the call only).
    /// Its events wait for `pollConnectionWithEvents`.
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
            settleInput(c)
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
        accepted.append(c)
        c.receive(packet, at: now)
        settleInput(c)
    }

    /// Feeds datagrams that arrived at the same instant: `feed` calls the
    /// function it is given once per datagram. Events wait for the dispatch
    /// after the last one, so a flight of 64 packets wakes the application once rather than 64 times.
    public func receiveBatch(at now: SimTime, _ feed: ((UnsafeRawBufferPointer, SocketAddress) -> Void) -> Void) {
        feed { packet, remote in self.receive(packet, from: remote, at: now) }
    }

    private func route(_ key: ConnectionIDKey) -> QuicConnection? {
        if let last = lastRoute, last.key == key { return last.connection }
        guard let c = byID[key] else { return nil }
        lastRoute = (key, c)
        return c
    }

    /// The earliest time any connection needs `handleDeadlines`: arm one timer for it.
    public func pollTimeout() -> SimTime? { deadlines.top?.deadline }

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
                settleInput(c)
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
    /// An empty array with capacity for `handleDeadlines`' due list (no allocation per timer).
    private var dueSpare: [QuicConnection] = []

    // MARK: Output: what the driver takes

    /// The next server connection a client opened, once (for `onNewConnection`).
    public func pollAccepted() -> QuicConnection? { accepted.isEmpty ? nil : accepted.removeFirst() }

    /// The next connection whose events wait (take them with its `poll()`),
    /// in the order connections were called since the last dispatch; nil when
    /// none is left. A connection is returned once per round of calls, even
    /// if its events are not all taken.
    public func pollConnectionWithEvents() -> QuicConnection? {
        while eventfulHead < eventful.count {
            let c = eventful[eventfulHead]
            eventfulHead += 1
            c.awaitingDelivery = false
            if c.hasEvents { return c }
        }
        if !eventful.isEmpty { eventful.removeAll(keepingCapacity: true); eventfulHead = 0 }
        return nil
    }

    /// Whether some connection has something to send (`pollTransmit` would send).
    public var hasPendingTransmit: Bool { shared.hasPendingTransmit }

    /// Hands the datagrams of the next connection with something to send to
    /// `send`, as destination and bytes valid only during the call (the carrier
    /// copies them: `DatagramIO.send(to:_:)`, so no array is made per datagram).
    /// Returns that connection, whose new events (e.g. `.streamWritable`) are
    /// for the caller to dispatch before the next call; nil once no connection
    /// has anything left (writes made meanwhile join the queue, so a loop to
    /// nil sends them too).
    public func pollTransmit(at now: SimTime, _ send: (SocketAddress, UnsafeRawBufferPointer) -> Void) -> QuicConnection? {
        while let c = shared.nextToTransmit() {
            guard c.needsTransmit else { continue }
            let destination = c.remoteAddress
            let buffer = self.buffer
            c.transmit(at: now, buffer: buffer, capacity: bufferCapacity, vecs: vecs) { n in
                send(destination, UnsafeRawBufferPointer(start: buffer, count: n))
            }
            settle(c)
            return c
        }
        reap()
        return nil
    }

    /// Hands back a batch of events taken from a connection, for reuse.
    func recycleEvents(_ batch: inout [ConnectionEvent]) {
        batch.removeAll(keepingCapacity: true)
        shared.returnEventBuffer(batch)
    }

    // MARK: Bookkeeping after each call into a connection

    /// Brings the endpoint up to date with what a call into `c` changed: its
    /// deadline's place in the heap, connection IDs it issued or retired, and its close.
    private func settle(_ c: QuicConnection) {
        if c.deadlineMoved {
            c.deadlineMoved = false
            if c.deadline != nil && !c.isClosed { deadlines.update(c) } else { deadlines.remove(c) }
        }
        if !shared.idChanges.isEmpty { applyIDChanges() }
        if c.isClosed && !c.closeNoted { connectionClosed(c) }
    }

    /// `settle` after input (a datagram or a deadline): the connection may
    /// have something to send, and its events wait for the dispatch, in the
    /// order connections were first called since the last one.
    private func settleInput(_ c: QuicConnection) {
        settle(c)
        shared.noteNeedsTransmit(c)
        if !c.awaitingDelivery {
            c.awaitingDelivery = true
            eventful.append(c)
        }
    }

    private func applyIDChanges() {
        for change in shared.idChanges {
            switch change {
            case let .add(key, c): register(key, for: c)
            case let .remove(key): unregister(key)
            case let .removeIfOwned(key, c):
                if byID[key] === c { unregister(key) }
                c.registeredIDs.removeAll { $0 == key }
            }
        }
        shared.idChanges.removeAll(keepingCapacity: true)
    }

    func adopt(_ c: QuicConnection) {
        order.append(c)
        connectionsCreated += 1
        c.creationIndex = connectionsCreated
        c.deadlineMoved = false
        if c.deadline != nil { deadlines.update(c) }
        shared.noteNeedsTransmit(c)
    }

    func register(_ key: ConnectionIDKey, for c: QuicConnection) {
        byID[key] = c
        if lastRoute?.key == key { lastRoute = nil }
        c.registeredIDs.append(key)
    }

    private func unregister(_ key: ConnectionIDKey) {
        byID[key] = nil
        if lastRoute?.key == key { lastRoute = nil }
    }

    private func connectionClosed(_ c: QuicConnection) {
        c.closeNoted = true
        for key in c.registeredIDs where byID[key] === c { unregister(key) }
        c.registeredIDs.removeAll()
        closedSinceReap = true
    }

    /// Drops closed connections (their last events stay with them for the dispatch).
    private func reap() {
        guard closedSinceReap else { return }
        closedSinceReap = false
        order.removeAll { $0.isClosed }
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
