import StoqEngine
import StoqNetwork
import StoqTopology
import StoqTransport

/// The STOQ endpoints of a run, one per node on `StoqPorts.quic`, made when a
/// workload first needs them, and the services they answer. A stream opened
/// to a node starts with a 4-byte service tag; the node hands the stream to
/// the service registered for that tag and resets streams with unknown tags.
public final class StoqServices {
    public typealias StreamHandler = (QuicConnection, Int64, _ bytes: [UInt8], _ fin: Bool) -> Void

    private unowned let context: ScenarioContext
    private var endpoints: [String: StoqNodeEndpoint] = [:]
    private var certificates: RunCertificates?
    private var handlers: [UInt32: StreamHandler] = [:]
    /// Which service owns each server-side stream, by connection identity and stream id.
    private var streamOwners: [ObjectIdentifier: [Int64: UInt32]] = [:]
    private var pendingTags: [ObjectIdentifier: [Int64: [UInt8]]] = [:]
    /// ALPN protocols a node's server accepts after "stoq" (e.g. "h3"), by
    /// node; read when the node's endpoint is made (the serve workload sets it).
    public var extraServerALPN: [String: [String]] = [:]
    /// The receiving side of every transfer workload of the run.
    lazy var transferSink = TransferSink()

    init(context: ScenarioContext) {
        self.context = context
    }

    /// Registers the handler of streams tagged `tag` (e.g. "XFER"). The handler
    /// gets the bytes after the tag, as they arrive.
    public func register(service tag: String, _ handler: @escaping StreamHandler) {
        handlers[Self.tagValue(tag)] = handler
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
                                        configuration: TransportConfiguration(),
                                        client: certs.clientTLS, server: serverTLS,
                                        random: context.randomStream("quic:" + node))
        let io = try context.bind(node: node, port: StoqPorts.quic)
        let driver = StoqNodeEndpoint(node: node, driver: EndpointDriver(endpoint: endpoint, io: io, scheduler: context.scheduler))
        endpoint.onNewConnection = { [unowned self] connection in
            connection.onEvent = { [unowned self, unowned connection] event in
                self.serve(connection, event)
            }
        }
        endpoints[node] = driver
        return driver
    }

    /// Server side: route readable streams to their service.
    private func serve(_ connection: QuicConnection, _ event: ConnectionEvent) {
        let key = ObjectIdentifier(connection)
        switch event {
        case .streamReadable(let id):
            var (bytes, fin) = connection.read(stream: id)
            var owner = streamOwners[key]?[id]
            if owner == nil {
                // The tag may arrive split over packets: collect 4 bytes first.
                var head = (pendingTags[key]?[id] ?? []) + bytes
                guard head.count >= 4 else {
                    pendingTags[key, default: [:]][id] = head
                    return
                }
                pendingTags[key]?[id] = nil
                let tag = head[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                head.removeFirst(4)
                bytes = head
                guard handlers[tag] != nil else {
                    connection.close(errorCode: 0x10c, reason: "unknown service tag")   // application error
                    return
                }
                streamOwners[key, default: [:]][id] = tag
                owner = tag
            }
            handlers[owner!]?(connection, id, bytes, fin)
            if fin { streamOwners[key]?[id] = nil }
        case .closed:
            streamOwners[key] = nil
            pendingTags[key] = nil
        default:
            break
        }
    }
}
