import StoqCore

/// One benchmark measurement. Benchmarks are the only engine code that reads
/// the wall clock; the setup (filling the queue) is not timed.
public struct BenchmarkResult: Sendable, CustomStringConvertible {
    public var name: String
    /// Operations measured: dispatched events, re-arms, or schedule+cancel pairs.
    public var events: Int
    public var wallSeconds: Double
    public var eventsPerSecond: Double
    /// The benchmark's own sanity check held (events in time order, queue
    /// size bounded as expected). A false here makes the figure meaningless.
    public var verified: Bool

    public var description: String {
        let rate = (eventsPerSecond / 1e6 * 100).rounded() / 100
        let secs = (wallSeconds * 1000).rounded() / 1000
        return "\(name): \(events) in \(secs)s = \(rate)M/s\(verified ? "" : " (CHECK FAILED)")"
    }
}

/// How the hold model draws each successor's delay.
public enum HoldDelay: Sendable {
    case exponential(mean: SimDuration)
    /// Uniform in [low, high].
    case uniform(SimDuration, SimDuration)
}

/// How the hold model's events are expressed.
public enum HoldEventStyle: Sendable {
    /// One `EventAction` object scheduled again and again: no allocation.
    case actionObject
    /// One closure created up front and scheduled again and again.
    case sharedClosure
    /// A new capturing closure per event (the naive style; allocates).
    case freshClosure
}

/// Engine micro-benchmarks, callable from the CLI (`stoqsim bench engine`).
public enum EngineBenchmarks {
    /// The classic hold model: `pending` events wait in the queue; each
    /// dispatch schedules one successor at now + a random delay, so the queue
    /// size stays constant. Measures `events` dispatches.
    public static func holdModel(pending: Int = 1_000_000, events: Int = 10_000_000, seed: UInt64 = 1,
                                 delay: HoldDelay = .exponential(mean: .milliseconds(1)),
                                 style: HoldEventStyle = .actionObject) -> BenchmarkResult {
        let scheduler = Scheduler()
        let hold = HoldProcess(delay: delay, seed: seed, limit: events, style: style)
        for _ in 0..<pending { hold.scheduleSuccessor(in: scheduler) }
        let start = MonotonicClock.nanoseconds()
        scheduler.runUntilIdle()
        let wall = Double(MonotonicClock.nanoseconds() - start) / 1e9
        let styleName: String
        switch style {
        case .actionObject: styleName = "action object"
        case .sharedClosure: styleName = "shared closure"
        case .freshClosure: styleName = "fresh closure"
        }
        let delayName: String
        switch delay {
        case .exponential(let mean): delayName = "exp(\(mean))"
        case .uniform(let low, let high): delayName = "U[\(low), \(high)]"
        }
        return BenchmarkResult(name: "hold model (\(pending) pending, \(delayName), \(styleName))",
                               events: hold.fired, wallSeconds: wall,
                               eventsPerSecond: Double(hold.fired) / wall,
                               verified: hold.inOrder && hold.fired == events
                                   && scheduler.pendingCount == pending - 1)
    }

    /// Timer churn as QUIC produces it: `operations` re-arms spread over
    /// `timers` timers at now + 1...100 ms, with one due event run every 8
    /// re-arms so the clock moves and some timers fire.
    public static func timerChurn(timers: Int = 10_000, operations: Int = 10_000_000,
                                  seed: UInt64 = 1) -> BenchmarkResult {
        let scheduler = Scheduler()
        var rng = RandomStream(seed: seed, stream: "timer-churn")
        let all = (0..<timers).map { _ in scheduler.makeTimer {} }
        for t in all { t.arm(after: uniformDelay(&rng, .milliseconds(1), .milliseconds(100))) }
        var maxPending = 0
        let start = MonotonicClock.nanoseconds()
        for op in 0..<operations {
            let t = all[Int(rng.next() % UInt64(timers))]
            t.arm(after: uniformDelay(&rng, .milliseconds(1), .milliseconds(100)))
            if op & 7 == 7 {
                scheduler.runNextEvent()
                maxPending = max(maxPending, scheduler.pendingCount)
            }
        }
        let wall = Double(MonotonicClock.nanoseconds() - start) / 1e9
        return BenchmarkResult(name: "timer re-arm (\(timers) timers)", events: operations,
                               wallSeconds: wall, eventsPerSecond: Double(operations) / wall,
                               verified: maxPending <= timers)
    }

    /// Schedule an event and cancel it again, `operations` times, against a
    /// background of `pending` queued events.
    public static func scheduleCancel(pending: Int = 100_000, operations: Int = 10_000_000,
                                      seed: UInt64 = 1) -> BenchmarkResult {
        let scheduler = Scheduler()
        var rng = RandomStream(seed: seed, stream: "schedule-cancel")
        for _ in 0..<pending { scheduler.schedule(after: uniformDelay(&rng, .zero, .seconds(1))) {} }
        var allCancelled = true
        let start = MonotonicClock.nanoseconds()
        for _ in 0..<operations {
            let h = scheduler.schedule(after: uniformDelay(&rng, .zero, .seconds(1))) {}
            allCancelled = scheduler.cancel(h) && allCancelled
        }
        let wall = Double(MonotonicClock.nanoseconds() - start) / 1e9
        return BenchmarkResult(name: "schedule+cancel (\(pending) pending)", events: operations,
                               wallSeconds: wall, eventsPerSecond: Double(operations) / wall,
                               verified: allCancelled && scheduler.pendingCount == pending)
    }

    /// The standard set, as `stoqsim bench engine` prints it.
    public static func all(seed: UInt64 = 1) -> [BenchmarkResult] {
        [
            holdModel(seed: seed),
            holdModel(seed: seed, delay: .uniform(.zero, .milliseconds(2))),
            holdModel(seed: seed, style: .sharedClosure),
            holdModel(seed: seed, style: .freshClosure),
            timerChurn(seed: seed),
            scheduleCancel(seed: seed),
        ]
    }

    @inline(__always)
    fileprivate static func uniformDelay(_ rng: inout RandomStream, _ low: SimDuration, _ high: SimDuration) -> SimDuration {
        let span = UInt64(high.nanoseconds - low.nanoseconds) + 1
        return low + .nanoseconds(Int64(rng.next() % span))
    }
}

/// The hold model's process: every firing schedules one successor until the
/// limit is reached, and checks that the clock never went backwards.
private final class HoldProcess: EventAction {
    let delay: HoldDelay
    let limit: Int
    let style: HoldEventStyle
    var rng: RandomStream
    /// For `.exponential`: the ziggurat, not a logarithm per draw.
    let exponential: ExponentialSampler
    var fired = 0
    var last = SimTime.zero
    var inOrder = true
    private var sharedBody: (() -> Void)?
    private unowned(unsafe) var scheduler: Scheduler?

    init(delay: HoldDelay, seed: UInt64, limit: Int, style: HoldEventStyle) {
        self.delay = delay
        self.limit = limit
        self.style = style
        rng = RandomStream(seed: seed, stream: "hold")
        if case .exponential(let mean) = delay {
            exponential = ExponentialSampler(mean: Double(mean.nanoseconds))
        } else {
            exponential = ExponentialSampler(mean: 0)
        }
    }

    func fire(in scheduler: Scheduler) {
        fired += 1
        if scheduler.now < last { inOrder = false }
        last = scheduler.now
        if fired < limit { scheduleSuccessor(in: scheduler) } else { scheduler.stop() }
    }

    func scheduleSuccessor(in scheduler: Scheduler) {
        // A local copy: an inout access to a class property costs a dynamic
        // exclusivity check, which would be billed to the engine.
        var r = rng
        let d: SimDuration
        switch delay {
        case .exponential:
            d = .nanoseconds(Int64(exponential.next(using: &r)))
        case .uniform(let low, let high):
            d = EngineBenchmarks.uniformDelay(&r, low, high)
        }
        rng = r
        switch style {
        case .actionObject:
            scheduler.schedule(after: d, action: self)
        case .sharedClosure:
            if sharedBody == nil {
                // unowned(unsafe): the closure lives inside self, a strong capture would be a cycle.
                self.scheduler = scheduler
                sharedBody = { [unowned(unsafe) self] in self.fire(in: self.scheduler!) }
            }
            scheduler.schedule(after: d, sharedBody!)
        case .freshClosure:
            scheduler.schedule(after: d) { [self, scheduler] in fire(in: scheduler) }
        }
    }
}
