import Foundation

/// The records of `trace.jsonl`, one JSON object per line. Schema version 1 is
/// documented in docs/trace-format.md; a reader refuses a newer major version.
/// Times are integer nanoseconds of simulated time (`t`), sizes are bytes.
///
/// Each record struct lists its fields once, in `fields(_:)` (see
/// TraceSchema.swift): that list writes the line, reads it back and is what the
/// docs are checked against. Adding a record kind: a struct with `fields(_:)`,
/// a case (and a branch in `write(to:)`, `decode(fields:)`, `kind`), its shape in
/// `TraceRecord.shapes`, a row in docs/trace-format.md, and an accumulator in
/// Accumulators.swift that turns it into summary fields. Readers skip kinds
/// they do not know, so older stoqsim versions still read newer traces.
public enum TraceRecord: Equatable {
    case run(RunHeader)
    case link(LinkInfo)
    case node(NodeInfo)
    case probe(ProbeResult)
    case linkState(LinkStateChange)
    case linkStats(LinkStats)
    case transfer(TransferResult)
    case reconverged(Reconvergence)
    case exec(ExecResult)
    case realtime(RealtimeReport)
    case publish(PublishRecord)
    case content(ContentExchange)
    case fetch(FetchResult)
    case cache(CacheStats)
    case linkDedup(LinkDedup)
    case certificate(CertificateEvent)
    case route(RouteInfo)
    case heldConnection(HeldConnection)
    case connectionsPeak(ConnectionsPeak)
    case linkSeries(LinkSeries)
    case transferSeries(TransferSeries)
    case end(RunEnd)

    public static let schemaVersion = 1

    /// First line of every trace: what ran.
    public struct RunHeader: Equatable, TraceRecordFields {
        public var topology: String = ""
        public var seed: UInt64 = 0
        public var backend: String = ""
        public var strategy: String = ""
        public var durationNs: Int64 = 0
        public var nodes: Int = 0
        public init(topology: String, seed: UInt64, backend: String, strategy: String, durationNs: Int64, nodes: Int) {
            self.topology = topology; self.seed = seed; self.backend = backend
            self.strategy = strategy; self.durationNs = durationNs; self.nodes = nodes
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.type("run"); try c.schemaVersion(); try c.field("topology", &topology); try c.field("seed", &seed)
            try c.field("backend", &backend); try c.field("strategy", &strategy); try c.field("duration_ns", &durationNs)
            try c.field("nodes", &nodes)
        }
    }

    /// One per link direction, before any event: the static description.
    public struct LinkInfo: Equatable, TraceRecordFields {
        public var name: String = ""            // "a>b"
        public var from: String = ""
        public var to: String = ""
        public var bandwidthBps: UInt64 = 0
        public var tier: String = ""
        public var latencyNs: Int64 = 0
        public init(name: String, from: String, to: String, bandwidthBps: UInt64, tier: String, latencyNs: Int64) {
            self.name = name; self.from = from; self.to = to
            self.bandwidthBps = bandwidthBps; self.tier = tier; self.latencyNs = latencyNs
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.type("link"); try c.field("link", &name); try c.field("from", &from); try c.field("to", &to)
            try c.field("bandwidth_bps", &bandwidthBps); try c.field("tier", &tier); try c.field("latency_ns", &latencyNs)
        }
    }

    /// One per node, before any event: where it is and what it does (for
    /// per-site and per-region statistics and the report's map).
    public struct NodeInfo: Equatable, TraceRecordFields {
        public var name: String = ""
        public var site: String = ""
        public var region: String = ""
        public var role: String = ""
        public var address: String = ""
        public var latitude: Double = 0
        public var longitude: Double = 0
        public init(name: String, site: String, region: String, role: String, address: String, latitude: Double, longitude: Double) {
            self.name = name; self.site = site; self.region = region; self.role = role
            self.address = address; self.latitude = latitude; self.longitude = longitude
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.type("node"); try c.field("node", &name); try c.field("site", &site); try c.field("region", &region)
            try c.field("role", &role); try c.field("address", &address)
            try c.field("lat", &latitude, digits: 8); try c.field("lon", &longitude, digits: 8)
        }
    }

    /// Routes stopped using a failed link or node: how long after the failure,
    /// and how many packets died on it meanwhile.
    public struct Reconvergence: Equatable, TraceRecordFields {
        public var t: Int64 = 0                 // when the new routes took effect
        public var target: String = ""           // "a<>b" for a link, or a node name
        public var isNode: Bool = false
        public var failedAtNs: Int64 = 0
        public var reconvergenceNs: Int64 = 0
        public var packetsLost: UInt64 = 0
        public init(t: Int64, target: String, isNode: Bool, failedAtNs: Int64, reconvergenceNs: Int64, packetsLost: UInt64) {
            self.t = t; self.target = target; self.isNode = isNode; self.failedAtNs = failedAtNs
            self.reconvergenceNs = reconvergenceNs; self.packetsLost = packetsLost
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("reconverged"); try c.linkOrNode(&target, isNode: &isNode)
            try c.field("failed_at_ns", &failedAtNs); try c.field("reconvergence_ns", &reconvergenceNs)
            try c.field("packets_lost", &packetsLost)
        }
    }

    /// One bulk transfer over QUIC. `durationNs == nil`: it did not complete
    /// (connection failed, closed, or timed out).
    public struct TransferResult: Equatable, TraceRecordFields {
        public var t: Int64 = 0                 // when it completed or was given up
        public var workload: String = ""
        public var from: String = ""
        public var to: String = ""
        public var bytes: Int = 0
        public var streams: Int = 0
        public var bytesReceived: Int = 0
        public var handshakeNs: Int64?
        public var durationNs: Int64?
        public var goodputBps: Double?
        /// Goodput once slow start is over: from the moment the receiver had half
        /// the payload to its last byte, counted as packets arrived (see
        /// TransferWorkload.secondHalfGoodput; nil when incomplete, or when half
        /// and last byte came together).
        public var secondHalfGoodputBps: Double?
        /// QUIC packets the sender declared lost (ngtcp2's qlog events); nil
        /// unless the run counted them (knob `count-lost-packets`).
        public var packetsLost: UInt64?
        public var packetsRetransmitted: UInt64 = 0
        public var smoothedRttNs: Int64 = 0
        /// The sender's congestion controller (nil in traces from before it was recorded).
        public var congestion: String?
        /// The workload's QUIC knobs that differ from the defaults, e.g. "initial-rtt=100ms stream-window=1MiB".
        public var transport: String?
        /// Why a transfer that did not complete ended: the connection's close
        /// reason, a timeout or a connect error (nil when it completed).
        public var failure: String?
        public init(t: Int64, workload: String, from: String, to: String, bytes: Int, streams: Int, bytesReceived: Int,
                    handshakeNs: Int64?, durationNs: Int64?, goodputBps: Double?, secondHalfGoodputBps: Double? = nil,
                    packetsLost: UInt64?, packetsRetransmitted: UInt64, smoothedRttNs: Int64,
                    congestion: String? = nil, transport: String? = nil, failure: String? = nil) {
            self.congestion = congestion; self.transport = transport; self.failure = failure
            self.t = t; self.workload = workload; self.from = from; self.to = to; self.bytes = bytes
            self.streams = streams; self.bytesReceived = bytesReceived; self.handshakeNs = handshakeNs
            self.durationNs = durationNs; self.goodputBps = goodputBps; self.secondHalfGoodputBps = secondHalfGoodputBps
            self.packetsLost = packetsLost; self.packetsRetransmitted = packetsRetransmitted; self.smoothedRttNs = smoothedRttNs
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("transfer"); try c.field("workload", &workload); try c.field("from", &from)
            try c.field("to", &to); try c.field("bytes", &bytes); try c.field("streams", &streams)
            try c.field("bytes_received", &bytesReceived); try c.field("handshake_ns", &handshakeNs)
            try c.field("duration_ns", &durationNs); try c.field("goodput_bps", &goodputBps)
            try c.field("second_half_goodput_bps", &secondHalfGoodputBps)
            try c.omittedWhenNil("packets_lost", &packetsLost); try c.field("packets_retransmitted", &packetsRetransmitted)
            try c.field("srtt_ns", &smoothedRttNs)
            try c.omittedWhenNil("congestion", &congestion); try c.omittedWhenNil("transport", &transport)
            try c.omittedWhenNil("failure", &failure)
        }
    }

    /// One echo probe: its round-trip time, or `rttNs == nil` when it was lost.
    public struct ProbeResult: Equatable, TraceRecordFields {
        public var t: Int64 = 0                 // when the reply arrived or the probe timed out
        public var workload: String = ""
        public var from: String = ""
        public var to: String = ""
        public var seq: Int = 0
        public var size: Int = 0
        public var rttNs: Int64?
        public init(t: Int64, workload: String, from: String, to: String, seq: Int, size: Int, rttNs: Int64?) {
            self.t = t; self.workload = workload; self.from = from; self.to = to
            self.seq = seq; self.size = size; self.rttNs = rttNs
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("probe"); try c.field("workload", &workload); try c.field("from", &from)
            try c.field("to", &to); try c.field("seq", &seq); try c.field("size", &size); try c.field("rtt_ns", &rttNs)
        }
    }

    public struct LinkStateChange: Equatable, TraceRecordFields {
        public var t: Int64 = 0
        public var target: String = ""           // "a>b" … or a node name
        public var isNode: Bool = false
        public var up: Bool = false
        public init(t: Int64, target: String, isNode: Bool, up: Bool) {
            self.t = t; self.target = target; self.isNode = isNode; self.up = up
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type(isNode ? "node_state" : "link_state"); try c.linkOrNode(&target, isNode: &isNode)
            try c.field("up", &up)
        }
    }

    /// Counters of one link direction at the end of the run.
    public struct LinkStats: Equatable, TraceRecordFields {
        public var link: String = ""
        public var packetsSent: UInt64 = 0
        public var bytesSent: UInt64 = 0
        public var packetsDelivered: UInt64 = 0
        public var bytesDelivered: UInt64 = 0
        public var droppedQueueFull: UInt64 = 0
        public var droppedLoss: UInt64 = 0
        public var droppedLinkDown: UInt64 = 0
        public var busyNs: Int64 = 0
        public var maxQueuedBytes: Int = 0
        /// Counters of the link models, present only on links that configure
        /// the model (`mtu`, `corrupt`, `duplicate`, `jitter`), so traces of
        /// links without them keep their fields.
        public var droppedMTU: UInt64?
        public var corrupted: UInt64?
        public var duplicated: UInt64?
        public var reordered: UInt64?
        public init(link: String, packetsSent: UInt64, bytesSent: UInt64, packetsDelivered: UInt64, bytesDelivered: UInt64,
                    droppedQueueFull: UInt64, droppedLoss: UInt64, droppedLinkDown: UInt64, busyNs: Int64, maxQueuedBytes: Int,
                    droppedMTU: UInt64? = nil, corrupted: UInt64? = nil, duplicated: UInt64? = nil, reordered: UInt64? = nil) {
            self.link = link; self.packetsSent = packetsSent; self.bytesSent = bytesSent
            self.packetsDelivered = packetsDelivered; self.bytesDelivered = bytesDelivered
            self.droppedQueueFull = droppedQueueFull; self.droppedLoss = droppedLoss
            self.droppedLinkDown = droppedLinkDown; self.busyNs = busyNs; self.maxQueuedBytes = maxQueuedBytes
            self.droppedMTU = droppedMTU; self.corrupted = corrupted; self.duplicated = duplicated; self.reordered = reordered
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.type("link_stats"); try c.field("link", &link)
            try c.field("packets_sent", &packetsSent); try c.field("bytes_sent", &bytesSent)
            try c.field("packets_delivered", &packetsDelivered); try c.field("bytes_delivered", &bytesDelivered)
            try c.field("dropped_queue_full", &droppedQueueFull); try c.field("dropped_loss", &droppedLoss)
            try c.field("dropped_link_down", &droppedLinkDown); try c.field("busy_ns", &busyNs)
            try c.field("max_queued_bytes", &maxQueuedBytes)
            try c.omittedWhenNil("dropped_mtu", &droppedMTU); try c.omittedWhenNil("corrupted", &corrupted)
            try c.omittedWhenNil("duplicated", &duplicated); try c.omittedWhenNil("reordered", &reordered)
        }
    }

    /// A program run inside a node's namespace (netns backend) ended.
    public struct ExecResult: Equatable, TraceRecordFields {
        public var t: Int64 = 0                 // when it ended
        public var workload: String = ""
        public var node: String = ""
        public var command: String = ""          // arguments joined by spaces
        public var exitCode: Int?           // nil when a signal ended it
        public var signal: Int?
        public var timedOut: Bool = false
        public var stdout: String = ""           // file names in the run directory
        public var stderr: String = ""
        public init(t: Int64, workload: String, node: String, command: String, exitCode: Int?, signal: Int?,
                    timedOut: Bool, stdout: String, stderr: String) {
            self.t = t; self.workload = workload; self.node = node; self.command = command; self.exitCode = exitCode
            self.signal = signal; self.timedOut = timedOut; self.stdout = stdout; self.stderr = stderr
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("exec"); try c.field("workload", &workload); try c.field("node", &node)
            try c.field("command", &command); try c.field("exit_code", &exitCode); try c.field("signal", &signal)
            try c.field("timed_out", &timedOut); try c.field("stdout", &stdout); try c.field("stderr", &stderr)
        }
    }

    /// Before `end` on the netns backend: how late the real-time engine fired
    /// its events (latencies in the trace are too large by about that much),
    /// and what its TUN relay carried.
    public struct RealtimeReport: Equatable, Codable, TraceRecordFields {
        public var events: Int = 0
        public var lagMeanNs: Int64 = 0
        public var lagP50Ns: Int64 = 0
        public var lagP99Ns: Int64 = 0
        public var lagMaxNs: Int64 = 0
        public var thresholdP99Ns: Int64 = 0
        public var packetsRelayed: UInt64 = 0   // written to TUN devices
        public var setupNs: Int64 = 0
        public init(events: Int, lagMeanNs: Int64, lagP50Ns: Int64, lagP99Ns: Int64, lagMaxNs: Int64,
                    thresholdP99Ns: Int64, packetsRelayed: UInt64, setupNs: Int64) {
            self.events = events; self.lagMeanNs = lagMeanNs; self.lagP50Ns = lagP50Ns; self.lagP99Ns = lagP99Ns
            self.lagMaxNs = lagMaxNs; self.thresholdP99Ns = thresholdP99Ns; self.packetsRelayed = packetsRelayed
            self.setupNs = setupNs
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.type("realtime"); try c.field("events", &events); try c.field("lag_mean_ns", &lagMeanNs)
            try c.field("lag_p50_ns", &lagP50Ns); try c.field("lag_p99_ns", &lagP99Ns); try c.field("lag_max_ns", &lagMaxNs)
            try c.field("threshold_p99_ns", &thresholdP99Ns); try c.field("packets_relayed", &packetsRelayed)
            try c.field("setup_ns", &setupNs)
        }
        public var exceedsThreshold: Bool { lagP99Ns > thresholdP99Ns }
    }

    /// Last line: the run finished (a trace without it was cut short), or
    /// stopped early on a signal (`interruptedBy`, e.g. "SIGINT", at `t`).
    public struct RunEnd: Equatable, TraceRecordFields {
        public var t: Int64 = 0
        public var events: UInt64 = 0
        public var interruptedBy: String?
        public init(t: Int64, events: UInt64, interruptedBy: String? = nil) {
            self.t = t; self.events = events; self.interruptedBy = interruptedBy
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("end"); try c.field("events", &events)
            try c.omittedWhenNil("interrupted_by", &interruptedBy)
        }
    }

    // MARK: Encoding

    public var jsonLine: String {
        var j = JSONLine()
        encode(into: &j)
        return j.string
    }

    /// Appends this record's line (without the newline) to `buffer`.
    func appendJSONLine(to buffer: inout [UInt8]) {
        var j = JSONLine(appendingTo: buffer)
        buffer = []   // `j` now holds the only reference, so appending does not copy
        encode(into: &j)
        buffer = j.finish()
    }

    func encode(into j: inout JSONLine) { write(to: &j) }

    /// Runs this record's `fields(_:)` with a coder that only reads values: writing a line, listing keys.
    func write<Coder: TraceFieldCoder>(to c: inout Coder) {
        try! writeFields(to: &c)   // those coders never throw
    }

    /// The payload is bound `var` because `fields` is mutating for the reader's sake;
    /// binding it once here (rather than copying it again inside) keeps writing as cheap as it was.
    private func writeFields<Coder: TraceFieldCoder>(to c: inout Coder) throws {
        switch self {
        case .run(var r): try r.fields(&c)
        case .link(var l): try l.fields(&c)
        case .node(var n): try n.fields(&c)
        case .probe(var p): try p.fields(&c)
        case .linkState(var s): try s.fields(&c)
        case .linkStats(var s): try s.fields(&c)
        case .transfer(var x): try x.fields(&c)
        case .reconverged(var r): try r.fields(&c)
        case .exec(var x): try x.fields(&c)
        case .realtime(var r): try r.fields(&c)
        case .publish(var p): try p.fields(&c)
        case .content(var x): try x.fields(&c)
        case .fetch(var f): try f.fields(&c)
        case .cache(var x): try x.fields(&c)
        case .linkDedup(var l): try l.fields(&c)
        case .certificate(var x): try x.fields(&c)
        case .route(var r): try r.fields(&c)
        case .heldConnection(var x): try x.fields(&c)
        case .connectionsPeak(var p): try p.fields(&c)
        case .linkSeries(var l): try l.fields(&c)
        case .transferSeries(var x): try x.fields(&c)
        case .end(var e): try e.fields(&c)
        }
    }

    // MARK: Decoding

    public struct DecodeError: Error, CustomStringConvertible {
        public var line: Int = 0
        public var message: String = ""
        public var description: String { "trace line \(line): \(message)" }
    }

    /// Decodes one line. Unknown record types return nil so newer minor
    /// versions stay readable.
    public static func decode(_ line: Substring, lineNumber: Int) throws -> TraceRecord? {
        var utf8 = Array(line.utf8)
        return try utf8.withUnsafeMutableBufferPointer { buffer in
            var parser = FlatJSONObject()
            return try decode(UnsafeBufferPointer(buffer), parser: &parser, lineNumber: lineNumber)
        }
    }

    /// The reader's fast path: decodes the line in `bytes` with a reused parser.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, parser: inout FlatJSONObject, lineNumber: Int) throws -> TraceRecord? {
        guard parser.parse(bytes) else { throw DecodeError(line: lineNumber, message: "not a JSON object") }
        return try decode(fields: Fields(json: parser, line: lineNumber))
    }

    static func decode(fields f: Fields) throws -> TraceRecord? {
        var type = try f.string("type")
        guard let kind = type.withUTF8({ kind(ofType: $0) }) else { return nil }
        switch kind {
        case .run: return .run(try .init(decoding: f))
        case .link: return .link(try .init(decoding: f))
        case .node: return .node(try .init(decoding: f))
        case .probe: return .probe(try .init(decoding: f))
        case .linkState: return .linkState(try .init(decoding: f))
        case .linkStats: return .linkStats(try .init(decoding: f))
        case .transfer: return .transfer(try .init(decoding: f))
        case .reconverged: return .reconverged(try .init(decoding: f))
        case .exec: return .exec(try .init(decoding: f))
        case .realtime: return .realtime(try .init(decoding: f))
        case .publish: return .publish(try .init(decoding: f))
        case .content: return .content(try .init(decoding: f))
        case .fetch: return .fetch(try .init(decoding: f))
        case .cache: return .cache(try .init(decoding: f))
        case .linkDedup: return .linkDedup(try .init(decoding: f))
        case .certificate: return .certificate(try .init(decoding: f))
        case .route: return .route(try .init(decoding: f))
        case .heldConnection: return .heldConnection(try .init(decoding: f))
        case .connectionsPeak: return .connectionsPeak(try .init(decoding: f))
        case .linkSeries: return .linkSeries(try .init(decoding: f))
        case .transferSeries: return .transferSeries(try .init(decoding: f))
        case .end: return .end(try .init(decoding: f))
        default: return nil
        }
    }

    /// Typed field access with errors that name the line and the field.
    struct Fields {
        let json: FlatJSONObject
        let line: Int

        func field(_ k: StaticString) throws -> FlatJSONObject.Field {
            guard let f = json.field(k) else { throw DecodeError(line: line, message: "missing field '\(k)'") }
            return f
        }
        func string(_ k: StaticString) throws -> String {
            let f = try field(k)
            guard f.kind == .string else { throw DecodeError(line: line, message: "'\(k)' must be a string") }
            return json.string(f)
        }
        func int64(_ k: StaticString) throws -> Int64 {
            guard let v = json.int64(try field(k)) else { throw DecodeError(line: line, message: "'\(k)' must be an integer") }
            return v
        }
        func uint64(_ k: StaticString) throws -> UInt64 {
            guard let v = json.uint64(try field(k)) else { throw DecodeError(line: line, message: "'\(k)' must be a non-negative integer") }
            return v
        }
        func int(_ k: StaticString) throws -> Int { Int(try int64(k)) }
        func double(_ k: StaticString) throws -> Double {
            guard let v = json.double(try field(k)) else { throw DecodeError(line: line, message: "'\(k)' must be a number") }
            return v
        }
        /// Missing or null is nil.
        func optionalInt64(_ k: StaticString) throws -> Int64? {
            guard let f = json.field(k), f.kind != .null else { return nil }
            guard let v = json.int64(f) else { throw DecodeError(line: line, message: "'\(k)' must be an integer or null") }
            return v
        }
        func has(_ k: StaticString) -> Bool { json.field(k) != nil }
        /// Missing or null is nil.
        func optionalCount(_ k: StaticString) throws -> UInt64? {
            guard let f = json.field(k), f.kind != .null else { return nil }
            guard let v = json.uint64(f) else { throw DecodeError(line: line, message: "'\(k)' must be a non-negative integer or null") }
            return v
        }
        func optionalDouble(_ k: StaticString) throws -> Double? {
            guard let f = json.field(k), f.kind != .null else { return nil }
            guard let v = json.double(f) else { throw DecodeError(line: line, message: "'\(k)' must be a number or null") }
            return v
        }
        func optionalString(_ k: StaticString) throws -> String? {
            guard let f = json.field(k), f.kind != .null else { return nil }
            guard f.kind == .string else { throw DecodeError(line: line, message: "'\(k)' must be a string or null") }
            return json.string(f)
        }
        /// A JSON array of integers, e.g. `[0,12,-3]`.
        func integers(_ k: StaticString) throws -> [Int64] {
            let f = try field(k)
            let raw = json.valueBytes(f)
            guard f.kind == .nested, raw.first == 0x5b, raw.last == 0x5d else {
                throw DecodeError(line: line, message: "'\(k)' must be an array of integers")
            }
            let inner = String(decoding: raw.dropFirst().dropLast(), as: UTF8.self)
            if inner.allSatisfy({ $0 == " " }) { return [] }
            return try inner.split(separator: ",").map {
                guard let v = Int64($0.trimmingCharacters(in: .whitespaces)) else {
                    throw DecodeError(line: line, message: "'\(k)' must be an array of integers")
                }
                return v
            }
        }
        func bool(_ k: StaticString) throws -> Bool {
            let f = try field(k)
            switch f.kind {
            case .trueValue: return true
            case .falseValue: return false
            default: throw DecodeError(line: line, message: "'\(k)' must be true or false")
            }
        }
    }
}

extension TraceRecord {
    /// Sets of record kinds: what an accumulator reads, so the analyzer decodes
    /// a line only for the accumulators that want it.
    public struct Kinds: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let run = Kinds(rawValue: 1 << 0), link = Kinds(rawValue: 1 << 1), node = Kinds(rawValue: 1 << 2)
        public static let probe = Kinds(rawValue: 1 << 3), linkState = Kinds(rawValue: 1 << 4), linkStats = Kinds(rawValue: 1 << 5)
        public static let transfer = Kinds(rawValue: 1 << 6), reconverged = Kinds(rawValue: 1 << 7), exec = Kinds(rawValue: 1 << 8)
        public static let realtime = Kinds(rawValue: 1 << 9), publish = Kinds(rawValue: 1 << 10), content = Kinds(rawValue: 1 << 11)
        public static let fetch = Kinds(rawValue: 1 << 12), cache = Kinds(rawValue: 1 << 13), linkDedup = Kinds(rawValue: 1 << 14)
        public static let certificate = Kinds(rawValue: 1 << 15), route = Kinds(rawValue: 1 << 16), end = Kinds(rawValue: 1 << 17)
        public static let heldConnection = Kinds(rawValue: 1 << 18), connectionsPeak = Kinds(rawValue: 1 << 19)
        public static let linkSeries = Kinds(rawValue: 1 << 20), transferSeries = Kinds(rawValue: 1 << 21)
        public static let all = Kinds(rawValue: .max)
        /// The static description written before any event.
        public static let description: Kinds = [.run, .link, .node]
    }

    /// The kind a `type` value (raw bytes, no escapes) names; nil for types this version does not know.
    static func kind(ofType name: UnsafeBufferPointer<UInt8>) -> Kinds? {
        for t in typeNames where t.name.utf8CodeUnitCount == name.count {
            if memcmp(name.baseAddress!, t.name.utf8Start, name.count) == 0 { return t.kind }
        }
        return nil
    }

    /// The kind of a parsed line: nil when its `type` is missing, not a plain
    /// string or unknown (the full decoder then reports or skips it).
    static func kind(of json: FlatJSONObject) -> Kinds? {
        guard let f = json.field("type"), f.kind == .string, !f.escaped else { return nil }
        let name = json.valueBytes(f)
        return name.isEmpty ? nil : kind(ofType: name)
    }

    /// The kind of a line from its first bytes alone, without parsing it:
    /// recognises what `TraceWriter` writes (`{"type":"…"` or `{"t":123,"type":"…"`)
    /// and returns nil for anything else (the caller then parses the line).
    static func quickKind(_ line: UnsafeBufferPointer<UInt8>) -> Kinds? {
        let b = line.baseAddress!, n = line.count
        var i = 0
        @inline(__always) func take(_ s: StaticString) -> Bool {
            let len = s.utf8CodeUnitCount
            guard i + len <= n, memcmp(b + i, s.utf8Start, len) == 0 else { return false }
            i += len
            return true
        }
        if take(#"{"t":"#) {
            if i < n, b[i] == 0x2d { i += 1 }
            let digits = i
            while i < n, b[i] &- 0x30 < 10 { i += 1 }
            guard i > digits, take(#","type":""#) else { return nil }
        } else if !take(#"{"type":""#) {
            return nil
        }
        let start = i
        while i < n, b[i] != 0x22 { if b[i] == 0x5c { return nil }; i += 1 }
        guard i < n, i > start else { return nil }
        return kind(ofType: UnsafeBufferPointer(start: b + start, count: i - start))
    }

    /// This record's kind.
    public var kind: Kinds {
        switch self {
        case .run: .run
        case .link: .link
        case .node: .node
        case .probe: .probe
        case .linkState: .linkState
        case .linkStats: .linkStats
        case .transfer: .transfer
        case .reconverged: .reconverged
        case .exec: .exec
        case .realtime: .realtime
        case .publish: .publish
        case .content: .content
        case .fetch: .fetch
        case .cache: .cache
        case .linkDedup: .linkDedup
        case .certificate: .certificate
        case .route: .route
        case .heldConnection: .heldConnection
        case .connectionsPeak: .connectionsPeak
        case .linkSeries: .linkSeries
        case .transferSeries: .transferSeries
        case .end: .end
        }
    }
}
