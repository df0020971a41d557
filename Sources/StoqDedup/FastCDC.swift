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

    /// Whether one test on the bits MaskS and MaskL share is a good enough
    /// filter for the block scan: passed by one position in 128 or fewer.
    static func shareEnoughBits(_ maskS: UInt64, _ maskL: UInt64) -> Bool { (maskS & maskL).nonzeroBitCount >= 7 }
    var masksShareEnoughBits: Bool { Self.shareEnoughBits(maskS, maskL) }

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
            hash = (hash << 2) &+ gls[Int(p[j])]
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
    /// more are scanned for cut candidates in blocks on `threads` cores (see
    /// `CutCandidates`) — on one core too when the masks share enough bits
    /// for a one-test filter, where the scan's four independent hash chains
    /// outrun the chunk-by-chunk loop (with two tests a position, as for the
    /// small preset, they do not: 0.9–1.6 against 2.3–2.6 GB/s). The
    /// boundaries are the same whatever the path and thread count.
    public func boundaries(_ data: UnsafeRawBufferPointer, threads: Int = FastCDC.defaultThreads) -> [ChunkBoundary] {
        if data.count >= Self.parallelFromBytes, threads > 1 || masksShareEnoughBits, let base = data.baseAddress {
            return CutCandidates(self, base.assumingMemoryBound(to: UInt8.self), count: data.count, threads: threads).boundaries()
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
    /// From this size on objects take the block scan (`CutCandidates`); below
    /// it, its set-up and the threads cost more than they save.
    public static let parallelFromBytes = 4 << 20

    /// The first possible cut of the chunk starting at `p` that the gear hash
    /// decides from fewer than 64 rolled bytes (see `CutCandidates`): the
    /// cut, or -1 when none of those positions cuts.
    func cutInWarmUp(_ p: UnsafePointer<UInt8>, count n: Int) -> Int {
        guard case let (limit, normal)? = cutRange(remaining: n) else { return n }
        let minSize = parameters.minSize
        var h: UInt64 = 0
        for i in minSize..<Swift.min(minSize + CutCandidates.window - 1, limit) {
            h = (h << 1) &+ gearTable[Int(p[i])]
            if h & (i < normal ? maskS : maskL) == 0 { return i + 1 }
        }
        return -1
    }
}

/// Decides cheaply whether a gear hash (shifted left `doubled` bits) may pass
/// MaskS or MaskL: every hash that does passes `first` or `second` (a hash
/// that passes both is noted twice, and counted once). Both are rarely passed,
/// and the scan branches on each on its own: one
/// rarely taken branch is a test and a jump, where `first || second` compiled
/// to flag arithmetic on every byte (the small preset ran at half speed).
protocol CandidateFilter {
    func first(_ h: UInt64, doubled: UInt64) -> Bool
    func second(_ h: UInt64, doubled: UInt64) -> Bool
}

/// One test on the bits both masks share: passed by about one position in
/// 2^(shared bits), so it only pays when they share enough.
struct SharedBitsFilter: CandidateFilter {
    let shared: UInt64
    @inline(__always) func first(_ h: UInt64, doubled: UInt64) -> Bool { h & (shared << doubled) == 0 }
    @inline(__always) func second(_ h: UInt64, doubled: UInt64) -> Bool { false }
}

/// Each mask tested: exact, two tests a position.
struct EitherMaskFilter: CandidateFilter {
    let maskS: UInt64, maskL: UInt64
    @inline(__always) func first(_ h: UInt64, doubled: UInt64) -> Bool { h & (maskS << doubled) == 0 }
    @inline(__always) func second(_ h: UInt64, doubled: UInt64) -> Bool { h & (maskL << doubled) == 0 }
}

/// FastCDC over several cores with exactly the sequential cut points.
///
/// Bit k of the gear hash depends only on the last k + 1 bytes, so once a
/// chunk has rolled 64 bytes its hash at any position is the hash of the 64
/// bytes ending there, whatever the chunk's start. The object is therefore
/// scanned in blocks, on as many threads as asked, for every position whose
/// 64-byte hash passes the strict or the loose mask (a few per chunk), and one
/// pass then walks the chunks: the first 63 positions after each chunk's
/// minimum size are rolled exactly, the rest read off the candidates (strict
/// before the normal size, loose after, the maximum size otherwise), as
/// `cutPoint` would.
struct CutCandidates {
    static let window = 64
    static let strict: UInt64 = 1, loose: UInt64 = 2
    /// Each block is rolled as four chains of this many bytes (see
    /// `Scanner.rollFourChains`); a constant, so the chains' bytes are
    /// addressed from one pointer and the loop keeps everything in registers.
    static let chainLength = 64 << 10
    static let blockLength = 4 * chainLength

    let cdc: FastCDC
    let base: UnsafePointer<UInt8>
    let count: Int
    /// Positions p (the chunk would end after byte p) shifted left 2, with the masks they pass.
    private var candidates: [UInt64] = []

    init(_ cdc: FastCDC, _ base: UnsafePointer<UInt8>, count: Int, threads: Int) {
        self.cdc = cdc
        self.base = base
        self.count = count
        let scanner = Scanner(maskS: cdc.maskS, maskL: cdc.maskL)
        let blocks = (count + Self.blockLength - 1) / Self.blockLength
        var found = [[UInt64]](repeating: [], count: blocks)
        found.withUnsafeMutableBufferPointer { found in
            if threads == 1 {
                for b in 0..<blocks { found[b] = scanner.scan(base, count: count, block: b) }
                return
            }
            // Threads take the next unscanned block until none is left: with
            // many more blocks than threads, a core the VM slows down scans
            // fewer of them instead of holding up the others.
            let next = WorkCounter(blocks)
            DispatchQueue.concurrentPerform(iterations: Swift.min(threads, blocks)) { _ in
                while let b = next.take() { found[b] = scanner.scan(base, count: count, block: b) }
            }
        }
        candidates = found.flatMap { $0 }
    }

    /// Finds the candidates of one block.
    struct Scanner {
        let maskS: UInt64, maskL: UInt64

        /// Every position of block `b` whose 64-byte gear hash passes either
        /// mask, in order. When the masks share enough bits, one rarely passed
        /// test on those guards the exact check; otherwise each mask is tested.
        func scan(_ p: UnsafePointer<UInt8>, count: Int, block b: Int) -> [UInt64] {
            let start = b * blockLength
            let shared = maskS & maskL
            var out: [UInt64] = []
            if start + blockLength > count {
                rollOneChain(p, start..<count, &out)
            } else if FastCDC.shareEnoughBits(maskS, maskL) {
                rollBlock(p, start, SharedBitsFilter(shared: shared), &out)
            } else {
                rollBlock(p, start, EitherMaskFilter(maskS: maskS, maskL: maskL), &out)
            }
            return out
        }

        /// A full block: its four quarters are rolled at once (`rollFourChains`)
        /// in stretches that end when the notes buffer fills; the noted
        /// positions are then checked against the masks.
        private func rollBlock<Filter: CandidateFilter>(_ p: UnsafePointer<UInt8>, _ start: Int, _ filter: Filter, _ out: inout [UInt64]) {
            let q = chainLength
            var chains = FourChains(h0: windowHash(p, before: start), h1: windowHash(p, before: start + q),
                                    h2: windowHash(p, before: start + 2 * q), h3: windowHash(p, before: start + 3 * q), step: 0)
            let capacity = 256
            let notes = UnsafeMutablePointer<Note>.allocate(capacity: capacity)
            defer { notes.deallocate() }
            while chains.step < q {
                let n = Self.rollFourChains(p + start, &chains, filter, notes: notes, capacity: capacity)
                // A position that passed both tests was noted twice, one note after the other.
                for i in 0..<n where i == 0 || notes[i].offset != notes[i - 1].offset {
                    record(notes[i].hash, at: start + notes[i].offset, &out)
                }
            }
            // The chains note out of order; a block holds a few candidates per chunk.
            out.sort()
        }

        struct FourChains { var h0, h1, h2, h3: UInt64; var step: Int }
        /// A hash that passed the filter and its offset in the block.
        struct Note { var hash: UInt64; var offset: Int }

        /// Rolls the block's four quarters at once from `chains.step` until they
        /// end or `notes` could overflow; returns how many notes it wrote.
        /// Two bytes a step as in `FastCDC.scan`: one gear chain is a run of
        /// dependent adds, four independent ones keep the core's ALUs and load
        /// ports busy, and the two-byte step saves a shift per pair. The loop
        /// makes no calls (a passing hash is only noted) and lives in a
        /// function of its own, so the compiler keeps hashes, tables and
        /// masks in registers instead of reloading them on every step.
        @inline(never)
        private static func rollFourChains<Filter: CandidateFilter>(_ s: UnsafePointer<UInt8>, _ chains: inout FourChains, _ filter: Filter,
                                                                     notes: UnsafeMutablePointer<Note>, capacity: Int) -> Int {
            let q = chainLength
            let g = gearTable, gls = gearTable + 256
            var h0 = chains.h0, h1 = chains.h1, h2 = chains.h2, h3 = chains.h3
            var k = chains.step, n = 0
            // Notes position `offset` if its hash (shifted left `doubled`) may pass.
            @inline(__always) func check(_ h: UInt64, _ doubled: UInt64, _ offset: Int) {
                if _slowPath(filter.first(h, doubled: doubled)) { notes[n] = Note(hash: h >> doubled, offset: offset); n &+= 1 }
                if _slowPath(filter.second(h, doubled: doubled)) { notes[n] = Note(hash: h >> doubled, offset: offset); n &+= 1 }
            }
            // A step notes at most 8 positions, twice each.
            while k < q && n <= capacity - 16 {
                // After the pair's first byte each hash is the true one shifted left once.
                h0 = (h0 << 2) &+ gls[Int(s[k])]
                h1 = (h1 << 2) &+ gls[Int(s[k &+ q])]
                h2 = (h2 << 2) &+ gls[Int(s[k &+ 2 &* q])]
                h3 = (h3 << 2) &+ gls[Int(s[k &+ 3 &* q])]
                check(h0, 1, k)
                check(h1, 1, q &+ k)
                check(h2, 1, 2 &* q &+ k)
                check(h3, 1, 3 &* q &+ k)
                h0 = h0 &+ g[Int(s[k &+ 1])]
                h1 = h1 &+ g[Int(s[k &+ q &+ 1])]
                h2 = h2 &+ g[Int(s[k &+ 2 &* q &+ 1])]
                h3 = h3 &+ g[Int(s[k &+ 3 &* q &+ 1])]
                check(h0, 0, k &+ 1)
                check(h1, 0, q &+ k &+ 1)
                check(h2, 0, 2 &* q &+ k &+ 1)
                check(h3, 0, 3 &* q &+ k &+ 1)
                k &+= 2
            }
            chains = FourChains(h0: h0, h1: h1, h2: h2, h3: h3, step: k)
            return n
        }

        /// The object's last, short block: one byte at a time.
        private func rollOneChain(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, _ out: inout [UInt64]) {
            var h = windowHash(p, before: range.lowerBound)
            for i in range {
                h = (h << 1) &+ gearTable[Int(p[i])]
                record(h, at: i, &out)
            }
        }

        /// The gear hash of the (up to) 63 bytes before `position`: rolling on from
        /// it gives every later position its 64-byte hash.
        private func windowHash(_ p: UnsafePointer<UInt8>, before position: Int) -> UInt64 {
            var h: UInt64 = 0
            for i in Swift.max(0, position - window + 1)..<position { h = (h << 1) &+ gearTable[Int(p[i])] }
            return h
        }

        /// Keeps position `position` if its (true, 64-byte) hash `h` passes either mask.
        @inline(never)
        private func record(_ h: UInt64, at position: Int, _ out: inout [UInt64]) {
            let s = h & maskS == 0, l = h & maskL == 0
            if s || l { out.append(UInt64(position) << 2 | (s ? strict : 0) | (l ? loose : 0)) }
        }
    }

    func boundaries() -> [ChunkBoundary] {
        let p = cdc.parameters
        var out: [ChunkBoundary] = []
        out.reserveCapacity(count / p.avgSize + 1)
        var next = 0   // first candidate not behind the current chunk
        var start = 0
        while start < count {
            var len = cdc.cutInWarmUp(base + start, count: count - start)
            if len < 0, case let (limit, normal)? = cdc.cutRange(remaining: count - start) {
                let first = start + p.minSize + Self.window - 1
                while next < candidates.count, Int(candidates[next] >> 2) < first { next += 1 }
                len = limit
                var k = next
                while k < candidates.count {
                    let at = Int(candidates[k] >> 2) - start
                    if at >= limit { break }
                    if candidates[k] & (at < normal ? Self.strict : Self.loose) != 0 { len = at + 1; break }
                    k += 1
                }
            }
            out.append(ChunkBoundary(offset: start, length: len))
            start += len
        }
        return out
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
