/// An IPv6 address (128 bits, network byte order split into two halves).
/// STOQ is IPv6-only: parsing refuses IPv4 and IPv4-mapped addresses.
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case ipv4(String)
        case ipv4Mapped(String)
        case malformed(String)

        public var description: String {
            switch self {
            case .ipv4(let s): return "'\(s)' is an IPv4 address; STOQ is IPv6-only"
            case .ipv4Mapped(let s): return "'\(s)' is an IPv4-mapped address; STOQ is IPv6-only"
            case .malformed(let s): return "'\(s)' is not a valid IPv6 address"
            }
        }
    }

    /// Parses RFC 4291 text form (with `::` compression, optional brackets).
    public static func parse(_ text: String) throws -> IPv6Address {
        var s = Substring(text)
        if s.hasPrefix("["), s.hasSuffix("]") { s = s.dropFirst().dropLast() }
        if !s.contains(":") {
            if s.split(separator: ".").count == 4 { throw ParseError.ipv4(text) }
            throw ParseError.malformed(text)
        }
        if s.contains(".") {
            // Dotted-quad tails are how IPv4-mapped/-compatible addresses are written.
            throw ParseError.ipv4Mapped(text)
        }
        let halves = Self.splitAtDoubleColons(s)
        guard halves.count <= 2 else { throw ParseError.malformed(text) }
        func groups(_ part: String) throws -> [UInt16] {
            if part.isEmpty { return [] }
            return try part.split(separator: ":", omittingEmptySubsequences: false).map { g in
                guard (1...4).contains(g.count), let v = UInt16(g, radix: 16) else { throw ParseError.malformed(text) }
                return v
            }
        }
        let head = try groups(halves[0])
        let tail = halves.count == 2 ? try groups(halves[1]) : []
        var all: [UInt16]
        if halves.count == 2 {
            guard head.count + tail.count <= 7 else { throw ParseError.malformed(text) }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { throw ParseError.malformed(text) }
            all = head
        }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<4 { hi = (hi << 16) | UInt64(all[i]) }
        for i in 4..<8 { lo = (lo << 16) | UInt64(all[i]) }
        let address = IPv6Address(high: hi, low: lo)
        if address.isIPv4Mapped { throw ParseError.ipv4Mapped(text) }
        return address
    }

    /// `s` cut at every "::" (no Foundation here for `components(separatedBy:)`).
    private static func splitAtDoubleColons(_ s: Substring) -> [String] {
        var parts: [String] = []
        var current = ""
        var i = s.startIndex
        while i < s.endIndex {
            let next = s.index(after: i)
            if s[i] == ":", next < s.endIndex, s[next] == ":" {
                parts.append(current)
                current = ""
                i = s.index(after: next)
            } else {
                current.append(s[i])
                i = next
            }
        }
        parts.append(current)
        return parts
    }

    /// `::ffff:a.b.c.d`
    public var isIPv4Mapped: Bool { high == 0 && (low >> 32) == 0xffff }

    /// What makes this address unusable as a node's own unicast address, or
    /// nil when it is usable: kernels refuse to assign or route the others.
    public var reservedUse: String? {
        if high == 0, low == 0 { return "the unspecified address (::)" }
        if high == 0, low == 1 { return "the loopback address (::1)" }
        if high >> 56 == 0xff { return "a multicast address (ff00::/8)" }
        if high >> 54 == 0x3fa { return "a link-local address (fe80::/10)" }
        if isIPv4Mapped { return "an IPv4-mapped address" }
        return nil
    }

    /// The eight 16-bit groups.
    public var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64($0))) } +
            (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64($0))) }
    }

    /// The 16 bytes in network order (for sockets and pcap framing).
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) } +
            (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }

    /// RFC 5952 canonical text: lowercase, the longest run (≥2) of zero groups as `::`.
    public var description: String {
        let g = groups
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(g[...]) }
        return hex(g[..<bestStart]) + "::" + hex(g[(bestStart + bestLen)...])
    }

    public static func < (a: IPv6Address, b: IPv6Address) -> Bool { (a.high, a.low) < (b.high, b.low) }
}

/// An IPv6 prefix such as `fd00:5354:4f51::/48`.
public struct IPv6Prefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv6Address
    public var length: Int

    /// Masks host bits off `address`.
    public init(address: IPv6Address, length: Int) {
        precondition((0...128).contains(length))
        self.length = length
        let (mh, ml) = IPv6Prefix.mask(length)
        self.address = IPv6Address(high: address.high & mh, low: address.low & ml)
    }

    public static func parse(_ text: String) throws -> IPv6Prefix {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let len = Int(parts[1]), (0...128).contains(len) else {
            throw IPv6Address.ParseError.malformed(text)
        }
        return IPv6Prefix(address: try IPv6Address.parse(String(parts[0])), length: len)
    }

    private static func mask(_ length: Int) -> (UInt64, UInt64) {
        let mh: UInt64 = length >= 64 ? ~0 : (length == 0 ? 0 : ~0 << UInt64(64 - length))
        let ml: UInt64 = length <= 64 ? 0 : (length >= 128 ? ~0 : ~0 << UInt64(128 - length))
        return (mh, ml)
    }

    public func contains(_ a: IPv6Address) -> Bool {
        let (mh, ml) = IPv6Prefix.mask(length)
        return a.high & mh == address.high && a.low & ml == address.low
    }

    /// The `index`-th subprefix of length `newLength` (e.g. a site's /48 inside a /40).
    public func subprefix(_ index: UInt64, length newLength: Int) -> IPv6Prefix {
        precondition(newLength >= length && newLength <= 64, "subprefixes are carved from the upper 64 bits")
        let shift = UInt64(64 - newLength)
        return IPv6Prefix(address: IPv6Address(high: address.high | (index << shift), low: 0), length: newLength)
    }

    /// The host with interface identifier `hostIndex` inside this prefix (≤ /64).
    public func host(_ hostIndex: UInt64) -> IPv6Address {
        IPv6Address(high: address.high, low: address.low | hostIndex)
    }

    public var description: String { "\(address)/\(length)" }
}
