import XCTest
import StoqEngine

final class SchedulerTests: XCTestCase {
    func testEventsRunInTimeOrderAndSameInstantFIFO() {
        let s = Scheduler()
        var log: [String] = []
        s.schedule(at: SimTime(nanosecondsSinceStart: 30)) { log.append("c") }
        s.schedule(at: SimTime(nanosecondsSinceStart: 10)) { log.append("a1") }
        s.schedule(at: SimTime(nanosecondsSinceStart: 20)) { log.append("b") }
        s.schedule(at: SimTime(nanosecondsSinceStart: 10)) { log.append("a2") }
        s.schedule(at: SimTime(nanosecondsSinceStart: 10)) { log.append("a3") }
        XCTAssertEqual(s.runUntilIdle(), .idle)
        XCTAssertEqual(log, ["a1", "a2", "a3", "b", "c"])
        XCTAssertEqual(s.now, SimTime(nanosecondsSinceStart: 30))
        XCTAssertEqual(s.eventsExecuted, 5)
    }

    func testManySameInstantEventsKeepFIFOThroughHeapGrowth() {
        let s = Scheduler()
        var order: [Int] = []
        var rng = RandomStream(seed: 7)
        // Interleave other times so ties sit at many heap depths.
        for i in 0..<5_000 {
            s.schedule(at: SimTime(nanosecondsSinceStart: Int64(rng.next() % 1000) + 1)) {}
            s.schedule(at: SimTime(nanosecondsSinceStart: 500)) { order.append(i) }
        }
        s.runUntilIdle()
        XCTAssertEqual(order, Array(0..<5_000))
    }

    func testRandomScheduleMatchesStableSort() {
        let s = Scheduler()
        var rng = RandomStream(seed: 42)
        var expected: [(Int64, Int)] = []
        var got: [(Int64, Int)] = []
        var handles: [EventHandle] = []
        for i in 0..<20_000 {
            let t = Int64(rng.next() % 5_000)
            expected.append((t, i))
            handles.append(s.schedule(at: SimTime(nanosecondsSinceStart: t)) { got.append((t, i)) })
        }
        // Cancel every third event; the rest must still come out sorted and stable.
        var cancelled = Set<Int>()
        for i in stride(from: 0, to: 20_000, by: 3) {
            XCTAssertTrue(s.cancel(handles[i]))
            cancelled.insert(i)
        }
        s.runUntilIdle()
        let want = expected.filter { !cancelled.contains($0.1) }
            .enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map { $0.element }
        XCTAssertEqual(got.map { $0.1 }, want.map { $0.1 })
    }

    func testLeavesOfEveryWidthComeOutSortedAndStable() {
        // Narrow leaves are sorted by counting, wider ones by insertion, width
        // 1 not at all; event counts and spans chosen to reach each kind,
        // with events added from inside events too.
        for (count, span) in [(40, 16), (300, 64), (3_000, 200), (20_000, 5_000), (5_000, 1_000_000), (2_000, 1 << 40)] {
            let s = Scheduler()
            var rng = RandomStream(seed: UInt64(span))
            var expected: [(time: Int64, id: Int)] = []
            var got: [Int] = []
            for i in 0..<count {
                let t = Int64(rng.next() % UInt64(span))
                expected.append((t, i))
                s.schedule(at: SimTime(nanosecondsSinceStart: t)) {
                    got.append(i)
                    if i % 7 == 0 {
                        // A child within the span, after the parent.
                        let child = count + i
                        let ct = t + Int64(rng.next() % UInt64(span / 4 + 1))
                        expected.append((ct, child))
                        s.schedule(at: SimTime(nanosecondsSinceStart: ct)) { got.append(child) }
                    }
                }
            }
            s.runUntilIdle()
            // Children are scheduled after every parent, so id order is scheduling order
            // except among children, whose order is the order they were scheduled in.
            let order = Dictionary(uniqueKeysWithValues: expected.enumerated().map { ($0.element.id, $0.offset) })
            let want = expected.sorted { ($0.time, order[$0.id]!) < ($1.time, order[$1.id]!) }.map(\.id)
            XCTAssertEqual(got, want, "\(count) events over \(span) ns")
        }
    }

    func testSchedulingInThePastClampsToNow() {
        let s = Scheduler(start: SimTime(nanosecondsSinceStart: 1_000))
        var firedAt: SimTime?
        s.schedule(at: SimTime(nanosecondsSinceStart: 5)) { firedAt = s.now }
        s.schedule(after: .nanoseconds(-50)) {}
        XCTAssertEqual(s.nextEventTime, SimTime(nanosecondsSinceStart: 1_000))
        s.runUntilIdle()
        XCTAssertEqual(firedAt, SimTime(nanosecondsSinceStart: 1_000))
    }

    func testCancelAndStaleHandles() {
        let s = Scheduler()
        var ran: [Int] = []
        let h1 = s.schedule(after: .milliseconds(1)) { ran.append(1) }
        let h2 = s.schedule(after: .milliseconds(2)) { ran.append(2) }
        XCTAssertTrue(s.cancel(h1))
        XCTAssertFalse(s.cancel(h1), "second cancel of the same handle")
        XCTAssertEqual(s.pendingCount, 1)
        // h1's slot is reused by h3: the stale h1 must not cancel h3.
        let h3 = s.schedule(after: .milliseconds(3)) { ran.append(3) }
        XCTAssertFalse(s.cancel(h1))
        s.runUntilIdle()
        XCTAssertEqual(ran, [2, 3])
        XCTAssertFalse(s.cancel(h2), "already ran")
        XCTAssertFalse(s.cancel(h3))
    }

    func testEventCanCancelLaterEventAndItsOwnHandleIsStale() {
        let s = Scheduler()
        var ran: [Int] = []
        var later: EventHandle?
        var own: EventHandle?
        own = s.schedule(after: .seconds(1)) {
            ran.append(1)
            XCTAssertFalse(s.cancel(own!))
            XCTAssertTrue(s.cancel(later!))
        }
        later = s.schedule(after: .seconds(2)) { ran.append(2) }
        s.runUntilIdle()
        XCTAssertEqual(ran, [1])
    }

    func testEventsScheduledFromInsideEvents() {
        let s = Scheduler()
        var log: [(Int, Int64)] = []
        s.schedule(after: .microseconds(10)) {
            log.append((1, s.now.nanosecondsSinceStart))
            s.schedule(after: .zero) { log.append((3, s.now.nanosecondsSinceStart)) }
            s.schedule(after: .microseconds(5)) { log.append((4, s.now.nanosecondsSinceStart)) }
        }
        s.schedule(after: .microseconds(10)) { log.append((2, s.now.nanosecondsSinceStart)) }
        s.runUntilIdle()
        XCTAssertEqual(log.map { $0.0 }, [1, 2, 3, 4])
        XCTAssertEqual(log.map { $0.1 }, [10_000, 10_000, 10_000, 15_000])
        XCTAssertEqual(s.eventsExecuted, 4)
    }

    func testRunUntilLeavesLaterEventsAndSetsNow() {
        let s = Scheduler()
        var ran: [Int] = []
        s.schedule(at: SimTime(nanosecondsSinceStart: 100)) { ran.append(1) }
        s.schedule(at: SimTime(nanosecondsSinceStart: 200)) { ran.append(2) }
        s.schedule(at: SimTime(nanosecondsSinceStart: 300)) { ran.append(3) }
        XCTAssertEqual(s.run(until: SimTime(nanosecondsSinceStart: 200)), .reachedEndTime)
        XCTAssertEqual(ran, [1, 2], "events at exactly the end time run")
        XCTAssertEqual(s.now, SimTime(nanosecondsSinceStart: 200))
        XCTAssertEqual(s.run(until: SimTime(nanosecondsSinceStart: 250)), .reachedEndTime)
        XCTAssertEqual(s.now, SimTime(nanosecondsSinceStart: 250))
        XCTAssertEqual(s.pendingCount, 1)
        XCTAssertEqual(s.nextEventTime, SimTime(nanosecondsSinceStart: 300))
        XCTAssertEqual(s.run(until: SimTime(nanosecondsSinceStart: 1_000)), .idle)
        XCTAssertEqual(ran, [1, 2, 3])
        XCTAssertEqual(s.now, SimTime(nanosecondsSinceStart: 1_000))
        XCTAssertEqual(s.runUntilIdle(), .idle)
        XCTAssertEqual(s.now, SimTime(nanosecondsSinceStart: 1_000))
    }

    func testStopFromInsideAnEvent() {
        let s = Scheduler()
        var ran: [Int] = []
        s.schedule(after: .seconds(1)) { ran.append(1) }
        s.schedule(after: .seconds(2)) { ran.append(2); s.stop() }
        s.schedule(after: .seconds(3)) { ran.append(3) }
        XCTAssertEqual(s.runUntilIdle(), .stopped)
        XCTAssertEqual(ran, [1, 2])
        XCTAssertEqual(s.now, SimTime.zero + .seconds(2))
        XCTAssertEqual(s.pendingCount, 1)
        XCTAssertEqual(s.runUntilIdle(), .idle, "a new run is not affected by the old stop")
        XCTAssertEqual(ran, [1, 2, 3])
    }

    func testRunNextEventAndAdvanceClock() {
        let s = Scheduler()
        XCTAssertFalse(s.runNextEvent())
        var ran = 0
        s.schedule(after: .milliseconds(5)) { ran += 1 }
        s.advanceClock(to: SimTime.zero + .milliseconds(2))
        XCTAssertEqual(s.now, SimTime.zero + .milliseconds(2))
        s.advanceClock(to: SimTime.zero + .milliseconds(1))
        XCTAssertEqual(s.now, SimTime.zero + .milliseconds(2), "never backwards")
        s.advanceClock(to: SimTime.zero + .milliseconds(9))
        XCTAssertEqual(s.now, SimTime.zero + .milliseconds(5), "never past the next event")
        XCTAssertTrue(s.runNextEvent())
        XCTAssertEqual(ran, 1)
        XCTAssertEqual(s.eventsExecuted, 1)
    }

    func testActionObjectsCanBeRescheduled() {
        final class Ticker: EventAction {
            var times: [SimTime] = []
            func fire(in scheduler: Scheduler) {
                times.append(scheduler.now)
                if times.count < 3 { scheduler.schedule(after: .milliseconds(10), action: self) }
            }
        }
        let s = Scheduler()
        let ticker = Ticker()
        s.schedule(after: .milliseconds(10), action: ticker)
        let h = s.schedule(after: .milliseconds(15), action: ticker)
        XCTAssertTrue(s.cancel(h))
        s.runUntilIdle()
        XCTAssertEqual(ticker.times, [10, 20, 30].map { SimTime.zero + .milliseconds($0) })
    }

    func testActionThatReschedulesItselfIsHeldExactlyAsLongAsNeeded() {
        // An action scheduling itself from `fire` hands dispatch's reference
        // on to the successor; every way that successor can end must leave
        // the count right.
        final class Source: EventAction {
            let plan: (Scheduler, Source) -> Void
            var fired = 0
            init(_ plan: @escaping (Scheduler, Source) -> Void) { self.plan = plan }
            func fire(in scheduler: Scheduler) {
                fired += 1
                plan(scheduler, self)
                // Still alive here whatever the plan did with its successors.
                XCTAssertGreaterThan(fired, 0)
            }
        }
        let plans: [(String, Int, (Scheduler, Source) -> Void)] = [
            ("once", 2, { s, me in if me.fired < 2 { s.schedule(after: .seconds(1), action: me) } }),
            ("cancelled", 1, { s, me in s.cancel(s.schedule(after: .seconds(1), action: me)) }),
            ("twice", 3, { s, me in
                if me.fired == 1 {
                    s.schedule(after: .seconds(1), action: me)
                    s.schedule(after: .seconds(2), action: me)
                }
            }),
            ("first cancelled, second kept", 2, { s, me in
                if me.fired == 1 {
                    let h = s.schedule(after: .seconds(1), action: me)
                    s.schedule(after: .seconds(2), action: me)
                    s.cancel(h)
                }
            }),
            ("cancelled then again", 2, { s, me in
                if me.fired == 1 {
                    s.cancel(s.schedule(after: .seconds(1), action: me))
                    s.schedule(after: .seconds(2), action: me)
                }
            }),
            ("another action's successor", 1, { s, me in
                if me.fired == 1 { s.schedule(after: .seconds(1)) { _ = me } }
            }),
        ]
        for (name, expectedFires, plan) in plans {
            let s = Scheduler()
            weak var weakSource: Source?
            do {
                let source = Source(plan)
                weakSource = source
                s.schedule(after: .seconds(1), action: source)
            }
            XCTAssertNotNil(weakSource, name)
            s.runUntilIdle()
            XCTAssertEqual(s.pendingCount, 0, name)
            XCTAssertNil(weakSource, "\(name): released once nothing is pending")
            if let source = weakSource { XCTAssertEqual(source.fired, expectedFires, name) }
        }
        // Left pending when the scheduler goes away.
        weak var weakSource: Source?
        do {
            let s = Scheduler()
            let source = Source { s, me in s.schedule(after: .seconds(1), action: me) }
            weakSource = source
            s.schedule(after: .seconds(1), action: source)
            s.run(until: SimTime.zero + .seconds(3))
            XCTAssertEqual(source.fired, 3)
            XCTAssertEqual(s.pendingCount, 1)
        }
        XCTAssertNil(weakSource)
    }

    func testSchedulerReleasesActionsWhenEventsRunOrAreCancelled() {
        final class Token {}
        let s = Scheduler()
        weak var ran: Token?
        weak var cancelled: Token?
        do {
            let a = Token(), b = Token()
            ran = a
            cancelled = b
            s.schedule(after: .seconds(1)) { _ = a }
            s.cancel(s.schedule(after: .seconds(1)) { _ = b })
        }
        XCTAssertNil(cancelled)
        XCTAssertNotNil(ran)
        s.runUntilIdle()
        XCTAssertNil(ran)
    }
}

final class TimerTests: XCTestCase {
    func testRearmKeepsOneQueueEntry() {
        let s = Scheduler()
        var fired = 0
        let t = s.makeTimer { fired += 1 }
        for i in 0..<100_000 { t.arm(at: SimTime(nanosecondsSinceStart: Int64(1_000 + (i * 7919) % 100_000))) }
        XCTAssertEqual(s.pendingCount, 1)
        for i in 0..<1_000 { t.arm(after: .milliseconds(Int64(i % 10 + 1))); t.cancel(); t.arm(after: .seconds(1)) }
        XCTAssertEqual(s.pendingCount, 1)
        XCTAssertEqual(t.deadline, SimTime.zero + .seconds(1))
        s.runUntilIdle()
        XCTAssertEqual(fired, 1)
        XCTAssertEqual(s.pendingCount, 0)
    }

    func testDeadlineCancelAndRearmFromOwnAction() {
        let s = Scheduler()
        var firedAt: [SimTime] = []
        var timer: SimTimer!
        timer = s.makeTimer {
            firedAt.append(s.now)
            XCTAssertNil(timer.deadline, "not armed while its action runs")
            if firedAt.count < 3 { timer.arm(after: .milliseconds(100)) }
        }
        XCTAssertFalse(timer.isArmed)
        timer.arm(after: .milliseconds(50))
        XCTAssertEqual(timer.deadline, SimTime.zero + .milliseconds(50))
        timer.arm(after: .milliseconds(20))   // earlier re-arm
        XCTAssertEqual(timer.deadline, SimTime.zero + .milliseconds(20))
        s.runUntilIdle()
        XCTAssertEqual(firedAt, [20, 120, 220].map { SimTime.zero + .milliseconds($0) })
        timer.arm(after: .seconds(1))
        XCTAssertTrue(timer.isArmed)
        timer.cancel()
        XCTAssertFalse(timer.isArmed)
        timer.cancel()
        XCTAssertEqual(s.runUntilIdle(), .idle)
        XCTAssertEqual(firedAt.count, 3)
        timer = nil
    }

    func testTimerRearmedToSameInstantGoesBehindEarlierEvents() {
        let s = Scheduler()
        var log: [String] = []
        let t = s.makeTimer { log.append("timer") }
        t.arm(at: SimTime(nanosecondsSinceStart: 10))
        s.schedule(at: SimTime(nanosecondsSinceStart: 10)) { log.append("event") }
        t.arm(at: SimTime(nanosecondsSinceStart: 10))   // re-arm: a fresh place in line
        s.runUntilIdle()
        XCTAssertEqual(log, ["event", "timer"])
    }

    func testTimerPastDeadlineClampsAndTimersCannotBeCancelledByHandles() {
        let s = Scheduler(start: SimTime(nanosecondsSinceStart: 500))
        var fired = false
        let t = s.makeTimer { fired = true }
        t.arm(at: SimTime(nanosecondsSinceStart: 1))
        XCTAssertEqual(t.deadline, SimTime(nanosecondsSinceStart: 500))
        s.runUntilIdle()
        XCTAssertTrue(fired)
    }

    func testReleasedTimerLeavesTheQueue() {
        let s = Scheduler()
        var t: SimTimer? = s.makeTimer { XCTFail("released timer fired") }
        t!.arm(after: .seconds(1))
        XCTAssertEqual(s.pendingCount, 1)
        t = nil
        XCTAssertEqual(s.pendingCount, 0)
        XCTAssertEqual(s.runUntilIdle(), .idle)
    }

    func testSchedulerTeardownWithTimersOwnedByActions() {
        // The scheduler's deinit releases an action that owns a timer: the
        // timer's deinit must cope with its scheduler going away.
        final class Connection { var timer: StoqEngine.Timer? }
        var s: Scheduler? = Scheduler()
        weak var weakConnection: Connection?
        do {
            let c = Connection()
            weakConnection = c
            c.timer = s!.makeTimer {}
            c.timer!.arm(after: .seconds(1))
            s!.schedule(after: .seconds(5)) { _ = c }
        }
        let orphan = s!.makeTimer {}
        s = nil
        XCTAssertNil(weakConnection)
        orphan.arm(after: .seconds(1))   // no scheduler: does nothing
        XCTAssertNil(orphan.deadline)
    }

    func testManyTimersFireInDeadlineOrder() {
        let s = Scheduler()
        var rng = RandomStream(seed: 3)
        var fired: [(SimTime, Int)] = []
        var timers: [SimTimer] = []
        for i in 0..<500 {
            timers.append(s.makeTimer { fired.append((s.now, i)) })
        }
        for _ in 0..<20_000 {
            timers[Int(rng.next() % 500)].arm(after: .nanoseconds(Int64(rng.next() % 1_000_000)))
            if rng.next() % 4 == 0 { s.runNextEvent() }
        }
        XCTAssertLessThanOrEqual(s.pendingCount, 500)
        let expected = timers.enumerated().compactMap { i, t in t.deadline.map { ($0, i) } }
        let before = fired.count
        s.runUntilIdle()
        XCTAssertEqual(fired.count - before, expected.count)
        for k in 1..<fired.count { XCTAssertLessThanOrEqual(fired[k - 1].0, fired[k].0) }
    }
}
