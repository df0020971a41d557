import StoqAnalyzer
import StoqEngine
import StoqNodeRuntime
import StoqTopology
import StoqTransport
import TrustChain

/// `rogue: [{node: NAME, peer: NAME, at: TIME}]` on the `trustchain` workload:
/// at `at` (or once enrolled, if later) the node tries what an attacker
/// would, over the simulated network against the run's CA and peer:
///
/// - **replay**: sends its last enrolment request again, byte for byte. The CA
///   refuses it 409 `replayed_request` (past the 5 min time window,
///   `time_proof_failed`).
/// - **stake-reuse**: asks for a certificate for a new key with a fresh time,
///   work and space proof but its own stake proof, which is bound to its
///   enrolled key: `stake_proof_failed`.
/// - **tampered-sct**: connects to `peer` presenting, as its client
///   certificate, its own certificate signed again by the CA's key with one
///   bit of the embedded SCT's signature flipped (what a stolen CA key or a
///   mis-issuance outside the log gives). The peer's GnuTLS accepts the chain;
///   its SCT check refuses it (`bad_sct`, the peer's `client-failed` record)
///   and drops the connection. Needs mutual TLS.
///
/// Each outcome is a `cert` record at the node: `replay-refused`,
/// `stake-reuse-refused` or `tampered-sct-refused` with the refusal's code, or
/// `…-accepted` if the attack got through (a hole in TrustChain).
struct RoguePlan {
    var node: String
    var peer: String
    var at: SimDuration

    static let attacks = ["replay", "stake-reuse", "tampered-sct"]

    static func parse(_ f: ConfigMap, nodes: [String], ca: String, mutualTLS: Bool, topology: Topology) throws -> [RoguePlan] {
        guard let v = f["rogue"] else { return [] }
        guard case .sequence(let items, _) = v else {
            throw TopologyDiagnostic(at: v.location, "'rogue' must be a list of {node: NAME, peer: NAME, at: TIME}")
        }
        guard mutualTLS else {
            throw TopologyDiagnostic(at: v.location, "a rogue node presents its tampered certificate as a client certificate: 'rogue' needs mutual-tls")
        }
        return try items.map { item in
            guard case .mapping(let m) = item else {
                throw TopologyDiagnostic(at: item.location, "each 'rogue' entry must be {node: NAME, peer: NAME, at: TIME}")
            }
            try m.checkKeys(allowed: ["node", "peer", "at"], context: "a 'rogue' entry")
            let node = try m.requiredString("node", context: "a 'rogue' entry")
            guard nodes.contains(node) else {
                throw TopologyDiagnostic(at: m.location(of: "node"), "'\(node)' does not enrol in this trustchain workload, so it has no certificate to misuse")
            }
            let peer = try m.requiredString("peer", context: "a 'rogue' entry")
            guard peer != node, nodes.contains(peer) || peer == ca else {
                throw TopologyDiagnostic(at: m.location(of: "peer"), "'\(peer)' must be another node of this trustchain workload (or its CA)")
            }
            guard let at = try m.duration("at") else { throw TopologyDiagnostic(at: m.location, "a 'rogue' entry needs 'at'") }
            guard at < topology.duration else {
                throw TopologyDiagnostic(at: m.location(of: "at"), "the attack at \(at) is after the run ends (\(topology.duration))")
            }
            return RoguePlan(node: node, peer: peer, at: at)
        }
    }
}

extension TrustChainWorkload {
    /// How long the tampered connection may stay up before the attack counts as accepted.
    static let tamperedConnectionGrace = SimDuration.seconds(10)

    func attackWhenEnrolled(_ plan: RoguePlan) {
        guard let m = members[plan.node] else { return }
        if m.manager.certificate(now: context.scheduler.now) == nil || m.client.lastEnrolment == nil {
            m.attackPending = plan
        } else {
            attack(plan, by: m)
        }
    }

    func attack(_ plan: RoguePlan, by m: Member) {
        let started = context.scheduler.now
        func outcome(_ attack: String, refusedFor reason: String?, fingerprint: String? = nil) {
            let now = context.scheduler.now
            context.trace(.certificate(.init(t: now.nanosecondsSinceStart, workload: name, node: m.node,
                                             event: attack + (reason == nil ? "-accepted" : "-refused"), attempt: 0,
                                             latencyNs: (now - started).nanoseconds, requestNs: nil, proofNs: nil,
                                             fingerprint: fingerprint, notAfterNs: nil, reason: reason)))
        }
        func enrolment(_ attack: String, _ request: TrustChainRequest, then next: @escaping () -> Void = {}) {
            m.peerClient.send(request) { result in
                switch result {
                case .success(let r) where r.status == 200: outcome(attack, refusedFor: nil)
                case .success(let r): outcome(attack, refusedFor: r.errorCode ?? "http_\(r.status)")
                case .failure: outcome(attack, refusedFor: "unreachable")
                }
                next()
            }
        }
        // One after the other: with two request bodies in flight on one HTTP/3 connection the first answer is lost
        // ("the stream closed before the whole response arrived"; an HTTP3Connection issue, not fixed here).
        let replay = m.client.lastEnrolment ?? TrustChainRequest(method: "POST", path: "/ca/certificate")
        enrolment("replay", replay) { [unowned self] in
            do { enrolment("stake-reuse", try self.stakeReuse(by: m)) } catch { outcome("stake-reuse", refusedFor: "request_failed") }
        }
        do { try presentTamperedCertificate(by: m, to: plan.peer) { outcome("tampered-sct", refusedFor: $0, fingerprint: $1) } } catch {
            outcome("tampered-sct", refusedFor: "request_failed")
        }
    }

    /// An enrolment request for a new key of the node's, proved afresh except
    /// for the stake: the node's own, bound to its enrolled key.
    private func stakeReuse(by m: Member) throws -> TrustChainRequest {
        var keys = context.randomStream("rogue-key:" + m.node)
        let newKey = SigningKey.generate(.ed25519, using: &keys)
        let identity = m.manager.identity
        let csr = try CertificateManager(mode: .localhostTesting, identity: identity, key: newKey, epoch: Self.epoch).makeCSR()
        var prover = m.prover
        prover.key = newKey   // prover.stake stays the one bound to the old key
        let request = EnrollmentRequest(commonName: identity.dnsName, nodeID: identity.nodeID, ipv6Addresses: identity.addresses.map(\.description),
                                        csrDER: csr, consensusProof: try prover.prove(csrDER: csr, timestamp: Self.epoch.milliseconds(at: context.scheduler.now)))
        return TrustChainRequest(method: "POST", path: "/ca/certificate", body: try EnrollmentRequestBody(request).json())
    }

    /// Connects to `peer` with the node's certificate re-signed by the CA's key
    /// around an SCT whose signature has one bit flipped; `done` gets the reason
    /// the peer gave for closing (nil: still connected after the grace time) and
    /// the tampered certificate's fingerprint.
    private func presentTamperedCertificate(by m: Member, to peer: String, done: @escaping (String?, String) -> Void) throws {
        guard let own = m.manager.current, var sct = own.sct else { throw TrustChainError.invalid("\(m.node) has no certificate with an SCT") }
        sct.signature[sct.signature.count / 2] ^= 1
        let tampered = try EmbeddedSCT.reissue(own.certificate, signedBy: authority.key, scts: [sct])
        let der = try tampered.derBytes()
        let fingerprint = LogEntry(timestamp: 0, certificateDER: der).fingerprint
        let bundle = try m.manager.bundle(presenting: der)
        let endpoint = try context.stoq.endpoint(on: m.node)
        let connection = try endpoint.connect(to: context.address(of: peer), serverName: RunCertificates.serverName(of: peer),
                                              tls: try clientTLS(presenting: bundle))
        var reported = false
        connection.onEvent = { event in
            guard case .closed(let reason) = event, !reported else { return }
            reported = true
            done(Self.refusalCode(reason), fingerprint)
        }
        context.scheduler.schedule(after: Self.tamperedConnectionGrace) { [weak connection] in
            guard !reported, let connection else { return }
            reported = true
            done(nil, fingerprint)
            connection.close()
            endpoint.flush()
        }
    }

    /// The code in a peer's "… certificate refused: CODE" close, else what ended the connection.
    static func refusalCode(_ reason: CloseReason) -> String {
        switch reason {
        case let .application(_, text, true):
            if let r = text.range(of: "refused: ") { return String(text[r.upperBound...]) }
            return "closed_by_peer"
        case .handshakeFailed: return "handshake_failed"
        case .idleTimeout: return "idle_timeout"
        default: return "closed"
        }
    }
}
