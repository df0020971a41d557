import StoqEngine
import StoqTransport
import TrustChain

/// Carries TrustChain API requests to a CA over HTTP/3 on a real UDP socket,
/// one connection per request, while `run` turns the real-time loop
/// (`stoqsim trustchain ca enroll|verify`).
public final class RealTimeTrustChainClient: TrustChainClient {
    private let node: RealTimeNode
    private var client: HTTP3TrustChainClient!
    /// Calls in flight, kept alive here until they end.
    private var calls: [ObjectIdentifier: HTTP3Connection] = [:]

    public init(remote: SocketAddress, trustAnchorsPEM: String) throws {
        node = try RealTimeNode(client: ClientTLSConfiguration(verification: .verify(trustAnchors: try TLSCredentials.client(trustAnchorsPEM: trustAnchorsPEM)),
                                                               alpn: ["h3"]))
        client = HTTP3TrustChainClient(link: Link(node: node, remote: remote), closeErrorCode: 0x100) { [unowned self] call, done in   // H3_NO_ERROR
            calls[ObjectIdentifier(call)] = done ? nil : call
        }
    }

    public func send(_ request: TrustChainRequest, completion: @escaping (Result<TrustChainResponse, Error>) -> Void) {
        client.send(request, completion: completion)
    }

    /// Runs the loop until `body` calls its `done` (or `timeout` seconds pass);
    /// `body` starts inside the run, when SimTime is pinned to the wall clock.
    /// Returns false when time ran out first.
    public func run(timeout: Double, _ body: @escaping (_ done: @escaping () -> Void) -> Void) -> Bool {
        var finished = false
        _ = node.scheduler.schedule(at: node.scheduler.now) { [unowned self] in body { finished = true; self.node.stop() } }
        node.run(timeout: .seconds(timeout))
        let inTime = finished   // closing what is left may still fail a call and call `done`
        node.closeConnections(errorCode: 0x100)
        return inTime
    }

    /// Connections from the real-socket node to the CA's address, which its serving certificate names.
    private final class Link: TrustChainCALink {
        let node: RealTimeNode
        let remote: SocketAddress
        init(node: RealTimeNode, remote: SocketAddress) { self.node = node; self.remote = remote }
        var now: SimTime { node.scheduler.now }
        func connectToCA() throws -> QuicConnection {
            try node.endpoint.connect(to: remote, serverName: remote.address.description, at: node.scheduler.now)
        }
        func flush() { node.flush() }
        func schedule(after delay: SimDuration, _ body: @escaping () -> Void) { _ = node.scheduler.schedule(after: delay, body) }
    }
}
