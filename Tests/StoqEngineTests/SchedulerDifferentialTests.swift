import XCTest
import StoqEngine

/// Drives the scheduler and a plain sorted-array reference queue with the same
/// random operations (schedule, cancel with live and stale handles, timer
/// arm/re-arm/cancel, run(until:), runNextEvent, events that schedule more
/// events) and requires the same events to run in the same order, with the
/// same clock, pending count and next event time along the way. The bursts
/// and mass cancels are sized to exercise the ladder's spreads, child rungs,
/// bottom inserts and tombstone compaction.
final class SchedulerDifferentialTests: XCTestCase {
    func testMatchesReferenceQueue() {
        for seed: UInt64 in 1...4 { runDifferential(seed: seed, operations: 8_000) }
    }

    /// Few distinct times, so FIFO ties dominate every structure.
    func testMatchesReferenceQueueWithHeavyTies() {
        runDifferential(seed: 11, operations: 6_000, distinctTimes: 7)
    }

    /// The reference: entries sorted by (time, scheduling order), plus an
    /// index by id so cancels stay cheap in debug builds.
    private struct Reference {
        var items: [(time: Int64, seq: Int, id: Int)] = []
        var keys: [Int: (time: Int64, seq: Int)] = [:]
        var now: Int64 = 0
        var seq = 0

        private func position(_ time: Int64, _ seq: Int) -> Int {
            var lo = 0, hi = items.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if (items[mid].time, items[mid].seq) < (time, seq) { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }

        /// Scheduled last, so it goes after everything at or before its time.
        mutating func add(_ time: Int64, _ id: Int) {
            let t = max(time, now)
            seq += 1
            items.insert((t, seq, id), at: position(t, seq))
            keys[id] = (t, seq)
        }

        mutating func remove(_ id: Int) -> Bool {
            guard let k = keys.removeValue(forKey: id) else { return false }
            items.remove(at: position(k.time, k.seq))
            return true
        }

        mutating func popFirst() -> (time: Int64, id: Int) {
            let first = items.removeFirst()
            keys[first.id] = nil
            return (first.time, first.id)
        }
    }

    private static let timerBase = 10_000_000

    private func runDifferential(seed: UInt64, operations: Int, distinctTimes: UInt64 = 0) {
        let s = Scheduler()
        var ref = Reference()
        var rng = RandomStream(seed: seed, stream: "differential")
        var got: [Int] = []
        var want: [Int] = []
        var handles: [(EventHandle, Int)] = []
        var nextID = 0

        // Same deterministic successor on both sides: events with id % 5 == 0
        // schedule a child (id -id - 1) from inside the event.
        func childDelay(_ id: Int) -> SimDuration {
            .nanoseconds(Int64((id &* 2_654_435_761) & 0xffff) % 3 == 0 ? 0 : Int64((id &* 40_503) % 70_000))
        }
        func body(_ id: Int) -> () -> Void {
            { [unowned s] in
                got.append(id)
                if id >= 0 && id % 5 == 0 { s.schedule(after: childDelay(id)) { got.append(-id - 1) } }
            }
        }
        func refPop() {
            let first = ref.popFirst()
            ref.now = first.time
            want.append(first.id)
            if first.id >= 0 && first.id < Self.timerBase && first.id % 5 == 0 {
                ref.add((SimTime(nanosecondsSinceStart: ref.now) + childDelay(first.id)).nanosecondsSinceStart, -first.id - 1)
            }
        }
        func randomTime() -> SimTime {
            let now = s.now
            if distinctTimes > 0 {
                return SimTime(nanosecondsSinceStart: (now.nanosecondsSinceStart / 1000 + Int64(rng.next() % distinctTimes)) * 1000)
            }
            switch rng.next() % 16 {
            case 0: return now
            case 1: return now - .nanoseconds(Int64(rng.next() % 10_000))        // past: clamped
            case 2, 3: return now + .nanoseconds(Int64(rng.next() % 5) * 1_000) // ties
            case 4: return now + .seconds(Int64(rng.next() % 100) + 1)           // far
            case 5 where rng.next() % 8 == 0: return now + .nanoseconds(.max)    // saturates
            case 6, 7: return now + .nanoseconds(Int64(rng.next() % 200))        // inside the bottom
            default: return now + .nanoseconds(Int64(rng.next() % 5_000_000))
            }
        }
        func scheduleOne() {
            let id = nextID
            nextID += 1
            let t = randomTime()
            let h: EventHandle
            if rng.next() % 2 == 0 {
                h = s.schedule(at: t, body(id))
            } else {
                h = s.schedule(after: t - s.now, body(id))
            }
            ref.add(t.nanosecondsSinceStart, id)
            handles.append((h, id))
        }

        var timers: [SimTimer] = []
        for k in 0..<64 { timers.append(s.makeTimer { got.append(Self.timerBase + k) }) }

        for op in 0..<operations {
            switch rng.next() % 100 {
            case 0..<40:
                scheduleOne()
            case 40 where rng.next() % 4 == 0:
                // A burst: enough for the top to be spread over rungs.
                for _ in 0..<Int(rng.next() % 3_000) { scheduleOne() }
            case 42..<55:
                guard !handles.isEmpty else { break }
                let (h, id) = handles[Int(rng.next() % UInt64(handles.count))]
                XCTAssertEqual(s.cancel(h), ref.remove(id), "seed \(seed) op \(op): cancel of \(id)")
            case 55:
                // Mass cancel: tombstones outnumber live events, forcing compaction.
                for (h, id) in handles where rng.next() % 4 != 0 {
                    XCTAssertEqual(s.cancel(h), ref.remove(id))
                }
            case 56..<70:
                let k = Int(rng.next() % UInt64(timers.count))
                let t = randomTime()
                timers[k].arm(at: t)
                _ = ref.remove(Self.timerBase + k)
                ref.add(t.nanosecondsSinceStart, Self.timerBase + k)
                XCTAssertEqual(timers[k].deadline?.nanosecondsSinceStart, max(t, s.now).nanosecondsSinceStart)
            case 70..<73:
                let k = Int(rng.next() % UInt64(timers.count))
                timers[k].cancel()
                _ = ref.remove(Self.timerBase + k)
                XCTAssertNil(timers[k].deadline)
            case 73..<88:
                let ran = s.runNextEvent()
                XCTAssertEqual(ran, !ref.items.isEmpty)
                if ran { refPop() }
            default:
                let end = s.now + .nanoseconds(Int64(rng.next() % 3_000_000))
                let outcome = s.run(until: end)
                while let first = ref.items.first, first.time <= end.nanosecondsSinceStart { refPop() }
                XCTAssertEqual(outcome, ref.items.isEmpty ? .idle : .reachedEndTime, "seed \(seed) op \(op)")
                ref.now = max(ref.now, end.nanosecondsSinceStart)
            }
            XCTAssertEqual(s.now.nanosecondsSinceStart, ref.now, "seed \(seed) op \(op): clock")
            XCTAssertEqual(s.pendingCount, ref.items.count, "seed \(seed) op \(op): pending count")
            if op % 7 == 0 {
                XCTAssertEqual(s.nextEventTime?.nanosecondsSinceStart, ref.items.first?.time, "seed \(seed) op \(op)")
            }
            if got.count != want.count || got.last != want.last || (op % 500 == 0 && got != want) {
                XCTFail("seed \(seed) op \(op): executed \(got.suffix(5)) but reference ran \(want.suffix(5))")
                return
            }
            if handles.count > 20_000 { handles.removeFirst(10_000) }
        }
        XCTAssertEqual(s.runUntilIdle(), .idle)
        while !ref.items.isEmpty { refPop() }
        XCTAssertEqual(got, want, "seed \(seed): final order")
        XCTAssertEqual(s.pendingCount, 0)
        withExtendedLifetime(timers) {}
    }
}
