import Foundation
import StoqEngine
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
    /// CPU time of the measuring thread: on a shared, busy machine this is
    /// the fairer one-core figure (time spent descheduled is not counted).
    public var cpuSeconds: Double
    public var chunks: Int
    /// The run's own check held (chunks cover the input and respect min/max).
    public var verified: Bool

    /// Decimal megabytes (10^6 bytes) per second.
    public init(name: String, bytes: Int, wallSeconds: Double, cpuSeconds: Double, chunks: Int, verified: Bool) {
        self.name = name; self.bytes = bytes; self.wallSeconds = wallSeconds; self.cpuSeconds = cpuSeconds
        self.chunks = chunks; self.verified = verified
    }

    public var megabytesPerSecond: Double { Double(bytes) / wallSeconds / 1e6 }
    public var megabytesPerCPUSecond: Double { Double(bytes) / cpuSeconds / 1e6 }

    public var description: String {
        func r(_ x: Double, _ k: Double) -> Double { (x * k).rounded() / k }
        return "\(name): \(bytes >> 20) MiB in \(r(wallSeconds, 1000))s wall = \(r(megabytesPerSecond, 10)) MB/s, "
            + "\(r(cpuSeconds, 1000))s CPU = \(r(megabytesPerCPUSecond, 10)) MB/s" + (chunks > 0 ? ", \(chunks) chunks" : "")
            + (verified ? "" : " (CHECK FAILED)")
    }
}

/// Chunking and hashing throughput on one core (`stoqsim bench dedup`).
public enum DedupBenchmarks {
    /// Seeded random input; build it once and pass it to the measurements.
    public static func makeData(bytes: Int = 256 << 20, seed: UInt64 = 1) -> [UInt8] {
        ContentGenerator.randomBytes(bytes, seed: seed)
    }

    /// FastCDC boundaries only, on `threads` cores (CPU time is the measuring thread's, so for one thread only).
    public static func chunking(_ data: [UInt8], parameters: ChunkerParameters = .default, threads: Int = 1) -> ThroughputResult {
        let cdc = FastCDC(parameters)
        var boundaries: [ChunkBoundary] = []
        let (wall, cpu) = timed { boundaries = cdc.boundaries(data, threads: threads) }
        return ThroughputResult(name: "fastcdc \(sizesLabel(parameters))" + (threads > 1 ? ", \(threads) threads" : ", 1 thread"),
                                bytes: data.count, wallSeconds: wall, cpuSeconds: cpu,
                                chunks: boundaries.count, verified: check(boundaries, data.count, parameters))
    }

    /// SHA-256 over the whole input in one pass: swift-crypto's (what chunk
    /// ids use) or, with `portable`, this module's pure-Swift reference.
    public static func sha256(_ data: [UInt8], portable: Bool = false) -> ThroughputResult {
        var digest = ChunkID(words: (0, 0, 0, 0))
        let (wall, cpu) = timed { digest = portable ? SHA256.hash(data) : ChunkHash.sha256(data) }
        return ThroughputResult(name: portable ? "sha256 (portable Swift)" : "sha256 (swift-crypto)", bytes: data.count,
                                wallSeconds: wall, cpuSeconds: cpu, chunks: 0, verified: digest != ChunkID(words: (0, 0, 0, 0)))
    }

    /// Boundaries plus a SHA-256 per chunk: what publishing an object costs.
    public static func chunkAndHash(_ data: [UInt8], parameters: ChunkerParameters = .default, threads: Int = 1) -> ThroughputResult {
        let cdc = FastCDC(parameters)
        var chunks: [Chunk] = []
        let (wall, cpu) = timed { chunks = cdc.chunks(data, threads: threads) }
        let boundaries = chunks.map { ChunkBoundary(offset: $0.offset, length: $0.length) }
        return ThroughputResult(name: "fastcdc+sha256 \(sizesLabel(parameters))" + (threads > 1 ? ", \(threads) threads" : ", 1 thread"),
                                bytes: data.count, wallSeconds: wall, cpuSeconds: cpu,
                                chunks: chunks.count, verified: check(boundaries, data.count, parameters))
    }

    /// The whole `stoqsim chunk FILE --format json` process (this executable),
    /// output discarded: reading, chunking, hashing and writing together.
    public static func chunkCommand(file: String, bytes: Int, ids: Bool = true) throws -> ThroughputResult {
        // posix_spawn and a blocking waitpid: Foundation's Process noticed the
        // exit up to tens of milliseconds late, which counted as the command's time.
        let arguments = ["/proc/self/exe", "chunk", file, "--format", "json"] + (ids ? [] : ["--no-ids"])
        var actions = posix_spawn_file_actions_t()
        guard posix_spawn_file_actions_init(&actions) == 0 else { throw ChunkCommandError(message: "posix_spawn_file_actions_init failed") }
        defer { posix_spawn_file_actions_destroy(&actions) }
        guard posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0) == 0 else {
            throw ChunkCommandError(message: "cannot send the command's output to /dev/null")
        }
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        func childCPU() -> Double {
            var u = rusage()
            getrusage(RUSAGE_CHILDREN.rawValue, &u)
            return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
        }
        let w0 = MonotonicClock.nanoseconds(), c0 = childCPU()
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard rc == 0 else { throw ChunkCommandError(message: "cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        var waited: pid_t
        repeat { waited = waitpid(pid, &status, 0) } while waited < 0 && errno == EINTR
        guard waited == pid else { throw ChunkCommandError(message: "waitpid failed: \(String(cString: strerror(errno)))") }
        let wall = Double(MonotonicClock.nanoseconds() - w0) / 1e9
        return ThroughputResult(name: "stoqsim chunk --format json\(ids ? "" : " --no-ids") (whole process, all threads' CPU)", bytes: bytes, wallSeconds: wall,
                                cpuSeconds: childCPU() - c0, chunks: 0, verified: status == 0)
    }

    struct ChunkCommandError: Error, CustomStringConvertible { var message: String; var description: String { message } }

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

    /// Wall-clock seconds of `body` and the CPU seconds of every thread of the
    /// process meanwhile: a case that chunks or hashes on two threads is charged
    /// for both (the calling thread's clock alone showed such a case as cheap as
    /// its wall time). Benchmarks only read clocks.
    static func timed(_ body: () -> Void) -> (wall: Double, cpu: Double) {
        let w0 = MonotonicClock.nanoseconds(), c0 = CPUClock.processNanoseconds()
        body()
        return (Double(MonotonicClock.nanoseconds() - w0) / 1e9, Double(CPUClock.processNanoseconds() - c0) / 1e9)
    }
}
