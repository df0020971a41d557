import Foundation

/// The records of `trace.jsonl`, one JSON object per line. Schema version 1 is
/// documented in docs/trace-format.md; a reader refuses a newer major version.
/// Times are integer nanoseconds of simulated time (`t`), sizes are bytes.
///
/// Adding a record kind: a struct here, a case, one branch each in `jsonLine`
/// and `decode(fields:)`, a row in docs/trace-format.md, and an accumulator in
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
    case end(RunEnd)

    public static let schemaVersion = 1

    /// First line of every trace: what ran.
    public struct RunHeader: Equatable {
        public var topology: String
        public var seed: UInt64
        public var backend: String
        public var strategy: String
        public var durationNs: Int64
        public var nodes: Int
        public init(topology: String, seed: UInt64, backend: String, strategy: String, durationNs: Int64, nodes: Int) {
            self.topology = topology; self.seed = seed; self.backend = backend
            self.strategy = strategy; self.durationNs = durationNs; self.nodes = nodes
        }
    }

    /// One per link direction, before any event: the static description.
    public struct LinkInfo: Equatable {
        public var name: String            // "a>b"
        public var from: String
        public var to: String
        public var bandwidthBps: UInt64
        public var tier: String
        public var latencyNs: Int64
        public init(name: String, from: String, to: String, bandwidthBps: UInt64, tier: String, latencyNs: Int64) {
            self.name = name; self.from = from; self.to = to
            self.bandwidthBps = bandwidthBps; self.tier = tier; self.latencyNs = latencyNs
        }
    }

    /// One per node, before any event: where it is and what it does (for
    /// per-site and per-region statistics and the report's map).
    public struct NodeInfo: Equatable {
        public var name: String
        public var site: String
        public var region: String
        public var role: String
        public var address: String
        public var latitude: Double
        public var longitude: Double
        public init(name: String, site: String, region: String, role: String, address: String, latitude: Double, longitude: Double) {
            self.name = name; self.site = site; self.region = region; self.role = role
            self.address = address; self.latitude = latitude; self.longitude = longitude
        }
    }

    /// Routes stopped using a failed link or node: how long after the failure,
    /// and how many packets died on it meanwhile.
    public struct Reconvergence: Equatable {
        public var t: Int64                 // when the new routes took effect
        public var target: String           // "a<>b" for a link, or a node name
        public var isNode: Bool
        public var failedAtNs: Int64
        public var reconvergenceNs: Int64
        public var packetsLost: UInt64
        public init(t: Int64, target: String, isNode: Bool, failedAtNs: Int64, reconvergenceNs: Int64, packetsLost: UInt64) {
            self.t = t; self.target = target; self.isNode = isNode; self.failedAtNs = failedAtNs
            self.reconvergenceNs = reconvergenceNs; self.packetsLost = packetsLost
        }
    }

    /// One bulk transfer over QUIC. `durationNs == nil`: it did not complete
    /// (connection failed, closed, or timed out).
    public struct TransferResult: Equatable {
        public var t: Int64                 // when it completed or was given up
        public var workload: String
        public var from: String
        public var to: String
        public var bytes: Int
        public var streams: Int
        public var bytesReceived: Int
        public var handshakeNs: Int64?
        public var durationNs: Int64?
        public var goodputBps: Double?
        /// Goodput once slow start is over: the payload that arrived after the
        /// receiver had half of it, over the time from then to the last byte
        /// (nil when incomplete, or when half and last byte came together).
        public var secondHalfGoodputBps: Double?
        public var packetsLost: UInt64
        public var packetsRetransmitted: UInt64
        public var smoothedRttNs: Int64
        /// The sender's congestion controller (nil in traces from before it was recorded).
        public var congestion: String?
        /// The workload's QUIC knobs that differ from the defaults, e.g. "initial-rtt=100ms stream-window=1MiB".
        public var transport: String?
        public init(t: Int64, workload: String, from: String, to: String, bytes: Int, streams: Int, bytesReceived: Int,
                    handshakeNs: Int64?, durationNs: Int64?, goodputBps: Double?, secondHalfGoodputBps: Double? = nil,
                    packetsLost: UInt64, packetsRetransmitted: UInt64, smoothedRttNs: Int64,
                    congestion: String? = nil, transport: String? = nil) {
            self.congestion = congestion; self.transport = transport
            self.t = t; self.workload = workload; self.from = from; self.to = to; self.bytes = bytes
            self.streams = streams; self.bytesReceived = bytesReceived; self.handshakeNs = handshakeNs
            self.durationNs = durationNs; self.goodputBps = goodputBps; self.secondHalfGoodputBps = secondHalfGoodputBps
            self.packetsLost = packetsLost; self.packetsRetransmitted = packetsRetransmitted; self.smoothedRttNs = smoothedRttNs
        }
    }

    /// One echo probe: its round-trip time, or `rttNs == nil` when it was lost.
    public struct ProbeResult: Equatable {
        public var t: Int64                 // when the reply arrived or the probe timed out
        public var workload: String
        public var from: String
        public var to: String
        public var seq: Int
        public var size: Int
        public var rttNs: Int64?
        public init(t: Int64, workload: String, from: String, to: String, seq: Int, size: Int, rttNs: Int64?) {
            self.t = t; self.workload = workload; self.from = from; self.to = to
            self.seq = seq; self.size = size; self.rttNs = rttNs
        }
    }

    public struct LinkStateChange: Equatable {
        public var t: Int64
        public var target: String           // "a>b" … or a node name
        public var isNode: Bool
        public var up: Bool
        public init(t: Int64, target: String, isNode: Bool, up: Bool) {
            self.t = t; self.target = target; self.isNode = isNode; self.up = up
        }
    }

    /// Counters of one link direction at the end of the run.
    public struct LinkStats: Equatable {
        public var link: String
        public var packetsSent: UInt64
        public var bytesSent: UInt64
        public var packetsDelivered: UInt64
        public var bytesDelivered: UInt64
        public var droppedQueueFull: UInt64
        public var droppedLoss: UInt64
        public var droppedLinkDown: UInt64
        public var busyNs: Int64
        public var maxQueuedBytes: Int
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
    }

    /// A program run inside a node's namespace (netns backend) ended.
    public struct ExecResult: Equatable {
        public var t: Int64                 // when it ended
        public var workload: String
        public var node: String
        public var command: String          // arguments joined by spaces
        public var exitCode: Int?           // nil when a signal ended it
        public var signal: Int?
        public var timedOut: Bool
        public var stdout: String           // file names in the run directory
        public var stderr: String
        public init(t: Int64, workload: String, node: String, command: String, exitCode: Int?, signal: Int?,
                    timedOut: Bool, stdout: String, stderr: String) {
            self.t = t; self.workload = workload; self.node = node; self.command = command; self.exitCode = exitCode
            self.signal = signal; self.timedOut = timedOut; self.stdout = stdout; self.stderr = stderr
        }
    }

    /// Before `end` on the netns backend: how late the real-time engine fired
    /// its events (latencies in the trace are too large by about that much),
    /// and what its TUN relay carried.
    public struct RealtimeReport: Equatable, Codable {
        public var events: Int
        public var lagMeanNs: Int64
        public var lagP50Ns: Int64
        public var lagP99Ns: Int64
        public var lagMaxNs: Int64
        public var thresholdP99Ns: Int64
        public var packetsRelayed: UInt64   // written to TUN devices
        public var setupNs: Int64
        public init(events: Int, lagMeanNs: Int64, lagP50Ns: Int64, lagP99Ns: Int64, lagMaxNs: Int64,
                    thresholdP99Ns: Int64, packetsRelayed: UInt64, setupNs: Int64) {
            self.events = events; self.lagMeanNs = lagMeanNs; self.lagP50Ns = lagP50Ns; self.lagP99Ns = lagP99Ns
            self.lagMaxNs = lagMaxNs; self.thresholdP99Ns = thresholdP99Ns; self.packetsRelayed = packetsRelayed
            self.setupNs = setupNs
        }
        public var exceedsThreshold: Bool { lagP99Ns > thresholdP99Ns }
    }

    /// Last line: the run finished (a trace without it was cut short), or
    /// stopped early on a signal (`interruptedBy`, e.g. "SIGINT", at `t`).
    public struct RunEnd: Equatable {
        public var t: Int64
        public var events: UInt64
        public var interruptedBy: String?
        public init(t: Int64, events: UInt64, interruptedBy: String? = nil) {
            self.t = t; self.events = events; self.interruptedBy = interruptedBy
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

    func encode(into j: inout JSONLine) {
        switch self {
        case .run(let r):
            j.add("type", "run"); j.add("schema", TraceRecord.schemaVersion); j.add("topology", r.topology)
            j.add("seed", r.seed); j.add("backend", r.backend); j.add("strategy", r.strategy)
            j.add("duration_ns", r.durationNs); j.add("nodes", r.nodes)
        case .link(let l):
            j.add("type", "link"); j.add("link", l.name); j.add("from", l.from); j.add("to", l.to)
            j.add("bandwidth_bps", l.bandwidthBps); j.add("tier", l.tier); j.add("latency_ns", l.latencyNs)
        case .node(let n):
            j.add("type", "node"); j.add("node", n.name); j.add("site", n.site); j.add("region", n.region)
            j.add("role", n.role); j.add("address", n.address)
            j.add("lat", n.latitude, digits: 8); j.add("lon", n.longitude, digits: 8)
        case .probe(let p):
            j.add("t", p.t); j.add("type", "probe"); j.add("workload", p.workload); j.add("from", p.from)
            j.add("to", p.to); j.add("seq", p.seq); j.add("size", p.size)
            if let rtt = p.rttNs { j.add("rtt_ns", rtt) } else { j.addNull("rtt_ns") }
        case .linkState(let s):
            j.add("t", s.t); j.add("type", s.isNode ? "node_state" : "link_state")
            j.add(s.isNode ? "node" : "link", s.target); j.add("up", s.up)
        case .linkStats(let s):
            j.add("type", "link_stats"); j.add("link", s.link)
            j.add("packets_sent", s.packetsSent); j.add("bytes_sent", s.bytesSent)
            j.add("packets_delivered", s.packetsDelivered); j.add("bytes_delivered", s.bytesDelivered)
            j.add("dropped_queue_full", s.droppedQueueFull); j.add("dropped_loss", s.droppedLoss)
            j.add("dropped_link_down", s.droppedLinkDown); j.add("busy_ns", s.busyNs)
            j.add("max_queued_bytes", s.maxQueuedBytes)
            if let n = s.droppedMTU { j.add("dropped_mtu", n) }
            if let n = s.corrupted { j.add("corrupted", n) }
            if let n = s.duplicated { j.add("duplicated", n) }
            if let n = s.reordered { j.add("reordered", n) }
        case .transfer(let x):
            j.add("t", x.t); j.add("type", "transfer"); j.add("workload", x.workload); j.add("from", x.from)
            j.add("to", x.to); j.add("bytes", x.bytes); j.add("streams", x.streams); j.add("bytes_received", x.bytesReceived)
            if let h = x.handshakeNs { j.add("handshake_ns", h) } else { j.addNull("handshake_ns") }
            if let d = x.durationNs { j.add("duration_ns", d) } else { j.addNull("duration_ns") }
            if let g = x.goodputBps { j.add("goodput_bps", g) } else { j.addNull("goodput_bps") }
            if let g = x.secondHalfGoodputBps { j.add("second_half_goodput_bps", g) } else { j.addNull("second_half_goodput_bps") }
            j.add("packets_lost", x.packetsLost); j.add("packets_retransmitted", x.packetsRetransmitted)
            j.add("srtt_ns", x.smoothedRttNs)
            if let c = x.congestion { j.add("congestion", c) }
            if let k = x.transport { j.add("transport", k) }
        case .exec(let x):
            j.add("t", x.t); j.add("type", "exec"); j.add("workload", x.workload); j.add("node", x.node)
            j.add("command", x.command)
            if let c = x.exitCode { j.add("exit_code", c) } else { j.addNull("exit_code") }
            if let s = x.signal { j.add("signal", s) } else { j.addNull("signal") }
            j.add("timed_out", x.timedOut); j.add("stdout", x.stdout); j.add("stderr", x.stderr)
        case .realtime(let r):
            j.add("type", "realtime"); j.add("events", r.events); j.add("lag_mean_ns", r.lagMeanNs)
            j.add("lag_p50_ns", r.lagP50Ns); j.add("lag_p99_ns", r.lagP99Ns); j.add("lag_max_ns", r.lagMaxNs)
            j.add("threshold_p99_ns", r.thresholdP99Ns); j.add("packets_relayed", r.packetsRelayed)
            j.add("setup_ns", r.setupNs)
        case .reconverged(let r):
            j.add("t", r.t); j.add("type", "reconverged"); j.add(r.isNode ? "node" : "link", r.target)
            j.add("failed_at_ns", r.failedAtNs); j.add("reconvergence_ns", r.reconvergenceNs)
            j.add("packets_lost", r.packetsLost)
        case .publish(let p): p.encode(into: &j)
        case .content(let c): c.encode(into: &j)
        case .fetch(let f): f.encode(into: &j)
        case .cache(let c): c.encode(into: &j)
        case .linkDedup(let l): l.encode(into: &j)
        case .certificate(let c): c.encode(into: &j)
        case .route(let r): r.encode(into: &j)
        case .heldConnection(let c): c.encode(into: &j)
        case .connectionsPeak(let p): p.encode(into: &j)
        case .end(let e):
            j.add("t", e.t); j.add("type", "end"); j.add("events", e.events)
            if let signal = e.interruptedBy { j.add("interrupted_by", signal) }
        }
    }

    // MARK: Decoding

    public struct DecodeError: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
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
        let type = try f.string("type")
        switch type {
        case "run":
            let schema = try f.int("schema")
            guard schema <= schemaVersion else {
                throw DecodeError(line: f.line, message: "trace schema \(schema) is newer than this stoqsim (\(schemaVersion)); upgrade stoqsim")
            }
            return .run(RunHeader(topology: try f.string("topology"), seed: try f.uint64("seed"),
                                  backend: try f.string("backend"), strategy: try f.string("strategy"),
                                  durationNs: try f.int64("duration_ns"), nodes: try f.int("nodes")))
        case "link":
            return .link(LinkInfo(name: try f.string("link"), from: try f.string("from"), to: try f.string("to"),
                                  bandwidthBps: try f.uint64("bandwidth_bps"), tier: try f.string("tier"),
                                  latencyNs: try f.int64("latency_ns")))
        case "node":
            return .node(NodeInfo(name: try f.string("node"), site: try f.string("site"), region: try f.string("region"),
                                  role: try f.string("role"), address: try f.string("address"),
                                  latitude: try f.double("lat"), longitude: try f.double("lon")))
        case "probe":
            return .probe(ProbeResult(t: try f.int64("t"), workload: try f.string("workload"), from: try f.string("from"),
                                      to: try f.string("to"), seq: try f.int("seq"), size: try f.int("size"),
                                      rttNs: try f.optionalInt64("rtt_ns")))
        case "link_state", "node_state":
            let isNode = type == "node_state"
            return .linkState(LinkStateChange(t: try f.int64("t"), target: try f.string(isNode ? "node" : "link"),
                                              isNode: isNode, up: try f.bool("up")))
        case "link_stats":
            return .linkStats(LinkStats(link: try f.string("link"),
                                        packetsSent: try f.uint64("packets_sent"), bytesSent: try f.uint64("bytes_sent"),
                                        packetsDelivered: try f.uint64("packets_delivered"),
                                        bytesDelivered: try f.uint64("bytes_delivered"),
                                        droppedQueueFull: try f.uint64("dropped_queue_full"),
                                        droppedLoss: try f.uint64("dropped_loss"),
                                        droppedLinkDown: try f.uint64("dropped_link_down"),
                                        busyNs: try f.int64("busy_ns"), maxQueuedBytes: try f.int("max_queued_bytes"),
                                        droppedMTU: try f.optionalCount("dropped_mtu"), corrupted: try f.optionalCount("corrupted"),
                                        duplicated: try f.optionalCount("duplicated"), reordered: try f.optionalCount("reordered")))
        case "transfer":
            return .transfer(TransferResult(t: try f.int64("t"), workload: try f.string("workload"), from: try f.string("from"),
                                            to: try f.string("to"), bytes: try f.int("bytes"), streams: try f.int("streams"),
                                            bytesReceived: try f.int("bytes_received"),
                                            handshakeNs: try f.optionalInt64("handshake_ns"),
                                            durationNs: try f.optionalInt64("duration_ns"),
                                            goodputBps: try f.optionalDouble("goodput_bps"),
                                            secondHalfGoodputBps: try f.optionalDouble("second_half_goodput_bps"),
                                            packetsLost: try f.uint64("packets_lost"),
                                            packetsRetransmitted: try f.uint64("packets_retransmitted"),
                                            smoothedRttNs: try f.int64("srtt_ns"),
                                            congestion: try f.optionalString("congestion"),
                                            transport: try f.optionalString("transport")))
        case "exec":
            return .exec(ExecResult(t: try f.int64("t"), workload: try f.string("workload"), node: try f.string("node"),
                                    command: try f.string("command"),
                                    exitCode: try f.optionalInt64("exit_code").map(Int.init),
                                    signal: try f.optionalInt64("signal").map(Int.init), timedOut: try f.bool("timed_out"),
                                    stdout: try f.string("stdout"), stderr: try f.string("stderr")))
        case "realtime":
            return .realtime(RealtimeReport(events: try f.int("events"), lagMeanNs: try f.int64("lag_mean_ns"),
                                            lagP50Ns: try f.int64("lag_p50_ns"), lagP99Ns: try f.int64("lag_p99_ns"),
                                            lagMaxNs: try f.int64("lag_max_ns"), thresholdP99Ns: try f.int64("threshold_p99_ns"),
                                            packetsRelayed: try f.uint64("packets_relayed"), setupNs: try f.int64("setup_ns")))
        case "reconverged":
            let isNode = f.has("node")
            return .reconverged(Reconvergence(t: try f.int64("t"), target: try f.string(isNode ? "node" : "link"), isNode: isNode,
                                              failedAtNs: try f.int64("failed_at_ns"),
                                              reconvergenceNs: try f.int64("reconvergence_ns"),
                                              packetsLost: try f.uint64("packets_lost")))
        case "end":
            return .end(RunEnd(t: try f.int64("t"), events: try f.uint64("events"),
                               interruptedBy: try f.optionalString("interrupted_by")))
        case "publish": return .publish(try PublishRecord(f))
        case "content": return .content(try ContentExchange(f))
        case "fetch": return .fetch(try FetchResult(f))
        case "cache": return .cache(try CacheStats(f))
        case "link_dedup": return .linkDedup(try LinkDedup(f))
        case "cert": return .certificate(try CertificateEvent(f))
        case "route": return .route(try RouteInfo(f))
        case "connection": return .heldConnection(try HeldConnection(f))
        case "connections": return .connectionsPeak(try ConnectionsPeak(f))
        default:
            return nil
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
        public static let all = Kinds(rawValue: .max)
        /// The static description written before any event.
        public static let description: Kinds = [.run, .link, .node]
    }

    /// Each `type` name and its kind, the most frequent first (lookups scan in order).
    static let typeNames: [(name: StaticString, kind: Kinds)] = [
        ("probe", .probe), ("transfer", .transfer), ("connection", .heldConnection), ("content", .content), ("fetch", .fetch), ("cert", .certificate),
        ("link_state", .linkState), ("node_state", .linkState), ("reconverged", .reconverged), ("route", .route),
        ("link_stats", .linkStats), ("link_dedup", .linkDedup), ("cache", .cache), ("publish", .publish), ("exec", .exec),
        ("realtime", .realtime), ("link", .link), ("node", .node), ("run", .run), ("end", .end),
        ("connections", .connectionsPeak),
    ]

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
        case .end: .end
        }
    }
}
