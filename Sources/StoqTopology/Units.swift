import Foundation
import StoqEngine

/// Parsers for the unit-bearing numbers of topology files. Each returns nil on
/// bad input; callers turn that into a located diagnostic.
public enum Units {
    private static func split(_ text: String) -> (Double, String)? {
        let s = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        guard let idx = s.firstIndex(where: { !($0.isNumber || $0 == "." || $0 == "-" || $0 == "+") }) else {
            return Double(s).map { ($0, "") }
        }
        guard let v = Double(s[..<idx]) else { return nil }
        return (v, s[idx...].trimmingCharacters(in: .whitespaces).lowercased())
    }

    public static func parseDuration(_ text: String) -> SimDuration? {
        guard let (v, unit) = split(text), v >= 0, v.isFinite else { return nil }
        let scale: Double
        switch unit {
        case "ns": scale = 1
        case "us", "µs": scale = 1e3
        case "ms": scale = 1e6
        case "s", "sec": scale = 1e9
        case "m", "min": scale = 60e9
        case "h": scale = 3600e9
        case "d": scale = 86400e9
        default: return nil
        }
        return .nanoseconds(Int64((v * scale).rounded()))
    }

    public static func parseBytes(_ text: String) -> Int? {
        guard let (v, unit) = split(text), v >= 0, v.isFinite else { return nil }
        let scale: Double
        switch unit {
        case "", "b": scale = 1
        case "kb": scale = 1e3
        case "mb": scale = 1e6
        case "gb": scale = 1e9
        case "kib", "k": scale = 1024
        case "mib", "m": scale = 1024 * 1024
        case "gib", "g": scale = 1024 * 1024 * 1024
        default: return nil
        }
        return Int((v * scale).rounded())
    }

    public static func parseBandwidth(_ text: String) -> UInt64? {
        guard let (v, unit) = split(text), v > 0, v.isFinite else { return nil }
        let scale: Double
        switch unit {
        case "bps": scale = 1
        case "kbps": scale = 1e3
        case "mbps": scale = 1e6
        case "gbps": scale = 1e9
        default: return nil
        }
        return UInt64((v * scale).rounded())
    }

    public static func parseProbability(_ text: String) -> Double? {
        let s = text.trimmingCharacters(in: .whitespaces)
        let v: Double?
        if s.hasSuffix("%") { v = Double(s.dropLast()).map { $0 / 100 } } else { v = Double(s) }
        guard let p = v, (0...1).contains(p) else { return nil }
        return p
    }
}
