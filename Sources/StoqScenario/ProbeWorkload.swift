import StoqAnalyzer
import StoqEngine
import StoqNetwork
import StoqTopology

/// Periodic echo probes between node pairs, like `ping -6`: every `interval`
/// each source sends `size` bytes of UDP payload to each destination's echo
/// service, which reflects it; the round-trip time goes into the trace, and a
/// probe not back within `timeout` is recorded as lost.
public final class ProbeWorkload: Workload {
    public static let kind = "probe"
    public static let fields = ["from", "to", "interval", "size", "count", "start", "timeout"]

    /// The well-known echo port every probed node listens on (RFC 862's port).
    public static let echoPort: UInt16 = 7
    /// Probe payload header: workload-local pair index, sequence number, send time.
    static let headerSize = 16

    public let name: String
    let pairs: [(from: String, to: String)]
    let interval: SimDuration
    let size: Int
    let count: Int?
    let startOffset: SimDuration
    let timeout: SimDuration
    public var drainTime: SimDuration { timeout }
    public var hasOutstandingWork: Bool { !outstanding.isEmpty }

    public init(spec: WorkloadSpec, name: String, topology: Topology) throws {
        let f = spec.fields
        self.name = name
        pairs = try NodeSelector.pairs(spec, in: topology, workload: name)
        interval = try f.duration("interval") ?? .seconds(1)
        guard interval > .zero else { throw TopologyDiagnostic(at: f.location(of: "interval"), "'interval' must be greater than 0") }
        size = try f.byteCount("size") ?? 64
        guard size >= Self.headerSize, size <= 65_487 else {
            throw TopologyDiagnostic(at: f.location(of: "size"), "probe 'size' must be between \(Self.headerSize) and 65487 bytes; got \(size)",
                                     hint: "a probe carries a \(Self.headerSize)-byte header; 65487 is the largest UDP payload over IPv6 with a 65535-byte packet")
        }
        count = try f.int("count")
        if let count, count <= 0 { throw TopologyDiagnostic(at: f.location(of: "count"), "'count' must be at least 1") }
        startOffset = try f.duration("start") ?? .zero
        timeout = try f.duration("timeout") ?? .seconds(2)
        guard timeout > .zero else { throw TopologyDiagnostic(at: f.location(of: "timeout"), "'timeout' must be greater than 0") }
        if startOffset >= topology.duration {
            throw TopologyDiagnostic(at: f.location(of: "start"), "probe starts at \(startOffset), after the run ends (\(topology.duration))")
        }
    }

    // MARK: Running

    private var context: ScenarioContext!
    private var senders: [String: DatagramIO] = [:]
    private var pairIndexByNode: [String: [Int]] = [:]
    private var outstanding = Set<UInt64>()

    public func start(in context: ScenarioContext) throws {
        self.context = context
        for (i, pair) in pairs.enumerated() {
            context.traceRoute(from: pair.from, to: pair.to)
            try context.installEchoService(on: pair.to)
            if senders[pair.from] == nil {
                let io = try context.bind(node: pair.from, port: context.ephemeralPort(for: pair.from))
                io.receiveEach { [unowned self] d in self.receiveReply(d) }
                senders[pair.from] = io
            }
            pairIndexByNode[pair.from, default: []].append(i)
        }
        let first = SimTime.zero + startOffset
        for i in pairs.indices {
            context.scheduler.schedule(at: first) { [unowned self] in self.send(pair: i, seq: 0) }
        }
    }

    private func send(pair: Int, seq: Int) {
        let scheduler = context.scheduler
        guard scheduler.now < context.endTime else { return }
        let (from, to) = pairs[pair]
        var payload = [UInt8](repeating: 0, count: size)
        // The wire carries 32 bits of sequence; a run long enough to wrap them (4.3 × 10^9 probes) reuses numbers.
        ProbeHeader(pair: UInt32(pair), seq: UInt32(truncatingIfNeeded: seq), sentAt: scheduler.now).write(into: &payload)
        let key = UInt64(pair) << 32 | UInt64(UInt32(truncatingIfNeeded: seq))
        outstanding.insert(key)
        payload.withUnsafeBytes {
            senders[from]!.send(to: SocketAddress(address: context.address(of: to), port: Self.echoPort), $0)
        }
        scheduler.schedule(after: timeout) { [unowned self] in
            if self.outstanding.remove(key) != nil {
                self.record(pair: pair, seq: seq, rtt: nil)
            }
        }
        if count.map({ seq + 1 < $0 }) ?? true {
            scheduler.schedule(after: interval) { [unowned self] in self.send(pair: pair, seq: seq + 1) }
        }
    }

    private func receiveReply(_ d: ReceivedDatagram) {
        guard let h = ProbeHeader(d.payload), Int(h.pair) < pairs.count else { return }
        let key = UInt64(h.pair) << 32 | UInt64(h.seq)
        guard outstanding.remove(key) != nil else { return }   // late reply: already counted lost
        record(pair: Int(h.pair), seq: Int(h.seq), rtt: context.scheduler.now - h.sentAt)
    }

    private func record(pair: Int, seq: Int, rtt: SimDuration?) {
        context.trace(.probe(.init(t: context.scheduler.now.nanosecondsSinceStart, workload: name,
                                   from: pairs[pair].from, to: pairs[pair].to, seq: seq, size: size,
                                   rttNs: rtt?.nanoseconds)))
    }
}

/// The first 16 bytes of a probe: which pair, which probe, and when it left.
struct ProbeHeader {
    var pair: UInt32
    var seq: UInt32
    var sentAt: SimTime

    func write(into bytes: inout [UInt8]) {
        func put(_ v: UInt64, at offset: Int, width: Int) {
            for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
        }
        put(UInt64(pair), at: 0, width: 4)
        put(UInt64(seq), at: 4, width: 4)
        put(UInt64(bitPattern: sentAt.nanosecondsSinceStart), at: 8, width: 8)
    }

    init(pair: UInt32, seq: UInt32, sentAt: SimTime) {
        self.pair = pair
        self.seq = seq
        self.sentAt = sentAt
    }

    init?<Bytes: RandomAccessCollection>(_ bytes: Bytes) where Bytes.Element == UInt8, Bytes.Index == Int {
        guard bytes.count >= ProbeWorkload.headerSize else { return nil }
        func get(_ offset: Int, _ width: Int) -> UInt64 {
            (0..<width).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        pair = UInt32(get(0, 4))
        seq = UInt32(get(4, 4))
        sentAt = SimTime(nanosecondsSinceStart: Int64(bitPattern: get(8, 8)))
    }
}
