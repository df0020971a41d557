import StoqEngine
import StoqNetwork
import StoqTopology
import StoqTransport

/// Drives one node's QUIC endpoint from the scheduler and a `DatagramIO`: the
/// sans-IO endpoint gets datagrams and the time in, and its datagrams go out
/// through the seam, its next deadline onto a timer. Nothing here knows
/// whether the seam is the simulated network or a real socket.
public final class StoqNodeEndpoint {
    public let node: String
    public let endpoint: QuicEndpoint
    private let io: DatagramIO
    private let scheduler: Scheduler
    private var timer: SimTimer!

    init(node: String, endpoint: QuicEndpoint, io: DatagramIO, scheduler: Scheduler) {
        self.node = node
        self.endpoint = endpoint
        self.io = io
        self.scheduler = scheduler
        timer = scheduler.makeTimer { [unowned self] in
            self.endpoint.handleDeadlines(at: self.scheduler.now)
            self.flush()
        }
        io.receiveHandler = { [unowned self] datagram in
            self.endpoint.receive(datagram, at: self.scheduler.now)
            self.flush()
        }
    }

    /// Sends whatever the connections have ready and re-arms the timer. Call
    /// after the application wrote to a stream or opened a connection.
    public func flush() {
        endpoint.transmit(at: scheduler.now) { io.send($0) }
        if let deadline = endpoint.nextDeadline { timer.arm(at: deadline) } else { timer.cancel() }
    }

    /// Opens a connection to `remote`'s STOQ port, verifying it as `serverName`.
    public func connect(to remote: IPv6Address, serverName: String) throws -> QuicConnection {
        let c = try endpoint.connect(to: SocketAddress(address: remote, port: StoqPorts.quic), serverName: serverName,
                                     at: scheduler.now)
        flush()
        return c
    }
}

public enum StoqPorts {
    /// Every node's STOQ endpoint listens here.
    public static let quic: UInt16 = 443
}

/// The certificates of one run: a root CA made for the run issues every node
/// a certificate for its DNS name (`NODE.stoq`) and IPv6 address, and every
/// client verifies the chain against that root. Until TrustChain enrolment
/// arrives this is the "localhost testing" flavour, but with real chains and
/// real verification, never a bypass.
final class RunCertificates {
    private let authority: CertificateAuthorityForTesting
    private let trustAnchors: TLSCredentials

    init() throws {
        authority = try CertificateAuthorityForTesting(commonName: "STOQ Sim run CA")
        trustAnchors = try TLSCredentials.client(trustAnchorsPEM: authority.rootCertificatePEM)
    }

    static func serverName(of node: String) -> String { node + ".stoq" }

    func serverTLS(for node: NodeSpec) throws -> ServerTLSConfiguration {
        let bundle = try authority.issueLeaf(names: [.dns(Self.serverName(of: node.name)), .ipv6(node.address)])
        return ServerTLSConfiguration(credentials: try TLSCredentials.server(bundle))
    }

    var clientTLS: ClientTLSConfiguration { ClientTLSConfiguration(verification: .verify(trustAnchors: trustAnchors)) }
}
