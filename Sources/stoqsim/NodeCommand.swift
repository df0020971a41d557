import ArgumentParser
import Foundation
import StoqEngine
import StoqNetwork
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
            let bundle = try CertificateAuthorityForTesting.selfSigned(names: names)
            if let certOut { try bundle.certificateChainPEM.write(toFile: certOut, atomically: true, encoding: .utf8) }
            credentials = try TLSCredentials.server(bundle)
        }
        let scheduler = Scheduler()
        let driver = try RealTimeDriver(scheduler: scheduler)
        let socket = try IPv6UDPSocket(bind: address)
        try socket.attach(to: driver)
        let alpn = self.alpn.isEmpty ? [http3 ? "h3" : "stoq"] : self.alpn
        let endpoint = try QuicEndpoint(localAddress: socket.socketAddress,
                                        server: ServerTLSConfiguration(credentials: credentials, alpn: alpn),
                                        random: RandomStream(seed: UInt64.random(in: .min ... .max)))
        let io = EndpointDriver(endpoint: endpoint, io: socket, scheduler: scheduler, clock: WallClock(scheduler).now)
        let served: () -> Int
        if http3 {
            let server = HTTP3Server(handler: HTTP3FileHandler.serving(root: root))
            server.attach(to: endpoint)
            server.onConnectionClosed = { c, reason in printError("\(c.remoteAddress): \(reason); \(c.metrics)") }
            served = { server.requestsServed }
        } else {
            let server = RawFileServer(root: root)
            server.attach(to: endpoint)
            server.onConnectionClosed = { c, reason in printError("\(c.remoteAddress): \(reason); \(c.metrics)") }
            served = { server.requestsServed }
        }
        let shutdown = try ShutdownSignal(driver: driver)
        printError("serving \(root) on \(socket.socketAddress) (\(http3 ? "HTTP/3, " : "")ALPN \(alpn.joined(separator: ",")))")
        driver.run()
        printError("\(shutdown.received ?? "stopped"): served \(served()) request(s); closing")
        for c in endpoint.connections { c.close(errorCode: 0, reason: "server shutting down") }
        io.flush()
        socket.close()
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
        let path = String(target[slash...])
        let verification: ServerCertificateVerification = try ca.map {
            .verify(trustAnchors: try badInput { [path = $0] in try TLSCredentials.client(trustAnchorsFile: path) })
        } ?? .insecureSkipVerificationForLocalTesting
        let scheduler = Scheduler()
        let driver = try RealTimeDriver(scheduler: scheduler)
        let socket = try IPv6UDPSocket(bind: SocketAddress(address: try IPv6Address.parse("::"), port: 0))
        try socket.attach(to: driver)
        let alpn = self.alpn.isEmpty ? [http3 ? "h3" : "stoq"] : self.alpn
        let endpoint = try QuicEndpoint(localAddress: socket.socketAddress,
                                        client: ClientTLSConfiguration(verification: verification, alpn: alpn),
                                        random: RandomStream(seed: UInt64.random(in: .min ... .max)))
        let wall = WallClock(scheduler)
        let io = EndpointDriver(endpoint: endpoint, io: socket, scheduler: scheduler, clock: wall.now)
        let output: FileHandle?
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: nil) else { throw ValidationError("cannot create --out \(out)") }
            output = FileHandle(forWritingAtPath: out)
        } else {
            output = nil
        }
        let shutdown = try ShutdownSignal(driver: driver)
        var start = scheduler.now
        var firstByte: SimTime?
        var done: SimTime?
        var bytes = 0
        var failure: String?
        let name = serverName ?? remote.address.description
        var connection: QuicConnection?
        var http: HTTP3Connection?
        func handle(_ event: ConnectionEvent, on c: QuicConnection) {
            switch event {
            case .handshakeCompleted:
                do {
                    let id = try c.openStream()
                    try c.write(stream: id, RawFileProtocol.request(path: path), fin: true)
                } catch { failure = "\(error)"; driver.stop() }
            case let .streamReadable(id):
                let (data, fin) = c.read(stream: id)
                if !data.isEmpty { firstByte = firstByte ?? wall.now() }
                bytes += data.count
                output?.write(Data(data))
                if fin {
                    done = wall.now()
                    c.close(errorCode: 0)
                }
            case let .streamReset(_, code):
                switch code {
                case RawFileProtocol.notFound: failure = "\(path): not found on the server"
                case RawFileProtocol.forbidden: failure = "\(path): refused by the server (it leads outside the served directory)"
                case RawFileProtocol.badRequest: failure = "\(path): refused by the server as a malformed path"
                default: failure = "server reset the stream (code \(code))"
                }
                c.close(errorCode: 0)
            case let .closed(reason):
                if done == nil && failure == nil { failure = "\(reason)" }
                driver.stop()
            default: break
            }
        }
        // Connect from inside the run: the real-time driver pins SimTime to the wall clock when `run` starts.
        _ = scheduler.schedule(at: scheduler.now) {
            do {
                start = wall.now()
                let c = try endpoint.connect(to: remote, serverName: name, at: start)
                connection = c
                if http3 {
                    let h = try HTTP3Connection(client: c)
                    http = h
                    // HTTP/3 reads the streams itself; only the end of the connection matters here.
                    h.onEvent = { [unowned c] event in if case .closed = event { handle(event, on: c) } }
                    h.request(path: path) { result in
                        switch result {
                        case let .success(response) where response.status == 200:
                            firstByte = wall.now()   // bodies arrive whole: first byte = last byte
                            bytes = response.body.count
                            output?.write(Data(response.body))
                            done = wall.now()
                        case let .success(response):
                            failure = "\(path): HTTP status \(response.status)\(response.body.isEmpty ? "" : ": " + response.text.prefix(200))"
                        case let .failure(error):
                            failure = "\(error)"
                        }
                        c.close(errorCode: 0x100)   // H3_NO_ERROR
                    }
                } else {
                    c.onEvent = { [unowned c] in handle($0, on: c) }
                }
                io.flush()
            } catch {
                failure = "\(error)"
                driver.stop()
            }
        }
        let outcome = driver.run(for: .seconds(timeout))
        withExtendedLifetime(http) {}   // the HTTP/3 layer lived for the run
        try? output?.close()
        if let signal = shutdown.received { printError("\(signal): stopping") }
        let metrics = connection?.metrics
        print("handshake: \(metrics?.handshakeDuration.map { "\($0)" } ?? "not completed")")
        print("bytes: \(bytes)")
        if let metrics { print("connection: \(metrics)") }
        if let done, let firstByte {
            let seconds = max((done - start).seconds, 1e-9)
            print("time: \(done - start) (first byte after \(firstByte - start))")
            print("goodput: \(String(format: "%.1f", Double(bytes) * 8 / seconds / 1e6)) Mbit/s")
        }
        if done == nil {
            if outcome == .reachedEndTime && failure == nil { failure = "no answer within \(timeout) s" }
            printError("error: \(failure ?? "interrupted")")
            throw ExitCode.failure
        }
    }
}

/// The wall clock in the scheduler's SimTime terms, for EndpointDriver.clock:
/// pinned to the scheduler at the first event of the run (the real-time driver
/// pins SimTime to the wall clock when `run` starts).
private final class WallClock {
    private let scheduler: Scheduler
    private var origin: (sim: SimTime, wall: Int64)?

    init(_ scheduler: Scheduler) {
        self.scheduler = scheduler
        _ = scheduler.schedule(at: scheduler.now) { [weak self] in
            guard let self else { return }
            self.origin = (scheduler.now, Self.monotonic())
        }
    }

    func now() -> SimTime {
        guard let origin else { return scheduler.now }
        return max(scheduler.now, origin.sim + .nanoseconds(Self.monotonic() - origin.wall))
    }

    private static func monotonic() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
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

/// SIGINT/SIGTERM stop the driver (self-pipe: the handler only writes a byte; the driver reads it).
private final class ShutdownSignal {
    private(set) var received: String?
    private let readFD: Int32

    init(driver: RealTimeDriver) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ExitCode.failure }
        for fd in fds { _ = fcntl(fd, F_SETFL, O_NONBLOCK); _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        readFD = fds[0]
        shutdownPipeWriteFD = fds[1]
        let handler: @convention(c) (Int32) -> Void = { sig in
            var byte = UInt8(truncatingIfNeeded: sig)
            _ = write(shutdownPipeWriteFD, &byte, 1)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        try driver.register(fd: readFD) { [weak self, weak driver] in
            guard let self else { return }
            var byte: UInt8 = 0
            while read(self.readFD, &byte, 1) == 1 { self.received = byte == UInt8(SIGINT) ? "SIGINT" : "SIGTERM" }
            driver?.unregister(fd: self.readFD)
            driver?.stop()
        }
    }
}

/// Written only by the signal handler's one `write`; set before the handler is installed.
nonisolated(unsafe) private var shutdownPipeWriteFD: Int32 = -1
