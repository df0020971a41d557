#if os(Linux)
import CStoqEmulation

/// SCHED_FIFO for the thread running the real-time driver. On a shared
/// machine, ordinary work (compilers, tests) otherwise delays the engine by
/// milliseconds and those delays show up as latency. The driver sleeps in
/// epoll between events, so it does not starve the machine; the kernel's RT
/// throttling (95 % by default) bounds it anyway.
public enum RealtimePriority {
    public static let defaultPriority: Int32 = 20

    /// Raises the calling thread; false when not permitted (not root, or a
    /// container without CAP_SYS_NICE) — the run goes on with more lag.
    @discardableResult
    public static func raise(_ priority: Int32 = defaultPriority) -> Bool { cstoq_emu_sched_fifo(priority) == 0 }

    /// Back to SCHED_OTHER.
    public static func restore() { _ = cstoq_emu_sched_fifo(0) }
}
#endif
