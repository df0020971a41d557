import StoqEngine
import StoqNetwork
import StoqTopology
import StoqTransport

/// The STOQ endpoints of a run, one per node on `StoqPorts.quic`, made when a
/// workload first needs them, and the services they answer. A stream opened
/// to a node starts with a 4-byte service tag; the node hands the stream to
/// the service registered for that tag and closes connections that use an
/// unknown tag (or end a stream before its tag).
public final class StoqServices {
    /// A tagged stream has bytes after its tag (or its end) to read: the
    /// service reads them from the connection itself, in place
    /// (`withReadableBytes`, `discard`) or by taking them (`read`).
    public typealias StreamHandler = (QuicConnection, _ stream: Int64) -> Void
    /// A connection a service may keep state for has closed: forget it (its
    /// identity may be reused by a later connection).
    public typealias ClosedHandler = (QuicConnection) -> Void

    private unowned let context: StoqNodeHost
    private var endpoints: [String: StoqNodeEndpoint] = [:]
    private var certificates: NodeCertificateSource?
    private var handlers: [UInt32: StreamHandler] = [:]
    private var writableHandlers: [UInt32: StreamHandler] = [:]
    private var closedHandlers: [ClosedHandler] = []
    /// Which service owns each server-side stream, by connection identity and
    /// stream id; a connection's entries go when it closes.
    private var streamOwners: [ObjectIdentifier: [Int64: UInt32]] = [:]
    /// ALPN protocols a node's server accepts after "stoq" (e.g. "h3"), by
    /// node; read when the node's endpoint is made (`register(application:)` sets it).
    public private(set) var extraServerALPN: [String: [String]] = [:]
    /// Takes over a connection that agreed on another protocol than "stoq":
    /// it must install its own `onEvent` (an HTTP/3 server's `accept` does).
    public typealias ApplicationAcceptor = (QuicConnection) -> Void
    private var applications: [String: [String: ApplicationAcceptor]] = [:]
    package init(context: StoqNodeHost) {
        self.context = context
    }

    /// Registers the handler of streams tagged `tag` (e.g. "XFER"), called
    /// whenever such a stream has bytes after the tag to read; `writable`, when
    /// such a stream has room again after a write filled it (a service that
    /// writes only what fits goes on there); `closed`, when a server connection
    /// of any node ends.
    public func register(service tag: String, closed: ClosedHandler? = nil, writable: StreamHandler? = nil,
                         _ readable: @escaping StreamHandler) {
        handlers[Self.tagValue(tag)] = readable
        if let writable { writableHandlers[Self.tagValue(tag)] = writable }
        if let closed { closedHandlers.append(closed) }
    }

    /// Connections with streams in progress (their owners are known): what a
    /// run's end may still hold, for tests.
    package var connectionsWithStreams: Int { streamOwners.count }

    /// Serves `alpn` (e.g. "h3") on `node` besides STOQ's tagged streams: a
    /// connection that agrees on it is handed to `accept` when its handshake
    /// completes. The protocol is fixed when the node's endpoint is made, so
    /// register before any workload uses the node (or it throws).
    public func register(application alpn: String, on node: String, _ accept: @escaping ApplicationAcceptor) throws {
        if let e = endpoints[node], !(e.endpoint.serverTLS?.alpn ?? []).contains(alpn) {
            throw ServiceError.endpointAlreadyMade(node: node, alpn: alpn)
        }
        applications[node, default: [:]][alpn] = accept
        if !(extraServerALPN[node] ?? []).contains(alpn) { extraServerALPN[node, default: []].append(alpn) }
    }

    public func hasApplication(_ alpn: String, on node: String) -> Bool { applications[node]?[alpn] != nil }

    /// Nodes' certificates come from `source` instead of the run's own CA (`RunCertificates`).
    /// Endpoints take it when they are made, so it must come first.
    package func use(certificates source: NodeCertificateSource) throws {
        guard endpoints.isEmpty else { throw ServiceError.certificatesAfterEndpoints(endpoints.keys.sorted()) }
        certificates = source
    }

    /// A node's new certificate (a rotation): its server presents it to new
    /// connections, and its client too when given (mutual TLS).
    package func replaceCredentials(on node: String, server credentials: TLSCredentials, client: ClientTLSConfiguration?) {
        endpoints[node]?.endpoint.serverTLS?.credentials = credentials
        if let client { endpoints[node]?.endpoint.clientTLS = client }
    }

    /// Every endpoint made so far and every one made later gets `body` as its
    /// handshake-completed hook (e.g. to check peers' certificates against a log).
    package func onHandshakeCompleted(_ body: @escaping (String, QuicConnection) -> Void) {
        handshakeHook = body
        for (node, e) in endpoints { e.endpoint.onHandshakeCompleted = { body(node, $0) } }
    }
    private var handshakeHook: ((String, QuicConnection) -> Void)?

    /// The same for handshakes that fail on the node's own side (a server refusing a client's certificate), with the reason.
    package func onHandshakeFailed(_ body: @escaping (String, QuicConnection, String) -> Void) {
        handshakeFailedHook = body
        for (node, e) in endpoints { e.endpoint.onHandshakeFailed = { body(node, $0, $1) } }
    }
    private var handshakeFailedHook: ((String, QuicConnection, String) -> Void)?

    public enum ServiceError: Error, CustomStringConvertible {
        case endpointAlreadyMade(node: String, alpn: String)
        case certificatesAfterEndpoints([String])
        public var description: String {
            switch self {
            case let .certificatesAfterEndpoints(nodes):
                return "nodes' certificates changed after their endpoints were made (\(nodes.prefix(3).joined(separator: ", ")))"
            case let .endpointAlreadyMade(node, alpn):
                return "\(node)'s STOQ endpoint was made by an earlier workload, without ALPN '\(alpn)'"
            }
        }
    }

    static func tagValue(_ tag: String) -> UInt32 {
        precondition(tag.utf8.count == 4, "service tags are 4 ASCII bytes")
        return tag.utf8.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The node's endpoint, created (with its certificate) on first use.
    public func endpoint(on node: String) throws -> StoqNodeEndpoint {
        if let e = endpoints[node] { return e }
        guard let spec = context.topology.node(named: node) else { throw NetworkError.unknownNode(node) }
        if certificates == nil { certificates = try RunCertificates() }
        let certs = certificates!
        var serverTLS = try certs.serverTLS(for: spec)
        serverTLS.alpn += extraServerALPN[node] ?? []
        let endpoint = try QuicEndpoint(localAddress: SocketAddress(address: spec.address, port: StoqPorts.quic),
                                        configuration: context.endpointConfiguration(for: spec),
                                        client: try certs.clientTLS(for: spec), server: serverTLS,
                                        random: context.randomStream("quic:" + node))
        if let dir = context.qlogDirectory {
            // Labelled connections (a transfer's workload, pair and number) by their label, the rest by node, role and count.
            var unlabelled = 0
            endpoint.qlogSink = { role, label in
                unlabelled += label == nil ? 1 : 0
                let name = label ?? "\(node)-\(role == .client ? "client" : "server")-\(unlabelled)"
                return try? QlogFile(path: dir + "/" + name + ".sqlog")
            }
        }
        let io = try context.bind(node: node, port: StoqPorts.quic)
        let driver = StoqNodeEndpoint(node: node, driver: EndpointDriver(endpoint: endpoint, io: io, scheduler: context.scheduler))
        endpoint.onNewConnection = { [unowned self] connection in
            connection.onEvent = { [unowned self, unowned connection] event in
                if case .handshakeCompleted = event, let agreed = connection.negotiatedALPN, agreed != "stoq" {
                    // Another protocol: its application takes the connection by
                    // installing its own handler, which the driver gives the next event.
                    guard let accept = self.applications[node]?[agreed] else {
                        connection.close(errorCode: 0x10c, reason: "no \(agreed) service on \(node)")
                        connection.onEvent = { _ in }   // its other events mean nothing to STOQ's services
                        return
                    }
                    connection.onEvent = nil
                    accept(connection)
                    return
                }
                self.serve(connection, event)
            }
        }
        if let hook = handshakeHook { endpoint.onHandshakeCompleted = { hook(node, $0) } }
        if let hook = handshakeFailedHook { endpoint.onHandshakeFailed = { hook(node, $0, $1) } }
        endpoints[node] = driver
        return driver
    }

    /// Server side: route readable streams to their service.
    private func serve(_ connection: QuicConnection, _ event: ConnectionEvent) {
        let key = ObjectIdentifier(connection)
        switch event {
        case .streamReadable(let id):
            if let owner = streamOwners[key]?[id] { handlers[owner]?(connection, id); return }
            // Read in place: the tag is taken once its 4 bytes are all in (they may arrive split).
            var tag: UInt32?
            var endedEarly = false
            connection.withReadableBytes(stream: id) { bytes, fin in
                guard bytes.count >= 4 else { endedEarly = fin; return 0 }
                tag = bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                return 4
            }
            guard let tag else {
                if endedEarly { connection.close(errorCode: 0x10c, reason: "stream ended before its service tag") }
                return
            }
            guard handlers[tag] != nil else {
                connection.close(errorCode: 0x10c, reason: "unknown service tag")   // application error
                return
            }
            streamOwners[key, default: [:]][id] = tag
            handlers[tag]?(connection, id)
        case .streamWritable(let id):
            if let owner = streamOwners[key]?[id] { writableHandlers[owner]?(connection, id) }
        case .streamClosed(let id):
            streamOwners[key]?[id] = nil
            if streamOwners[key]?.isEmpty == true { streamOwners[key] = nil }
        case .closed:
            streamOwners[key] = nil
            for h in closedHandlers { h(connection) }
        default:
            break
        }
    }
}
