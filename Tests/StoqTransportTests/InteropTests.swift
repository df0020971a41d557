import XCTest
import Foundation
import StoqEngine
import StoqNetwork
import StoqTopology
import StoqTestSupport

/// Against Debian's ngtcp2 examples (packages ngtcp2-server and ngtcp2-client,
/// built on the same ngtcp2 0.12.1 + GnuTLS, nghttp3 for HTTP/3, ALPN "h3"),
/// on [::1] with real sockets. Both directions:
/// - the QUIC + TLS handshake completes and the ALPN agreed is "h3" (a bare
///   QUIC server that refuses requests, and a bare QUIC client);
/// - HTTP/3 through STOQ's `HTTP3Connection`: gtlsclient downloads a file from
///   a STOQ HTTP/3 server, and a STOQ HTTP/3 client downloads a file from
///   gtlsserver; the bytes on the far side equal the file's.
final class InteropTests: XCTestCase {
    static let gtlsserver = "/usr/sbin/gtlsserver"
    static let gtlsclient = "/usr/bin/gtlsclient"

    private func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stoq-interop-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A free UDP port on ::1 (bound then released; the child binds it right after).
    private func freePort() throws -> UInt16 {
        try IPv6UDPSocket(bind: SocketAddress(address: try IPv6Address.parse("::1"), port: 0)).localPort
    }

    private func start(_ path: String, _ arguments: [String], output: URL) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return p
    }

    private func stop(_ p: Process) {
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
    }

    func testStoqClientCompletesHandshakeWithGtlsserver() throws {
        try withGtlsserver(serving: ["hello.txt": Array("hello\n".utf8)], seed: 3) { g in
        let (driver, io) = (g.driver, g.io)
        let c = try g.connect()
        c.onEvent = { event in
            if case .handshakeCompleted = event { driver.stop() }
            if case .closed = event { driver.stop() }
        }
        io.flush()
        // A lost first Initial (server not listening yet) is retransmitted after the PTO.
        driver.run(for: .seconds(10))
        XCTAssertTrue(c.isHandshakeComplete, "handshake with gtlsserver did not complete: \(c.state)")
        XCTAssertEqual(c.negotiatedALPN, "h3")
        c.close(errorCode: 0x100)   // H3_NO_ERROR
        io.flush()
        }
    }

    func testGtlsclientCompletesHandshakeWithStoqServer() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.gtlsclient) else {
            throw XCTSkip("\(Self.gtlsclient) missing: install Debian package ngtcp2-client")
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let scheduler = Scheduler()
        let driver = try RealTimeDriver(scheduler: scheduler)
        let socket = try IPv6UDPSocket(bind: SocketAddress(address: try IPv6Address.parse("::1"), port: 0))
        try socket.attach(to: driver)
        let endpoint = try QuicEndpoint(localAddress: socket.socketAddress, server: try TestTLS.server(alpn: ["h3"]),
                                        random: RandomStream(seed: 4))
        var serverSide: QuicConnection?
        endpoint.onNewConnection = { c in
            serverSide = c
            // Bare QUIC, no HTTP/3 layer: refuse requests, as an H3 server that rejects them would.
            c.onEvent = { event in
                if case let .streamReadable(id) = event, id & 0x2 == 0 {
                    _ = c.read(stream: id)
                    try? c.resetStream(id, errorCode: 0x10c)   // H3_REQUEST_REJECTED
                } else if case let .streamReadable(id) = event {
                    _ = c.discard(stream: id)   // the client's control and QPACK streams
                }
            }
        }
        let io = EndpointDriver(endpoint: endpoint, io: socket, scheduler: scheduler)
        _ = io
        let port = socket.localPort
        let log = dir.appendingPathComponent("client.log")
        let client = try start(Self.gtlsclient, ["--download=\(dir.path)", "--exit-on-all-streams-close", "--timeout=5s",
                                                 "::1", "\(port)", "https://[::1]:\(port)/hello.txt"], output: log)
        defer { stop(client) }
        // Poll the child every 50 ms: stop once it exited (or after 15 s).
        func poll() {
            if !client.isRunning { driver.stop(); return }
            _ = scheduler.schedule(after: .milliseconds(50)) { poll() }
        }
        poll()
        driver.run(for: .seconds(15))
        stop(client)
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertTrue(output.contains("QUIC handshake has completed"), "gtlsclient output:\n\(output.suffix(2000))")
        XCTAssertTrue(output.contains("Negotiated ALPN is h3"), "gtlsclient output:\n\(output.suffix(2000))")
        XCTAssertEqual(serverSide?.isHandshakeComplete, true)
        XCTAssertEqual(serverSide?.negotiatedALPN, "h3")
    }

    /// Runs the real-time driver until `done` holds or `seconds` pass, checking every 20 ms.
    /// What a test against gtlsserver works with: the server's port and a STOQ
    /// client endpoint (ALPN h3) on a real [::1] socket with a real-time driver.
    private struct GtlsserverSession {
        let port: UInt16
        let scheduler: Scheduler
        let driver: RealTimeDriver
        let socket: IPv6UDPSocket
        let endpoint: QuicEndpoint
        let io: EndpointDriver

        func connect() throws -> QuicConnection {
            try endpoint.connect(to: SocketAddress(address: try IPv6Address.parse("::1"), port: port), serverName: "::1", at: scheduler.now)
        }
    }

    /// Starts gtlsserver on [::1] serving `files` (with a certificate from the
    /// test CA), runs `body`, then stops the server and removes its directory.
    private func withGtlsserver(serving files: [String: [UInt8]], seed: UInt64, _ body: (GtlsserverSession) throws -> Void) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.gtlsserver) else {
            throw XCTSkip("\(Self.gtlsserver) missing: install Debian package ngtcp2-server")
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bundle = try TestTLS.authority.issueLeaf(names: TestTLS.defaultNames)
        try bundle.certificateChainPEM.write(to: dir.appendingPathComponent("cert.pem"), atomically: true, encoding: .utf8)
        try bundle.privateKeyPEM.write(to: dir.appendingPathComponent("key.pem"), atomically: true, encoding: .utf8)
        for (name, bytes) in files { try Data(bytes).write(to: dir.appendingPathComponent(name)) }
        let port = try freePort()
        let server = try start(Self.gtlsserver, ["-q", "-d", dir.path, "::1", "\(port)",
                                                 dir.appendingPathComponent("key.pem").path, dir.appendingPathComponent("cert.pem").path],
                               output: dir.appendingPathComponent("server.log"))
        defer { stop(server) }
        let scheduler = Scheduler()
        let driver = try RealTimeDriver(scheduler: scheduler)
        let socket = try IPv6UDPSocket(bind: SocketAddress(address: try IPv6Address.parse("::1"), port: 0))
        try socket.attach(to: driver)
        let endpoint = try QuicEndpoint(localAddress: socket.socketAddress, client: try TestTLS.client(alpn: ["h3"]),
                                        random: RandomStream(seed: seed))
        try body(GtlsserverSession(port: port, scheduler: scheduler, driver: driver, socket: socket, endpoint: endpoint,
                                   io: EndpointDriver(endpoint: endpoint, io: socket, scheduler: scheduler)))
    }

    private func run(_ driver: RealTimeDriver, _ scheduler: Scheduler, seconds: Int64, until done: @escaping () -> Bool) {
        func poll() {
            if done() { driver.stop(); return }
            _ = scheduler.schedule(after: .milliseconds(20)) { poll() }
        }
        poll()
        driver.run(for: .seconds(seconds))
    }

    func testGtlsclientDownloadsAFileFromAStoqHTTP3Server() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.gtlsclient) else {
            throw XCTSkip("\(Self.gtlsclient) missing: install Debian package ngtcp2-client")
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let www = dir.appendingPathComponent("www"), downloads = dir.appendingPathComponent("downloads")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: downloads, withIntermediateDirectories: true)
        let content = testPayload(count: 3 << 20, seed: 21)
        try Data(content).write(to: www.appendingPathComponent("file.bin"))

        let scheduler = Scheduler()
        let driver = try RealTimeDriver(scheduler: scheduler)
        let socket = try IPv6UDPSocket(bind: SocketAddress(address: try IPv6Address.parse("::1"), port: 0))
        try socket.attach(to: driver)
        let endpoint = try QuicEndpoint(localAddress: socket.socketAddress, server: try TestTLS.server(alpn: ["h3"]),
                                        random: RandomStream(seed: 5))
        let server = HTTP3Server(handler: HTTP3FileHandler.serving(root: www.path))
        server.attach(to: endpoint)
        let io = EndpointDriver(endpoint: endpoint, io: socket, scheduler: scheduler)
        let port = socket.localPort
        let log = dir.appendingPathComponent("client.log")
        let client = try start(Self.gtlsclient, ["-q", "--download=\(downloads.path)", "--exit-on-all-streams-close", "--timeout=5s",
                                                 "::1", "\(port)", "https://[::1]:\(port)/file.bin"], output: log)
        defer { stop(client) }
        run(driver, scheduler, seconds: 20) { !client.isRunning }
        stop(client)
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(client.terminationStatus, 0, "gtlsclient output:\n\(output.suffix(2000))")
        let downloaded = try Data(contentsOf: downloads.appendingPathComponent("file.bin"))
        XCTAssertEqual(downloaded.count, content.count)
        XCTAssertTrue(downloaded == Data(content), "gtlsclient's copy differs from the served file")
        XCTAssertEqual(server.requestsServed, 1)
        _ = io
    }

    func testStoqHTTP3ClientDownloadsAFileFromGtlsserver() throws {
        let content = testPayload(count: 3 << 20, seed: 22)
        try withGtlsserver(serving: ["file.bin": content], seed: 6) { g in
        let (scheduler, driver, io) = (g.scheduler, g.driver, g.io)
        let c = try g.connect()
        let http = try HTTP3Connection(client: c)
        var result: Result<HTTP3Response, HTTP3Error>?, missing: Result<HTTP3Response, HTTP3Error>?
        http.request(path: "/file.bin") { result = $0 }
        http.request(path: "/no-such-file") { missing = $0 }
        io.flush()
        // A lost first Initial (server not listening yet) is retransmitted after the PTO.
        run(driver, scheduler, seconds: 20) { result != nil && missing != nil }
        let response = try XCTUnwrap(result, "no response from gtlsserver: \(c.state)").get()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body.count, content.count)
        XCTAssertTrue(response.body == content, "the downloaded bytes differ from the file")
        XCTAssertEqual(try XCTUnwrap(missing).get().status, 404)
        XCTAssertEqual(c.negotiatedALPN, "h3")
        c.close(errorCode: 0x100)   // H3_NO_ERROR
        io.flush()
        }
    }
}
