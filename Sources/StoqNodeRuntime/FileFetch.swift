import StoqEngine
import StoqTransport

/// One file fetched from a STOQ node over a real socket (`stoqsim node get`):
/// a raw STOQ stream ("GET /path\r\n" → the file's bytes, `RawFileProtocol`)
/// or an HTTP/3 GET, timed on the wall clock.
public struct FileFetch {
    public var remote: SocketAddress
    public var path: String
    /// The name the server's certificate is verified against.
    public var serverName: String
    public var verification: ServerCertificateVerification
    public var alpn: [String]
    public var http3: Bool
    /// Give up after this much wall time.
    public var timeout: SimDuration

    public init(remote: SocketAddress, path: String, serverName: String, verification: ServerCertificateVerification,
                alpn: [String], http3: Bool, timeout: SimDuration) {
        self.remote = remote; self.path = path; self.serverName = serverName; self.verification = verification
        self.alpn = alpn; self.http3 = http3; self.timeout = timeout
    }

    public struct Outcome {
        public var metrics: ConnectionMetrics?
        public var bytes = 0
        /// When the connection was opened, the first body byte arrived and the last did (nil: it did not).
        public var start: SimTime
        public var firstByte: SimTime?
        public var done: SimTime?
        /// Why the file did not arrive (nil when it did, or when a signal or the timeout stopped the fetch first).
        public var failure: String?
        /// SIGINT or SIGTERM, when one stopped the fetch.
        public var signal: String?
        public var timedOut: Bool
    }

    /// Fetches the file, handing its bytes to `write` as they arrive.
    public func run(write: @escaping ([UInt8]) -> Void) throws -> Outcome {
        let node = try RealTimeNode(client: ClientTLSConfiguration(verification: verification, alpn: alpn), wallClock: true)
        try node.stopOnSignals()
        let path = self.path, http3 = self.http3, remote = remote, serverName = serverName
        var outcome = Outcome(start: node.scheduler.now, timedOut: false)
        var connection: QuicConnection?
        var http: HTTP3Connection?
        func handle(_ event: ConnectionEvent, on c: QuicConnection) {
            switch event {
            case .handshakeCompleted:
                do {
                    let id = try c.openStream()
                    try c.write(stream: id, RawFileProtocol.request(path: path), fin: true)
                } catch { outcome.failure = "\(error)"; node.stop() }
            case let .streamReadable(id):
                let (data, fin) = c.read(stream: id)
                if !data.isEmpty { outcome.firstByte = outcome.firstByte ?? node.now }
                outcome.bytes += data.count
                write(data)
                if fin {
                    outcome.done = node.now
                    c.close(errorCode: 0)
                }
            case let .streamReset(_, code):
                switch code {
                case RawFileProtocol.notFound: outcome.failure = "\(path): not found on the server"
                case RawFileProtocol.forbidden: outcome.failure = "\(path): refused by the server (it leads outside the served directory)"
                case RawFileProtocol.badRequest: outcome.failure = "\(path): refused by the server as a malformed path"
                default: outcome.failure = "server reset the stream (code \(code))"
                }
                c.close(errorCode: 0)
            case let .closed(reason):
                if outcome.done == nil && outcome.failure == nil { outcome.failure = "\(reason)" }
                node.stop()
            default: break
            }
        }
        // Connect from inside the run: the real-time driver pins SimTime to the wall clock when `run` starts.
        _ = node.scheduler.schedule(at: node.scheduler.now) {
            do {
                outcome.start = node.now
                let c = try node.endpoint.connect(to: remote, serverName: serverName, at: outcome.start)
                connection = c
                if http3 {
                    let h = try HTTP3Connection(client: c)
                    http = h
                    // HTTP/3 reads the streams itself; only the end of the connection matters here.
                    h.onEvent = { [unowned c] event in if case .closed = event { handle(event, on: c) } }
                    h.request(path: path) { result in
                        switch result {
                        case let .success(response) where response.status == 200:
                            outcome.firstByte = node.now   // bodies arrive whole: first byte = last byte
                            outcome.bytes = response.body.count
                            write(response.body)
                            outcome.done = node.now
                        case let .success(response):
                            outcome.failure = "\(path): HTTP status \(response.status)\(response.body.isEmpty ? "" : ": " + response.text.prefix(200))"
                        case let .failure(error):
                            outcome.failure = "\(error)"
                        }
                        c.close(errorCode: 0x100)   // H3_NO_ERROR
                    }
                } else {
                    c.onEvent = { [unowned c] in handle($0, on: c) }
                }
                node.flush()
            } catch {
                outcome.failure = "\(error)"
                node.stop()
            }
        }
        outcome.timedOut = node.run(timeout: timeout) == .reachedEndTime
        withExtendedLifetime(http) {}   // the HTTP/3 layer lived for the run
        outcome.metrics = connection?.metrics
        outcome.signal = node.stoppedBy
        return outcome
    }
}
