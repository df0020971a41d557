import CStoq
import StoqCore

/// The part of a `QuicEndpoint` its connections write to: what a connection
/// must reach while the application calls it (its write needs a transmit) or
/// while ngtcp2 calls back into it (a random draw, a new connection ID, a
/// session ticket). The endpoint and each of its connections hold it
/// strongly; it holds nothing of the endpoint, so connections have no path
/// back to it. The endpoint's own bookkeeping (deadline heap, CID table,
/// which connections have events) it updates itself after each call it makes
/// into a connection, from the connection's state and `idChanges`.
final class EndpointState {
    let configuration: TransportConfiguration
    /// The node's seeded stream: connection IDs, reset tokens and ngtcp2's own draws.
    private var random: RandomStream
    /// See `QuicEndpoint.issuesSessionTickets`.
    var issuesSessionTickets: Bool
    /// Client: the latest ticket from each server, used once.
    private var resumableSessions: [ResumptionKey: ResumptionState] = [:]
    /// False once the endpoint is gone: connections the application still
    /// holds then queue nothing (the queue would keep them alive).
    var endpointAlive = true

    init(configuration: TransportConfiguration, random: RandomStream) {
        self.configuration = configuration
        self.random = random
        issuesSessionTickets = configuration.resumption
    }

    // MARK: Connections with something to send

    /// In the order they first had something, each once (`inTransmitList`);
    /// `transmitHead` is the next to go, so taking one costs no shift.
    private var transmitQueue: [QuicConnection] = []
    private var transmitHead = 0

    var hasPendingTransmit: Bool { transmitHead < transmitQueue.count }

    func noteNeedsTransmit(_ c: QuicConnection) {
        c.needsTransmit = true
        guard !c.inTransmitList, endpointAlive, !c.isClosed else { return }
        c.inTransmitList = true
        transmitQueue.append(c)
    }

    /// The next connection in the transmit queue, taken out of it; nil when it is empty.
    func nextToTransmit() -> QuicConnection? {
        guard transmitHead < transmitQueue.count else {
            // Drained: reuse the buffer from its start.
            if !transmitQueue.isEmpty { transmitQueue.removeAll(keepingCapacity: true); transmitHead = 0 }
            return nil
        }
        let c = transmitQueue[transmitHead]
        transmitHead += 1
        c.inTransmitList = false
        return c
    }

    func clearTransmitQueue() {
        for c in transmitQueue[transmitHead...] { c.inTransmitList = false }
        transmitQueue.removeAll()
        transmitHead = 0
    }

    // MARK: Connection IDs

    enum IDChange {
        case add(ConnectionIDKey, QuicConnection)
        case remove(ConnectionIDKey)
        /// Only if it still routes to this connection (a later one may have reused it).
        case removeIfOwned(ConnectionIDKey, QuicConnection)
    }

    /// Made inside a call into a connection; the endpoint applies them to its table when the call returns.
    var idChanges: [IDChange] = []

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

    // MARK: Event buffers

    /// Empty event buffers with capacity, lent to connections while their
    /// events wait for the driver (an idle connection holds none).
    private var eventBuffers: [[ConnectionEvent]] = []

    func lendEventBuffer() -> [ConnectionEvent] { eventBuffers.popLast() ?? [] }

    func returnEventBuffer(_ buffer: [ConnectionEvent]) {
        if buffer.capacity > 0 && eventBuffers.count < 16 { eventBuffers.append(buffer) }
    }

    // MARK: Resumption

    func rememberSession(_ state: ResumptionState, for key: ResumptionKey) { resumableSessions[key] = state }

    /// The session to resume with `key`'s server, taken out of the cache (tickets are single-use).
    func resumableSession(for key: ResumptionKey) -> ResumptionState? { resumableSessions.removeValue(forKey: key) }
}
