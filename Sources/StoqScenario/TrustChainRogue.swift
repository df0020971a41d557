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
/// - **foreign-log**: the same, with its certificate logged in another log
///   (a log the peer does not trust, with its own key, signs a genuine SCT
///   over the precertificate entry): `unknown_log`.
/// - **tampered-server**: serves the tampered-SCT certificate from its own
///   endpoint while `peer` connects to it (the rogue as a server; when `peer`
///   enrols in the workload): the peer's check of its server refuses it,
///   `bad_sct` (the peer's `peer-failed` record).
///
/// Each outcome is a `cert` record at the node: `replay-refused`,
/// `stake-reuse-refused`, `tampered-sct-refused`, `foreign-log-refused` or
/// `tampered-server-refused` with the refusal's code, or `…-accepted` if the
/// attack got through (a hole in TrustChain).
struct RoguePlan {
    var node: String
    var peer: String
    var at: SimDuration

    static let attacks = ["replay", "stake-reuse", "tampered-sct", "foreign-log", "tampered-server"]

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
        func enrolment(_ attack: String, _ request: TrustChainRequest) {
            m.peerClient.send(request) { result in
                switch result {
                case .success(let r) where r.status == 200: outcome(attack, refusedFor: nil)
                case .success(let r): outcome(attack, refusedFor: r.errorCode ?? "http_\(r.status)")
                case .failure: outcome(attack, refusedFor: "unreachable")
                }
            }
        }
        // Both in flight at once on the node's kept connection to the CA.
        let replay = m.client.lastEnrolment ?? TrustChainRequest(method: "POST", path: "/ca/certificate")
        enrolment("replay", replay)
        do { enrolment("stake-reuse", try self.stakeReuse(by: m)) } catch { outcome("stake-reuse", refusedFor: "request_failed") }
        do { try present(try tamperedSCT(of: m), by: m, to: plan.peer) { outcome("tampered-sct", refusedFor: $0, fingerprint: $1) } } catch {
            outcome("tampered-sct", refusedFor: "request_failed")
        }
        do { try present(try loggedElsewhere(m), by: m, to: plan.peer) { outcome("foreign-log", refusedFor: $0, fingerprint: $1) } } catch {
            outcome("foreign-log", refusedFor: "request_failed")
        }
        // As a server: only a peer that checks certificates (one enrolled in this workload) can be lured.
        guard members[plan.peer] != nil else { return }
        do { try serve(try tamperedSCT(of: m), by: m, to: plan.peer) { outcome("tampered-server", refusedFor: $0, fingerprint: $1) } } catch {
            outcome("tampered-server", refusedFor: "request_failed")
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

    /// The node's certificate signed again by the CA's key around an SCT whose
    /// signature has one bit flipped (what a stolen CA key or a mis-issuance
    /// outside the log gives).
    private func tamperedSCT(of m: Member) throws -> [UInt8] {
        guard let own = m.manager.current, var sct = own.sct else { throw TrustChainError.invalid("\(m.node) has no certificate with an SCT") }
        sct.signature[sct.signature.count / 2] ^= 1
        return try EmbeddedSCT.reissue(own.certificate, signedBy: authority.key, scts: [sct]).derBytes()
    }

    /// The node's certificate signed again by the CA's key around a genuine SCT
    /// from another log (its own key, seeded per node), which logs it too.
    private func loggedElsewhere(_ m: Member) throws -> [UInt8] {
        guard let own = m.manager.current, let sct = own.sct else { throw TrustChainError.invalid("\(m.node) has no certificate with an SCT") }
        var keys = context.randomStream("rogue-log:" + m.node)
        let otherLog = try TransparencyLog(key: SigningKey.generate(.ed25519, using: &keys))
        let precertificate = try PrecertificateEntry(certificate: own.certificate, issuer: authority.key.publicKey)
        let entry = LogEntry(timestamp: sct.timestamp, certificateDER: try own.certificate.derBytes(), precertificate: precertificate)
        let foreign = try otherLog.timestamp(entry)
        try otherLog.append(entry)
        return try EmbeddedSCT.reissue(own.certificate, signedBy: authority.key, scts: [foreign]).derBytes()
    }

    /// Connects to `peer` presenting `der` as the node's client
    /// certificate; `done` gets the reason the peer gave for closing (nil:
    /// still connected after the grace time) and the certificate's fingerprint.
    private func present(_ der: [UInt8], by m: Member, to peer: String, done: @escaping (String?, String) -> Void) throws {
        let bundle = try m.manager.bundle(presenting: der)
        let endpoint = try context.stoq.endpoint(on: m.node)
        let connection = try endpoint.connect(to: context.address(of: peer), serverName: RunCertificates.serverName(of: peer),
                                              tls: try clientTLS(presenting: bundle))
        watch(connection, on: endpoint, fingerprint: LogEntry(timestamp: 0, certificateDER: der).fingerprint, done: done)
    }

    /// Serves `der` from the node's endpoint while `peer` connects to
    /// it (the peer's ordinary client, which checks its server), then serves
    /// the node's own again; `done` as for `present`, from the peer's side.
    private func serve(_ der: [UInt8], by m: Member, to peer: String, done: @escaping (String?, String) -> Void) throws {
        let now = context.scheduler.now
        let genuine = try serverCredentials(try m.manager.bundle(now: now))
        context.stoq.replaceCredentials(on: m.node, server: try serverCredentials(try m.manager.bundle(presenting: der)), client: nil)
        let victim = try context.stoq.endpoint(on: peer)
        let connection = try victim.connect(to: context.address(of: m.node), serverName: RunCertificates.serverName(of: m.node))
        watch(connection, on: victim, fingerprint: LogEntry(timestamp: 0, certificateDER: der).fingerprint) { [unowned self] reason, fingerprint in
            self.context.stoq.replaceCredentials(on: m.node, server: genuine, client: nil)
            done(reason, fingerprint)
        }
    }

    /// Reports how an attack's connection ended: the close reason's refusal
    /// code, or nil if it was still up after the grace time (then closed).
    private func watch(_ connection: QuicConnection, on endpoint: StoqNodeEndpoint, fingerprint: String,
                       done: @escaping (String?, String) -> Void) {
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
        case let .application(_, text, byPeer):
            // The peer's refusal of our client certificate, or our own client's refusal of a server (tampered-server).
            if let r = text.range(of: "refused: ") { return String(text[r.upperBound...]) }
            return byPeer ? "closed_by_peer" : "closed"
        case .handshakeFailed: return "handshake_failed"
        case .idleTimeout: return "idle_timeout"
        default: return "closed"
        }
    }
}
