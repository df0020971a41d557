import StoqEngine
import StoqBenchmarks
@_exported import StoqTransport

/// The transport tests' pair harness: two endpoints on a two-node `Network`,
/// each behind an `EndpointDriver` (StoqBenchmarks' `EndpointPair`, which the
/// transport benchmarks drive too), so tests exercise the one path `sim` runs take.
public typealias InMemoryPair = EndpointPair

/// Certificates and pairs for transport tests: ready-made TLS setups and
/// small stream helpers on top of `InMemoryPair`.
public enum TestTLS {
    /// One CA (root → intermediate) shared by tests: key generation is the slow part.
    public static let authority: RunCertificateAuthority = {
        let root = try! RunCertificateAuthority(commonName: "STOQ Test Root CA")
        return try! root.issueIntermediate(commonName: "STOQ Test Intermediate CA")
    }()

    /// Server TLS with a leaf for "localhost" and ::1 / fd00::2, chained through the intermediate.
    public static func server(names: [SubjectAlternativeName] = defaultNames,
                              alpn: [String] = ["stoq"]) throws -> ServerTLSConfiguration {
        let bundle = try authority.issueLeaf(names: names)
        return ServerTLSConfiguration(credentials: try .server(bundle), alpn: alpn)
    }

    /// Client TLS trusting the test root.
    public static func client(alpn: [String] = ["stoq"]) throws -> ClientTLSConfiguration {
        ClientTLSConfiguration(verification: .verify(trustAnchors: try .client(trustAnchorsPEM: authority.rootCertificatePEM)),
                               alpn: alpn)
    }

    public static let defaultNames: [SubjectAlternativeName] = [
        .dns("localhost"), .ipv6(try! IPv6Address.parse("::1")), .ipv6(try! IPv6Address.parse("fd00::2")),
    ]
}

extension InMemoryPair {
    /// A pair with verified certificates from `TestTLS`.
    public static func verified(seed: UInt64 = 1, oneWayDelay: SimDuration = .milliseconds(10),
                                bitsPerSecond: Double? = nil, lossRate: Double = 0,
                                configuration: TransportConfiguration = TransportConfiguration()) throws -> InMemoryPair {
        try InMemoryPair(seed: seed, oneWayDelay: oneWayDelay, bitsPerSecond: bitsPerSecond, lossRate: lossRate,
                         configuration: configuration, clientTLS: try TestTLS.client(), serverTLS: try TestTLS.server())
    }

    /// Connects and runs until both sides completed the handshake; returns (client, server) connections.
    public func establish(serverName: String = "localhost") throws -> (QuicConnection, QuicConnection)? {
        var accepted: QuicConnection?
        let previous = server.onNewConnection
        server.onNewConnection = { accepted = $0; previous?($0) }
        defer { server.onNewConnection = previous }
        let c = try connect(serverName: serverName)
        guard run(until: { c.isHandshakeComplete && accepted?.isHandshakeComplete == true || c.isClosed }),
              let s = accepted, !c.isClosed else { return nil }
        return (c, s)
    }
}

/// Collects what arrives on streams of one connection (reads on every readable event).
public final class StreamSink {
    public private(set) var data: [Int64: [UInt8]] = [:]
    public private(set) var finished: Set<Int64> = []
    public private(set) var opened: [Int64] = []
    public private(set) var events: [ConnectionEvent] = []
    /// When false the sink stops reading, so flow-control credit stops flowing back.
    public var reading = true
    /// When true, a bidirectional stream the peer finished is finished from our side too, so it closes.
    public var finishesPeerStreams = true
    /// When true, bytes are only counted (for big transfers).
    public var countOnly = false
    public private(set) var counts: [Int64: Int] = [:]
    public private(set) var hashes: [Int64: FNV1a] = [:]
    private weak var connection: QuicConnection?

    public init(_ connection: QuicConnection) {
        self.connection = connection
        connection.onEvent = { [unowned self] event in
            self.events.append(event)
            switch event {
            case let .streamOpened(id): self.opened.append(id)
            case let .streamReadable(id): if self.reading { self.drain(id) }
            default: break
            }
        }
    }

    /// Reads everything pending (after `reading` was turned back on).
    public func drainAll() {
        guard let c = connection else { return }
        for id in c.readableStreams { drain(id) }
    }

    private func drain(_ id: Int64) {
        guard let c = connection else { return }
        let (bytes, fin) = c.read(stream: id)
        counts[id, default: 0] += bytes.count
        hashes[id, default: FNV1a()].update(bytes)
        if !countOnly { data[id, default: []].append(contentsOf: bytes) }
        if fin {
            finished.insert(id)
            // Bidirectional (bit 1 clear) and opened by the peer: end our half too.
            if finishesPeerStreams, id & 0x2 == 0, opened.contains(id) { try? c.finish(stream: id) }
        }
    }
}

/// A cheap, stable digest to compare transferred bytes: FNV-1a over 64-bit
/// little-endian words (bytes are buffered until a word is full), so
/// split points between reads do not change the result.
public struct FNV1a: Equatable, Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    private var tail: UInt64 = 0
    private var tailCount = 0
    public private(set) var count = 0

    public init() {}

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var i = 0
            count += raw.count
            while tailCount != 0 && i < raw.count { push(raw[i]); i += 1 }
            while i + 8 <= raw.count {
                mix(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                i += 8
            }
            while i < raw.count { push(raw[i]); i += 1 }
        }
    }

    /// The digest including a partial last word.
    public var final: UInt64 {
        var copy = self
        if copy.tailCount > 0 { copy.mix(copy.tail ^ UInt64(copy.tailCount) << 60) }
        return copy.value ^ UInt64(count)
    }

    public static func == (a: FNV1a, b: FNV1a) -> Bool { a.final == b.final }

    private mutating func push(_ b: UInt8) {
        tail |= UInt64(b) << (8 * UInt64(tailCount))
        tailCount += 1
        if tailCount == 8 { mix(tail); tail = 0; tailCount = 0 }
    }

    private mutating func mix(_ w: UInt64) { value = (value ^ w) &* 0x0000_0100_0000_01b3 }
}

/// Deterministic pseudo-random payload of `count` bytes.
public func testPayload(count: Int, seed: UInt64 = 7) -> [UInt8] {
    var rng = RandomStream(seed: seed)
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { raw in
        var i = 0
        while i + 8 <= count { raw.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self); i += 8 }
        var w = rng.next()
        while i < count { raw[i] = UInt8(truncatingIfNeeded: w); w >>= 8; i += 1 }
    }
    return out
}
