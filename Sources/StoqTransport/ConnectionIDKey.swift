import CStoq

/// A connection ID (at most 20 bytes) as a fixed-size hashable value, so the
/// per-packet table lookup allocates nothing.
struct ConnectionIDKey: Hashable {
    private var a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0

    init(_ bytes: UnsafePointer<UInt8>, count: Int) {
        let n = min(count, 20)
        withUnsafeMutableBytes(of: &self) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: bytes, count: n))
            raw[23] = UInt8(n)   // lengths differ → keys differ, even for zero bytes
        }
    }

    init(_ cid: ngtcp2_cid) {
        var copy = cid
        self = withUnsafeBytes(of: &copy.data) { raw in
            ConnectionIDKey(raw.bindMemory(to: UInt8.self).baseAddress!, count: cid.datalen)
        }
    }
}
