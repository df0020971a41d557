import ArgumentParser
import Foundation
import StoqEngine
import StoqNetwork
import StoqNodeRuntime
import StoqTopology
import StoqTransport
import TrustChain

/// `stoqsim trustchain ca serve|enroll|verify`: the TrustChain CA on a real
/// IPv6 UDP socket (HTTP/3, ALPN h3), and a node that enrols at it or checks
/// a certificate's inclusion proof. Real sockets run on wall time: SimTime
/// for the CA is wall now − the CA's stored epoch (kept across restarts).
extension TrustChainCommand.CA {
    /// Work difficulty both sides default to (leading zero bits; 8 is a few hundred hashes).
    static let defaultDifficulty = 8

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve a CA state directory's API over HTTP/3 on a real IPv6 UDP socket until SIGINT/SIGTERM.",
            discussion: """
            The CA certifies only the nodes named with --allow NAME=IPV6 or in --topology FILE (DNS name NAME.stoq, \
            the node's address), and itself \
            (--name, at the listen address) for its own TLS certificate, which it enrols in process, logs, and \
            keeps in DIR/serve-cert.pem for restarts. It trusts the stake authority whose key is \
            DIR/stake-authority-key.pem (created on first start).
            """)

        @Option(help: "Address to listen on, e.g. [::1]:4433 (IPv6 only).") var listen: String
        @Option(help: "CA state directory (made by `stoqsim trustchain ca init`).") var state: String
        @Option(help: "A node the CA certifies, as NAME=IPV6 (repeatable); its DNS name is NAME.stoq.") var allow: [String] = []
        @Option(help: "Certify every node of this topology file (NAME.stoq at the node's address), as a run's CA does.") var topology: String?
        @Option(help: "The CA's own node name: its serving certificate is for NAME.stoq and the listen address.") var name = "ca"
        @Option(help: "Work proof difficulty demanded (leading zero bits, 0…24).") var difficulty = TrustChainCommand.CA.defaultDifficulty
        @Option(help: "Largest request body in bytes (413 body_too_large above it).") var maxBodyBytes = TrustChainLimits().maxBodyBytes
        @Option(help: "Longest request path in bytes, query included (414 path_too_long).") var maxPathBytes = TrustChainLimits().maxPathBytes
        @Option(help: "Largest request header section in bytes (431 headers_too_large).") var maxHeaderBytes = TrustChainLimits().maxHeaderBytes
        @Option(help: "Seconds a request may take from its first bytes to its end (408 request_timeout).") var requestTimeout = 10
        @Option(help: "Live connections one peer address may hold; more are closed at once.") var maxConnectionsPerPeer = 16
        @Option(help: "Live connections in all; more are closed at once.") var maxConnections = 1024
        @Option(help: "Concurrent requests (QUIC streams) per connection.") var maxStreamsPerConnection = 16

        func run() throws {
            let address = try badInput { try parseSocketAddress(listen, what: "--listen") }
            guard (0...24).contains(difficulty) else { throw ValidationError("--difficulty must be 0…24; got \(difficulty)") }
            for (flag, value, range) in [("--max-body-bytes", maxBodyBytes, 1024...(64 << 20)), ("--max-path-bytes", maxPathBytes, 64...(1 << 20)),
                                         ("--max-header-bytes", maxHeaderBytes, 1024...(1 << 20)), ("--request-timeout", requestTimeout, 1...3600),
                                         ("--max-connections-per-peer", maxConnectionsPerPeer, 1...10_000), ("--max-connections", maxConnections, 1...100_000),
                                         ("--max-streams-per-connection", maxStreamsPerConnection, 1...1000)] where !range.contains(value) {
                throw ValidationError("\(flag) must be \(range.lowerBound)…\(range.upperBound); got \(value)")
            }
            let allowed = try allow.map(parseAllow)
            guard isNodeName(name) else { throw ValidationError("--name '\(name)' must be letters, digits, '-' or '_'") }
            if allowed.contains(where: { $0.nodeID == name }) { throw ValidationError("--allow names '\(name)', which is the CA's own --name") }
            let own = NodeIdentity(nodeID: name, dnsName: name + ".stoq", addresses: [address.address])
            // --allow entries win over a topology node of the same name; the CA's own entry (at the listen address) over both.
            let fromTopology = try topology.map { Array(NodeDirectory(topology: try loadScenario($0).topology).nodes.values) } ?? []
            var byName: [String: NodeIdentity] = [:]
            for identity in fromTopology + allowed + [own] { byName[identity.nodeID] = identity }
            let identities = byName.values.sorted { $0.nodeID < $1.nodeID }
            guard identities.count > 1 else { throw ValidationError("no node to certify: give --allow NAME=IPV6 or --topology FILE") }
            let directory = URL(fileURLWithPath: state)
            let ca = try stateError { try CertificateAuthority.open(stateDirectory: directory, policies: []) }
            let epoch = ca.epoch
            let now = { epoch.wallNow() }
            // Certificate dates are epoch + SimTime: an epoch far in the past would run SimTime out of range.
            guard now() >= .zero, now() < SimTime(nanosecondsSinceStart: .max) - .seconds(CAConfiguration.maximumValiditySeconds * 2) else {
                throw ValidationError("the CA's epoch (\(epoch.date(at: .zero))) is in the future or more than 90 years ago; make the state directory with an --epoch-unix-ms in the recent past")
            }
            let stake = try StakeAuthority.loadOrCreate(stateDirectory: directory)
            let requirements = ConsensusRequirements.standard(stakeAuthority: stake.key.publicKey, difficulty: difficulty)
            ca.policies = standardEnrollmentPolicies(directory: NodeDirectory(identities), consensus: requirements, epoch: epoch)
            let api = TrustChainAPI(ca: ca, limits: TrustChainLimits(maxBodyBytes: maxBodyBytes, maxPathBytes: maxPathBytes))
            func servingCertificate() throws -> (bundle: CertificateBundle, fingerprint: String, reused: Bool) {
                try ca.servingCertificate(identity: own, api: api, stake: stake, requirements: requirements, stateDirectory: directory, now: now)
            }
            let serving = try servingCertificate()

            var transport = TransportConfiguration()
            transport.maxBidirectionalStreams = UInt64(maxStreamsPerConnection)
            transport.maxUnidirectionalStreams = 8   // HTTP/3 needs 3 (control, QPACK encoder and decoder)
            let node = try RealTimeNode(bind: address, configuration: transport,
                                        server: ServerTLSConfiguration(credentials: try TLSCredentials.server(serving.bundle), alpn: ["h3"]))
            // The API runs on the CA's clock (wall time on its epoch), not on the request's SimTime.
            let limits = HTTP3ServerLimits(maxBodyBytes: maxBodyBytes, maxPathBytes: maxPathBytes, maxHeaderBytes: maxHeaderBytes,
                                           requestTimeout: .seconds(requestTimeout), maxConnectionsPerPeer: maxConnectionsPerPeer,
                                           maxConnections: maxConnections)
            let server = api.http3Server(limits: limits, clock: { _ in now() }) { request, r in
                let what = request.map { "\(printable($0.method.prefix(16))) \(printable($0.path.prefix(120)))" } ?? "refused request"
                // A refused enrolment (a replay included) is logged with its code: nothing was issued for it.
                printError("\(what) → \(r.status)" + (r.errorCode.map { " \($0) (refused)" } ?? ""))
            }
            server.attach(to: node.endpoint)
            // Once a second, requests that have not completed within --request-timeout are answered 408.
            func scheduleStallCheck() {
                _ = node.scheduler.schedule(after: .seconds(1)) {
                    server.expireStalledRequests(now: node.scheduler.now)
                    node.flush()
                    scheduleStallCheck()
                }
            }
            scheduleStallCheck()
            // Every ten minutes: a serving certificate with less than an hour left is renewed (enrolled and logged
            // again) and presented to new connections.
            func scheduleRenewalCheck() {
                _ = node.scheduler.schedule(after: .seconds(600)) {
                    do {
                        let next = try servingCertificate()
                        if !next.reused {
                            node.endpoint.serverTLS = ServerTLSConfiguration(credentials: try TLSCredentials.server(next.bundle), alpn: ["h3"])
                            printError("serving certificate renewed: \(next.fingerprint)")
                        }
                    } catch { printError("error: renewing the serving certificate failed: \(error); the current one stays") }
                    scheduleRenewalCheck()
                }
            }
            scheduleRenewalCheck()
            printError("serving TrustChain CA '\(ca.configuration.commonName)' from \(state) on \(node.socket.socketAddress) (HTTP/3, ALPN h3): "
                + "\(ca.log.size) log entries; root \(directory.appendingPathComponent("ca-cert.pem").path); "
                + "serving certificate \(serving.fingerprint) (\(serving.reused ? "reused" : "new")); "
                + "\(identities.count) nodes: \(identities.prefix(8).map { "\($0.nodeID)=\($0.addresses.map(\.description).joined(separator: ","))" }.joined(separator: " "))"
                + (identities.count > 8 ? " …" : ""))
            // SIGINT/SIGTERM end the process: every log entry and revocation is on disk when it is answered.
            node.run()
            node.closeConnections(errorCode: 0x100, reason: "server shutting down")
            node.socket.close()
        }
    }

    struct Enroll: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enroll",
            abstract: "Enrol a node at a running `ca serve` over HTTP/3 and write its key and certificate chain (PEM).",
            discussion: """
            Testing shortcut: --state names the CA's state directory on this machine. The node reads the root \
            and log key it trusts from there, and the stake authority's key to get its stake attested (a \
            stand-in for a stake ledger). The certificate's inclusion proof is checked before anything is written.
            """)

        @Option(help: "The CA's address, e.g. [::1]:4433.") var ca: String
        @Option(help: "The CA's state directory (trust anchors and stake authority; see above).") var state: String
        @Option(help: "Node name (as in the CA's --allow NAME=IPV6).") var node: String
        @Option(help: "The node's IPv6 address (as in the CA's --allow).") var address: String
        @Option(help: "Write the node's private key here (mode 0600; must not exist).") var keyOut: String
        @Option(help: "Write the certificate chain here: leaf, then the root.") var certOut: String
        @Option(help: "Work proof difficulty to meet (at least the CA's).") var difficulty = TrustChainCommand.CA.defaultDifficulty
        @Option(help: "Give up after this many seconds.") var timeout: Double = 30

        func run() throws {
            let remote = try badInput { try parseSocketAddress(ca, what: "--ca") }
            try checkTimeout(timeout)
            guard isNodeName(node) else { throw ValidationError("--node '\(node)' must be letters, digits, '-' or '_'") }
            let ipv6 = try parseIPv6(address, what: "--address")
            guard (0...24).contains(difficulty) else { throw ValidationError("--difficulty must be 0…24; got \(difficulty)") }
            if FileManager.default.fileExists(atPath: keyOut) { throw ValidationError("--key-out \(keyOut) already exists; a key is never overwritten") }
            let directory = URL(fileURLWithPath: state)
            let trust = try stateError { try TrustChainTrust.load(stateDirectory: directory) }
            let stake = try stateError { try StakeAuthority.load(stateDirectory: directory) }
            let epoch = try stateError { try CertificateAuthority.open(stateDirectory: directory, policies: []).epoch }
            let key = SigningKey.generate(.ed25519)
            let requirements = ConsensusRequirements.standard(stakeAuthority: stake.key.publicKey, difficulty: difficulty)
            let prover = try ConsensusProver.meeting(requirements, nodeID: node, key: key, stake: stake,
                                                     stakeTimestamp: epoch.milliseconds(at: epoch.wallNow()), difficulty: difficulty,
                                                     seed: UInt64.random(in: .min ... .max))
            let client = try RealTimeTrustChainClient(remote: remote, trustAnchorsPEM: trust.rootPEM)
            let manager = CertificateManager(mode: .trustchain(client: client, trust: trust, prover: prover),
                                             identity: NodeIdentity(nodeID: node, dnsName: node + ".stoq", addresses: [ipv6]),
                                             key: key, epoch: epoch)
            var outcome: Result<NodeCertificate, Rejection>?
            let finished = client.run(timeout: timeout) { done in
                manager.refresh(now: epoch.wallNow()) { outcome = $0; done() }
            }
            switch finished ? outcome : nil {
            case nil:
                printError("error: no answer from the CA at \(remote) within \(timeout) s")
                throw ExitCode.failure
            case let .failure(r)?:
                printError("error: enrolment failed: \(r)")
                throw ExitCode.failure
            case let .success(c)?:
                try writeSecretFile(try key.pem(), to: URL(fileURLWithPath: keyOut))
                try c.chainPEM.write(toFile: certOut, atomically: true, encoding: .utf8)
                print("enrolled \(node).stoq [\(ipv6)]")
                print("fingerprint  \(c.fingerprint)")
                print("valid until  \(epoch.date(at: c.notAfter))")
                print("inclusion    \(c.inclusionVerified ? "verified" : "NOT verified")")
                print("wrote        \(keyOut), \(certOut)")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check a certificate against the CA root, then fetch its inclusion proof from a running `ca serve` and verify it against a signed tree head.")

        @Argument(help: "PEM certificate (the first certificate in the file is checked).") var certificate: String
        @Option(help: "The CA's address, e.g. [::1]:4433.") var ca: String
        @Option(help: "The CA's state directory: the root and log key to trust (testing shortcut).") var state: String
        @Option(help: "Give up after this many seconds.") var timeout: Double = 30

        func run() throws {
            let remote = try badInput { try parseSocketAddress(ca, what: "--ca") }
            try checkTimeout(timeout)
            guard let data = FileManager.default.contents(atPath: certificate) else { throw ValidationError("cannot read \(certificate)") }
            let trust = try stateError { try TrustChainTrust.load(stateDirectory: URL(fileURLWithPath: state)) }
            let der: [UInt8]
            do { der = try trust.leafIssuedByRoot(pem: String(decoding: data, as: UTF8.self)) } catch {
                printError("error: \(certificate): \(error)")
                throw ExitCode.failure
            }
            let fingerprint = LogEntry(timestamp: 0, certificateDER: der).fingerprint
            let client = try RealTimeTrustChainClient(remote: remote, trustAnchorsPEM: trust.rootPEM)
            // verifyInclusion lives on a node's manager; this one only checks proofs (its own key is never used).
            let verifier = CertificateManager(mode: .localhostTesting, identity: NodeIdentity(nodeID: "verifier", dnsName: "verifier.stoq", addresses: []),
                                              key: .generate(.ed25519), epoch: .default2026)
            var outcome: Result<Void, Rejection>?
            let finished = client.run(timeout: timeout) { done in
                verifier.verifyInclusion(of: der, client: client, trust: trust) { outcome = $0; done() }
            }
            switch finished ? outcome : nil {
            case nil:
                printError("error: no answer from the CA at \(remote) within \(timeout) s")
                throw ExitCode.failure
            case let .failure(r)?:
                printError("error: \(certificate) (\(fingerprint)): \(r)")
                throw ExitCode.failure
            case .success?:
                print("fingerprint  \(fingerprint)")
                print("issuer       signed by the trusted root")
                print("inclusion    verified against the log's signed tree head of size \(verifier.treeHead?.treeSize ?? 0)")
            }
        }
    }
}

/// Client text for a log line: control and non-ASCII characters escaped, so a request cannot write to the operator's terminal.
private func printable(_ s: Substring) -> String {
    s.unicodeScalars.map { (0x20..<0x7f).contains($0.value) ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
}

/// `--timeout` seconds: positive and at most a day (NaN and infinities fail too).
private func checkTimeout(_ t: Double) throws {
    guard t > 0, t <= 86400 else { throw ValidationError("--timeout must be more than 0 and at most 86400 seconds; got \(t)") }
}

private func isNodeName(_ s: String) -> Bool {
    !s.isEmpty && s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" }
}

private func parseIPv6(_ text: String, what: String) throws -> IPv6Address {
    do { return try IPv6Address.parse(text) } catch { throw ValidationError("\(what) '\(text)': \(error)") }
}

/// `NAME=IPV6` for `ca serve --allow`.
private func parseAllow(_ entry: String) throws -> NodeIdentity {
    let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
    guard parts.count == 2, isNodeName(parts[0]) else {
        throw ValidationError("--allow '\(entry)' must be NAME=IPV6, e.g. node1=2001:db8::1")
    }
    return NodeIdentity(nodeID: parts[0], dnsName: parts[0] + ".stoq", addresses: [try parseIPv6(parts[1], what: "--allow \(parts[0])")])
}

/// A malformed or IPv4 address is bad input (exit 2).
/// A missing or broken state directory is bad input (exit 2), named.
private func stateError<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as TrustChainError { throw ValidationError("--state: \(error)") }
}
