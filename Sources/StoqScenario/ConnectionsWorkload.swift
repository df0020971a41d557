import CStoq
import Dispatch
import Foundation
import StoqAnalyzer
import StoqEngine
import StoqNodeRuntime
import StoqTopology
import StoqTransport

/// `connections`: many QUIC connections held open at once. `count`
/// connections arrive from the `from` nodes in turn (round robin, so every
/// selected client and site takes part) over `ramp` (evenly spaced) or at
/// `rate` (Poisson), each to its nearest `to` node (or a random one), with a
/// real TLS 1.3 handshake against the node's certificate (the run's CA, or
/// TrustChain's when a `trustchain` workload enrolled the nodes). Once its
/// handshake completes a connection stays idle for `hold` — the client's
/// QUIC keep-alive PINGs every `keep-alive`, below the idle timeout — then
/// sends one `request` and reads a `response`, and closes.
///
/// Trace: one `connection` record per connection when it ends (handshake
/// and request/response times, or why it failed) and one `connections`
/// record at the end of the run with the most open at once and when. Wall
/// time and memory go to the run's notes, not the trace (a seed gives one trace).
/// Memory: what a connection costs beyond its QUIC state is `Held` (below);
/// the server side keeps nothing.
public final class ConnectionsWorkload: Workload {
    public static let kind = "connections"
    public static let fields = ["from", "to", "server", "count", "start", "ramp", "rate", "hold", "keep-alive", "request", "response",
                                "timeout"] + TransportKnobs.fields
    static let serviceTag = "HOLD"
    /// The request starts with the response size the server is to send (4 bytes, little endian).
    static let requestHeaderSize = 4
    static let maximumRequest = 64 << 10
    static let maximumResponse = 1 << 20
    static let maximumCount = 10_000_000

    /// How connections arrive.
    enum Arrivals {
        /// `count` evenly spaced over the duration.
        case ramp(SimDuration)
        /// A Poisson process at this rate until `count` arrived.
        case poisson(ArrivalRate)
    }

    public let name: String
    let clients: [String]
    let servers: [String]
    /// Each client connects to its nearest server (by route latency), else to a random one each time.
    let nearest: Bool
    let count: Int
    let startOffset: SimDuration
    let arrivals: Arrivals
    let hold: SimDuration
    let keepAlive: SimDuration
    let requestSize: Int
    let responseSize: Int
    let timeout: SimDuration
    let knobs: TransportKnobs
    /// A connection may arrive late (Poisson), then hold, then wait up to `timeout` for its answer.
    public var drainTime: SimDuration { hold + timeout }
    public var hasOutstandingWork: Bool { !live.isEmpty }

    public init(spec: WorkloadSpec, name: String, topology: Topology) throws {
        let f = spec.fields
        self.name = name
        func selected(_ key: String) throws -> [String] {
            _ = try f.require(key, context: "a connections workload")
            return try NodeSelector.resolve(f.stringList(key) ?? [], in: topology, at: f.location(of: key))
        }
        clients = try selected("from")
        servers = try selected("to")
        if clients.count == 1, servers == clients {
            throw TopologyDiagnostic(at: f.location(of: "to"), "'from' and 'to' select the same single node: it has no server to connect to")
        }
        let server = try f.string("server") ?? "nearest"
        guard ["nearest", "random"].contains(server) else {
            throw TopologyDiagnostic(at: f.location(of: "server"), "'server' must be nearest or random; got '\(excerpt(server))'")
        }
        nearest = server == "nearest"
        count = try f.int("count") ?? { _ = try f.require("count", context: "a connections workload"); return 0 }()
        guard (1...Self.maximumCount).contains(count) else {
            throw TopologyDiagnostic(at: f.location(of: "count"), "'count' must be between 1 and \(Self.maximumCount); got \(count)")
        }
        startOffset = try f.duration("start") ?? .zero
        guard startOffset < topology.duration else {
            throw TopologyDiagnostic(at: f.location(of: "start"), "connections start at \(startOffset), after the run ends (\(topology.duration))")
        }
        let arrivalSpan: SimDuration
        if let rate = try ArrivalRate.parse(f) {
            if f["ramp"] != nil { throw TopologyDiagnostic(at: f.location(of: "rate"), "give either 'rate' (Poisson arrivals) or 'ramp', not both") }
            arrivals = .poisson(rate)
            arrivalSpan = .nanoseconds(Int64(Double(count) / rate.perSecond * 1e9))
        } else {
            let ramp = try f.duration("ramp") ?? .seconds(10)
            arrivals = .ramp(ramp)
            arrivalSpan = ramp
        }
        hold = try f.duration("hold") ?? .seconds(10)
        guard hold > .zero else { throw TopologyDiagnostic(at: f.location(of: "hold"), "'hold' must be greater than 0") }
        // All connections are open at once only if the first is still held when the last arrives.
        let heldUntil = startOffset + arrivalSpan + hold
        guard heldUntil < topology.duration else {
            throw TopologyDiagnostic(at: f.location(of: "hold"),
                                     "the last connections would be held until about \(heldUntil), after the run ends (\(topology.duration))",
                                     hint: "'start' + the arrivals (\(arrivalSpan)) + 'hold' must end before 'duration'")
        }
        knobs = try TransportKnobs(f)
        let idle = try knobs.idleTimeout ?? topology.transport.flatMap { try TransportKnobs(section: $0).idleTimeout }
            ?? TransportConfiguration().idleTimeout
        keepAlive = try f.duration("keep-alive") ?? SimDuration(nanoseconds: idle.nanoseconds / 2)
        guard keepAlive > .zero, keepAlive < idle else {
            throw TopologyDiagnostic(at: f.location(of: "keep-alive"), "'keep-alive' must be more than 0 and less than the idle timeout (\(idle)); got \(keepAlive)",
                                     hint: "held connections send a PING this often so the peer's idle timeout does not close them")
        }
        requestSize = try f.byteCount("request") ?? 64
        guard (Self.requestHeaderSize...Self.maximumRequest).contains(requestSize) else {
            throw TopologyDiagnostic(at: f.location(of: "request"), "'request' must be between \(Self.requestHeaderSize) and \(Self.maximumRequest) bytes; got \(requestSize)",
                                     hint: "its first \(Self.requestHeaderSize) bytes tell the server the response size")
        }
        responseSize = try f.byteCount("response") ?? 1024
        guard (0...Self.maximumResponse).contains(responseSize) else {
            throw TopologyDiagnostic(at: f.location(of: "response"), "'response' must be between 0 and \(Self.maximumResponse) bytes; got \(responseSize)")
        }
        timeout = try f.duration("timeout") ?? .seconds(30)
        guard timeout > .zero else { throw TopologyDiagnostic(at: f.location(of: "timeout"), "'timeout' must be greater than 0") }
    }

    // MARK: Running

    /// One connection's state beyond QUIC's, kept small: 100,000 of them are alive at once.
    final class Held {
        let number: Int
        let client: Int32
        let server: Int32
        let started: SimTime
        var connection: QuicConnection?
        var handshakeDone: SimTime?
        var requestSent: SimTime?
        var stream: Int64 = -1
        var responseBytes = 0
        /// The handshake timeout, then the end of the hold, then the exchange timeout.
        var timer: EventHandle?
        init(number: Int, client: Int32, server: Int32, started: SimTime) {
            self.number = number; self.client = client; self.server = server; self.started = started
        }
    }

    private var context: ScenarioContext!
    /// Connections not ended yet, by number: they keep their `Held` alive.
    private var live: [Int: Held] = [:]
    private var arrived = 0
    private var random = RandomStream(seed: 0)
    /// Each client's nearest server, found on first use.
    private var nearestServer: [Int32: Int32] = [:]
    private var open = 0
    private var peak = (open: 0, at: SimTime.zero)
    private var firstAttempt: SimTime?
    private var lastHandshake: SimTime?
    private var memory = MemoryProbe()

    public func start(in context: ScenarioContext) throws {
        self.context = context
        let responseLimit = Self.maximumResponse
        context.stoq.register(service: Self.serviceTag) { connection, id in Self.answer(connection, stream: id, limit: responseLimit) }
        for node in clients + servers { _ = try context.stoq.endpoint(on: node) }
        random = context.randomStream("connections:" + name)
        context.atRunEnd { [unowned self] in self.runEnded() }
        switch arrivals {
        case .ramp(let ramp):
            let gap = SimDuration(nanoseconds: ramp.nanoseconds / Int64(count))
            context.scheduleRounds(start: startOffset, interval: gap, count: count) { [unowned self] _ in self.begin() }
        case .poisson:
            scheduleArrival(after: startOffset)
        }
    }

    private func scheduleArrival(after delay: SimDuration) {
        guard case .poisson(let rate) = arrivals, arrived < count else { return }
        let at = context.scheduler.now + delay + rate.nextGap(using: &random)
        guard at < context.endTime else { return }
        context.scheduler.schedule(at: at) { [unowned self] in
            self.begin()
            self.scheduleArrival(after: .zero)
        }
    }

    /// The server side, stateless: once the whole request is in, answer with the size it asks for and end the stream.
    static func answer(_ connection: QuicConnection, stream id: Int64, limit: Int) {
        var asked: Int?
        let (_, ended) = connection.withReadableBytes(stream: id) { bytes, fin in
            guard fin else { return 0 }     // wait for the whole request (it is small)
            if bytes.count >= requestHeaderSize { asked = (0..<requestHeaderSize).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) } }
            return bytes.count
        }
        guard let asked else {
            if ended { connection.close(errorCode: 0x10c, reason: "request shorter than its \(requestHeaderSize)-byte header") }
            return
        }
        guard asked <= limit else { return connection.close(errorCode: 0x10c, reason: "response of \(asked) bytes asked") }
        do {
            try connection.write(stream: id, count: asked, fin: true) { $0.initializeMemory(as: UInt8.self, repeating: 0x52) }
        } catch {
            connection.close(errorCode: 0x10d, reason: "could not answer: \(error)")
        }
    }

    private func begin() {
        let number = arrived
        arrived += 1
        let now = context.scheduler.now
        if firstAttempt == nil {
            firstAttempt = now
            memory.start()
        }
        let client = Int32(number % clients.count)
        let h = Held(number: number, client: client, server: server(for: client), started: now)
        live[number] = h
        let from = clients[Int(h.client)], to = servers[Int(h.server)]
        context.traceRoute(from: from, to: to)
        do {
            let endpoint = try context.stoq.endpoint(on: from)
            var configuration = knobs.applied(to: endpoint.endpoint.configuration)
            configuration.keepAlive = keepAlive
            let c = try endpoint.connect(to: context.address(of: to), serverName: RunCertificates.serverName(of: to),
                                         transport: configuration,
                                         label: context.qlogDirectory == nil ? nil : "\(name)_\(from)-to-\(to)_\(number)")
            h.connection = c
            // The connection holds this handler and `h` holds the connection: capture `h` weakly.
            c.onEvent = { [unowned self, weak h] event in
                guard let h else { return }
                switch event {
                case .handshakeCompleted: self.established(h)
                case .streamReadable(let id) where id == h.stream: self.responseArrived(h)
                case .closed(let reason): self.end(h, failure: "closed: \(reason)")
                default: break
                }
            }
        } catch {
            return end(h, failure: "could not connect: \(error)")
        }
        h.timer = context.scheduler.schedule(after: timeout) { [unowned self, weak h] in
            if let h { self.end(h, failure: "handshake timeout") }
        }
    }

    /// Nearest (shortest route) or random, among the servers other than the client itself.
    private func server(for client: Int32) -> Int32 {
        let name = clients[Int(client)]
        if !nearest {
            while true {
                let s = Int32(random.next() % UInt64(servers.count))
                if servers[Int(s)] != name { return s }
            }
        }
        if let s = nearestServer[client] { return s }
        let network = context.network
        var best: (server: Int32, latency: Int64)?
        if let a = network.nodeIndex(named: name) {
            for (i, s) in servers.enumerated() where s != name {
                guard let b = network.nodeIndex(named: s), let latency = network.tables.latency(from: a, to: b)?.nanoseconds else { continue }
                if best == nil || latency < best!.latency { best = (Int32(i), latency) }
            }
        }
        // Unreachable from every server: the first other one, whose handshake will time out (and say so).
        let s = best?.server ?? Int32(servers.firstIndex { $0 != name }!)
        nearestServer[client] = s
        return s
    }

    private func established(_ h: Held) {
        let now = context.scheduler.now
        h.handshakeDone = now
        lastHandshake = now
        open += 1
        if open > peak.open { peak = (open, now) }
        memory.sample(open: open, every: max(1, count / 50))
        if let t = h.timer { context.scheduler.cancel(t) }
        h.timer = context.scheduler.schedule(after: hold) { [unowned self, weak h] in
            if let h { self.sendRequest(h) }
        }
    }

    private func sendRequest(_ h: Held) {
        guard let c = h.connection, !c.isClosed else { return end(h, failure: "closed before the request") }
        do {
            let id = try c.openStream()
            h.stream = id
            var header = Array(Self.serviceTag.utf8)
            for i in 0..<Self.requestHeaderSize { header.append(UInt8(truncatingIfNeeded: responseSize >> (8 * i))) }
            try c.write(stream: id, header)
            try c.write(stream: id, count: requestSize - Self.requestHeaderSize, fin: true) {
                $0.initializeMemory(as: UInt8.self, repeating: 0x51)
            }
        } catch {
            return end(h, failure: "could not send the request: \(error)")
        }
        h.requestSent = context.scheduler.now
        try? context.stoq.endpoint(on: clients[Int(h.client)]).flush()
        h.timer = context.scheduler.schedule(after: timeout) { [unowned self, weak h] in
            if let h { self.end(h, failure: "response timeout") }
        }
    }

    private func responseArrived(_ h: Held) {
        guard let c = h.connection else { return }
        let (n, fin) = c.discard(stream: h.stream)
        h.responseBytes += n
        guard fin else { return }
        end(h, failure: h.responseBytes == responseSize ? nil : "short response (\(h.responseBytes) of \(responseSize) bytes)")
    }

    /// Ends a connection once: traces it, closes it, forgets it.
    private func end(_ h: Held, failure: String?) {
        guard live.removeValue(forKey: h.number) != nil else { return }
        let now = context.scheduler.now
        if let t = h.timer { context.scheduler.cancel(t) }
        if h.handshakeDone != nil { open -= 1 }
        context.trace(.heldConnection(.init(
            t: now.nanosecondsSinceStart, workload: name, from: clients[Int(h.client)], to: servers[Int(h.server)],
            handshakeNs: h.handshakeDone.map { ($0 - h.started).nanoseconds },
            exchangeNs: failure == nil ? h.requestSent.map { (now - $0).nanoseconds } : nil, failure: failure)))
        if let c = h.connection, !c.isClosed {
            c.onEvent = nil
            c.close(errorCode: failure == nil ? 0 : 0x10e, reason: failure ?? "")
            try? context.stoq.endpoint(on: clients[Int(h.client)]).flush()
        }
        h.connection = nil
    }

    private func runEnded() {
        for number in live.keys.sorted() { end(live[number]!, failure: "still open when the run ended") }
        context.trace(.connectionsPeak(.init(t: context.scheduler.now.nanosecondsSinceStart, workload: name, attempted: arrived,
                                             peakOpen: peak.open, peakAtNs: peak.at.nanosecondsSinceStart,
                                             firstAttemptNs: firstAttempt?.nanosecondsSinceStart,
                                             lastHandshakeNs: lastHandshake?.nanosecondsSinceStart)))
        context.note(memory.report(workload: name, peak: peak.open, simulatedSpan: firstAttempt.flatMap { a in lastHandshake.map { $0 - a } }))
    }
}

/// Wall time and memory of a connections workload, for the run's notes:
/// the heap (glibc's mallinfo2) and resident set before the first
/// connection and at the most connections open, sampled every few percent
/// of them; the rates use the wall time from the first attempt to the last
/// handshake. Both ends of every connection live in this one process.
struct MemoryProbe {
    private var wallStart: UInt64?
    private var wallLastHandshake: UInt64?
    /// Process CPU time at the same instants: on a busy machine the wall rate understates the work done.
    private var cpuStart: Int64 = 0
    private var cpuLastHandshake: Int64 = 0
    private var handshakes = 0
    private var before = (heap: 0, rss: 0)
    private var atMost = (open: 0, heap: 0, rss: 0)

    mutating func start() {
        wallStart = DispatchTime.now().uptimeNanoseconds
        cpuStart = CPUClock.processNanoseconds()
        before = (Int(cstoq_heap_bytes_in_use()), Self.residentBytes())
    }

    mutating func sample(open: Int, every step: Int) {
        handshakes += 1
        wallLastHandshake = DispatchTime.now().uptimeNanoseconds
        cpuLastHandshake = CPUClock.processNanoseconds()
        guard open % step == 0, open > atMost.open else { return }
        atMost = (open, Int(cstoq_heap_bytes_in_use()), Self.residentBytes())
    }

    func report(workload: String, peak: Int, simulatedSpan: SimDuration?) -> String {
        let wall = wallStart.flatMap { s in wallLastHandshake.map { Double($0 - s) / 1e9 } } ?? 0
        var text = "connections '\(workload)': \(handshakes) handshakes in \(String(format: "%.1f", wall)) s wall"
        if wall > 0 { text += String(format: " (%.0f/s wall", Double(handshakes) / wall) }
        let cpu = Double(cpuLastHandshake - cpuStart) / 1e9
        if cpu > 0 { text += String(format: ", %.0f per CPU second", Double(handshakes) / cpu) }
        if let span = simulatedSpan, span > .zero { text += String(format: ", %.0f/s simulated", Double(handshakes) / span.seconds) }
        if wall > 0 { text += ")" }
        text += "; peak \(peak) open at once"
        if atMost.open > 0 {
            let heap = Double(atMost.heap - before.heap) / Double(atMost.open) / 1024
            let rss = Double(atMost.rss - before.rss) / Double(atMost.open) / 1024
            text += String(format: "; at %d open: heap +%.0f MiB (%.1f KiB per connection, both ends), RSS +%.0f MiB (%.1f KiB per connection)",
                           atMost.open, Double(atMost.heap - before.heap) / 1048576, heap, Double(atMost.rss - before.rss) / 1048576, rss)
        }
        return text + String(format: "; process peak RSS %.0f MiB", Double(Self.peakResidentBytes()) / 1048576)
    }

    /// VmRSS and VmHWM of /proc/self/status (0 where there is none).
    static func residentBytes() -> Int { statusKiB("VmRSS:") * 1024 }
    static func peakResidentBytes() -> Int { statusKiB("VmHWM:") * 1024 }

    private static func statusKiB(_ key: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
        // "VmRSS:\t  123456 kB": a tab, then spaces only while the number is short.
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
    }
}
