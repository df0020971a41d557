#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The wall clock, for the places allowed to read it: the real-time side (the
/// driver, a real-time node's clock) and the benchmarks; simulated runs never
/// do. CLOCK_MONOTONIC never jumps when the system time is set.
public enum MonotonicClock {
    public static func nanoseconds() -> Int64 { readClock(CLOCK_MONOTONIC) }
}

/// CPU time used so far, in nanoseconds, for benchmarks and a run's CPU
/// figures: by the calling thread (meaningful on a machine shared with other
/// work), or by the whole process (all its threads).
public enum CPUClock {
    public static func threadNanoseconds() -> Int64 { readClock(CLOCK_THREAD_CPUTIME_ID) }
    public static func processNanoseconds() -> Int64 { readClock(CLOCK_PROCESS_CPUTIME_ID) }
}

private func readClock(_ clock: clockid_t) -> Int64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
