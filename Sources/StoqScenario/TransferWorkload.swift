import StoqAnalyzer
import StoqEngine
import StoqTopology
import StoqTransport

/// Bulk transfers over real QUIC: each source opens a STOQ connection to each
/// destination, sends `size` bytes spread over `streams` streams, and the
/// transfer completes when the receiver has read the last byte of every
/// stream. Completion time runs from the connection attempt to that moment;
/// goodput is the payload over that time. Goodput after slow start is the
/// payload that arrived after the receiver had half of it, over the time from
/// then to the last byte.
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
        var streamsDone = 0
        var bytesReceived = 0
        /// When the receiver first had at least half the payload, and how much it had then.
        var halfReceived: (at: SimTime, bytes: Int)?
        var finished = false
        /// The give-up event, cancelled when the transfer ends first.
        var timeout: EventHandle?
        init(number: UInt64, pair: Int, started: SimTime) {
            self.number = number
            self.pair = pair
            self.started = started
        }
    }

    private var context: ScenarioContext!
    /// Transfers in progress, kept alive here while their events are pending.
    private var transfers: [UInt64: Transfer] = [:]

    public func start(in context: ScenarioContext) throws {
        self.context = context
        // Transfer numbers are global to the run so one sink serves every transfer workload.
        context.stoq.register(service: Self.serviceTag) { connection, id, bytes, fin in
            TransferSink.shared(in: context).receive(connection: connection, stream: id, bytes: bytes, fin: fin)
        }
        for (from, to) in pairs {
            context.traceRoute(from: from, to: to)
            _ = try context.stoq.endpoint(on: from)
            _ = try context.stoq.endpoint(on: to)
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
        let t = Transfer(number: number, pair: pair, started: context.scheduler.now)
        transfers[number] = t
        sink.expect(number, streams: streams, progress: { [unowned self] bytes in
            if t.halfReceived == nil, 2 * bytes >= self.size { t.halfReceived = (self.context.scheduler.now, bytes) }
        }, done: { [unowned self] bytes in self.receiverDone(t, bytes: bytes) })
        do {
            let client = try context.stoq.endpoint(on: from)
            let c = try client.connect(to: context.address(of: to), serverName: RunCertificates.serverName(of: to),
                                       transport: knobs.isEmpty ? nil : knobs.applied(to: client.endpoint.configuration),
                                       label: "\(name)_\(from)-to-\(to)_\(number)")
            t.connection = c
            // Held by the connection, which the transfer holds: capture the transfer
            // weakly, or the two keep each other (and the whole QUIC state) alive.
            c.onEvent = { [unowned self, unowned client, unowned c, weak t] event in
                guard let t else { return }
                switch event {
                case .handshakeCompleted:
                    t.handshakeDone = self.context.scheduler.now
                    self.send(t, on: c)
                    client.flush()
                case .closed:
                    if !t.finished { self.record(t, completed: nil) }
                default:
                    break
                }
            }
        } catch {
            record(t, completed: nil)
        }
        t.timeout = context.scheduler.schedule(after: timeout) { [unowned self] in
            if !t.finished { self.record(t, completed: nil) }
        }
    }

    /// Writes the payload: the service tag and transfer number, then the bytes.
    private func send(_ t: Transfer, on c: QuicConnection) {
        let perStream = size / streams, extra = size % streams
        var header = Array(Self.serviceTag.utf8)
        for i in 0..<8 { header.append(UInt8(truncatingIfNeeded: t.number >> (8 * UInt64(i)))) }
        let piece = [UInt8](repeating: 0x5a, count: 64 * 1024)
        do {
            for s in 0..<streams {
                let id = try c.openStream()
                try c.write(stream: id, header)
                var left = perStream + (s < extra ? 1 : 0)
                while left > 0 {
                    let n = min(left, piece.count)
                    try c.write(stream: id, piece[0..<n], fin: n == left)
                    left -= n
                }
                if perStream + (s < extra ? 1 : 0) == 0 { try c.finish(stream: id) }
            }
        } catch {
            c.close(errorCode: 0x10d, reason: "transfer could not write: \(error)")
        }
    }

    private func receiverDone(_ t: Transfer, bytes: Int) {
        t.bytesReceived = bytes
        record(t, completed: context.scheduler.now)
        t.connection?.close()
        try? context.stoq.endpoint(on: pairs[t.pair].from).flush()
    }

    /// The controller of the sender's endpoint (its node's or the topology's `transport:`).
    private func senderCongestion(_ node: String) -> CongestionControl {
        (try? context.stoq.endpoint(on: node).endpoint.configuration.congestionControl) ?? TransportConfiguration().congestionControl
    }

    private func record(_ t: Transfer, completed: SimTime?) {
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
            secondHalfGoodputBps: completed.flatMap { end in
                t.halfReceived.flatMap { end > $0.at ? Double(size - $0.bytes) * 8 / (end - $0.at).seconds : nil }
            },
            packetsLost: m?.packetsLost ?? 0, packetsRetransmitted: m?.streamPacketsRetransmitted ?? 0,
            smoothedRttNs: m?.smoothedRTT.nanoseconds ?? 0,
            congestion: (knobs.congestion ?? senderCongestion(pairs[t.pair].from)).rawValue, transport: knobs.traceText)))
        transfers[t.number] = nil
    }
}

/// The receiving side of transfers: counts each stream's bytes, reports each
/// transfer's running total as it grows, and reports a transfer done when all
/// its streams have ended.
final class TransferSink {
    private struct Expected {
        var streamsLeft: Int
        var bytes = 0
        let progress: (Int) -> Void
        let done: (Int) -> Void
    }
    private var expected: [UInt64: Expected] = [:]
    /// Per server-side stream: the transfer it belongs to, once its number arrived.
    private var streamTransfer: [ObjectIdentifier: [Int64: UInt64]] = [:]
    private var partialHeaders: [ObjectIdentifier: [Int64: [UInt8]]] = [:]
    private var nextNumber: UInt64 = 0

    /// One sink per run (per context); dropped with the context's services.
    static func shared(in context: ScenarioContext) -> TransferSink {
        context.stoq.transferSink
    }

    func allocateNumber() -> UInt64 {
        nextNumber += 1
        return nextNumber
    }

    /// `progress` gets the payload bytes received so far after each delivery; `done`, the total.
    func expect(_ number: UInt64, streams: Int, progress: @escaping (Int) -> Void, done: @escaping (Int) -> Void) {
        expected[number] = Expected(streamsLeft: streams, progress: progress, done: done)
    }

    func receive(connection: QuicConnection, stream id: Int64, bytes: [UInt8], fin: Bool) {
        let key = ObjectIdentifier(connection)
        var payloadBytes = bytes.count
        var number = streamTransfer[key]?[id]
        if number == nil {
            let head = (partialHeaders[key]?[id] ?? []) + bytes
            guard head.count >= TransferWorkload.headerSize else {
                partialHeaders[key, default: [:]][id] = head
                return
            }
            partialHeaders[key]?[id] = nil
            let n = (0..<8).reduce(UInt64(0)) { $0 | UInt64(head[$1]) << (8 * UInt64($1)) }
            streamTransfer[key, default: [:]][id] = n
            number = n
            payloadBytes = head.count - TransferWorkload.headerSize
        }
        guard let n = number, expected[n] != nil else { return }
        expected[n]!.bytes += payloadBytes
        if payloadBytes > 0 { expected[n]!.progress(expected[n]!.bytes) }
        if fin {
            streamTransfer[key]?[id] = nil
            expected[n]!.streamsLeft -= 1
            if expected[n]!.streamsLeft == 0, let e = expected.removeValue(forKey: n) {
                e.done(e.bytes)
            }
        }
    }
}
