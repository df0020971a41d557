extension TraceRecord {
    /// One outcome of a node's certificate manager in a TrustChain run: it
    /// enrolled, renewed (a rotation), or failed an attempt (and will retry).
    public struct CertificateEvent: Equatable, TraceRecordFields {
        public var t: Int64 = 0
        public var workload: String = ""
        public var node: String = ""
        /// "enrolled", "renewed" or "failed".
        public var event: String = ""
        /// Attempts so far for this certificate (1 = first try).
        public var attempt: Int = 0
        /// From the first request of the attempt to the verified certificate (or the failure).
        public var latencyNs: Int64 = 0
        /// Round trip of POST /ca/certificate, and of fetching and checking the inclusion proof.
        public var requestNs: Int64?
        public var proofNs: Int64?
        public var fingerprint: String?
        /// Until when the certificate is valid (ns of simulated time).
        public var notAfterNs: Int64?
        /// The rejection code when it failed (e.g. "unreachable", "work_proof_insufficient").
        public var reason: String?
        public init(t: Int64, workload: String, node: String, event: String, attempt: Int, latencyNs: Int64, requestNs: Int64?,
                    proofNs: Int64?, fingerprint: String?, notAfterNs: Int64?, reason: String?) {
            self.t = t; self.workload = workload; self.node = node; self.event = event; self.attempt = attempt
            self.latencyNs = latencyNs; self.requestNs = requestNs; self.proofNs = proofNs; self.fingerprint = fingerprint
            self.notAfterNs = notAfterNs; self.reason = reason
        }

        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("cert"); try c.field("workload", &workload); try c.field("node", &node)
            try c.field("event", &event); try c.field("attempt", &attempt); try c.field("latency_ns", &latencyNs)
            try c.field("request_ns", &requestNs); try c.field("proof_ns", &proofNs); try c.field("fingerprint", &fingerprint)
            try c.field("not_after_ns", &notAfterNs); try c.field("reason", &reason)
        }
    }
}

/// Certificate flows of a TrustChain run: enrolments, rotations, failures by reason, latencies.
public struct CertificateSummary: Codable, Equatable {
    public struct Failure: Codable, Equatable {
        public var reason: String
        public var count: Int
    }
    public var nodes: Int
    public var enrolled: Int
    public var renewed: Int
    public var failed: Int
    public var failures: [Failure]
    /// Enrolment attempts that succeeded: first request to verified certificate.
    public var enrolmentNs: Distribution?
    public var renewalNs: Distribution?
    /// POST /ca/certificate round trips, and proof fetch + check, of successful attempts.
    public var requestNs: Distribution?
    public var proofNs: Distribution?
    /// Fewest and most rotations (renewals) of any node.
    public var minRotations: Int
    public var maxRotations: Int
    /// Peers' certificates whose inclusion proofs nodes checked after a handshake, and how long that took.
    public var peersVerified: Int?
    public var peersFailed: Int?
    public var peerProofNs: Distribution?
    /// The other direction, with mutual TLS: servers checking their clients' certificates.
    public var clientsVerified: Int?
    public var clientsFailed: Int?
    public var clientProofNs: Distribution?
    /// Certificates the CA revoked during the run.
    public var revoked: Int?
    /// Failed peer and client checks (both directions, in the handshake or after it), by reason.
    public var checkFailures: [Failure]?
    /// Rogue nodes' attempts (`rogue:`), by attack and outcome: "replay refused: replayed_request", "stake-reuse accepted".
    public var attacks: [Failure]?
    /// Running totals of enrolments, renewals and failed attempts over time.
    public var timeline: [Point]?

    public struct Point: Codable, Equatable {
        public var tNs: Int64
        public var enrolled: Int
        public var renewed: Int
        public var failed: Int
    }
}

public final class CertificateAccumulator: TraceAccumulator {
    private var enrolment = LatencyStats(), renewal = LatencyStats(), request = LatencyStats(), proof = LatencyStats()
    private var enrolled = 0, renewed = 0, failed = 0, peersVerified = 0, peersFailed = 0, revoked = 0
    private var peerProof = LatencyStats(), clientProof = LatencyStats()
    private var clientsVerified = 0, clientsFailed = 0
    private var failures = ReasonCounts(), checkFailures = ReasonCounts(), attacks = ReasonCounts()
    private var rotations: [String: Int] = [:]
    private var overTime = CumulativeTimeline(series: 3)

    public init() {}

    public var recordKinds: TraceRecord.Kinds { .certificate }

    public func consume(_ record: TraceRecord, context: AnalysisContext) {
        guard case .certificate(let c) = record else { return }
        switch c.event {
        case "peer-verified":
            peersVerified += 1
            peerProof.record(c.latencyNs)
            return
        case "peer-failed":
            peersFailed += 1
            checkFailures.add(c.reason ?? "unknown")
            return
        case "client-verified":
            clientsVerified += 1
            clientProof.record(c.latencyNs)
            return
        case "client-failed":
            clientsFailed += 1
            checkFailures.add(c.reason ?? "unknown")
            return
        case "revoked":
            revoked += 1
            return
        case let e where e.hasSuffix("-refused"):
            attacks.add(String(e.dropLast("-refused".count)) + " refused: " + (c.reason ?? "unknown"))
            return
        case let e where e.hasSuffix("-accepted"):
            attacks.add(String(e.dropLast("-accepted".count)) + " accepted")
            return
        default:
            break
        }
        if rotations[c.node] == nil { rotations[c.node] = 0 }
        overTime.add(at: c.t, [c.event == "enrolled" ? 1 : 0, c.event == "renewed" ? 1 : 0,
                               c.event == "enrolled" || c.event == "renewed" ? 0 : 1], context: context)
        switch c.event {
        case "enrolled":
            enrolled += 1
            enrolment.record(c.latencyNs)
        case "renewed":
            renewed += 1
            renewal.record(c.latencyNs)
            rotations[c.node, default: 0] += 1
        default:
            failed += 1
            failures.add(c.reason ?? "unknown")
            return
        }
        if let r = c.requestNs { request.record(r) }
        if let p = c.proofNs { proof.record(p) }
    }

    public func finish(into summary: inout RunSummary, context: AnalysisContext) {
        guard !rotations.isEmpty else { return }
        summary.certificates = CertificateSummary(
            nodes: rotations.count, enrolled: enrolled, renewed: renewed, failed: failed,
            failures: failures.list,
            enrolmentNs: Distribution(enrolment), renewalNs: Distribution(renewal), requestNs: Distribution(request),
            proofNs: Distribution(proof), minRotations: rotations.values.min() ?? 0, maxRotations: rotations.values.max() ?? 0,
            peersVerified: peersVerified, peersFailed: peersFailed, peerProofNs: Distribution(peerProof),
            clientsVerified: clientsVerified + clientsFailed > 0 ? clientsVerified : nil, clientsFailed: clientsVerified + clientsFailed > 0 ? clientsFailed : nil,
            clientProofNs: Distribution(clientProof), revoked: revoked,
            checkFailures: checkFailures.list.isEmpty ? nil : checkFailures.list, attacks: attacks.list.isEmpty ? nil : attacks.list,
            timeline: overTime.points(context: context).map { .init(tNs: $0.tNs, enrolled: $0.totals[0], renewed: $0.totals[1], failed: $0.totals[2]) })
    }
}

/// Counts by reason, in the order reasons first appeared.
struct ReasonCounts {
    private var order: [String] = []
    private var counts: [String: Int] = [:]
    mutating func add(_ reason: String) {
        if counts[reason] == nil { order.append(reason) }
        counts[reason, default: 0] += 1
    }
    var list: [CertificateSummary.Failure] { order.map { .init(reason: $0, count: counts[$0]!) } }
}

extension RunReport {
    static func certificateTable(_ c: CertificateSummary) -> Table {
        func d(_ x: Distribution?) -> String {
            x.map { "p50 \(SummaryText.formatNs($0.p50)), p99 \(SummaryText.formatNs($0.p99)), max \(SummaryText.formatNs($0.max))" } ?? "-"
        }
        var rows = [["nodes", "\(c.nodes)"], ["enrolled", "\(c.enrolled)"],
                    ["renewed (rotations)", "\(c.renewed) (per node \(c.minRotations)–\(c.maxRotations))"],
                    ["failed attempts", c.failed == 0 ? "0" : "\(c.failed): " + byReason(c.failures)],
                    ["enrolment time", d(c.enrolmentNs)], ["renewal time", d(c.renewalNs)],
                    ["CA request round trip", d(c.requestNs)], ["inclusion proof fetch + check", d(c.proofNs)]]
        if c.renewed == 0 { rows.remove(at: 5) }
        if let revoked = c.revoked, revoked > 0 { rows.append(["revoked by the CA", "\(revoked)"]) }
        if let verified = c.peersVerified, verified + (c.peersFailed ?? 0) > 0 {
            rows.append(["servers checked by clients (SCT, inclusion, revocation)", "\(verified) verified, \(c.peersFailed ?? 0) failed; \(d(c.peerProofNs))"])
        }
        if let verified = c.clientsVerified {
            rows.append(["clients checked by servers (mutual TLS)", "\(verified) verified, \(c.clientsFailed ?? 0) failed; \(d(c.clientProofNs))"])
        }
        if let f = c.checkFailures { rows.append(["failed checks by reason", byReason(f)]) }
        if let a = c.attacks { rows.append(["rogue nodes' attempts", byReason(a)]) }
        return Table(header: ["", ""], rows: rows)
    }

    private static func byReason(_ counts: [CertificateSummary.Failure]) -> String {
        counts.map { "\($0.reason) × \($0.count)" }.joined(separator: ", ")
    }

    static let certificateNote = "TrustChain: nodes enrol at the CA over STOQ with a CSR and a consensus proof, check the " +
        "certificate's SCT and its CT inclusion proof against a signed tree head, and renew before expiry."
}
