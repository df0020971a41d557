import CStoq
import StoqEngine
import StoqNetwork

/// A node's QUIC endpoint, sans-IO: one local address, any number of
/// connections. It demultiplexes arriving datagrams by destination connection
/// ID, accepts new server connections, and gathers what every connection has
/// to send and the earliest deadline among them. The caller owns time and I/O:
///
///     endpoint.receive(datagram, at: now)          // for every arriving datagram
///     endpoint.handleDeadlines(at: now)            // when `nextDeadline` is reached
///     endpoint.transmit(at: now) { io.send($0) }   // after either, and after app writes
public final class QuicEndpoint {
    public let localAddress: SocketAddress
    public let configuration: TransportConfiguration
    public let clientTLS: ClientTLSConfiguration?
    /// New connections take the current value: replace it to rotate the certificate.
    public var serverTLS: ServerTLSConfiguration?
    /// Called for each connection a client opened to us, before its first events are delivered.
    public var onNewConnection: ((QuicConnection) -> Void)?
    /// Called when any connection of this endpoint (ours or a peer's) completes
    /// its handshake, after the connection's own handler saw it: e.g. to check
    /// the peer's certificate against a transparency log.
    public var onHandshakeCompleted: ((QuicConnection) -> Void)?

    let priority: TLSPriority
    /// The node's seeded stream: connection IDs, reset tokens and ngtcp2's own draws.
    private var random: RandomStream
    private var byID: [ConnectionIDKey: QuicConnection] = [:]
    /// Every live connection, in creation order (deterministic iteration).
    private var live: [ObjectIdentifier: QuicConnection] = [:]
    private var order: [QuicConnection] = []
    private var transmitList: [QuicConnection] = []
    private var closedSinceReap = false
    private let buffer: UnsafeMutablePointer<UInt8>
    private let bufferCapacity = 65536
    private var emptyCredentials: TLSCredentials?

    /// Datagrams dropped because no connection matched and they could not start one.
    public private(set) var unroutableDatagrams = 0

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
        priority = try TLSPriority()
        buffer = .allocate(capacity: bufferCapacity)
    }

    deinit {
        // Connections outlive us only if the application holds them; they stop finding us then.
        buffer.deallocate()
    }

    /// Live connections (closed ones are dropped on the next call).
    public var connections: [QuicConnection] { order.filter { !$0.isClosed } }

    /// Starts a handshake with `remote`, verifying it as `serverName` (a DNS name or an IPv6 literal).
    /// `alpn` replaces the client configuration's protocols for this
    /// connection (e.g. ["h3"] for an HTTP/3 service on a STOQ node).
    public func connect(to remote: SocketAddress, serverName: String, alpn: [String]? = nil, at now: SimTime) throws -> QuicConnection {
        guard var clientTLS else {
            throw TransportError.certificate("this endpoint has no client TLS configuration; pass `client:` to QuicEndpoint.init")
        }
        guard !remote.address.isIPv4Mapped else {
            throw TransportError.invalidAddress("\(remote) is an IPv4-mapped address; STOQ is IPv6-only")
        }
        if let alpn { clientTLS.alpn = alpn }
        let c = try QuicConnection.client(endpoint: self, remote: remote, serverName: serverName, tlsConfig: clientTLS, now: now)
        adopt(c)
        return c
    }

    /// Feeds one arriving UDP datagram (its payload and source).
    public func receive(_ datagram: Datagram, at now: SimTime) {
        receive(payload: datagram.payload, from: datagram.source, at: now)
    }

    public func receive(payload: [UInt8], from remote: SocketAddress, at now: SimTime) {
        payload.withUnsafeBytes { receive($0, from: remote, at: now) }
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
        if let c = byID[ConnectionIDKey(dcid, count: vc.dcidlen)] {
            c.receive(packet, at: now)
            noteNeedsTransmit(c)
            c.deliverEvents()
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
        c.deliverEvents()
    }

    /// The earliest time any connection needs `handleDeadlines`.
    public var nextDeadline: SimTime? {
        while let top = deadlines.top, !isCurrent(top) { deadlines.pop() }
        return deadlines.top?.time
    }

    /// Runs the timers of every connection whose deadline is at or before `now`,
    /// in creation order (as a scan of all connections would, but in O(due · log n)).
    public func handleDeadlines(at now: SimTime) {
        var due: [QuicConnection] = []
        var seen = Set<ObjectIdentifier>()
        while let top = deadlines.top, top.time <= now {
            deadlines.pop()
            if isCurrent(top), seen.insert(ObjectIdentifier(top.connection)).inserted { due.append(top.connection) }
        }
        due.sort { $0.creationIndex < $1.creationIndex }
        for c in due where !c.isClosed {
            guard let d = c.deadline, d <= now else { continue }
            c.handleDeadline(at: now)
            noteNeedsTransmit(c)
            c.deliverEvents()
            // The timer may be due again at the same instant (unchanged expiry): keep it in the heap.
            if let again = c.deadline, again == d, !c.isClosed { deadlines.push(again, c) }
        }
        reap()
    }

    /// Connections' deadlines, earliest first. An entry is stale once its
    /// connection's deadline moved or it closed; stale entries are dropped
    /// when they reach the top, and the heap is rebuilt when they pile up.
    private var deadlines = DeadlineHeap()
    private var connectionsCreated = 0

    private func isCurrent(_ e: DeadlineHeap.Entry) -> Bool { !e.connection.isClosed && e.connection.deadline == e.time }

    func deadlineChanged(_ c: QuicConnection, to d: SimTime) {
        deadlines.push(d, c)
        if deadlines.count > 2 * live.count + 64 {
            deadlines = DeadlineHeap()
            for c in order where !c.isClosed { if let d = c.deadline { deadlines.push(d, c) } }
        }
    }

    /// Hands every datagram the connections have ready to `send`.
    public func transmit(at now: SimTime, _ send: (Datagram) -> Void) {
        transmitBytes(at: now) { destination, bytes in
            send(Datagram(source: localAddress, destination: destination, payload: Array(bytes)))
        }
    }

    /// Like `transmit`, but hands each datagram as its destination and bytes
    /// that are valid only during the call: for carriers that copy them
    /// anyway (an in-memory path, a socket), so no array is made per datagram.
    public func transmitBytes(at now: SimTime, _ send: (SocketAddress, UnsafeRawBufferPointer) -> Void) {
        while !transmitList.isEmpty {
            var batch: [QuicConnection] = []
            swap(&batch, &transmitList)
            for c in batch { c.inTransmitList = false }
            for c in batch where c.needsTransmit {
                let destination = c.remoteAddress
                c.transmit(at: now, buffer: buffer, capacity: bufferCapacity) { n in
                    send(destination, UnsafeRawBufferPointer(start: buffer, count: n))
                }
                c.deliverEvents()
                if !c.isClosed { c.onTransmitted?() }
            }
        }
        reap()
    }

    // MARK: Used by connections

    func adopt(_ c: QuicConnection) {
        live[ObjectIdentifier(c)] = c
        order.append(c)
        connectionsCreated += 1
        c.creationIndex = connectionsCreated
        if let d = c.deadline { deadlines.push(d, c) }
        noteNeedsTransmit(c)
    }

    func noteNeedsTransmit(_ c: QuicConnection) {
        c.needsTransmit = true
        if !c.inTransmitList { c.inTransmitList = true; transmitList.append(c) }
    }

    func register(_ key: ConnectionIDKey, for c: QuicConnection) {
        byID[key] = c
        c.registeredIDs.append(key)
    }

    func unregister(_ key: ConnectionIDKey) { byID[key] = nil }

    func connectionClosed(_ c: QuicConnection) {
        for key in c.registeredIDs where byID[key] === c { byID[key] = nil }
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
            live[ObjectIdentifier(c)] = nil
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

    func emptyClientCredentials() throws -> TLSCredentials {
        if let emptyCredentials { return emptyCredentials }
        let c = try TLSCredentials.empty()
        emptyCredentials = c
        return c
    }
}

/// A binary min-heap of (deadline, connection), ties broken by insertion order.
struct DeadlineHeap {
    struct Entry {
        let time: SimTime
        let sequence: UInt64
        let connection: QuicConnection
    }
    private var entries: [Entry] = []
    private var nextSequence: UInt64 = 0

    var count: Int { entries.count }
    var top: Entry? { entries.first }

    private static func before(_ a: Entry, _ b: Entry) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }

    mutating func push(_ time: SimTime, _ connection: QuicConnection) {
        nextSequence += 1
        entries.append(Entry(time: time, sequence: nextSequence, connection: connection))
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.before(entries[i], entries[parent]) else { break }
            entries.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() {
        guard !entries.isEmpty else { return }
        entries.swapAt(0, entries.count - 1)
        entries.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < entries.count, Self.before(entries[l], entries[smallest]) { smallest = l }
            if r < entries.count, Self.before(entries[r], entries[smallest]) { smallest = r }
            guard smallest != i else { return }
            entries.swapAt(i, smallest)
            i = smallest
        }
    }
}
