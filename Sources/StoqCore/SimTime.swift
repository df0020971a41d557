/// A span of simulated (or wall-clock) time in integer nanoseconds.
/// Kept apart from `SimTime` so an instant and a duration cannot be mixed up.
public struct SimDuration: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = SimDuration(nanoseconds: 0)

    public static func nanoseconds(_ n: Int64) -> SimDuration { SimDuration(nanoseconds: n) }
    public static func microseconds(_ n: Int64) -> SimDuration { SimDuration(nanoseconds: n * 1_000) }
    public static func milliseconds(_ n: Int64) -> SimDuration { SimDuration(nanoseconds: n * 1_000_000) }
    public static func seconds(_ n: Int64) -> SimDuration { SimDuration(nanoseconds: n * 1_000_000_000) }
    /// Lets `.seconds(1)` compile: with only the Int64 and Double overloads an
    /// integer literal is ambiguous between them.
    public static func seconds(_ n: Int) -> SimDuration { seconds(Int64(n)) }
    /// Rounds to the nearest nanosecond.
    public static func seconds(_ s: Double) -> SimDuration { SimDuration(nanoseconds: Int64((s * 1e9).rounded())) }

    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public var milliseconds: Double { Double(nanoseconds) / 1e6 }
    public var microseconds: Double { Double(nanoseconds) / 1e3 }

    public static func < (a: SimDuration, b: SimDuration) -> Bool { a.nanoseconds < b.nanoseconds }
    public static func + (a: SimDuration, b: SimDuration) -> SimDuration { SimDuration(nanoseconds: a.nanoseconds + b.nanoseconds) }
    public static func - (a: SimDuration, b: SimDuration) -> SimDuration { SimDuration(nanoseconds: a.nanoseconds - b.nanoseconds) }
    public static func * (a: SimDuration, k: Int64) -> SimDuration { SimDuration(nanoseconds: a.nanoseconds * k) }
    public static func += (a: inout SimDuration, b: SimDuration) { a.nanoseconds += b.nanoseconds }

    /// Human-readable with a unit chosen by magnitude: "850ns", "12.5µs", "3.2ms", "1.5s".
    public var description: String {
        let n = nanoseconds, m = n.magnitude  // abs(Int64.min) would trap
        if m < 1_000 { return "\(n)ns" }
        if m < 1_000_000 { return Self.trim(Double(n) / 1e3) + "µs" }
        if m < 1_000_000_000 { return Self.trim(Double(n) / 1e6) + "ms" }
        return Self.trim(Double(n) / 1e9) + "s"
    }

    private static func trim(_ v: Double) -> String {
        let rounded = (v * 1000).rounded() / 1000
        if rounded == rounded.rounded() { return String(Int64(rounded)) }
        return String(rounded)
    }
}

/// An instant on the simulation clock: nanoseconds since the run started.
public struct SimTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanosecondsSinceStart: Int64

    public init(nanosecondsSinceStart: Int64) { self.nanosecondsSinceStart = nanosecondsSinceStart }

    public static let zero = SimTime(nanosecondsSinceStart: 0)
    /// Later than any event a run can schedule.
    public static let distantFuture = SimTime(nanosecondsSinceStart: Int64.max)

    public static func < (a: SimTime, b: SimTime) -> Bool { a.nanosecondsSinceStart < b.nanosecondsSinceStart }
    public static func + (t: SimTime, d: SimDuration) -> SimTime {
        // Saturate so "now + a huge timeout" never wraps into the past.
        let (sum, overflow) = t.nanosecondsSinceStart.addingReportingOverflow(d.nanoseconds)
        return SimTime(nanosecondsSinceStart: overflow ? (d.nanoseconds > 0 ? Int64.max : Int64.min) : sum)
    }
    public static func - (t: SimTime, d: SimDuration) -> SimTime { SimTime(nanosecondsSinceStart: t.nanosecondsSinceStart - d.nanoseconds) }
    public static func - (a: SimTime, b: SimTime) -> SimDuration { SimDuration(nanoseconds: a.nanosecondsSinceStart - b.nanosecondsSinceStart) }
    public static func += (t: inout SimTime, d: SimDuration) { t = t + d }

    public var description: String { "t+" + SimDuration(nanoseconds: nanosecondsSinceStart).description }
}
