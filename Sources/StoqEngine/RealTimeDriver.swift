import StoqCore
/// How late events fired in real-time mode: lag is the wall time at firing
/// minus the event's scheduled time (both on CLOCK_MONOTONIC), never negative.
public struct LagReport: Sendable, Equatable, CustomStringConvertible {
    public var count: Int
    public var mean: SimDuration
    public var max: SimDuration
    /// Percentiles from a log-linear histogram: an upper bound within 12.5 %.
    public var p50: SimDuration
    public var p99: SimDuration

    public var description: String {
        "\(count) events, lag mean \(mean), p50 ≤ \(p50), p99 ≤ \(p99), max \(max)"
    }
}

/// Log-linear histogram of non-negative nanosecond values: exact below 16 ns,
/// then eight sub-buckets per power of two (HDR-style, fixed 12.5 % precision).
struct LagHistogram {
    private var buckets = [UInt64](repeating: 0, count: 16 + 60 * 8)
    private(set) var count = 0
    private var sum: Double = 0
    private var maximum: Int64 = 0

    mutating func record(_ ns: Int64) {
        let v = Swift.max(ns, 0)
        buckets[Self.bucket(of: v)] += 1
        count += 1
        sum += Double(v)
        if v > maximum { maximum = v }
    }

    static func bucket(of v: Int64) -> Int {
        if v < 16 { return Int(v) }
        let e = 63 - v.leadingZeroBitCount           // 4 ... 62
        let sub = Int((v >> (e - 3)) & 7)
        return 16 + (e - 4) * 8 + sub
    }

    /// Largest value that falls into bucket `b`.
    static func upperBound(of b: Int) -> Int64 {
        if b < 16 { return Int64(b) }
        let e = (b - 16) / 8 + 4, sub = Int64((b - 16) % 8)
        let low = (8 + sub) << (e - 3)
        return low + (Int64(1) << (e - 3)) - 1
    }

    func percentile(_ p: Double) -> Int64 {
        guard count > 0 else { return 0 }
        let rank = UInt64((p / 100 * Double(count)).rounded(.up))
        var seen: UInt64 = 0
        for (b, n) in buckets.enumerated() where n > 0 {
            seen += n
            if seen >= rank { return Swift.min(Self.upperBound(of: b), maximum) }
        }
        return maximum
    }

    var report: LagReport {
        LagReport(count: count,
                  mean: .nanoseconds(count == 0 ? 0 : Int64((sum / Double(count)).rounded())),
                  max: .nanoseconds(maximum),
                  p50: .nanoseconds(percentile(50)),
                  p99: .nanoseconds(percentile(99)))
    }
}

#if os(Linux)
import CStoqLinux
import Glibc

/// A system call the real-time driver depends on failed.
public struct RealTimeDriverError: Error, CustomStringConvertible {
    public var operation: String
    public var errno: Int32

    public var description: String {
        "real-time driver: \(operation) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Runs a `Scheduler` against the wall clock: the `netns` backend's engine.
///
/// Simulated time is pinned to CLOCK_MONOTONIC when `run` starts; an event
/// fires once the wall clock reaches its time, never earlier. Between events
/// the driver sleeps in `epoll_wait` on the registered descriptors and on a
/// timerfd set to the next event, so wake-ups have nanosecond resolution and
/// no busy waiting. When a descriptor becomes readable the scheduler's clock
/// is moved to the wall-time equivalent and its handler runs; whatever it
/// schedules is then paced the same way.
///
/// Due events run before readable descriptors are handled. The clock cannot
/// pass a pending event, so a packet read while an event is overdue would be
/// stamped with that event's (past) time, and what it schedules would be
/// overdue at once: under steady load the engine would never catch up again,
/// and lag would grow with the length of the run. Descriptors are handled
/// during a backlog only when it has lasted `backlogIOInterval` (so a truly
/// overloaded engine still reads its sockets and its signal fd, and its lag
/// shows that it is overloaded).
///
/// Single-threaded: call everything, `stop()` included, from the thread that
/// runs the driver (typically from an event or a handler).
public final class RealTimeDriver {
    public let scheduler: Scheduler
    /// How long a backlog of overdue events may keep readable descriptors waiting.
    public var backlogIOInterval: SimDuration = .milliseconds(1)
    private let epollFD: Int32
    private let timerFD: Int32
    private var handlers: [Int32: () -> Void] = [:]
    private var histogram = LagHistogram()
    private var wallOrigin: Int64 = 0
    private var simOrigin = SimTime.zero
    /// Descriptors epoll reported readable that have not been handled yet: `readyFDs[nextReady..<readyCount]`.
    private let readyFDs = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 64)
    private var readyCount = 0
    private var nextReady = 0
    /// The deadline the timerfd is armed for (nil: disarmed or already expired), so it is re-armed only when it changes.
    private var armedDeadline: Int64?

    public init(scheduler: Scheduler) throws {
        self.scheduler = scheduler
        let ep = cstoq_epoll_create()
        guard ep >= 0 else { throw RealTimeDriverError(operation: "epoll_create1", errno: errno) }
        let tfd = cstoq_timerfd_create()
        guard tfd >= 0 else {
            let err = errno
            close(ep)
            throw RealTimeDriverError(operation: "timerfd_create", errno: err)
        }
        epollFD = ep
        timerFD = tfd
        if cstoq_epoll_add(ep, tfd) != 0 {
            let err = errno
            close(tfd)
            close(ep)
            throw RealTimeDriverError(operation: "epoll_ctl(ADD timerfd)", errno: err)
        }
    }

    deinit {
        close(timerFD)
        close(epollFD)
        readyFDs.deallocate()
    }

    /// Calls `onReadable` whenever `fd` is readable (level-triggered: the
    /// handler must drain it, or it is called again at once). The driver does
    /// not own `fd`; unregister it before closing it.
    public func register(fd: Int32, onReadable: @escaping () -> Void) throws {
        let rc = handlers[fd] == nil ? cstoq_epoll_add(epollFD, fd) : cstoq_epoll_modify(epollFD, fd)
        if rc != 0 {
            throw RealTimeDriverError(operation: "epoll_ctl(register fd \(fd))", errno: errno)
        }
        handlers[fd] = onReadable
    }

    /// Stops watching `fd`. Returns false when it was not registered.
    @discardableResult
    public func unregister(fd: Int32) -> Bool {
        guard handlers.removeValue(forKey: fd) != nil else { return false }
        // Fails harmlessly when the fd was already closed: the kernel dropped it then.
        _ = cstoq_epoll_remove(epollFD, fd)
        return true
    }

    /// Lag of all events fired so far.
    public var lagReport: LagReport { histogram.report }

    public func resetLagReport() { histogram = LagHistogram() }

    /// Asks `run` to return after the current event or handler (the same as
    /// `scheduler.stop()`, which events may call directly).
    public func stop() { scheduler.stop() }

    /// Runs for `duration` of wall time (and so of simulated time).
    @discardableResult
    public func run(for duration: SimDuration) -> RunOutcome {
        run(until: scheduler.now + duration)
    }

    /// Runs until the wall clock reaches the equivalent of `end`, `stop()` is
    /// called, or nothing can happen any more (no events and no descriptors:
    /// `.idle`). Simulated time is re-pinned to the wall clock on every call,
    /// so time spent outside `run` does not count as lag.
    @discardableResult
    public func run(until end: SimTime = .distantFuture) -> RunOutcome {
        scheduler.stopRequested = false
        wallOrigin = MonotonicClock.nanoseconds()
        simOrigin = scheduler.now
        readyCount = 0
        nextReady = 0
        /// Wall time since which events have been overdue without a break (nil: none overdue).
        var backlogSince: Int64?
        while true {
            if scheduler.stopRequested {
                scheduler.stopRequested = false
                return .stopped
            }
            let wallNow = MonotonicClock.nanoseconds()
            if let next = scheduler.nextEventTime, next <= end, wall(of: next) <= wallNow {
                let since = backlogSince ?? wallNow
                backlogSince = since
                if wallNow - since >= backlogIOInterval.nanoseconds {
                    // Overloaded: let descriptors in (at the stale clock) rather than starve them.
                    backlogSince = wallNow
                    if nextReady == readyCount { waitForIO(untilWall: wallNow) }
                    handleNextReady(end: end)
                    continue
                }
                histogram.record(wallNow - wall(of: next))
                scheduler.runNextEvent()
                continue
            }
            backlogSince = nil
            if nextReady < readyCount {
                handleNextReady(end: end)
                continue
            }
            if let next = scheduler.nextEventTime, next <= end {
                waitForIO(untilWall: wall(of: next))
                continue
            }
            if end != .distantFuture, wallNow >= wall(of: end) {
                scheduler.advanceClock(to: end)
                return .reachedEndTime
            }
            if scheduler.pendingCount == 0 && handlers.isEmpty { return .idle }
            waitForIO(untilWall: end == .distantFuture ? nil : wall(of: end))
        }
    }

    // MARK: Internals

    private func wall(of t: SimTime) -> Int64 {
        let (w, overflow) = wallOrigin.addingReportingOverflow((t - simOrigin).nanoseconds)
        return overflow ? Int64.max : w
    }

    private func simTime(atWall w: Int64) -> SimTime {
        simOrigin + .nanoseconds(w - wallOrigin)
    }

    /// Sleeps until `deadline` (a CLOCK_MONOTONIC instant; nil: no limit) or
    /// until descriptors are readable, and queues those for `handleNextReady`.
    /// A deadline at or before now only polls.
    private func waitForIO(untilWall deadline: Int64?) {
        let pollOnly = deadline.map { $0 <= MonotonicClock.nanoseconds() } ?? false
        if !pollOnly { armTimerFD(deadline) }
        readyCount = 0
        nextReady = 0
        let n = cstoq_epoll_wait_fds(epollFD, readyFDs.baseAddress, Int32(readyFDs.count), pollOnly ? 0 : -1)
        guard n > 0 else { return }   // timeout, or EINTR: the loop re-checks the clock
        for k in 0..<Int(n) {
            let fd = readyFDs[k]
            if fd == timerFD {
                var expirations: UInt64 = 0
                _ = read(timerFD, &expirations, 8)
                armedDeadline = nil
                continue
            }
            readyFDs[readyCount] = fd
            readyCount += 1
        }
    }

    /// Moves the clock to the wall time (never past the next event) and runs
    /// the handler of the next queued readable descriptor, if any.
    private func handleNextReady(end: SimTime) {
        guard nextReady < readyCount else { return }
        let fd = readyFDs[nextReady]
        nextReady += 1
        // Looked up now: an earlier handler may have unregistered it.
        guard let handler = handlers[fd] else { return }
        scheduler.advanceClock(to: min(simTime(atWall: MonotonicClock.nanoseconds()), end))
        handler()
    }

    private func armTimerFD(_ deadline: Int64?) {
        guard deadline != armedDeadline else { return }
        _ = cstoq_timerfd_set_absolute(timerFD, deadline ?? -1)
        armedDeadline = deadline
    }
}

#endif
