#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One throughput measurement. Only the timed loop is measured; input data is
/// generated before the clock starts.
public struct ThroughputResult: Sendable, CustomStringConvertible {
    public var name: String
    public var bytes: Int
    public var wallSeconds: Double
    public var chunks: Int
    /// The run's own check held (chunks cover the input and respect min/max).
    public var verified: Bool

    /// Decimal megabytes (10^6 bytes) per second.
    public var megabytesPerSecond: Double { Double(bytes) / wallSeconds / 1e6 }

    public var description: String {
        let mbps = (megabytesPerSecond * 10).rounded() / 10
        let secs = (wallSeconds * 1000).rounded() / 1000
        let mib = bytes >> 20
        return "\(name): \(mib) MiB in \(secs)s = \(mbps) MB/s" + (chunks > 0 ? ", \(chunks) chunks" : "")
            + (verified ? "" : " (CHECK FAILED)")
    }
}

/// Chunking and hashing throughput on one core (`stoqsim bench dedup`).
public enum DedupBenchmarks {
    /// Seeded random input; build it once and pass it to the measurements.
    public static func makeData(bytes: Int = 256 << 20, seed: UInt64 = 1) -> [UInt8] {
        ContentGenerator.randomBytes(bytes, seed: seed)
    }

    /// FastCDC boundaries only.
    public static func chunking(_ data: [UInt8], parameters: ChunkerParameters = .default) -> ThroughputResult {
        let cdc = FastCDC(parameters)
        var boundaries: [ChunkBoundary] = []
        let wall = timed { boundaries = cdc.boundaries(data) }
        return ThroughputResult(name: "fastcdc \(sizesLabel(parameters))", bytes: data.count, wallSeconds: wall,
                                chunks: boundaries.count, verified: check(boundaries, data.count, parameters))
    }

    /// SHA-256 over the whole input in one pass.
    public static func sha256(_ data: [UInt8]) -> ThroughputResult {
        var digest = ChunkID(words: (0, 0, 0, 0))
        let wall = timed { digest = SHA256.hash(data) }
        return ThroughputResult(name: "sha256", bytes: data.count, wallSeconds: wall, chunks: 0,
                                verified: digest != ChunkID(words: (0, 0, 0, 0)))
    }

    /// Boundaries plus a SHA-256 per chunk: what publishing an object costs.
    public static func chunkAndHash(_ data: [UInt8], parameters: ChunkerParameters = .default) -> ThroughputResult {
        let cdc = FastCDC(parameters)
        var chunks: [Chunk] = []
        let wall = timed { chunks = cdc.chunks(data) }
        let boundaries = chunks.map { ChunkBoundary(offset: $0.offset, length: $0.length) }
        return ThroughputResult(name: "fastcdc+sha256 \(sizesLabel(parameters))", bytes: data.count, wallSeconds: wall,
                                chunks: chunks.count, verified: check(boundaries, data.count, parameters))
    }

    static func sizesLabel(_ p: ChunkerParameters) -> String {
        "\(ChunkerParameters.formatSize(p.minSize))/\(ChunkerParameters.formatSize(p.avgSize))/\(ChunkerParameters.formatSize(p.maxSize))"
            .filter { $0 != " " }
    }

    static func check(_ b: [ChunkBoundary], _ total: Int, _ p: ChunkerParameters) -> Bool {
        var offset = 0
        for (i, c) in b.enumerated() {
            guard c.offset == offset, c.length <= p.maxSize, c.length >= p.minSize || i == b.count - 1 else { return false }
            offset += c.length
        }
        return offset == total
    }

    /// Wall-clock seconds of `body` (CLOCK_MONOTONIC; benchmarks only).
    static func timed(_ body: () -> Void) -> Double {
        var a = timespec(), b = timespec()
        clock_gettime(CLOCK_MONOTONIC, &a)
        body()
        clock_gettime(CLOCK_MONOTONIC, &b)
        return Double(b.tv_sec - a.tv_sec) + Double(b.tv_nsec - a.tv_nsec) / 1e9
    }
}
