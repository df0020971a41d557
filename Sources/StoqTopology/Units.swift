import Foundation
import StoqEngine

/// Parsers for the unit-bearing numbers of topology files. The `checked…`
/// forms say what is wrong (malformed, or outside the documented range); the
/// `parse…` forms return nil instead. Ranges keep every later sum and product
/// of these values inside 64 bits (docs/topology-format.md, "Limits").
public enum Units {
    /// Longest duration a file may give: ten years. A run's times are sums of a
    /// few durations, so staying far below Int64's 292 years in nanoseconds
    /// means no sum of them can overflow.
    public static let maximumDuration = SimDuration(nanoseconds: 3650 * 86_400 * 1_000_000_000)
    /// Largest size: 1 PiB (2^50 bytes), exact in a Double and ×8 in bits still fits.
    public static let maximumBytes = 1 << 50
    /// Fastest link: 1 Pbps. Slowest: 1 bps (0 would never serialize a packet).
    public static let maximumBandwidth: UInt64 = 1_000_000_000_000_000

    public enum UnitError: Error, Equatable {
        /// Not a number with a known unit.
        case malformed
        /// A well-formed number outside the range; the text says the range.
        case outOfRange(String)
    }

    private static func split(_ text: String) -> (Double, String)? {
        let s = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        guard let idx = s.firstIndex(where: { !($0.isNumber || $0 == "." || $0 == "-" || $0 == "+") }) else {
            return Double(s).map { ($0, "") }
        }
        guard let v = Double(s[..<idx]) else { return nil }
        return (v, s[idx...].trimmingCharacters(in: .whitespaces).lowercased())
    }

    public static func checkedDuration(_ text: String) throws(UnitError) -> SimDuration {
        guard let (v, unit) = split(text), !v.isNaN else { throw .malformed }
        let scale: Double
        switch unit {
        case "ns": scale = 1
        case "us", "µs": scale = 1e3
        case "ms": scale = 1e6
        case "s", "sec": scale = 1e9
        case "m", "min": scale = 60e9
        case "h": scale = 3600e9
        case "d": scale = 86400e9
        default: throw .malformed
        }
        guard v >= 0 else { throw .outOfRange("a duration cannot be negative") }
        let ns = v * scale
        guard ns <= Double(maximumDuration.nanoseconds) else {
            throw .outOfRange("durations are at most \(maximumDuration) (3650d)")
        }
        return .nanoseconds(Int64(ns.rounded()))
    }

    public static func checkedBytes(_ text: String) throws(UnitError) -> Int {
        guard let (v, unit) = split(text), !v.isNaN else { throw .malformed }
        let scale: Double
        switch unit {
        case "", "b": scale = 1
        case "kb": scale = 1e3
        case "mb": scale = 1e6
        case "gb": scale = 1e9
        case "tb": scale = 1e12
        case "kib", "k": scale = 1024
        case "mib", "m": scale = 1024 * 1024
        case "gib", "g": scale = 1024 * 1024 * 1024
        case "tib", "t": scale = 1024 * 1024 * 1024 * 1024
        default: throw .malformed
        }
        guard v >= 0 else { throw .outOfRange("a size cannot be negative") }
        let bytes = v * scale
        guard bytes <= Double(maximumBytes) else { throw .outOfRange("sizes are at most 1PiB (2^50 bytes)") }
        return Int(bytes.rounded())
    }

    public static func checkedBandwidth(_ text: String) throws(UnitError) -> UInt64 {
        guard let (v, unit) = split(text), !v.isNaN else { throw .malformed }
        let scale: Double
        switch unit {
        case "bps": scale = 1
        case "kbps": scale = 1e3
        case "mbps": scale = 1e6
        case "gbps": scale = 1e9
        case "tbps": scale = 1e12
        default: throw .malformed
        }
        let bps = (v * scale).rounded()
        guard bps >= 1, bps <= Double(maximumBandwidth) else {
            throw .outOfRange("bandwidths lie between 1bps and 1000tbps")
        }
        return UInt64(bps)
    }

    public static func parseDuration(_ text: String) -> SimDuration? { try? checkedDuration(text) }
    public static func parseBytes(_ text: String) -> Int? { try? checkedBytes(text) }
    public static func parseBandwidth(_ text: String) -> UInt64? { try? checkedBandwidth(text) }

    public static func parseProbability(_ text: String) -> Double? {
        let s = text.trimmingCharacters(in: .whitespaces)
        let v: Double?
        if s.hasSuffix("%") { v = Double(s.dropLast()).map { $0 / 100 } } else { v = Double(s) }
        guard let p = v, (0...1).contains(p) else { return nil }
        return p
    }
}
