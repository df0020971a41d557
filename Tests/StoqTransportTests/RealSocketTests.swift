import XCTest
import Foundation
import StoqEngine
import StoqNetwork
import StoqTopology
import StoqTestSupport

/// Real IPv6 UDP sockets on ::1, driven by StoqEngine's RealTimeDriver. Every
/// run is bounded (`run(for:)`), so a failure ends the test instead of hanging it.
final class RealSocketTests: XCTestCase {
    static let loopback = SocketAddress(address: try! IPv6Address.parse("::1"), port: 0)

    func testDatagramsCrossTheLoopback() throws {
        let driver = try RealTimeDriver(scheduler: Scheduler())
        let a = try IPv6UDPSocket(bind: Self.loopback), b = try IPv6UDPSocket(bind: Self.loopback)
        try a.attach(to: driver); try b.attach(to: driver)
        XCTAssertNotEqual(b.localPort, 0)
        var got: [Datagram] = []
        b.receiveEach { got.append($0.owned); driver.stop() }
        a.send(Datagram(source: a.socketAddress, destination: b.socketAddress, payload: [1, 2, 3]))
        driver.run(for: .seconds(5))
        XCTAssertEqual(got.first?.payload, [1, 2, 3])
        XCTAssertEqual(got.first?.source, a.socketAddress)
    }

    func testIPv4IsRefusedWithAClearMessage() throws {
        let mapped = SocketAddress(address: IPv6Address(high: 0, low: 0xffff_7f00_0001), port: 0)   // ::ffff:127.0.0.1
        XCTAssertThrowsError(try IPv6UDPSocket(bind: mapped)) { XCTAssertTrue("\($0)".contains("IPv6-only"), "\($0)") }
        XCTAssertThrowsError(try parseSocketAddress("127.0.0.1:4433")) { XCTAssertTrue("\($0)".contains("IPv4"), "\($0)") }
        XCTAssertThrowsError(try parseSocketAddress("[::ffff:10.0.0.1]:4433")) { XCTAssertTrue("\($0)".contains("IPv6-only"), "\($0)") }
        XCTAssertEqual(try parseSocketAddress("[::1]:4433"), SocketAddress(address: try IPv6Address.parse("::1"), port: 4433))
        let socket = try IPv6UDPSocket(bind: Self.loopback)
        socket.send(Datagram(source: socket.socketAddress, destination: mapped, payload: [0]))
        XCTAssertEqual(socket.sendFailures, 1)
    }

    func testFileServiceOverRealSockets() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("stoq-root-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let content = testPayload(count: 3 << 20)
        try Data(content).write(to: root.appendingPathComponent("file.bin"))

        let scheduler = Scheduler()
        let driver = try RealTimeDriver(scheduler: scheduler)
        let serverSocket = try IPv6UDPSocket(bind: Self.loopback), clientSocket = try IPv6UDPSocket(bind: Self.loopback)
        try serverSocket.attach(to: driver); try clientSocket.attach(to: driver)
        let serverEndpoint = try QuicEndpoint(localAddress: serverSocket.socketAddress, server: try TestTLS.server(),
                                              random: RandomStream(seed: 1, stream: "server"))
        let service = RawFileServer(root: root.path)
        service.attach(to: serverEndpoint)
        let serverIO = EndpointDriver(endpoint: serverEndpoint, io: serverSocket, scheduler: scheduler)
        let clientEndpoint = try QuicEndpoint(localAddress: clientSocket.socketAddress, client: try TestTLS.client(),
                                              random: RandomStream(seed: 1, stream: "client"))
        let clientIO = EndpointDriver(endpoint: clientEndpoint, io: clientSocket, scheduler: scheduler)

        var received = FNV1a(), expected = FNV1a()
        expected.update(content)
        var done = false, missingReset: UInt64?
        let c = try clientEndpoint.connect(to: serverSocket.socketAddress, serverName: "::1", at: scheduler.now)
        var fileStream: Int64 = -1
        c.onEvent = { event in
            switch event {
            case .handshakeCompleted:
                fileStream = try! c.openStream()
                try! c.write(stream: fileStream, RawFileProtocol.request(path: "/file.bin"), fin: true)
                let missing = try! c.openStream()
                try! c.write(stream: missing, RawFileProtocol.request(path: "/../etc/passwd"), fin: true)
            case let .streamReadable(id) where id == fileStream:
                let (bytes, fin) = c.read(stream: id)
                received.update(bytes)
                if fin { done = true }
            case let .streamReset(_, code):
                missingReset = code
            default: break
            }
            if done && missingReset != nil { driver.stop() }
        }
        clientIO.flush()
        driver.run(for: .seconds(20))
        XCTAssertTrue(done, "download did not finish: \(c.state), \(c.metrics)")
        XCTAssertEqual(received.count, content.count)
        XCTAssertEqual(received, expected)
        XCTAssertEqual(missingReset, RawFileProtocol.badRequest, "a path climbing out of the root must be refused")
        XCTAssertEqual(service.requestsServed, 1)
        _ = serverIO
    }
}
