import StoqEngine
import StoqTransport

/// How an HTTP/3 TrustChain client reaches its CA from a node's QUIC
/// endpoint, whatever carries the endpoint: a run's simulated network
/// (StoqScenario's TrustChain workload) or a real UDP socket
/// (StoqNodeRuntime's `RealTimeTrustChainClient`).
public protocol TrustChainCALink: AnyObject {
    /// The node's clock.
    var now: SimTime { get }
    /// Opens a new QUIC connection to the CA, offering ALPN h3.
    func connectToCA() throws -> QuicConnection
    /// Sends what the node's connections have ready (after a request or a close).
    func flush()
    /// Runs `body` after `delay` on the node's clock.
    func schedule(after delay: SimDuration, _ body: @escaping () -> Void)
}

/// Carries a node's TrustChain requests to the CA as HTTP/3 over STOQ: each
/// request on its own connection, so it pays the real handshake and round
/// trips of the network, or (`keepsConnection`) on one connection kept open
/// while requests keep coming (closed `linger` after the last one: an idle
/// connection costs ~80 KiB a side); a request fails as "unreachable" when
/// the CA cannot be reached (the connection times out).
public final class HTTP3TrustChainClient: TrustChainClient {
    private let link: TrustChainCALink
    /// Told when a call's connection starts (done: false) and stops (done:
    /// true) carrying requests: the owner keeps it alive in between (nothing
    /// else holds an HTTP/3 connection) and may count it as outstanding work.
    private let track: (HTTP3Connection, _ done: Bool) -> Void
    /// Round trips of the current attempt: the enrolment request, and the proof
    /// (and consistency) requests summed.
    public private(set) var enrolmentRoundTrip: SimDuration?
    public private(set) var proofRoundTrips: SimDuration?
    /// The last enrolment request sent, byte for byte (what a rogue node replays).
    public private(set) var lastEnrolment: TrustChainRequest?

    /// A client on the CA's own node calls its CA in process.
    private let local: TrustChainAPI?
    private let keepsConnection: Bool
    /// The application error code a connection is closed with once its calls are done.
    private let closeErrorCode: UInt64
    /// The kept connection, and how many requests are in flight on it.
    private var kept: HTTP3Connection?
    private var inFlight = 0
    public static let linger = SimDuration.seconds(2)

    public init(link: TrustChainCALink, local: TrustChainAPI? = nil, keepsConnection: Bool = false, closeErrorCode: UInt64 = 0,
                track: @escaping (HTTP3Connection, _ done: Bool) -> Void) {
        self.link = link; self.local = local; self.keepsConnection = keepsConnection
        self.closeErrorCode = closeErrorCode; self.track = track
    }

    public func resetTimings() {
        enrolmentRoundTrip = nil
        proofRoundTrips = nil
    }

    public func send(_ request: TrustChainRequest, completion: @escaping (Result<TrustChainResponse, Error>) -> Void) {
        if request.path == "/ca/certificate" { lastEnrolment = request }
        if let local { return completion(.success(local.handle(request, now: link.now))) }
        let started = link.now
        let http: HTTP3Connection
        do {
            if keepsConnection, let k = kept, !k.quic.isClosed {
                http = k
            } else {
                http = try HTTP3Connection(client: try link.connectToCA())
                if keepsConnection { kept = http; inFlight = 0 }
            }
        } catch {
            return completion(.failure(error))
        }
        // A kept connection counts as outstanding work while a request is in flight on it.
        if !keepsConnection || inFlight == 0 { track(http, false) }
        if keepsConnection { inFlight += 1 }
        let headers = request.body.isEmpty ? [] : [HTTP3Header("content-type", "application/json")]
        http.request(method: request.method, path: request.path, headers: headers, body: request.body) { [unowned self] result in
            let elapsed = self.link.now - started
            if request.path == "/ca/certificate" {
                self.enrolmentRoundTrip = elapsed
            } else {
                self.proofRoundTrips = (self.proofRoundTrips ?? .zero) + elapsed
            }
            if self.keepsConnection && self.kept === http {
                self.inFlight -= 1
                if self.inFlight == 0 {
                    self.track(http, true)
                    self.link.schedule(after: Self.linger) { [weak self, weak http] in
                        guard let self, let http, self.kept === http, self.inFlight == 0 else { return }
                        http.quic.close(errorCode: self.closeErrorCode)
                        self.kept = nil
                        self.link.flush()
                    }
                }
            } else {
                if !self.keepsConnection { http.quic.close(errorCode: self.closeErrorCode) }
                self.track(http, true)
            }
            self.link.flush()
            completion(result.map { TrustChainResponse(status: $0.status, body: $0.body) }.mapError { $0 as Error })
        }
        link.flush()
    }
}
