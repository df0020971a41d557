import StoqAnalyzer
import StoqEngine
import StoqNodeRuntime
import StoqTopology
import StoqTransport
import TrustChain

/// `trustchain`: a TrustChain CA runs at the `ca` node, its API served as
/// HTTP/3 (nghttp3) on the node's STOQ endpoint (ALPN `h3`); every selected node
/// enrols at `start` (an enrolment storm when they all start together) with a
/// real CSR and consensus proof (work at `difficulty`), checks the issued
/// certificate, its SCT and its CT inclusion proof against a signed tree head,
/// renews it when less than `renewal-margin` of its `validity` remains (a
/// multi-day run rotates every node's certificate each day), and retries a
/// failed attempt with exponential backoff (a CA outage is a `faults` entry
/// on the CA node). Every outcome is a `cert` trace record.
public final class TrustChainWorkload: Workload {
    public static let kind = "trustchain"
    /// QUIC knobs apply to the nodes' HTTP/3 connections to the CA (enrolment and proof checks).
    public static let fields = ["ca", "nodes", "start", "validity", "renewal-margin", "difficulty", "retry", "max-retry", "revoke", "mutual-tls", "rogue"]
        + TransportKnobs.fields
    /// How long a peer's "not revoked" answer is trusted before it is asked again (as OCSP responses are cached).
    static let revocationCacheTime = SimDuration.seconds(3600)
    /// Certificates are dated on this axis (fixed, so runs are reproducible).
    static let epoch = WallEpoch.default2026

    public let name: String
    let ca: String
    let nodes: [String]
    let startOffset: SimDuration
    let validity: SimDuration
    let renewalMargin: SimDuration
    let difficulty: Int
    let firstRetry: SimDuration
    let maxRetry: SimDuration
    /// Certificates the CA revokes during the run: the node's current one at `at`.
    let revocations: [(node: String, at: SimDuration)]
    /// Node-to-node STOQ is mutual TLS (the default): servers verify clients as clients verify servers.
    let mutualTLS: Bool
    /// Nodes that attack during the run (TrustChainRogue.swift).
    let rogues: [RoguePlan]
    let knobs: TransportKnobs
    public var drainTime: SimDuration { .seconds(60) }
    public var hasOutstandingWork: Bool { !calls.isEmpty }

    public init(spec: WorkloadSpec, name: String, topology: Topology) throws {
        let f = spec.fields
        self.name = name
        let ca = try NodeSelector.single("ca", of: f, in: topology, kind: Self.kind)
        self.ca = ca
        let selected = try f.stringList("nodes").map { try NodeSelector.resolve($0, in: topology, at: f.location(of: "nodes")) }
            ?? topology.nodes.map(\.name)
        nodes = selected.filter { $0 != ca }
        guard !nodes.isEmpty else { throw TopologyDiagnostic(at: spec.location, "trustchain workload '\(name)' has no node to enrol") }
        startOffset = try f.duration("start") ?? .zero
        if startOffset >= topology.duration {
            throw TopologyDiagnostic(at: f.location(of: "start"), "enrolment starts at \(startOffset), after the run ends (\(topology.duration))")
        }
        validity = try f.duration("validity") ?? .seconds(24 * 3600)
        guard validity >= .seconds(1) else { throw TopologyDiagnostic(at: f.location(of: "validity"), "'validity' must be at least 1s") }
        renewalMargin = try f.duration("renewal-margin") ?? .seconds(6 * 3600)
        guard renewalMargin > .zero, renewalMargin < validity else {
            throw TopologyDiagnostic(at: f.location(of: "renewal-margin"), "'renewal-margin' must be more than 0 and less than 'validity' (\(validity))")
        }
        difficulty = try f.int("difficulty") ?? 8
        guard (0...24).contains(difficulty) else {
            throw TopologyDiagnostic(at: f.location(of: "difficulty"), "'difficulty' (leading zero bits of the work proof) must be 0…24; got \(difficulty)",
                                     hint: "each bit doubles the work; 8 takes a few hundred hashes")
        }
        firstRetry = try f.duration("retry") ?? .seconds(1)
        maxRetry = try f.duration("max-retry") ?? .seconds(60)
        guard firstRetry > .zero, maxRetry >= firstRetry else {
            throw TopologyDiagnostic(at: f.location(of: "retry"), "'retry' must be more than 0 and at most 'max-retry'")
        }
        revocations = try Self.revocations(f, nodes: nodes, topology: topology)
        mutualTLS = try f.bool("mutual-tls") ?? true
        rogues = try RoguePlan.parse(f, nodes: nodes, ca: ca, mutualTLS: mutualTLS, topology: topology)
        knobs = try TransportKnobs(f)
    }

    /// `revoke: [{node: edge-fra, at: 2h}, …]`: the node's certificate in force at `at` is revoked.
    static func revocations(_ f: ConfigMap, nodes: [String], topology: Topology) throws -> [(node: String, at: SimDuration)] {
        guard let v = f["revoke"] else { return [] }
        guard case .sequence(let items, _) = v else {
            throw TopologyDiagnostic(at: v.location, "'revoke' must be a list of {node: NAME, at: TIME}")
        }
        return try items.map { item in
            guard case .mapping(let m) = item else {
                throw TopologyDiagnostic(at: item.location, "each 'revoke' entry must be {node: NAME, at: TIME}")
            }
            try m.checkKeys(allowed: ["node", "at"], context: "a 'revoke' entry")
            let node = try m.requiredString("node", context: "a 'revoke' entry")
            guard nodes.contains(node) else {
                throw TopologyDiagnostic(at: m.location(of: "node"), "'\(node)' does not enrol in this trustchain workload, so it has nothing to revoke")
            }
            guard let at = try m.duration("at") else { throw TopologyDiagnostic(at: m.location, "a 'revoke' entry needs 'at'") }
            guard at < topology.duration else {
                throw TopologyDiagnostic(at: m.location(of: "at"), "revocation at \(at) is after the run ends (\(topology.duration))")
            }
            return (node, at)
        }
    }

    // MARK: Running

    /// One node's certificate life: its manager, the attempt in progress, the timer for the next one.
    final class Member {
        let node: String
        let manager: CertificateManager
        let client: HTTP3TrustChainClient
        /// Peers' proofs go through their own client, so attempt timings stay clean.
        let peerClient: HTTP3TrustChainClient
        /// A self-signed certificate the node presents until it is enrolled (no peer trusts it).
        let placeholder: CertificateManager
        let prover: ConsensusProver
        /// A rogue node whose attack time came before it had a certificate: it attacks once enrolled.
        var attackPending: RoguePlan?
        var peerChecks: Set<String> = []
        /// Peers' certificates known not to be revoked, until when.
        var notRevokedUntil: [String: SimTime] = [:]
        /// The CA revoked this node's certificate: it does not renew.
        var revoked = false
        var attempt = 0
        var attemptStarted = SimTime.zero
        var backoff: SimDuration
        init(node: String, manager: CertificateManager, client: HTTP3TrustChainClient, peerClient: HTTP3TrustChainClient,
             placeholder: CertificateManager, prover: ConsensusProver, backoff: SimDuration) {
            self.node = node; self.manager = manager; self.client = client; self.peerClient = peerClient
            self.placeholder = placeholder; self.prover = prover; self.backoff = backoff
        }
    }

    var context: ScenarioContext!
    var authority: CertificateAuthority!
    /// The CA node's HTTP/3 server (the endpoint's connections hold it weakly).
    private var server: HTTP3Server?
    var members: [String: Member] = [:]
    private var trust: TrustChainTrust!
    /// Every node trusts the same root and log: each SCT and tree head signature is checked once.
    private let checkedSignatures = CheckedSignatures()
    /// Calls to the CA in flight, kept alive here until they end.
    private var calls: [ObjectIdentifier: HTTP3Connection] = [:]

    public static let configuresEndpoints = true

    public func start(in context: ScenarioContext) throws {
        self.context = context
        var random = context.randomStream("trustchain:" + name)
        let stake = StakeAuthority(key: .generate(.ed25519, using: &random))
        let epoch = Self.epoch
        let requirements = ConsensusRequirements.standard(stakeAuthority: stake.key.publicKey, difficulty: difficulty)
        let configuration = CAConfiguration(epoch: epoch, validity: validity)
        authority = try CertificateAuthority(configuration: configuration, key: .generate(.ed25519, using: &random),
                                             logKey: .generate(.ed25519, using: &random),
                                             policies: standardEnrollmentPolicies(directory: NodeDirectory(topology: context.topology),
                                                                                  consensus: requirements, epoch: epoch),
                                             now: context.scheduler.now)
        trust = TrustChainTrust(root: authority.certificate, logKey: authority.log.publicKey)
        sharedClientTLS = try clientTLS(presenting: nil)
        let api = TrustChainAPI(ca: authority)
        // The size limits `ca serve` applies on real sockets; connection caps and
        // request timeouts are left out: the run's own nodes are the only clients.
        let server = api.http3Server(limits: api.limits.http3, clock: { $0.receivedAt })
        self.server = server

        // The CA node and every enrolling node get a manager; the CA node's talks to its own CA in process.
        for node in [ca] + nodes {
            guard let spec = context.topology.node(named: node) else { continue }
            var keys = context.randomStream("node-key:" + node)
            let key = SigningKey.generate(.ed25519, using: &keys)
            let local = node == ca ? api : nil
            // The CA's API is public: calls to it present no client certificate (the CA would only ask, and check it for nothing).
            let link = RunCALink(node: node, ca: ca, context: context, tls: sharedClientTLS, knobs: knobs)
            let client = HTTP3TrustChainClient(link: link, local: local) { [unowned self] in self.track($0, done: $1) }
            // Peer checks come in bursts (every transfer's handshake, both sides with mutual TLS): they share one connection.
            let peerClient = HTTP3TrustChainClient(link: link, local: local, keepsConnection: true) { [unowned self] in self.track($0, done: $1) }
            let prover = try ConsensusProver.meeting(requirements, nodeID: node, key: key, stake: stake,
                                                     stakeTimestamp: epoch.unixMilliseconds, difficulty: difficulty, seed: context.seed)
            let identity = NodeIdentity(nodeID: node, dnsName: RunCertificates.serverName(of: node), addresses: [spec.address])
            let manager = CertificateManager(mode: .trustchain(client: client, trust: trust, prover: prover),
                                             identity: identity, key: key, epoch: epoch, renewalMargin: renewalMargin)
            manager.checkedSignatures = checkedSignatures
            let placeholder = CertificateManager(mode: .localhostTesting, identity: identity, key: key, epoch: epoch)
            placeholder.refresh(now: context.scheduler.now)
            let m = Member(node: node, manager: manager, client: client, peerClient: peerClient, placeholder: placeholder,
                           prover: prover, backoff: firstRetry)
            manager.onChange = { [unowned self, unowned m] _ in
                let now = self.context.scheduler.now
                guard let bundle = try? m.manager.bundle(now: now), let credentials = try? self.serverCredentials(bundle) else { return }
                self.context.stoq.replaceCredentials(on: m.node, server: credentials,
                                                     client: self.mutualTLS ? try? self.clientTLS(presenting: bundle) : nil)
            }
            members[node] = m
        }
        // Nodes present their TrustChain certificates (until enrolled: an untrusted self-signed one)
        // and trust only the TrustChain root, checking validity on the run's timeline.
        try context.stoq.use(certificates: TrustChainNodeCertificates(workload: self))
        try context.stoq.register(application: "h3", on: ca) { connection in server.accept(connection) }
        context.stoq.onHandshakeCompleted { [unowned self] node, connection in self.checkPeer(of: connection, at: node) }
        context.stoq.onHandshakeFailed { [unowned self] node, connection, why in self.handshakeRefused(connection, at: node, why: why) }
        // The CA node is certified by its own CA before it serves anyone.
        if let m = members[ca] { attempt(m) }
        _ = try context.stoq.endpoint(on: ca)
        for node in nodes {
            guard let m = members[node] else { continue }
            context.scheduler.schedule(at: .zero + startOffset) { [unowned self] in self.attempt(m) }
        }
        for r in revocations {
            context.scheduler.schedule(at: .zero + r.at) { [unowned self] in self.revoke(r.node) }
        }
        for plan in rogues {
            context.scheduler.schedule(at: .zero + plan.at) { [unowned self] in self.attackWhenEnrolled(plan) }
        }
    }

    /// The CA revokes the node's current certificate; the node keeps using it
    /// (a compromised node would), and peers that ask refuse it.
    private func revoke(_ node: String) {
        guard let m = members[node], let c = m.manager.current else { return }
        m.revoked = true
        try? authority.revoke(fingerprint: c.fingerprint, reason: "keyCompromise", now: context.scheduler.now)
        context.trace(.certificate(.init(t: context.scheduler.now.nanosecondsSinceStart, workload: name, node: node, event: "revoked",
                                         attempt: 0, latencyNs: 0, requestNs: nil, proofNs: nil, fingerprint: c.fingerprint,
                                         notAfterNs: c.notAfter.nanosecondsSinceStart, reason: "keyCompromise")))
    }

    /// The server credentials a node presents now: its TrustChain certificate,
    /// or (not enrolled yet, or not in this workload) a self-signed one no peer
    /// trusts. With mutual TLS every server requires a client certificate
    /// chaining to the TrustChain root, except the CA node's, which only asks:
    /// nodes enrol there before they have one (its STOQ service refuses them).
    func serverTLS(for node: NodeSpec) throws -> ServerTLSConfiguration {
        let now = context.scheduler.now
        let policy: ClientCertificatePolicy = !mutualTLS ? .none : node.name == ca ? .request : .require
        func configuration(_ bundle: CertificateBundle) throws -> ServerTLSConfiguration {
            ServerTLSConfiguration(credentials: try serverCredentials(bundle), clientCertificates: policy,
                                   certificateEpochUnixMilliseconds: Self.epoch.unixMilliseconds)
        }
        if let m = members[node.name], m.manager.certificate(now: now) != nil {
            return try configuration(try m.manager.bundle(now: now))
        }
        let placeholder = members[node.name]?.placeholder ?? {
            var keys = context.randomStream("node-key:" + node.name)
            let m = CertificateManager(mode: .localhostTesting,
                                       identity: NodeIdentity(nodeID: node.name, dnsName: RunCertificates.serverName(of: node.name),
                                                              addresses: [node.address]),
                                       key: SigningKey.generate(.ed25519, using: &keys), epoch: .default2026)
            m.refresh(now: now)
            return m
        }()
        return try configuration(try placeholder.bundle(now: now))
    }

    /// With mutual TLS, server credentials carry the root their clients must chain to.
    func serverCredentials(_ bundle: CertificateBundle) throws -> TLSCredentials {
        mutualTLS ? try .server(bundle, clientTrustAnchorsPEM: trust.rootPEM) : try .server(bundle)
    }

    /// What a node's client uses: the TrustChain root, validity on the run's
    /// timeline, and (mutual TLS) its enrolled certificate (or `bundle`), none before enrolment.
    func clientTLS(presenting bundle: CertificateBundle?) throws -> ClientTLSConfiguration {
        ClientTLSConfiguration(verification: .verify(trustAnchors: try .client(trustAnchorsPEM: trust.rootPEM, certificate: mutualTLS ? bundle : nil)),
                               certificateEpochUnixMilliseconds: Self.epoch.unixMilliseconds)
    }

    func clientTLS(for node: NodeSpec) throws -> ClientTLSConfiguration {
        if mutualTLS, let m = members[node.name], m.manager.certificate(now: context.scheduler.now) != nil {
            return try clientTLS(presenting: try m.manager.bundle(now: context.scheduler.now))
        }
        return sharedClientTLS
    }
    /// Nodes without a certificate, and every call to the CA, share one credentials object.
    private var sharedClientTLS: ClientTLSConfiguration!

    /// After a node's connection to a peer completes its handshake (the chain
    /// already verified against the TrustChain root by GnuTLS, on either side
    /// with mutual TLS), the node checks the peer's certificate: its embedded
    /// SCT against the log key, its inclusion proof against a signed tree head
    /// (once per fingerprint) and its revocation status. The client checks the
    /// server (`peer-verified`/`peer-failed`); with mutual TLS the server checks
    /// the client too (`client-verified`/`client-failed`). A peer that fails is
    /// dropped; a log that cannot be reached is asked again with backoff (the
    /// peer stays connected meanwhile: the chain itself verified).
    private func checkPeer(of connection: QuicConnection, at node: String) {
        guard connection.negotiatedALPN == "stoq", let m = members[node] else { return }
        let inbound = connection.role == .server
        if inbound && !mutualTLS { return }
        guard let der = connection.peerCertificate else {
            // Only the CA node's endpoint lets a client without a certificate through the handshake (to enrol); its STOQ service does not.
            if inbound { peerChecked(m, "", inbound: true, connection, 0, context.scheduler.now, failure: "no_client_certificate") }
            return
        }
        let fingerprint = LogEntry(timestamp: 0, certificateDER: der).fingerprint
        let fresh = m.notRevokedUntil[fingerprint].map { context.scheduler.now < $0 } ?? false
        guard !(m.manager.verifiedFingerprints.contains(fingerprint) && fresh),
              m.peerChecks.insert(Self.checkKey(fingerprint, inbound: inbound)).inserted else { return }
        checkPeer(der, fingerprint: fingerprint, inbound: inbound, for: m, connection: connection, attempt: 1, started: context.scheduler.now)
    }

    /// A server's GnuTLS refused a client inside the handshake (mutual TLS: no
    /// certificate, an untrusted chain, an expired one): recorded as the
    /// server's `client-failed`, as a refusal after the handshake would be.
    private func handshakeRefused(_ connection: QuicConnection, at node: String, why: String) {
        guard mutualTLS, connection.role == .server, let m = members[node] else { return }
        let der = connection.peerCertificate
        let fingerprint = der.map { LogEntry(timestamp: 0, certificateDER: $0).fingerprint } ?? ""
        peerChecked(m, fingerprint, inbound: true, nil, 0, context.scheduler.now, failure: Self.handshakeRefusal(why, presented: der != nil))
    }

    /// A rejection code for GnuTLS's words on a refused client certificate.
    static func handshakeRefusal(_ why: String, presented: Bool) -> String {
        let w = why.lowercased()
        guard w.contains("certificate") else { return "handshake_failed" }
        if !presented { return "no_client_certificate" }
        if w.contains("expired") { return "expired_certificate" }
        if w.contains("not activated") || w.contains("not yet") { return "certificate_not_yet_valid" }
        return "untrusted_certificate"
    }

    private static let peerCheckAttempts = 6
    /// One check per peer certificate and direction at a time.
    private static func checkKey(_ fingerprint: String, inbound: Bool) -> String { (inbound ? "client:" : "server:") + fingerprint }

    private func checkPeer(_ der: [UInt8], fingerprint: String, inbound: Bool, for m: Member, connection: QuicConnection?, attempt: Int,
                           started: SimTime) {
        m.manager.verifyInclusion(of: der, client: m.peerClient, trust: trust) { [unowned self, weak connection] result in
            let now = self.context.scheduler.now
            if case .failure(let r) = result, r.code == "unreachable", attempt < Self.peerCheckAttempts, now < self.context.endTime {
                let delay = min(self.firstRetry * Int64(1 << (attempt - 1)), self.maxRetry)
                self.context.scheduler.schedule(after: delay) { [unowned self, weak connection] in
                    self.checkPeer(der, fingerprint: fingerprint, inbound: inbound, for: m, connection: connection, attempt: attempt + 1, started: started)
                }
                return
            }
            func done(_ failure: String?) { self.peerChecked(m, fingerprint, inbound: inbound, connection, attempt, started, failure: failure) }
            if case .failure(let r) = result { return done(r.code) }
            // In the log: now ask whether it was revoked.
            m.manager.checkRevocation(fingerprint: fingerprint, client: m.peerClient) { [unowned self] revoked in
                switch revoked {
                case .success(true):
                    done("revoked")
                case .success(false):
                    m.notRevokedUntil[fingerprint] = self.context.scheduler.now + Self.revocationCacheTime
                    done(nil)
                case .failure:
                    // The proof held; the CA could not say about revocation: accept, ask again next time.
                    done(nil)
                }
            }
        }
    }

    /// Records a peer check; a failed one drops the connection to that peer.
    private func peerChecked(_ m: Member, _ fingerprint: String, inbound: Bool, _ connection: QuicConnection?, _ attempt: Int, _ started: SimTime,
                             failure: String?) {
        m.peerChecks.remove(Self.checkKey(fingerprint, inbound: inbound))
        if let failure {
            connection?.close(errorCode: 0x10d, reason: "\(inbound ? "client" : "peer") certificate refused: \(failure)")
        }
        let now = context.scheduler.now
        let side = inbound ? "client" : "peer"
        context.trace(.certificate(.init(
            t: now.nanosecondsSinceStart, workload: name, node: m.node,
            event: side + (failure == nil ? "-verified" : "-failed"), attempt: attempt,
            latencyNs: (now - started).nanoseconds, requestNs: nil, proofNs: nil,
            fingerprint: fingerprint.isEmpty ? nil : fingerprint, notAfterNs: nil, reason: failure)))
    }

    /// One enrolment or renewal attempt; the next one is scheduled from its outcome.
    private func attempt(_ m: Member) {
        guard context.scheduler.now < context.endTime, !m.revoked else { return }
        m.attempt += 1
        m.attemptStarted = context.scheduler.now
        m.client.resetTimings()
        let renewing = m.manager.current != nil
        let previous = m.manager.current?.fingerprint
        m.manager.refresh(now: context.scheduler.now) { [unowned self] result in
            let now = self.context.scheduler.now
            switch result {
            case .success(let c):
                if c.fingerprint != previous {
                    self.record(m, event: renewing ? "renewed" : "enrolled", fingerprint: c.fingerprint,
                                notAfter: c.notAfter, reason: nil)
                }
                m.attempt = 0
                m.backoff = self.firstRetry
                if let plan = m.attackPending {
                    m.attackPending = nil
                    self.attack(plan, by: m)
                }
                // Renewal is due once strictly less than the margin remains: one nanosecond after `nextRenewal`.
                if let due = m.manager.nextRenewal {
                    self.context.scheduler.schedule(at: max(due, now) + .nanoseconds(1)) { [unowned self] in self.attempt(m) }
                }
            case .failure(let r):
                self.record(m, event: "failed", fingerprint: nil, notAfter: nil, reason: r.code)
                let retry = m.backoff
                m.backoff = min(m.backoff * 2, self.maxRetry)
                self.context.scheduler.schedule(after: retry) { [unowned self] in self.attempt(m) }
            }
        }
    }

    private func record(_ m: Member, event: String, fingerprint: String?, notAfter: SimTime?, reason: String?) {
        let now = context.scheduler.now
        context.trace(.certificate(.init(t: now.nanosecondsSinceStart, workload: name, node: m.node, event: event,
                                         attempt: m.attempt, latencyNs: (now - m.attemptStarted).nanoseconds,
                                         requestNs: m.client.enrolmentRoundTrip?.nanoseconds,
                                         proofNs: m.client.proofRoundTrips?.nanoseconds, fingerprint: fingerprint,
                                         notAfterNs: notAfter?.nanosecondsSinceStart, reason: reason)))
    }

    private func track(_ call: HTTP3Connection, done: Bool) {
        calls[ObjectIdentifier(call)] = done ? nil : call
    }
}

/// A run node's way to its CA for `HTTP3TrustChainClient`: connections from
/// the node's STOQ endpoint across the run's network to the CA node's.
final class RunCALink: TrustChainCALink {
    let node: String
    let ca: String
    private unowned let context: ScenarioContext
    /// TLS for calls to the CA instead of the node's own (nil: the node's).
    private let tls: ClientTLSConfiguration?
    /// The workload's QUIC knobs, over the node endpoint's settings.
    private let knobs: TransportKnobs

    init(node: String, ca: String, context: ScenarioContext, tls: ClientTLSConfiguration?, knobs: TransportKnobs = TransportKnobs()) {
        self.node = node; self.ca = ca; self.context = context; self.tls = tls; self.knobs = knobs
    }

    var now: SimTime { context.scheduler.now }

    func connectToCA() throws -> QuicConnection {
        let endpoint = try context.stoq.endpoint(on: node)
        _ = try context.stoq.endpoint(on: ca)
        return try endpoint.connect(to: context.address(of: ca), serverName: RunCertificates.serverName(of: ca), alpn: ["h3"], tls: tls,
                                    transport: knobs.isEmpty ? nil : knobs.applied(to: endpoint.endpoint.configuration))
    }

    func flush() { (try? context.stoq.endpoint(on: node))?.flush() }

    func schedule(after delay: SimDuration, _ body: @escaping () -> Void) { _ = context.scheduler.schedule(after: delay, body) }
}

/// Nodes' TLS identities in a TrustChain run: what each node's manager holds.
final class TrustChainNodeCertificates: NodeCertificateSource {
    private unowned let workload: TrustChainWorkload

    init(workload: TrustChainWorkload) { self.workload = workload }

    func clientTLS(for node: NodeSpec) throws -> ClientTLSConfiguration { try workload.clientTLS(for: node) }
    func serverTLS(for node: NodeSpec) throws -> ServerTLSConfiguration { try workload.serverTLS(for: node) }
}
