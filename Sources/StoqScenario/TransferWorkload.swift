import StoqAnalyzer
import StoqEngine
import StoqNodeRuntime
import StoqTopology
import StoqTransport

/// Bulk transfers over real QUIC: each source opens a STOQ connection to each
/// destination, sends `size` bytes spread over `streams` streams, and the
/// transfer completes when the receiver has read the last byte of every
/// stream. The sender makes its payload as the streams' send buffers drain
/// (`.streamWritable`), so a transfer holds about its windows, whatever its
/// size. The receiver answers each stream's end with its own (FIN), and the
/// sender closes the connection once every answer arrived: the end travels
/// over the network. Completion time runs from the connection attempt to the
/// receiver's last byte;
/// goodput is the payload over that time. Goodput after slow start is the
/// rate from the moment the receiver had half the payload to its last byte,
/// counted as packets arrive (see `secondHalfGoodput`).
///
/// Timing: every pair transfers at `start`, then `count - 1` more times
/// `interval` apart; or, with `rate`, transfers arrive as a Poisson process at
/// that rate for the whole workload, each between a random pair, until the
/// end of the run (or `count` transfers).
public final class TransferWorkload: Workload {
    public static let kind = "transfer"
    public static let fields = ["from", "to", "size", "streams", "start", "count", "interval", "rate", "timeout"] + TransportKnobs.fields
    static let serviceTag = "XFER"
    /// Per stream: the transfer's number, before the payload.
    static let headerSize = 8

    public let name: String
    let pairs: [(from: String, to: String)]
    let size: Int
    let streams: Int
    let startOffset: SimDuration
    let count: Int
    let interval: SimDuration
    let rate: ArrivalRate?
    let timeout: SimDuration
    /// QUIC settings of this workload's connections (the sender's congestion controller, windows, …).
    let knobs: TransportKnobs
    public var drainTime: SimDuration { timeout }
    /// Transfers whose connection has not closed yet (a finished one waits for the receiver's answers).
    public var hasOutstandingWork: Bool { !transfers.isEmpty }

    public init(spec: WorkloadSpec, name: String, topology: Topology) throws {
        let f = spec.fields
        self.name = name
        pairs = try NodeSelector.pairs(spec, in: topology, workload: name)
        size = try f.byteCount("size") ?? { _ = try f.require("size", context: "a transfer workload"); return 0 }()
        guard size > 0 else { throw TopologyDiagnostic(at: f.location(of: "size"), "'size' must be at least 1 byte") }
        streams = try f.int("streams") ?? 1
        guard (1...1000).contains(streams) else {
            throw TopologyDiagnostic(at: f.location(of: "streams"), "'streams' must be between 1 and 1000; got \(streams)")
        }
        startOffset = try f.duration("start") ?? .zero
        rate = try ArrivalRate.parse(f)
        if rate != nil, f["interval"] != nil {
            throw TopologyDiagnostic(at: f.location(of: "rate"), "give either 'rate' (Poisson arrivals) or 'interval', not both")
        }
        count = try f.int("count") ?? (rate == nil ? 1 : Int.max)
        guard count >= 1 else { throw TopologyDiagnostic(at: f.location(of: "count"), "'count' must be at least 1") }
        interval = try f.duration("interval") ?? .seconds(1)
        guard interval > .zero else { throw TopologyDiagnostic(at: f.location(of: "interval"), "'interval' must be greater than 0") }
        timeout = try f.duration("timeout") ?? .seconds(60)
        knobs = try TransportKnobs(f)
        if startOffset >= topology.duration {
            throw TopologyDiagnostic(at: f.location(of: "start"), "transfer starts at \(startOffset), after the run ends (\(topology.duration))")
        }
    }

    // MARK: Running

    /// One transfer in progress.
    final class Transfer {
        let number: UInt64
        let pair: Int
        let started: SimTime
        var connection: QuicConnection?
        var handshakeDone: SimTime?
        /// Streams still to open (the peer's stream limit may hold some back).
        var streamsToOpen: Int
        /// Payload bytes each open stream has still to write.
        var unwritten: [Int64: Int] = [:]
        /// Streams whose end the receiver has not answered yet.
        var answersAwaited: Int
        var bytesReceived = 0
        /// When the receiver first had at least half the payload, and the UDP
        /// bytes its connection had received by then; and by the last byte.
        var halfReceived: (at: SimTime, wireBytes: UInt64)?
        var wireBytesAtEnd: UInt64?
        var finished = false
        /// The give-up event, cancelled when the transfer ends first.
        var timeout: EventHandle?
        /// The sender's congestion state over time, for the workload's first transfers (`transfer_series`).
        var samples: CongestionSamples?
        init(number: UInt64, pair: Int, started: SimTime, streams: Int) {
            self.number = number
            self.pair = pair
            self.started = started
            streamsToOpen = streams
            answersAwaited = streams
        }
    }

    private var context: ScenarioContext!
    /// Transfers in progress, kept alive here while their events are pending.
    private var transfers: [UInt64: Transfer] = [:]

    public func start(in context: ScenarioContext) throws {
        self.context = context
        // Transfer numbers are global to the run so one sink serves every transfer workload.
        let sink = TransferSink.shared(in: context)
        context.stoq.register(service: Self.serviceTag, closed: { sink.connectionClosed($0) }) { connection, id in
            sink.readable(connection: connection, stream: id)
        }
        for (from, to) in pairs {
            context.traceRoute(from: from, to: to)
            _ = try context.stoq.endpoint(on: from)
            let server = try context.stoq.endpoint(on: to)
            // The servers of resuming transfers issue the tickets their next connections offer.
            if knobs.resumption == true { server.endpoint.issuesSessionTickets = true }
        }
        if rate != nil {
            random = context.randomStream("transfer:" + name)
            scheduleArrival(after: startOffset)
            return
        }
        context.scheduleRounds(start: startOffset, interval: interval, count: count) { [unowned self] _ in
            for i in pairs.indices { self.begin(pair: i) }
        }
    }

    private var random = RandomStream(seed: 0)
    private var arrivals = 0
    /// Transfers this workload has started.
    private var begun = 0

    /// Poisson arrivals: the next transfer, between a random pair, after an exponential gap.
    private func scheduleArrival(after delay: SimDuration) {
        guard let rate, arrivals < count else { return }
        let at = context.scheduler.now + delay + rate.nextGap(using: &random)
        guard at < context.endTime else { return }
        context.scheduler.schedule(at: at) { [unowned self] in
            self.arrivals += 1
            self.begin(pair: Int(self.random.next() % UInt64(self.pairs.count)))
            self.scheduleArrival(after: .zero)
        }
    }

    private func begin(pair: Int) {
        let (from, to) = pairs[pair]
        let sink = TransferSink.shared(in: context)
        let number = sink.allocateNumber()
        let t = Transfer(number: number, pair: pair, started: context.scheduler.now, streams: streams)
        transfers[number] = t
        if begun < context.sampledTransfers { t.samples = CongestionSamples() }
        begun += 1
        sink.expect(number, streams: streams, progress: { [unowned self] bytes, receiver in
            t.bytesReceived = bytes     // what a transfer that times out reports
            if t.halfReceived == nil, 2 * bytes >= self.size { t.halfReceived = (self.context.scheduler.now, receiver.bytesReceived) }
        }, done: { [unowned self] bytes, receiver in
            t.bytesReceived = bytes
            t.wireBytesAtEnd = receiver.bytesReceived
            self.record(t, completed: self.context.scheduler.now)
        })
        do {
            let client = try context.stoq.endpoint(on: from)
            // Resuming with a ticket, streams open before the handshake completes and their
            // data leaves as 0-RTT with the ClientHello; otherwise the peer's limit is 0 until then.
            _ = try client.connect(to: context.address(of: to), serverName: RunCertificates.serverName(of: to),
                                   transport: knobs.isEmpty ? nil : knobs.applied(to: client.endpoint.configuration),
                                   label: "\(name)_\(from)-to-\(to)_\(number)") { [unowned self] c in
                t.connection = c
                self.follow(t, on: c, from: client)
                if c.configurationResumes { self.openStreams(t, on: c) }
            }
        } catch {
            record(t, completed: nil, failure: "could not connect: \(error)")
            transfers[number] = nil
        }
        t.timeout = context.scheduler.schedule(after: timeout) { [unowned self] in
            guard !t.finished else { return }
            self.record(t, completed: nil, failure: "timed out after \(self.timeout)")
            if let c = t.connection, !c.isClosed {
                c.close(errorCode: Self.timedOut, reason: "transfer timed out")
                try? self.context.stoq.endpoint(on: self.pairs[t.pair].from).flush()
            }
        }
    }

    /// The client side of a transfer: streams open at the handshake (or when the
    /// peer allows more), payload follows as buffers drain, and the connection
    /// closes once every stream's answer (the receiver's FIN) arrived.
    private func follow(_ t: Transfer, on c: QuicConnection, from client: StoqNodeEndpoint) {
        // Held by the connection, which the transfer holds: capture the transfer
        // weakly, or the two keep each other (and the whole QUIC state) alive.
        if t.samples != nil {
            // After each transmit turn, i.e. after every ACK the sender processed (and its timers).
            c.onTransmitted = { [unowned self, unowned c, weak t] in
                guard let t else { return }
                t.samples?.sample(at: (self.context.scheduler.now - t.started).nanoseconds, from: c)
            }
        }
        c.onEvent = { [unowned self, unowned client, unowned c, weak t] event in
            guard let t else { return }
            switch event {
            case .handshakeCompleted:
                t.handshakeDone = self.context.scheduler.now
                self.openStreams(t, on: c)
                client.flush()
            case .streamsAvailable(bidirectional: true):
                self.openStreams(t, on: c)
            case .streamWritable(let id):
                self.fill(t, stream: id, on: c)
            case .streamReadable(let id):
                // The receiver's answer: no bytes, only its end once it has read ours.
                guard c.discard(stream: id).fin else { break }
                t.answersAwaited -= 1
                if t.answersAwaited == 0 { c.close() }
            case .closed(let reason):
                if !t.finished { self.record(t, completed: nil, failure: "connection closed: \(reason)") }
                self.transfers[t.number] = nil
            default:
                break
            }
        }
    }

    /// Goodput once slow start is over: from the moment the receiver had half
    /// the payload to its last byte, the UDP bytes that arrived in between,
    /// times the connection's payload share of all it received. Counted on
    /// arrival at the receiver, not on delivery to the application: data a
    /// lost packet held back arrives at the link's pace but is delivered all
    /// at once when the gap fills, and counted then it made the rate exceed
    /// the link's (BBR, whose deep queues hold back a lot).
    private func secondHalfGoodput(_ t: Transfer, end: SimTime) -> Double? {
        guard let half = t.halfReceived, let wire = t.wireBytesAtEnd, end > half.at, wire > half.wireBytes else { return nil }
        return Double(wire - half.wireBytes) * Double(size) / Double(wire) * 8 / (end - half.at).seconds
    }

    /// Application error code of a connection closed because its transfer timed out.
    static let timedOut: UInt64 = 0x10e

    /// Opens the streams the peer allows now: each starts with the service tag
    /// and the transfer's number, then as much payload as its buffer takes.
    private func openStreams(_ t: Transfer, on c: QuicConnection) {
        let perStream = size / streams, extra = size % streams
        var header = Array(Self.serviceTag.utf8)
        for i in 0..<8 { header.append(UInt8(truncatingIfNeeded: t.number >> (8 * UInt64(i)))) }
        do {
            while t.streamsToOpen > 0 {
                let id: Int64
                do { id = try c.openStream() } catch TransportError.streamLimitReached { return }   // more at .streamsAvailable
                let s = streams - t.streamsToOpen
                t.streamsToOpen -= 1
                try c.write(stream: id, header)
                t.unwritten[id] = perStream + (s < extra ? 1 : 0)
                fill(t, stream: id, on: c)
            }
        } catch {
            c.close(errorCode: 0x10d, reason: "transfer could not write: \(error)")
        }
    }

    /// Writes as much of a stream's payload as its send buffer takes, made in
    /// place; the rest waits for `.streamWritable`. The last piece ends the stream.
    private func fill(_ t: Transfer, stream id: Int64, on c: QuicConnection) {
        guard let left = t.unwritten[id] else { return }
        let n = min(left, c.writableBytes(stream: id))
        guard n > 0 || left == 0 else { return }
        do {
            try c.write(stream: id, count: n, fin: n == left) { $0.initializeMemory(as: UInt8.self, repeating: Self.payloadByte) }
        } catch {
            return c.close(errorCode: 0x10d, reason: "transfer could not write: \(error)")
        }
        t.unwritten[id] = n == left ? nil : left - n
    }

    static let payloadByte: UInt8 = 0x5a

    /// The controller of the sender's endpoint (its node's or the topology's `transport:`).
    private func senderCongestion(_ node: String) -> CongestionControl {
        (try? context.stoq.endpoint(on: node).endpoint.configuration.congestionControl) ?? TransportConfiguration().congestionControl
    }

    /// Traces the transfer: `completed` when its last byte arrived, else nil and why it ended (`failure`).
    private func record(_ t: Transfer, completed: SimTime?, failure: String? = nil) {
        guard !t.finished else { return }
        t.finished = true
        if let h = t.timeout { context.scheduler.cancel(h) }
        let m = t.connection?.metrics
        let duration = completed.map { $0 - t.started }
        context.trace(.transfer(.init(
            t: context.scheduler.now.nanosecondsSinceStart, workload: name, from: pairs[t.pair].from, to: pairs[t.pair].to,
            bytes: size, streams: streams, bytesReceived: completed == nil ? t.bytesReceived : size,
            handshakeNs: t.handshakeDone.map { ($0 - t.started).nanoseconds },
            durationNs: duration?.nanoseconds,
            goodputBps: duration.map { Double(size) * 8 / max($0.seconds, 1e-9) },
            secondHalfGoodputBps: completed.flatMap { secondHalfGoodput(t, end: $0) },
            packetsLost: m?.packetsLost, packetsRetransmitted: m?.streamPacketsRetransmitted ?? 0,
            smoothedRttNs: m?.smoothedRTT.nanoseconds ?? 0,
            congestion: (knobs.congestion ?? senderCongestion(pairs[t.pair].from)).rawValue, transport: knobs.traceText,
            failure: completed == nil ? failure : nil)))
        if completed == nil { TransferSink.shared(in: context).forget(t.number) }
        if let samples = t.samples, let c = t.connection {
            // A closed connection's state is gone: its last sample is the one taken before.
            if !c.isClosed { samples.sample(at: (context.scheduler.now - t.started).nanoseconds, from: c, force: true) }
            context.trace(.transferSeries(.init(
                t: context.scheduler.now.nanosecondsSinceStart, workload: name, from: pairs[t.pair].from, to: pairs[t.pair].to,
                startNs: t.started.nanosecondsSinceStart, offsetNs: samples.offsetNs, cwnd: samples.cwnd, srttNs: samples.srttNs,
                inFlight: samples.inFlight)))
        }
    }
}

/// The receiving side of transfers: counts each stream's bytes (after its
/// header, they are never copied out of their packets), reports each transfer's running
/// total as it grows, answers each stream's end with its own, and reports a
/// transfer done when all its streams have ended. Its bookkeeping goes with
/// the transfer (done or forgotten) and with the connection (closed).
final class TransferSink {
    private struct Expected {
        var streamsLeft: Int
        var bytes = 0
        let progress: (Int, QuicConnection) -> Void
        let done: (Int, QuicConnection) -> Void
    }
    private var expected: [UInt64: Expected] = [:]
    /// Per server-side connection and stream: the transfer it belongs to, once its number arrived.
    private var streamTransfer: [ObjectIdentifier: [Int64: UInt64]] = [:]
    private var nextNumber: UInt64 = 0

    /// One sink per run (per context); dropped with the context's services.
    static func shared(in context: ScenarioContext) -> TransferSink {
        context.transferSink
    }

    /// Transfers awaited and connections with streams in progress: 0 and 0 once all are over.
    var entries: (transfers: Int, connections: Int) { (expected.count, streamTransfer.count) }

    func allocateNumber() -> UInt64 {
        nextNumber += 1
        return nextNumber
    }

    /// `progress` gets the payload bytes received so far after each delivery; `done`, the total;
    /// both with the receiving connection.
    func expect(_ number: UInt64, streams: Int, progress: @escaping (Int, QuicConnection) -> Void,
                done: @escaping (Int, QuicConnection) -> Void) {
        expected[number] = Expected(streamsLeft: streams, progress: progress, done: done)
    }

    /// The transfer is over without completing (timed out, failed): what still arrives for it is dropped.
    func forget(_ number: UInt64) {
        expected[number] = nil
    }

    func connectionClosed(_ connection: QuicConnection) {
        streamTransfer[ObjectIdentifier(connection)] = nil
    }

    /// A transfer stream has bytes after its service tag: first its number, then payload.
    func readable(connection: QuicConnection, stream id: Int64) {
        let key = ObjectIdentifier(connection)
        var number = streamTransfer[key]?[id]
        if number == nil {
            // Read in place: the number is taken once its 8 bytes are all in.
            connection.withReadableBytes(stream: id) { bytes, _ in
                guard bytes.count >= TransferWorkload.headerSize else { return 0 }
                number = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
                return TransferWorkload.headerSize
            }
            guard let n = number else {
                if connection.discard(stream: id).fin { try? connection.finish(stream: id) }   // shorter than a header
                return
            }
            streamTransfer[key, default: [:]][id] = n
            connection.discardArriving(stream: id)   // the payload is only counted: never copied
        }
        let (payloadBytes, fin) = connection.discard(stream: id)
        if fin {
            streamTransfer[key]?[id] = nil
            if streamTransfer[key]?.isEmpty == true { streamTransfer[key] = nil }
            try? connection.finish(stream: id)   // the answer: the sender learns over the network that all arrived
        }
        guard let n = number, expected[n] != nil else { return }
        expected[n]!.bytes += payloadBytes
        if payloadBytes > 0 { expected[n]!.progress(expected[n]!.bytes, connection) }
        if fin {
            expected[n]!.streamsLeft -= 1
            if expected[n]!.streamsLeft == 0, let e = expected.removeValue(forKey: n) {
                e.done(e.bytes, connection)
            }
        }
    }
}
