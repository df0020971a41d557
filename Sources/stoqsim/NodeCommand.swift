import ArgumentParser
import Foundation
import StoqEngine
import StoqNetwork
import StoqNodeRuntime
import StoqTopology
import StoqTransport

/// One real node on real IPv6 UDP sockets: serve files, or fetch one.
struct Node: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a STOQ node on a real IPv6 UDP socket (raw QUIC streams: \"GET /path\\r\\n\" → file bytes; or HTTP/3 with --http3).",
        subcommands: [NodeServe.self, NodeGet.self])
}

struct NodeServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the files under --root until SIGINT/SIGTERM.")

    @Option(help: "Address to listen on, e.g. [::1]:4433 (IPv6 only).") var listen: String
    @Option(help: "Directory whose files are served (symbolic links only as far as they stay inside it).") var root: String = "."
    @Option(help: "PEM certificate chain (leaf first).") var cert: String?
    @Option(help: "PEM private key (unencrypted).") var key: String?
    @Flag(help: "Generate a self-signed Ed25519 certificate for localhost, ::1 and the listen address.") var selfSigned = false
    @Option(help: "With --self-signed: write the certificate (PEM) here, for clients' --ca.") var certOut: String?
    @Option(help: "ALPN protocol to accept (repeatable; default stoq, or h3 with --http3).") var alpn: [String] = []
    @Flag(help: "Serve the files over HTTP/3 (nghttp3) instead of raw STOQ streams.") var http3 = false

    func validate() throws {
        if selfSigned == (cert != nil) { throw ValidationError("give either --cert and --key, or --self-signed") }
        if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
        if certOut != nil && !selfSigned { throw ValidationError("--cert-out only applies to --self-signed") }
    }

    func run() throws {
        let address = try badInput { try parseSocketAddress(listen, what: "--listen") }
        let credentials: TLSCredentials
        if let cert, let key {
            credentials = try badInput { try TLSCredentials.server(certificateFile: cert, keyFile: key) }
        } else {
            var names: [SubjectAlternativeName] = [.dns("localhost"), .ipv6(try IPv6Address.parse("::1"))]
            if address.address != (try IPv6Address.parse("::1")) { names.append(.ipv6(address.address)) }
            let bundle = try RunCertificateAuthority.selfSigned(names: names)
            if let certOut { try bundle.certificateChainPEM.write(toFile: certOut, atomically: true, encoding: .utf8) }
            credentials = try TLSCredentials.server(bundle)
        }
        let alpn = self.alpn.isEmpty ? [http3 ? "h3" : "stoq"] : self.alpn
        let node = try RealTimeNode(bind: address, server: ServerTLSConfiguration(credentials: credentials, alpn: alpn), wallClock: true)
        let served: () -> Int
        if http3 {
            let server = HTTP3Server(handler: HTTP3FileHandler.serving(root: root))
            server.attach(to: node.endpoint)
            server.onConnectionClosed = { c, reason in printError("\(c.remoteAddress): \(reason); \(c.metrics)") }
            served = { server.requestsServed }
        } else {
            let server = RawFileServer(root: root)
            server.attach(to: node.endpoint)
            server.onConnectionClosed = { c, reason in printError("\(c.remoteAddress): \(reason); \(c.metrics)") }
            served = { server.requestsServed }
        }
        try node.stopOnSignals()
        printError("serving \(root) on \(node.socket.socketAddress) (\(http3 ? "HTTP/3, " : "")ALPN \(alpn.joined(separator: ",")))")
        node.run()
        printError("\(node.stoppedBy ?? "stopped"): served \(served()) request(s); closing")
        node.closeConnections(errorCode: 0, reason: "server shutting down")
        node.socket.close()
    }
}

struct NodeGet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Fetch one file from a STOQ node and print handshake time, bytes and goodput.")

    @Argument(help: "Where and what, e.g. [::1]:4433/index.html") var target: String
    @Option(help: "Write the file here (default: count the bytes only).") var out: String?
    @Option(help: "PEM trust anchors for the server certificate.") var ca: String?
    @Option(help: "Name to verify the certificate against (default: the address).") var serverName: String?
    @Flag(name: .customLong("insecure-skip-verify-for-local-testing"),
          help: "Accept any server certificate. Only for your own localhost tests.") var insecureSkipVerify = false
    @Option(help: "ALPN protocol to offer (repeatable; default stoq, or h3 with --http3).") var alpn: [String] = []
    @Flag(help: "Fetch with an HTTP/3 GET (nghttp3) instead of a raw STOQ stream; works against gtlsserver too.") var http3 = false
    @Option(help: "Give up after this many seconds.") var timeout: Double = 30

    func validate() throws {
        if (ca == nil) == !insecureSkipVerify {
            throw ValidationError("give --ca FILE to verify the server, or --insecure-skip-verify-for-local-testing")
        }
    }

    func run() throws {
        guard let slash = target.firstIndex(of: "/") else {
            throw ValidationError("target '\(target)' needs a path, e.g. [::1]:4433/index.html")
        }
        let remote = try badInput { try parseSocketAddress(String(target[..<slash]), what: "target") }
        let verification: ServerCertificateVerification = try ca.map {
            .verify(trustAnchors: try badInput { [path = $0] in try TLSCredentials.client(trustAnchorsFile: path) })
        } ?? .insecureSkipVerificationForLocalTesting
        let output: FileHandle?
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: nil) else { throw ValidationError("cannot create --out \(out)") }
            output = FileHandle(forWritingAtPath: out)
        } else {
            output = nil
        }
        let fetch = FileFetch(remote: remote, path: String(target[slash...]), serverName: serverName ?? remote.address.description,
                              verification: verification, alpn: alpn.isEmpty ? [http3 ? "h3" : "stoq"] : alpn, http3: http3,
                              timeout: .seconds(timeout))
        var outcome = try fetch.run { output?.write(Data($0)) }
        try? output?.close()
        if let signal = outcome.signal { printError("\(signal): stopping") }
        print("handshake: \(outcome.metrics?.handshakeDuration.map { "\($0)" } ?? "not completed")")
        print("bytes: \(outcome.bytes)")
        if let metrics = outcome.metrics { print("connection: \(metrics)") }
        if let done = outcome.done, let firstByte = outcome.firstByte {
            let seconds = max((done - outcome.start).seconds, 1e-9)
            print("time: \(done - outcome.start) (first byte after \(firstByte - outcome.start))")
            print("goodput: \(String(format: "%.1f", Double(outcome.bytes) * 8 / seconds / 1e6)) Mbit/s")
        }
        if outcome.done == nil {
            if outcome.timedOut && outcome.failure == nil { outcome.failure = "no answer within \(timeout) s" }
            printError("error: \(outcome.failure ?? "interrupted")")
            throw ExitCode.failure
        }
    }
}

/// Turns bad-input errors from the transport (addresses, certificate files) into exit code 2.
/// Addresses and certificate files the user gave that do not work are bad
/// input (exit 2, the message names the option), not run-time failures.
func badInput<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as TransportError {
        throw ValidationError(error.description)
    } catch let SocketError.invalidAddress(message) {
        throw ValidationError(message)
    }
}
