#if canImport(Glibc)
import Glibc
#endif
import CStoq
import StoqEngine
import StoqTransport

/// One benchmark figure.
public struct TransportBenchmarkResult: Sendable, CustomStringConvertible {
    public var name: String
    public var value: Double
    public var unit: String
    /// Thread CPU seconds the measured part took.
    public var cpuSeconds: Double
    /// Whatever the benchmark checked about its own run (e.g. all bytes arrived).
    public var verified: Bool
    public var detail: String

    public var description: String {
        let v = value >= 1000 ? String(Int(value.rounded()))
            : value >= 100 ? String((value * 10).rounded() / 10) : String((value * 100).rounded() / 100)
        return "\(name): \(v) \(unit) (\((cpuSeconds * 1000).rounded() / 1000) s CPU\(detail.isEmpty ? "" : ", \(detail)"))\(verified ? "" : " [CHECK FAILED]")"
    }
}

/// Transport benchmarks: both ends in one process, no sockets, driven by
/// `EndpointPair` on a virtual clock, so the thread CPU time measured is spent
/// in ngtcp2, GnuTLS, StoqTransport and the path every `sim` run takes
/// (`EndpointDriver`, `Network`'s sockets, payload slab and link). Run them
/// from a release build (`stoqsim bench transport`); they are not tests and
/// assert nothing.
public enum TransportBenchmarks {
    /// Benchmarks count only what the transport must do: no qlog loss counting.
    static var configuration: TransportConfiguration {
        var c = TransportConfiguration()
        c.countLostPackets = false
        return c
    }

    static func makePair(seed: UInt64, oneWayDelay: SimDuration = .milliseconds(1),
                         configuration: TransportConfiguration = TransportBenchmarks.configuration,
                         algorithm: CertificateKeyAlgorithm = .ed25519) throws -> EndpointPair {
        let ca = try RunCertificateAuthority(commonName: "Bench Root", algorithm: algorithm)
        let bundle = try ca.issueLeaf(names: [.dns("localhost")], algorithm: algorithm)
        return try EndpointPair(seed: seed, oneWayDelay: oneWayDelay, configuration: configuration,
                                clientTLS: ClientTLSConfiguration(verification: .verify(trustAnchors: try .client(trustAnchorsPEM: ca.rootCertificatePEM))),
                                serverTLS: ServerTLSConfiguration(credentials: try .server(bundle)))
    }

    /// Full QUIC + TLS 1.3 handshakes (Ed25519 chain verified, X25519) per CPU second
    /// (client and server both on this thread). Closing each
    /// connection afterwards is not timed.
    public static func handshakes(count: Int = 2000, seed: UInt64 = 1,
                                  algorithm: CertificateKeyAlgorithm = .ed25519) throws -> TransportBenchmarkResult {
        let pair = try makePair(seed: seed, algorithm: algorithm)
        var accepted: QuicConnection?
        pair.server.onNewConnection = { accepted = $0 }
        var timed: Int64 = 0
        var completed = 0
        for _ in 0..<count {
            accepted = nil
            // This thread's CPU time (both ends run on it), not wall time: it
            // stays meaningful on a machine shared with other work. Likewise below.
            let start = CPUClock.threadNanoseconds()
            let c = try pair.connect()
            pair.run(until: { (c.isHandshakeComplete && accepted?.isHandshakeComplete == true) || c.isClosed })
            timed += CPUClock.threadNanoseconds() - start
            if c.isHandshakeComplete && accepted?.isHandshakeComplete == true { completed += 1 }
            c.close()
            pair.run(until: { accepted?.isClosed ?? true })
        }
        let seconds = Double(timed) / 1e9
        return TransportBenchmarkResult(name: "handshakes (\(algorithm == .ed25519 ? "Ed25519" : "ECDSA P-256"))", value: Double(completed) / seconds, unit: "handshakes/s",
                                        cpuSeconds: seconds, verified: completed == count,
                                        detail: "\(completed) of \(count), root → leaf chain verified, X25519")
    }

    /// Bulk goodput of one stream: `totalBytes` written in 1 MiB pieces (at most
    /// 32 MiB queued), read and dropped by the receiver, at 1 ms one-way delay.
    /// `countingLostPackets`: with the qlog-based loss counting of the
    /// `count-lost-packets` knob, to show what that knob costs.
    public static func bulkGoodput(totalBytes: Int = 1 << 30, seed: UInt64 = 1,
                                   countingLostPackets: Bool = false) throws -> TransportBenchmarkResult {
        var configuration = Self.configuration
        configuration.countLostPackets = countingLostPackets
        let pair = try makePair(seed: seed, configuration: configuration)
        var accepted: QuicConnection?
        pair.server.onNewConnection = { accepted = $0 }
        let c = try pair.connect()
        guard pair.run(until: { c.isHandshakeComplete && accepted?.isHandshakeComplete == true }), let s = accepted else {
            return TransportBenchmarkResult(name: "bulk goodput", value: 0, unit: "MB/s", cpuSeconds: 0, verified: false, detail: "handshake failed")
        }
        let reader = DiscardingReader(s)
        let piece = [UInt8](repeating: 0xa5, count: 1 << 20)
        let id = try c.openStream(bidirectional: false)
        var written = 0
        let start = CPUClock.threadNanoseconds()
        while !reader.finished {
            while written < totalBytes && written - reader.received < 32 << 20 {
                let n = min(piece.count, totalBytes - written)
                try c.write(stream: id, piece.prefix(n), fin: written + n == totalBytes)
                written += n
            }
            if !pair.step() || c.isClosed { break }
        }
        let seconds = Double(CPUClock.threadNanoseconds() - start) / 1e9
        let m = c.metrics
        return TransportBenchmarkResult(name: "bulk goodput" + (countingLostPackets ? " (counting lost packets)" : ""),
                                        value: Double(reader.received) / seconds / 1e6, unit: "MB/s",
                                        cpuSeconds: seconds, verified: reader.finished && reader.received == totalBytes,
                                        detail: "\(reader.received >> 20) MiB, \(m.datagramsSent) datagrams, \(m.bytesSent / max(1, m.datagramsSent)) B each")
    }

    /// Heap bytes per established client+server connection pair: glibc's
    /// allocated-bytes count (mallinfo2) before and after establishing `pairs`
    /// connections, divided by `pairs`. One shared credentials object and endpoint pair.
    public static func memoryPerConnectionPair(pairs: Int = 1000, seed: UInt64 = 1) throws -> TransportBenchmarkResult {
        let pair = try makePair(seed: seed)
        var accepted: [QuicConnection] = []
        // Events are consumed, as a running application does (unread ones would be kept).
        pair.server.onNewConnection = { $0.onEvent = { _ in }; accepted.append($0) }
        var clients: [QuicConnection] = []
        // Opened in batches that handshake together: one by one, ngtcp2's pacing
        // (~25 ms of virtual time per handshake) would carry the first pairs
        // past the idle timeout before the last were up.
        let batchSize = 100
        func openBatch(_ n: Int) throws -> [QuicConnection] {
            let batch = try (0..<n).map { _ in
                let c = try pair.connect()
                c.onEvent = { _ in }
                return c
            }
            let accepting = accepted.count + n
            pair.run(until: {
                batch.allSatisfy { $0.isHandshakeComplete || $0.isClosed }
                    && accepted.count == accepting && accepted.suffix(n).allSatisfy { $0.isHandshakeComplete }
            })
            return batch
        }
        // One uncounted warm-up batch, so the network's payload slab and the
        // shared state have grown to a batch's needs before measuring.
        let warmUp = try openBatch(batchSize)
        clients.reserveCapacity(pairs)
        accepted.reserveCapacity(pairs + batchSize)
        pair.run(for: .seconds(1))
        let before = heapInUse()
        let start = CPUClock.threadNanoseconds()
        while clients.count < pairs { clients += try openBatch(min(batchSize, pairs - clients.count)) }
        // Let ACKs and HANDSHAKE_DONE settle, as in a long-lived connection.
        pair.run(for: .milliseconds(500))
        let after = heapInUse()
        let established = clients.filter { $0.isHandshakeComplete && !$0.isClosed }.count
        withExtendedLifetime(warmUp) {}
        let perPair = Double(after - before) / Double(pairs)
        return TransportBenchmarkResult(name: "memory per connection pair", value: perPair / 1024, unit: "KiB",
                                        cpuSeconds: Double(CPUClock.threadNanoseconds() - start) / 1e9,
                                        verified: established == pairs,
                                        detail: "\(pairs) pairs, \((after - before) >> 10) KiB heap (mallinfo2), \(established) established after \(pair.now) of virtual time")
    }

    /// glibc's allocated heap bytes (mallinfo2): memory benchmarks and leak tests.
    public static func heapInUse() -> Int {
        Int(cstoq_heap_bytes_in_use())
    }
}

/// A bulk receiver: counts and drops what arrives on a connection's streams
/// (returning flow-control credit), as a sink that only counts would.
public final class DiscardingReader {
    public private(set) var received = 0
    /// A stream's last byte arrived.
    public private(set) var finished = false

    public init(_ connection: QuicConnection) {
        connection.onEvent = { [unowned self, unowned connection] event in
            if case let .streamReadable(id) = event {
                let (n, fin) = connection.discard(stream: id)
                self.received += n
                if fin { self.finished = true }
            }
        }
    }
}
