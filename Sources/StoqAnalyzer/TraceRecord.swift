import Foundation

/// The records of `trace.jsonl`, one JSON object per line. Schema version 1 is
/// documented in docs/trace-format.md; a reader refuses a newer major version.
/// Times are integer nanoseconds of simulated time (`t`), sizes are bytes.
public enum TraceRecord: Equatable {
    case run(RunHeader)
    case link(LinkInfo)
    case probe(ProbeResult)
    case linkState(LinkStateChange)
    case linkStats(LinkStats)
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
        public init(link: String, packetsSent: UInt64, bytesSent: UInt64, packetsDelivered: UInt64, bytesDelivered: UInt64,
                    droppedQueueFull: UInt64, droppedLoss: UInt64, droppedLinkDown: UInt64, busyNs: Int64, maxQueuedBytes: Int) {
            self.link = link; self.packetsSent = packetsSent; self.bytesSent = bytesSent
            self.packetsDelivered = packetsDelivered; self.bytesDelivered = bytesDelivered
            self.droppedQueueFull = droppedQueueFull; self.droppedLoss = droppedLoss
            self.droppedLinkDown = droppedLinkDown; self.busyNs = busyNs; self.maxQueuedBytes = maxQueuedBytes
        }
    }

    /// Last line: the run finished (a trace without it was cut short).
    public struct RunEnd: Equatable {
        public var t: Int64
        public var events: UInt64
        public init(t: Int64, events: UInt64) { self.t = t; self.events = events }
    }

    // MARK: Encoding

    public var jsonLine: String {
        var j = JSONLine()
        switch self {
        case .run(let r):
            j.add("type", "run"); j.add("schema", TraceRecord.schemaVersion); j.add("topology", r.topology)
            j.add("seed", r.seed); j.add("backend", r.backend); j.add("strategy", r.strategy)
            j.add("duration_ns", r.durationNs); j.add("nodes", r.nodes)
        case .link(let l):
            j.add("type", "link"); j.add("link", l.name); j.add("from", l.from); j.add("to", l.to)
            j.add("bandwidth_bps", l.bandwidthBps); j.add("tier", l.tier); j.add("latency_ns", l.latencyNs)
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
        case .end(let e):
            j.add("t", e.t); j.add("type", "end"); j.add("events", e.events)
        }
        return j.string
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
        guard let data = line.data(using: .utf8),
              let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DecodeError(line: lineNumber, message: "not a JSON object")
        }
        let f = Fields(o: o, line: lineNumber)
        switch try f.string("type") {
        case "run":
            let schema = try f.int("schema")
            guard schema <= schemaVersion else {
                throw DecodeError(line: lineNumber, message: "trace schema \(schema) is newer than this stoqsim (\(schemaVersion)); upgrade stoqsim")
            }
            return .run(RunHeader(topology: try f.string("topology"), seed: UInt64(try f.int("seed")),
                                  backend: try f.string("backend"), strategy: try f.string("strategy"),
                                  durationNs: try f.int64("duration_ns"), nodes: try f.int("nodes")))
        case "link":
            return .link(LinkInfo(name: try f.string("link"), from: try f.string("from"), to: try f.string("to"),
                                  bandwidthBps: UInt64(try f.int64("bandwidth_bps")), tier: try f.string("tier"),
                                  latencyNs: try f.int64("latency_ns")))
        case "probe":
            return .probe(ProbeResult(t: try f.int64("t"), workload: try f.string("workload"), from: try f.string("from"),
                                      to: try f.string("to"), seq: try f.int("seq"), size: try f.int("size"),
                                      rttNs: f.optionalInt64("rtt_ns")))
        case "link_state", "node_state":
            let isNode = o["type"] as? String == "node_state"
            return .linkState(LinkStateChange(t: try f.int64("t"), target: try f.string(isNode ? "node" : "link"),
                                              isNode: isNode, up: try f.bool("up")))
        case "link_stats":
            return .linkStats(LinkStats(link: try f.string("link"),
                                        packetsSent: UInt64(try f.int64("packets_sent")), bytesSent: UInt64(try f.int64("bytes_sent")),
                                        packetsDelivered: UInt64(try f.int64("packets_delivered")),
                                        bytesDelivered: UInt64(try f.int64("bytes_delivered")),
                                        droppedQueueFull: UInt64(try f.int64("dropped_queue_full")),
                                        droppedLoss: UInt64(try f.int64("dropped_loss")),
                                        droppedLinkDown: UInt64(try f.int64("dropped_link_down")),
                                        busyNs: try f.int64("busy_ns"), maxQueuedBytes: try f.int("max_queued_bytes")))
        case "end":
            return .end(RunEnd(t: try f.int64("t"), events: UInt64(try f.int64("events"))))
        default:
            return nil
        }
    }

    private struct Fields {
        let o: [String: Any]
        let line: Int
        func value(_ k: String) throws -> Any {
            guard let v = o[k] else { throw DecodeError(line: line, message: "missing field '\(k)'") }
            return v
        }
        func string(_ k: String) throws -> String {
            guard let s = try value(k) as? String else { throw DecodeError(line: line, message: "'\(k)' must be a string") }
            return s
        }
        func int64(_ k: String) throws -> Int64 {
            guard let n = try value(k) as? NSNumber else { throw DecodeError(line: line, message: "'\(k)' must be a number") }
            return n.int64Value
        }
        func int(_ k: String) throws -> Int { Int(try int64(k)) }
        func optionalInt64(_ k: String) -> Int64? { (o[k] as? NSNumber)?.int64Value }
        func bool(_ k: String) throws -> Bool {
            guard let b = try value(k) as? Bool else { throw DecodeError(line: line, message: "'\(k)' must be true or false") }
            return b
        }
    }
}
