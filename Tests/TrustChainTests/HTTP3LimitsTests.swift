import Foundation
import StoqEngine
import StoqTestSupport
import StoqTransport
import XCTest
@testable import TrustChain

/// The CA's API behind the real HTTP/3 server (nghttp3 over QUIC, in the
/// in-memory pair): hostile requests get JSON answers, limits are enforced
/// before the handler sees anything, and the server keeps serving.
final class HTTP3LimitsTests: XCTestCase {
    static let limits = HTTP3ServerLimits(maxBodyBytes: 64 << 10, maxPathBytes: 2048, maxHeaderBytes: 16 << 10,
                                          requestTimeout: .seconds(10), maxConnectionsPerPeer: 2)

    private func setUp(limits: HTTP3ServerLimits = HTTP3LimitsTests.limits) throws -> (Fixture, InMemoryPair, HTTP3Server, HTTP3Connection) {
        let f = try Fixture()
        let pair = try InMemoryPair(seed: 3, clientTLS: try TestTLS.client(alpn: ["h3"]), serverTLS: try TestTLS.server(alpn: ["h3"]))
        let server = f.api.http3Server(limits: limits, clock: { _ in .zero })
        server.attach(to: pair.server)
        return (f, pair, server, try HTTP3Connection(client: try pair.connect()))
    }

    private func fetch(_ pair: InMemoryPair, _ client: HTTP3Connection, method: String = "GET", path: String,
                       headers: [HTTP3Header] = [], body: [UInt8] = [], file: StaticString = #filePath, line: UInt = #line) throws -> (Int, String?) {
        var result: Result<HTTP3Response, HTTP3Error>?
        client.request(method: method, path: path, headers: headers, body: body) { result = $0 }
        XCTAssertTrue(pair.run(until: { result != nil }), "no response to \(method) \(path.prefix(80))", file: file, line: line)
        let response = try XCTUnwrap(result, file: file, line: line).get()
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any], response.text, file: file, line: line)
        XCTAssertEqual(response.headers.value(for: "content-type"), "application/json", file: file, line: line)
        return (response.status, json["error"] as? String)
    }

    func testHostileRequestsOverHTTP3GetJSONErrorsAndTheServerGoesOn() throws {
        let (f, pair, server, client) = try setUp()
        let cases: [(method: String, path: String, headers: [HTTP3Header], body: [UInt8], status: Int, code: String?)] = [
            ("GET", "/ct/sth?=", [], [], 400, "malformed_request"),
            ("GET", "/ct/entries?start=-1&end=99999999999999999999", [], [], 400, "malformed_request"),
            ("GET", "/ct/consistency?first=%zz&second=1", [], [], 400, "malformed_request"),
            ("DELETE", "/ct/sth", [], [], 405, "method_not_allowed"),
            ("POST", "/ca/certificate", [], Array("{\"csr\": 5".utf8), 400, "malformed_request"),
            // Refused by the HTTP/3 layer before the handler: an oversize body (sent in full, answered as soon as it is over)…
            ("POST", "/ca/certificate", [], Array(repeating: 0x7b, count: 200_000), 413, "body_too_large"),
            // …or announced in content-length; a long path; oversize header fields.
            ("GET", "/" + String(repeating: "p", count: 3000), [], [], 414, "path_too_long"),
            ("GET", "/ct/sth", [HTTP3Header("x-junk", String(repeating: "j", count: 20_000))], [], 431, "headers_too_large"),
            ("GET", "/ct/sth", (0..<600).map { HTTP3Header("x-\($0)", "v") }, [], 431, "headers_too_large"),
            ("GET", "/ct/sth", [], [], 200, nil),
        ]
        for c in cases {
            let (status, code) = try fetch(pair, client, method: c.method, path: c.path, headers: c.headers, body: c.body)
            XCTAssertEqual(status, c.status, "\(c.method) \(c.path.prefix(60))")
            XCTAssertEqual(code, c.code, "\(c.method) \(c.path.prefix(60))")
            XCTAssertEqual(try fetch(pair, client, path: "/ct/sth").0, 200, "after \(c.method) \(c.path.prefix(60))")
        }
        XCTAssertEqual(server.requestsRefused, 4)
        XCTAssertFalse(client.quic.isClosed, "refusals end requests, not the connection")
        XCTAssertEqual(f.ca.log.size, 0)
        // A good enrolment on the same connection still works.
        let good = try EnrollmentRequestBody(try f.request()).json()
        XCTAssertEqual(try fetch(pair, client, method: "POST", path: "/ca/certificate", body: good).0, 200)
        XCTAssertEqual(f.ca.log.size, 1)
    }

    /// HTTP/3 bytes written by hand on a raw QUIC stream: a POST announcing
    /// `contentLength` bytes of body and sending 7 of them (no end of stream).
    private func unfinishedPost(contentLength: String = "100") -> [UInt8] {
        func literal(_ nameIndex: UInt8, _ value: String) -> [UInt8] {
            // Literal field line with a static name reference (RFC 9204 §4.5.4); values here are < 127 bytes.
            [0x50 | nameIndex, UInt8(value.utf8.count)] + Array(value.utf8)
        }
        // Required insert count 0, base 0; :method POST (static 20), :scheme https (23), :authority, :path, content-length.
        let fields: [UInt8] = [0x00, 0x00, 0xC0 | 20, 0xC0 | 23] + literal(0, "localhost") + literal(1, "/ca/certificate") + literal(4, contentLength)
        let data = Array("{\"csr\":".utf8)
        return [0x01, UInt8(fields.count)] + fields + [0x00, UInt8(data.count)] + data
    }

    /// A raw QUIC connection (no HTTP/3 client) that sends `bytes` on one request stream and collects the answer.
    private final class RawRequest {
        let connection: QuicConnection
        var received: [UInt8] = []
        var finished = false
        var text: String { String(decoding: received, as: UTF8.self) }

        init(_ pair: InMemoryPair, _ bytes: [UInt8]) throws {
            connection = try pair.connect()
            connection.onEvent = { [unowned self] event in
                guard case let .streamReadable(id) = event else { return }
                let (data, fin) = connection.read(stream: id)
                received += data
                finished = finished || fin
            }
            XCTAssertTrue(pair.run(until: { self.connection.isHandshakeComplete }))
            try connection.write(stream: try connection.openStream(bidirectional: true), bytes)
        }
    }

    func testARequestThatNeverEndsIsAnswered408AfterTheTimeout() throws {
        var limits = Self.limits
        limits.maxConnectionsPerPeer = nil
        let (f, pair, server, _) = try setUp(limits: limits)
        let raw = try RawRequest(pair, unfinishedPost())
        pair.run(for: .seconds(5))
        server.expireStalledRequests(now: pair.now)
        XCTAssertEqual(server.requestsRefused, 0, "not yet: 5 s of 10")
        pair.run(for: .seconds(6))
        server.expireStalledRequests(now: pair.now)
        XCTAssertEqual(server.requestsRefused, 1)
        XCTAssertTrue(pair.run(until: { raw.finished }), "the 408 answer did not arrive")
        XCTAssertTrue(raw.text.contains("\"error\":\"request_timeout\""), raw.text)
        XCTAssertEqual(f.ca.log.size, 0)
        // The server still serves others.
        let client = try HTTP3Connection(client: try pair.connect())
        XCTAssertEqual(try fetch(pair, client, path: "/ca/info").0, 200)
    }

    func testAnAnnouncedOversizeBodyIsRefusedBeforeItArrives() throws {
        let (_, pair, server, _) = try setUp()
        let raw = try RawRequest(pair, unfinishedPost(contentLength: "99999999999"))
        XCTAssertTrue(pair.run(until: { raw.finished }), "no answer to a body announced over the limit")
        XCTAssertTrue(raw.text.contains("\"error\":\"body_too_large\""), raw.text)
        XCTAssertEqual(server.requestsRefused, 1)
        XCTAssertLessThan(pair.now, .zero + .seconds(1), "answered at once, not after the request timeout")
    }

    /// Seeded mutations of raw HTTP/3 request bytes (and garbage unidirectional
    /// streams) on QUIC streams: whatever nghttp3 makes of them, the server
    /// answers or drops that stream or connection, and serves the next client.
    func testMutatedRawHTTP3StreamsLeaveTheServerServing() throws {
        var limits = Self.limits
        limits.maxConnectionsPerPeer = nil
        let (f, pair, server, _) = try setUp(limits: limits)
        var random = RandomStream(seed: UInt64(ProcessInfo.processInfo.environment["STOQ_FUZZ_SEED"] ?? "") ?? 0x13, stream: "raw-h3-fuzz")
        func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
        var connection = try pair.connect()
        connection.onEvent = { _ in }
        var connections = 1
        for _ in 0..<(Int(ProcessInfo.processInfo.environment["STOQ_FUZZ_ITERATIONS"] ?? "") ?? 300) {
            if connection.isClosed {
                connection = try pair.connect()
                connection.onEvent = { _ in }
                connections += 1
            }
            guard pair.run(until: { connection.isHandshakeComplete || connection.isClosed }), !connection.isClosed else { continue }
            var bytes = unfinishedPost(contentLength: ["100", "7", "0", "99999999999", "-1", "x"][below(6)])
            for _ in 0..<below(4) {   // none to three: some requests stay well-formed
                switch below(4) {
                case 0: bytes[below(bytes.count)] ^= UInt8(1 << below(8))
                case 1: bytes = Array(bytes.prefix(below(bytes.count) + 1))
                case 2: bytes.insert(UInt8(below(256)), at: below(bytes.count + 1))
                default: bytes[below(bytes.count)] = [0x00, 0x3f, 0x40, 0x7f, 0xc0, 0xff][below(6)]
                }
            }
            let unidirectional = below(10) == 0
            guard let stream = try? connection.openStream(bidirectional: !unidirectional) else { continue }
            try? connection.write(stream: stream, unidirectional ? [UInt8(below(4))] + bytes : bytes, fin: below(2) == 0)
            pair.run(for: .milliseconds(30))
            server.expireStalledRequests(now: pair.now)
        }
        print("raw HTTP/3 fuzz: \(connections) connections, \(server.requestsServed) requests served, \(server.requestsRefused) refused")
        XCTAssertGreaterThan(connections, 1, "no mutation ever upset nghttp3: the fuzz is too gentle")
        let client = try HTTP3Connection(client: try pair.connect())
        XCTAssertEqual(try fetch(pair, client, path: "/ct/sth").0, 200)
        XCTAssertEqual(f.ca.log.size, 0)
    }

    func testConnectionsBeyondThePerPeerCapAreClosed() throws {
        let (_, pair, server, first) = try setUp()
        XCTAssertEqual(try fetch(pair, first, path: "/ct/sth").0, 200)
        let second = try HTTP3Connection(client: try pair.connect())
        XCTAssertEqual(try fetch(pair, second, path: "/ct/sth").0, 200)
        let third = try pair.connect()
        XCTAssertTrue(pair.run(until: { third.isClosed }), "a third connection from the same address stayed open")
        XCTAssertEqual(server.connectionsRefused, 1)
        XCTAssertEqual(try fetch(pair, first, path: "/ct/sth").0, 200, "the first two keep working")
        XCTAssertEqual(try fetch(pair, second, path: "/ca/info").0, 200)
        // Once one closes, the peer may connect again.
        first.quic.close(errorCode: 0x100)
        XCTAssertTrue(pair.run(until: { server.connections.count == 1 }))
        let again = try HTTP3Connection(client: try pair.connect())
        XCTAssertEqual(try fetch(pair, again, path: "/ct/sth").0, 200)
    }

    func testConnectionsBeyondTheTotalCapAreClosed() throws {
        let (_, pair, server, first) = try setUp(limits: HTTP3ServerLimits(maxConnections: 1))
        XCTAssertEqual(try fetch(pair, first, path: "/ct/sth").0, 200)
        let second = try pair.connect()
        XCTAssertTrue(pair.run(until: { second.isClosed }))
        XCTAssertEqual(server.connectionsRefused, 1)
        XCTAssertEqual(try fetch(pair, first, path: "/ca/info").0, 200)
    }
}
