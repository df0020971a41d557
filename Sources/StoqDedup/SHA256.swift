/// SHA-256 (FIPS 180-4) in plain Swift. StoqDedup depends only on StoqEngine,
/// so it cannot reach GnuTLS through CStoq; this is the portable software
/// version, written over raw pointers so the optimiser drops bounds checks.
public struct SHA256: Sendable {
    private var h0: UInt32 = 0x6a09_e667, h1: UInt32 = 0xbb67_ae85, h2: UInt32 = 0x3c6e_f372, h3: UInt32 = 0xa54f_f53a
    private var h4: UInt32 = 0x510e_527f, h5: UInt32 = 0x9b05_688c, h6: UInt32 = 0x1f83_d9ab, h7: UInt32 = 0x5be0_cd19
    /// Bytes of an incomplete block carried between `update` calls.
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    public init() { pending.reserveCapacity(64) }

    /// One-shot digest.
    public static func hash(_ data: UnsafeRawBufferPointer) -> ChunkID {
        var s = SHA256()
        s.update(data)
        return s.finalize()
    }

    public static func hash(_ bytes: [UInt8]) -> ChunkID {
        bytes.withUnsafeBytes { hash($0) }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        guard var p = data.baseAddress, data.count > 0 else { return }
        var n = data.count
        length &+= UInt64(n)
        if !pending.isEmpty {
            let take = Swift.min(64 - pending.count, n)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: p, count: take))
            p += take; n -= take
            if pending.count < 64 { return }
            pending.withUnsafeBytes { compress($0.baseAddress!, blocks: 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let whole = n / 64
        if whole > 0 { compress(p, blocks: whole) }
        if n % 64 > 0 { pending.append(contentsOf: UnsafeRawBufferPointer(start: p + whole * 64, count: n % 64)) }
    }

    /// Pads, processes the last block(s) and returns the digest. The value is
    /// spent afterwards (start a new `SHA256` for another message).
    public mutating func finalize() -> ChunkID {
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        let bits = length &* 8
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        tail.withUnsafeBytes { compress($0.baseAddress!, blocks: tail.count / 64) }
        pending.removeAll()
        return ChunkID(words: (UInt64(h0) << 32 | UInt64(h1), UInt64(h2) << 32 | UInt64(h3),
                               UInt64(h4) << 32 | UInt64(h5), UInt64(h6) << 32 | UInt64(h7)))
    }


    private mutating func compress(_ base: UnsafeRawPointer, blocks: Int) {
        var a0 = h0, b0 = h1, c0 = h2, d0 = h3, e0 = h4, f0 = h5, g0 = h6, hh0 = h7
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            let k = sha256K
            var p = base
            for _ in 0..<blocks {
                for t in 0..<16 { w[t] = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self)) }
                for t in 16..<64 {
                    let x = w[t - 15], y = w[t - 2]
                    let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
                    let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
                    w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                }
                var a = a0, b = b0, c = c0, d = d0, e = e0, f = f0, g = g0, h = hh0
                var t = 0
                while t < 64 {
                    sha256Round(a, b, c, &d, e, f, g, &h, k[t] &+ w[t])
                    sha256Round(h, a, b, &c, d, e, f, &g, k[t + 1] &+ w[t + 1])
                    sha256Round(g, h, a, &b, c, d, e, &f, k[t + 2] &+ w[t + 2])
                    sha256Round(f, g, h, &a, b, c, d, &e, k[t + 3] &+ w[t + 3])
                    sha256Round(e, f, g, &h, a, b, c, &d, k[t + 4] &+ w[t + 4])
                    sha256Round(d, e, f, &g, h, a, b, &c, k[t + 5] &+ w[t + 5])
                    sha256Round(c, d, e, &f, g, h, a, &b, k[t + 6] &+ w[t + 6])
                    sha256Round(b, c, d, &e, f, g, h, &a, k[t + 7] &+ w[t + 7])
                    t += 8
                }
                a0 &+= a; b0 &+= b; c0 &+= c; d0 &+= d; e0 &+= e; f0 &+= f; g0 &+= g; hh0 &+= h
                p += 64
            }
        }
        h0 = a0; h1 = b0; h2 = c0; h3 = d0; h4 = e0; h5 = f0; h6 = g0; h7 = hh0
    }
}

@inline(__always) private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

/// One round with the eight working variables passed in rotated order, so
/// eight calls in a row stand for eight rounds without shuffling variables.
@inline(__always)
private func sha256Round(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
                          _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32, _ kw: UInt32) {
    let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
    let ch = (e & f) ^ (~e & g)
    let t1 = h &+ s1 &+ ch &+ kw
    let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
    let maj = (a & b) ^ (a & c) ^ (b & c)
    d &+= t1
    h = t1 &+ s0 &+ maj
}

/// Round constants in memory that lives for the whole process: an unsafe
/// pointer lets the rounds index them without bounds checks or retain/release.
private let sha256K: UnsafePointer<UInt32> = {
    let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]
    let p = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
    p.initialize(from: k, count: 64)
    return UnsafePointer(p)
}()
