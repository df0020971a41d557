import StoqEngine
import StoqNodeRuntime
import StoqTransport

/// A request/response protocol end that runs on one stream, sans-IO: what
/// `StreamExchange` drives (the content protocol).
protocol ExchangeSession: AnyObject {
    func receive(_ bytes: [UInt8], fin: Bool)
    /// Bytes to write (about `max`, the room the stream has), and whether to
    /// end our side of the stream after them.
    func takeOutput(max: Int) -> (bytes: [UInt8], fin: Bool)
    /// Bytes still to be taken: the exchange waits for room to write them.
    var hasOutputPending: Bool { get }
    /// nil while running.
    var finished: ExchangeEnd? { get }
}

enum ExchangeEnd: Equatable {
    case succeeded
    case failed(String)

    var error: String? { if case .failed(let e) = self { return e } else { return nil } }
}

/// One exchange on its own STOQ connection from `client` to `server`:
/// connects, opens a stream that starts with the service tag, pumps the
/// session's bytes both ways — writing only what the stream has room for, the
/// rest when it signals room again — and ends when the session does (or the
/// connection closes first). A sending session (`waitsForAcknowledgement`) ends
/// only once the peer has acknowledged everything, i.e. when the stream closes.
final class StreamExchange {
    let session: ExchangeSession
    let serviceTag: String
    let client: String
    let server: String
    let waitsForAcknowledgement: Bool
    let started: SimTime
    /// Called once with nil (success) or why it failed.
    var onEnd: ((String?) -> Void)?
    private var connection: QuicConnection?
    private var endpoint: StoqNodeEndpoint?
    private var stream: Int64?
    private var ended = false

    init(session: ExchangeSession, serviceTag: String, client: String, server: String, waitsForAcknowledgement: Bool = false,
         started: SimTime) {
        self.session = session; self.serviceTag = serviceTag; self.client = client; self.server = server
        self.waitsForAcknowledgement = waitsForAcknowledgement; self.started = started
    }

    /// Connects; `knobs` (a workload's QUIC knobs) over the client endpoint's settings.
    func open(in context: ScenarioContext, knobs: TransportKnobs = TransportKnobs()) throws {
        let endpoint = try context.stoq.endpoint(on: client)
        _ = try context.stoq.endpoint(on: server)
        self.endpoint = endpoint
        let c = try endpoint.connect(to: context.address(of: server), serverName: RunCertificates.serverName(of: server),
                                     transport: knobs.isEmpty ? nil : knobs.applied(to: endpoint.endpoint.configuration))
        connection = c
        // The connection holds this handler: capture weakly, or neither dies. Weak,
        // not unowned: the exchange may end (and go) mid-way through a batch of events.
        c.onEvent = { [weak self, unowned c] event in
            guard let self else { return }
            switch event {
            case .handshakeCompleted:
                do {
                    let id = try c.openStream()
                    self.stream = id
                    try c.write(stream: id, Array(self.serviceTag.utf8))
                    self.pump(c)
                } catch {
                    self.end("could not open a stream: \(error)")
                }
            case .streamReadable(let id) where id == self.stream:
                let (bytes, fin) = c.read(stream: id)
                self.session.receive(bytes, fin: fin)
                self.pump(c)
            case .streamWritable(let id) where id == self.stream:
                self.pump(c)
            case .streamClosed(let id) where id == self.stream && self.session.finished != nil:
                self.end(self.session.finished?.error)     // a sender's last byte was acknowledged
            case .closed(let reason):
                self.end("connection closed: \(reason)")
            default:
                break
            }
        }
    }

    private func pump(_ c: QuicConnection) {
        guard let id = stream else { return }
        let (out, fin) = session.takeOutput(max: c.writableBytes(stream: id))
        if !out.isEmpty || fin {
            do { try c.write(stream: id, out, fin: fin) } catch { return end("could not write: \(error)") }
        }
        endpoint?.flush()
        guard let result = session.finished, !session.hasOutputPending else { return }
        if result.error == nil && waitsForAcknowledgement { return }
        end(result.error)
    }

    /// Ends the exchange once; an ended exchange closes its connection.
    func end(_ error: String?) {
        guard !ended else { return }
        ended = true
        if let c = connection, !c.isClosed {
            c.onEvent = nil
            c.close()
            endpoint?.flush()
        }
        let handler = onEnd
        onEnd = nil
        handler?(error)     // may release this exchange: the last thing it does
    }
}
