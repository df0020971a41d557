import StoqEngine
import StoqNetwork
import StoqTopology
import StoqTransport

/// One node's STOQ endpoint in a run: the transport's `EndpointDriver` joins
/// the sans-IO endpoint to the node's `DatagramIO` and the scheduler, so this
/// code does not know whether the seam is the simulated network or a socket.
public final class StoqNodeEndpoint {
    public let node: String
    public let driver: EndpointDriver
    public var endpoint: QuicEndpoint { driver.endpoint }

    init(node: String, driver: EndpointDriver) {
        self.node = node
        self.driver = driver
    }

    /// Sends what the connections have ready; call after writing to a stream.
    public func flush() { driver.flush() }

    /// Opens a connection to `remote`'s STOQ port, verifying it as `serverName`;
    /// `alpn` other than STOQ's for another application there (e.g. ["h3"]);
    /// `tls` instead of the node's client configuration. `beforeFirstFlight`
    /// runs before the ClientHello leaves: what it writes to streams of a
    /// resuming connection goes out as 0-RTT data with the ClientHello.
    /// (Written after it, the data would wait for ngtcp2's pacer, which spaces
    /// packets by the initial RTT estimate of 333 ms until a sample exists.)
    public func connect(to remote: IPv6Address, serverName: String, alpn: [String]? = nil, tls: ClientTLSConfiguration? = nil,
                        transport: TransportConfiguration? = nil, label: String? = nil,
                        beforeFirstFlight: ((QuicConnection) -> Void)? = nil) throws -> QuicConnection {
        let c = try endpoint.connect(to: SocketAddress(address: remote, port: StoqPorts.quic), serverName: serverName,
                                     alpn: alpn, tls: tls, configuration: transport, label: label, at: driver.scheduler.now)
        beforeFirstFlight?(c)
        driver.flush()
        return c
    }
}

public enum StoqPorts {
    /// Every node's STOQ endpoint listens here.
    public static let quic: UInt16 = 443
}

/// Where nodes' TLS identities come from: the run's own CA (`RunCertificates`, the default)
/// or TrustChain enrolment (the `trustchain` workload).
package protocol NodeCertificateSource: AnyObject {
    /// What a node's client trusts, on which timeline it checks validity, and
    /// the certificate it shows a server that asks (mutual TLS).
    func clientTLS(for node: NodeSpec) throws -> ClientTLSConfiguration
    /// What a node's server presents when its endpoint is made.
    func serverTLS(for node: NodeSpec) throws -> ServerTLSConfiguration
}

/// The certificates of one run: a root CA made for the run issues every node
/// a certificate for its DNS name (`NODE.stoq`) and IPv6 address, and every
/// client verifies the chain against that root: real chains and real
/// verification, never a bypass. Every run without a `trustchain` workload
/// uses it.
package final class RunCertificates: NodeCertificateSource {
    private let authority: RunCertificateAuthority
    private let trustAnchors: TLSCredentials

    package init() throws {
        authority = try RunCertificateAuthority(commonName: "STOQ Sim run CA")
        trustAnchors = try TLSCredentials.client(trustAnchorsPEM: authority.rootCertificatePEM)
    }

    package static func serverName(of node: String) -> String { node + ".stoq" }

    package func serverTLS(for node: NodeSpec) throws -> ServerTLSConfiguration {
        let bundle = try authority.issueLeaf(names: [.dns(Self.serverName(of: node.name)), .ipv6(node.address)])
        return ServerTLSConfiguration(credentials: try TLSCredentials.server(bundle))
    }

    package func clientTLS(for node: NodeSpec) throws -> ClientTLSConfiguration { ClientTLSConfiguration(verification: .verify(trustAnchors: trustAnchors)) }
}
