extension TraceRecord {
    /// One held connection of a `connections` workload, written when it ends:
    /// its handshake time, the time of its request/response after the hold,
    /// or why it failed.
    public struct HeldConnection: Equatable, TraceRecordFields {
        public var t: Int64 = 0
        public var workload: String = ""
        public var from: String = ""
        public var to: String = ""
        /// Connection attempt to handshake completed (client side); nil when it never completed.
        public var handshakeNs: Int64?
        /// Request sent to the response's last byte; nil without a response.
        public var exchangeNs: Int64?
        /// Why the connection failed; nil when it got its response.
        public var failure: String?
        public init(t: Int64, workload: String, from: String, to: String, handshakeNs: Int64?, exchangeNs: Int64?, failure: String?) {
            self.t = t; self.workload = workload; self.from = from; self.to = to
            self.handshakeNs = handshakeNs; self.exchangeNs = exchangeNs; self.failure = failure
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("connection"); try c.field("workload", &workload); try c.field("from", &from)
            try c.field("to", &to); try c.field("handshake_ns", &handshakeNs); try c.field("exchange_ns", &exchangeNs)
            try c.field("failure", &failure)
        }
    }

    /// A `connections` workload's totals, written at the end of the run: how
    /// many connections it attempted, the most that were open (handshake
    /// completed, not yet closed) at one instant and when, and the span over
    /// which the handshakes happened.
    public struct ConnectionsPeak: Equatable, TraceRecordFields {
        public var t: Int64 = 0
        public var workload: String = ""
        public var attempted: Int = 0
        public var peakOpen: Int = 0
        public var peakAtNs: Int64 = 0
        /// The first connection attempt and the last completed handshake (nil: none).
        public var firstAttemptNs: Int64?
        public var lastHandshakeNs: Int64?
        public init(t: Int64, workload: String, attempted: Int, peakOpen: Int, peakAtNs: Int64, firstAttemptNs: Int64?, lastHandshakeNs: Int64?) {
            self.t = t; self.workload = workload; self.attempted = attempted; self.peakOpen = peakOpen; self.peakAtNs = peakAtNs
            self.firstAttemptNs = firstAttemptNs; self.lastHandshakeNs = lastHandshakeNs
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("connections"); try c.field("workload", &workload); try c.field("attempted", &attempted)
            try c.field("peak_open", &peakOpen); try c.field("peak_at_ns", &peakAtNs)
            try c.field("first_attempt_ns", &firstAttemptNs); try c.field("last_handshake_ns", &lastHandshakeNs)
        }
    }
}

/// One `connections` workload: the peak of connections held open at once,
/// handshake and request/response latencies, failures by reason.
public struct ConnectionsSummary: Codable, Equatable {
    public var workload: String
    public var attempted: Int
    public var established: Int
    public var peakOpen: Int
    public var peakAtNs: Int64
    /// Every attempted connection was open at the same instant.
    public var allOpenAtOnce: Bool
    /// Completed handshakes over the simulated span from the first attempt to the last handshake.
    public var handshakesPerSecond: Double?
    public var handshakeNs: Distribution?
    /// Requests answered in full, and request-to-last-response-byte times.
    public var exchanges: Int
    public var exchangeNs: Distribution?
    public var failed: Int
    public var failures: [CertificateSummary.Failure]
}

/// Builds `RunSummary.connections` from `connection` and `connections` records.
public final class ConnectionsAccumulator: TraceAccumulator {
    private final class Workload {
        var established = 0, exchanges = 0, failed = 0
        var handshake = LatencyStats(), exchange = LatencyStats()
        var failures = ReasonCounts()
        var peak: TraceRecord.ConnectionsPeak?
    }
    private var workloads: [String: Workload] = [:]
    private var order: [String] = []

    public init() {}

    public var recordKinds: TraceRecord.Kinds { [.heldConnection, .connectionsPeak] }

    private func workload(_ name: String) -> Workload {
        if let w = workloads[name] { return w }
        let w = Workload()
        workloads[name] = w
        order.append(name)
        return w
    }

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        switch record {
        case .heldConnection(let c):
            let w = workload(c.workload)
            if let h = c.handshakeNs { w.established += 1; w.handshake.record(h) }
            if let e = c.exchangeNs { w.exchanges += 1; w.exchange.record(e) }
            if let f = c.failure { w.failed += 1; w.failures.add(f) }
        case .connectionsPeak(let p):
            workload(p.workload).peak = p
        default:
            break
        }
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        guard !order.isEmpty else { return }
        summary.connections = order.map { name in
            let w = workloads[name]!
            var rate: Double?
            if let first = w.peak?.firstAttemptNs, let last = w.peak?.lastHandshakeNs, last > first {
                rate = Double(w.established) / (Double(last - first) / 1e9)
            }
            let attempted = w.peak?.attempted ?? (w.established + w.failed)
            return ConnectionsSummary(workload: name, attempted: attempted, established: w.established,
                                      peakOpen: w.peak?.peakOpen ?? 0, peakAtNs: w.peak?.peakAtNs ?? 0,
                                      allOpenAtOnce: attempted > 0 && w.peak?.peakOpen == attempted,
                                      handshakesPerSecond: rate, handshakeNs: Distribution(w.handshake),
                                      exchanges: w.exchanges, exchangeNs: Distribution(w.exchange),
                                      failed: w.failed, failures: w.failures.list)
        }
    }
}

extension SummaryText {
    static func connections(_ list: [ConnectionsSummary]) -> String {
        var out = "\nHeld connections\n"
        func d(_ x: Distribution?) -> String {
            x.map { "p50 \(formatNs($0.p50)), p90 \(formatNs($0.p90)), p99 \(formatNs($0.p99)), max \(formatNs($0.max))" } ?? "-"
        }
        for c in list {
            out += "  \(c.workload): \(c.established) of \(c.attempted) established, peak \(c.peakOpen) open at once at \(formatNs(c.peakAtNs))"
            out += c.allOpenAtOnce ? " (all)\n" : "\n"
            if let r = c.handshakesPerSecond { out += "    handshakes: \(Int(r.rounded()))/s simulated; \(d(c.handshakeNs))\n" }
            out += "    request/response: \(c.exchanges) answered; \(d(c.exchangeNs))\n"
            if c.failed > 0 {
                out += "    failed: \(c.failed): " + c.failures.map { "\($0.reason) × \($0.count)" }.joined(separator: ", ") + "\n"
            }
        }
        return out
    }
}
