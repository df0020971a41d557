import CStoqGear
import Dispatch
import Foundation
import StoqEngine

/// Sizes that drive FastCDC. Boundaries depend only on these and the content.
public struct ChunkerParameters: Hashable, Codable, Sendable, CustomStringConvertible {
    public var minSize: Int
    /// Target (normal) size; a power of two, because the masks are built from its log2.
    public var avgSize: Int
    public var maxSize: Int
    /// Normalized-chunking level: MaskS gets `avgBits + level` one-bits (cuts
    /// unlikely before the normal size), MaskL `avgBits - level` (cuts likely after).
    public var normalization: Int

    public static let smallestMin = 64
    public static let avgRange = 256...(256 << 20)
    public static let largestMax = 1 << 30
    public static let normalizationRange = 0...3

    public init(minSize: Int, avgSize: Int, maxSize: Int, normalization: Int = 2) throws {
        self.minSize = minSize; self.avgSize = avgSize; self.maxSize = maxSize; self.normalization = normalization
        try validate()
    }

    private init(unchecked min: Int, _ avg: Int, _ max: Int) {
        minSize = min; avgSize = avg; maxSize = max; normalization = 2
    }

    /// 2 KiB / 8 KiB / 64 KiB: fine-grained, more metadata, better dedup.
    public static let small = ChunkerParameters(unchecked: 2 << 10, 8 << 10, 64 << 10)
    /// 4 KiB / 64 KiB / 1 MiB: the STOQ design default.
    public static let `default` = ChunkerParameters(unchecked: 4 << 10, 64 << 10, 1 << 20)
    /// 64 KiB / 1 MiB / 8 MiB: large media objects.
    public static let large = ChunkerParameters(unchecked: 64 << 10, 1 << 20, 8 << 20)

    public static let presets: [(name: String, parameters: ChunkerParameters)] =
        [("small", .small), ("default", .default), ("large", .large)]

    public static func preset(named name: String) -> ChunkerParameters? {
        presets.first { $0.name == name }?.parameters
    }

    /// Throws a message naming the offending value and the allowed range.
    public func validate() throws {
        func fail(_ m: String) throws -> Never { throw ChunkerParameterError(message: m) }
        if minSize < Self.smallestMin { try fail("min size \(minSize) is below \(Self.smallestMin) bytes") }
        if avgSize <= 0 || avgSize & (avgSize - 1) != 0 {
            try fail("avg size \(avgSize) is not a power of two (the masks take its log2); try \(Self.nearestPowerOfTwo(avgSize))")
        }
        if !Self.avgRange.contains(avgSize) {
            try fail("avg size \(avgSize) is outside \(Self.avgRange.lowerBound)...\(Self.avgRange.upperBound) bytes")
        }
        if minSize > avgSize { try fail("min size \(minSize) is larger than avg size \(avgSize)") }
        if avgSize > maxSize { try fail("avg size \(avgSize) is larger than max size \(maxSize)") }
        if maxSize > Self.largestMax { try fail("max size \(maxSize) is above \(Self.largestMax) bytes") }
        if !Self.normalizationRange.contains(normalization) {
            try fail("normalization level \(normalization) is outside \(Self.normalizationRange)")
        }
    }

    static func nearestPowerOfTwo(_ n: Int) -> Int {
        guard n > 1 else { return 1 }
        let up = 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount)
        return up - n <= n - up / 2 ? up : up / 2
    }

    public var avgBits: Int { avgSize.trailingZeroBitCount }

    public var description: String {
        "min \(Self.formatSize(minSize)) / avg \(Self.formatSize(avgSize)) / max \(Self.formatSize(maxSize)), normalization \(normalization)"
    }

    static func formatSize(_ n: Int) -> String {
        if n >= 1 << 20, n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1 << 10, n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n) B"
    }
}

public struct ChunkerParameterError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { message }
}

/// Where one chunk lies in its object.
public struct ChunkBoundary: Hashable, Sendable {
    public var offset: Int
    public var length: Int
    public init(offset: Int, length: Int) { self.offset = offset; self.length = length }
}

/// A chunk's position and identity.
public struct Chunk: Hashable, Sendable {
    public var offset: Int
    public var length: Int
    public var id: ChunkID
    public init(offset: Int, length: Int, id: ChunkID) { self.offset = offset; self.length = length; self.id = id }
}

/// FastCDC (Xia et al., USENIX ATC 2016; TPDS 2020): a gear rolling hash
/// `h = (h << 1) + G[byte]`, no hashing below the minimum size (cut-point
/// skipping), a strict mask before the normal size and a loose one after
/// (normalized chunking), and two bytes per loop iteration (the 2020 paper's
/// "rolling two bytes"), which finds exactly the same cut points.
public struct FastCDC: Sendable {
    public let parameters: ChunkerParameters
    let maskS: UInt64
    let maskL: UInt64

    public init(_ parameters: ChunkerParameters = .default) {
        self.parameters = parameters
        let bits = parameters.avgBits
        maskS = Self.mask(oneBits: bits + parameters.normalization)
        maskL = Self.mask(oneBits: Swift.max(1, bits - parameters.normalization))
    }

    /// A mask with `n` one-bits spread evenly over bits 14...62. Bit k of the
    /// gear hash depends on the last k+1 bytes, so high, spread bits make every
    /// cut decision look at a ~50-byte window (the papers' reason for spreading
    /// them); bit 63 stays clear so the shifted mask of the two-byte loop keeps all bits.
    static func mask(oneBits n: Int) -> UInt64 {
        precondition(n >= 1 && n <= 49)
        if n == 1 { return 1 << 62 }
        var m: UInt64 = 0
        for k in 0..<n { m |= 1 << UInt64(62 - (k * 48) / (n - 1)) }
        return m
    }

    /// Length of the chunk that starts at `data`'s first byte. `data` must hold
    /// either at least `maxSize` bytes or everything up to the end of the object.
    @inlinable
    public func cutPoint(_ data: UnsafeRawBufferPointer) -> Int {
        guard let base = data.baseAddress else { return 0 }
        return cutPoint(base.assumingMemoryBound(to: UInt8.self), count: data.count)
    }

    /// Where the chunk of an object with `n` bytes left may end: before
    /// `normal` under MaskS, before `limit` under MaskL; nil when all `n`
    /// bytes are one chunk (no more than `minSize`).
    @inline(__always)
    func cutRange(remaining n: Int) -> (limit: Int, normal: Int)? {
        guard n > parameters.minSize else { return nil }
        let limit = Swift.min(n, parameters.maxSize)
        return (limit, Swift.min(limit, parameters.avgSize))
    }

    @usableFromInline
    func cutPoint(_ p: UnsafePointer<UInt8>, count n: Int) -> Int {
        guard case let (limit, normal)? = cutRange(remaining: n) else { return n }
        var h: UInt64 = 0
        var i = parameters.minSize
        let strict = scan(p, &i, normal, &h, maskS)
        if strict >= 0 { return strict }
        let loose = scan(p, &i, limit, &h, maskL)
        if loose >= 0 { return loose }
        return limit
    }

    /// Rolls the gear hash over bytes i..<end; returns the cut (the length of
    /// the chunk) at the first position whose hash has all `mask` bits zero,
    /// or -1 with `i` and `h` advanced to `end` for the next region.
    @inline(__always)
    private func scan(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ end: Int, _ h: inout UInt64, _ mask: UInt64) -> Int {
        let g = gearTable, gls = gearTable + 256
        let maskShifted = mask << 1
        var j = i, hash = h
        defer { i = j; h = hash }
        while j &+ 2 <= end {
            // After the first byte of the pair `hash` holds the true hash
            // shifted left once, so the shifted mask makes the same test.
            hash = stoq_gear_roll_two(hash, gls, p[j])
            if hash & maskShifted == 0 { return j &+ 1 }
            hash = hash &+ g[Int(p[j &+ 1])]
            if hash & mask == 0 { return j &+ 2 }
            j &+= 2
        }
        if j < end {
            hash = (hash << 1) &+ g[Int(p[j])]
            j &+= 1
            if hash & mask == 0 { return j }
        }
        return -1
    }

    /// All boundaries of a complete object. Objects of `parallelFromBytes` or
    /// more are chunked in segments on `threads` cores (see
    /// `SegmentedChunking`); the boundaries are the same whatever the thread count.
    public func boundaries(_ data: UnsafeRawBufferPointer, threads: Int = FastCDC.defaultThreads) -> [ChunkBoundary] {
        if threads > 1, data.count >= Self.parallelFromBytes, let base = data.baseAddress {
            return SegmentedChunking(self, base.assumingMemoryBound(to: UInt8.self), count: data.count, threads: threads).boundaries()
        }
        return serialBoundaries(data)
    }

    /// The chunk-by-chunk walk with `cutPoint`: the reference every faster path must match.
    func serialBoundaries(_ data: UnsafeRawBufferPointer) -> [ChunkBoundary] {
        var out: [ChunkBoundary] = []
        out.reserveCapacity(data.count / parameters.avgSize + 1)
        var offset = 0
        while offset < data.count {
            let len = cutPoint(UnsafeRawBufferPointer(rebasing: data[offset...]))
            out.append(ChunkBoundary(offset: offset, length: len))
            offset += len
        }
        return out
    }

    public func boundaries(_ bytes: [UInt8], threads: Int = FastCDC.defaultThreads) -> [ChunkBoundary] {
        bytes.withUnsafeBytes { boundaries($0, threads: threads) }
    }

    /// Boundaries with each chunk's id. `hash` defaults to the Swift SHA-256;
    /// a faster SHA-256 (e.g. GnuTLS's, from a module that links it) can be
    /// passed in. Large objects are chunked and hashed on `threads` cores;
    /// each id goes to its chunk's slot, so the result does not depend on them.
    public func chunks(_ data: UnsafeRawBufferPointer, hash: ChunkHasher = ChunkHash.sha256,
                       threads: Int = FastCDC.defaultThreads) -> [Chunk] {
        let b = boundaries(data, threads: threads)
        guard threads > 1, data.count >= Self.parallelFromBytes else {
            return b.map { Chunk(offset: $0.offset, length: $0.length, id: hash(UnsafeRawBufferPointer(rebasing: data[$0.offset..<($0.offset + $0.length)]))) }
        }
        var ids = [ChunkID](repeating: ChunkID(words: (0, 0, 0, 0)), count: b.count)
        ids.withUnsafeMutableBufferPointer { ids in
            // Each thread takes the next chunk, so a slowed core hashes fewer.
            let next = WorkCounter(b.count)
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                while let i = next.take() {
                    ids[i] = hash(UnsafeRawBufferPointer(rebasing: data[b[i].offset..<(b[i].offset + b[i].length)]))
                }
            }
        }
        return zip(b, ids).map { Chunk(offset: $0.offset, length: $0.length, id: $1) }
    }

    public func chunks(_ bytes: [UInt8], hash: ChunkHasher = ChunkHash.sha256, threads: Int = FastCDC.defaultThreads) -> [Chunk] {
        bytes.withUnsafeBytes { chunks($0, hash: hash, threads: threads) }
    }

    public static var defaultThreads: Int { ProcessInfo.processInfo.activeProcessorCount }
    /// Below this, threads cost more than they save.
    public static let parallelFromBytes = 4 << 20
}

/// FastCDC over several cores with exactly the sequential cut points.
///
/// Where a chunk ends depends only on where it starts and on the bytes after
/// that. The object is cut into segments, and each is chunked on its own
/// (threads take the next segment until none is left) from its first byte,
/// as if a chunk started there, until a chunk ends at or past the segment's
/// end. One pass then joins them: the true chunks run on from one segment
/// into the next, chunk by chunk, until one ends where a chunk of that
/// segment's list ends; from that shared end on both sequences are the same,
/// so the rest of the list is taken as it is. On most content the lists meet
/// within a chunk or two of a segment's start; where they never do (runs of
/// maximum-size chunks out of step), the pass chunks that segment itself —
/// same result, one core's speed. Every thread runs the one-chunk-at-a-time
/// loop (`cutPoint`), skipping each chunk's first `min` bytes as it does.
struct SegmentedChunking {
    let cdc: FastCDC
    let base: UnsafePointer<UInt8>
    let count: Int
    let threads: Int
    let segmentLength: Int

    /// `segmentLength` nil: several segments per thread (so a core the VM slows
    /// down takes fewer), at most 16 MiB unless that is under 8 normal-size
    /// chunks, the floor (a join re-chunks a chunk or two on one core).
    /// Tests pass small lengths.
    init(_ cdc: FastCDC, _ base: UnsafePointer<UInt8>, count: Int, threads: Int, segmentLength: Int? = nil) {
        self.cdc = cdc
        self.base = base
        self.count = count
        self.threads = threads
        self.segmentLength = Swift.max(1, segmentLength
            ?? Swift.max(Swift.min(count / (threads * 8), 16 << 20), 8 * cdc.parameters.avgSize))
    }

    func boundaries() -> [ChunkBoundary] {
        let segments = count / segmentLength + (count % segmentLength == 0 ? 0 : 1)
        var lists = [[Int]](repeating: [], count: segments)
        lists.withUnsafeMutableBufferPointer { lists in
            let next = WorkCounter(segments)
            DispatchQueue.concurrentPerform(iterations: Swift.min(threads, segments)) { _ in
                while let s = next.take() { lists[s] = chunkEnds(of: s) }
            }
        }
        var out: [ChunkBoundary] = []
        out.reserveCapacity(count / cdc.parameters.avgSize + 1)
        var at = 0   // where the last true chunk ends
        for list in lists {
            var k = 0
            while at < count {
                while k < list.count, list[k] < at { k += 1 }
                if k == list.count { break }   // the true chunks have run past this list
                if list[k] == at {
                    // A shared end: from here on the list is the true chunking.
                    for end in list[(k + 1)...] { out.append(ChunkBoundary(offset: at, length: end - at)); at = end }
                    break
                }
                let length = cdc.cutPoint(base + at, count: count - at)
                out.append(ChunkBoundary(offset: at, length: length))
                at += length
            }
        }
        return out
    }

    /// Segment `s`'s start and the ends of the chunks that follow from it,
    /// up to the first end at or past the segment's end.
    private func chunkEnds(of s: Int) -> [Int] {
        let start = s * segmentLength, end = Swift.min(start + segmentLength, count)
        var ends = [start]
        ends.reserveCapacity((end - start) / cdc.parameters.avgSize + 2)
        var at = start
        while at < end {
            at += cdc.cutPoint(base + at, count: count - at)
            ends.append(at)
        }
        return ends
    }
}

/// Computes a chunk id; must be SHA-256 for ids to match across nodes.
public typealias ChunkHasher = (UnsafeRawBufferPointer) -> ChunkID

/// The gear table G (256 values) followed by G << 1 (the two-byte loop's first
/// step), generated once from a fixed seed so every run and every node cuts the
/// same content at the same places. Never freed: it lives as long as the process.
let gearSeed: UInt64 = 0x5354_4f51_4344_4331  // "STOQCDC1"
let gearTable: UnsafePointer<UInt64> = {
    var rng = RandomStream(seed: gearSeed)
    let p = UnsafeMutablePointer<UInt64>.allocate(capacity: 512)
    for i in 0..<256 { p[i] = rng.next() }
    for i in 0..<256 { p[256 + i] = p[i] << 1 }
    return UnsafePointer(p)
}()

/// Hands out the work items 0..<count once each, to whichever thread asks
/// next: threads that run slower (a vCPU the hypervisor takes away) do fewer.
final class WorkCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    init(_ count: Int) { self.count = count }

    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}
