import XCTest
@testable import StoqEngine

/// A timer re-armed on every packet leaves a tombstone in the scheduler's
/// bottom bucket each time; an insert earlier than many of them first drops
/// the tombstones (so it does not shift them all). Dropping them must keep
/// every live event in time order, same-instant events in FIFO order, and
/// never run a cancelled one.
final class SchedulerBottomFilterTests: XCTestCase {
    func testTombstonesDroppedFromTheBottomKeepOrderAndCancellation() {
        let s = Scheduler()
        var ran: [(time: Int64, id: Int)] = []
        var expected: [(time: Int64, seq: Int, id: Int)] = []
        var cancelled = Set<Int>()
        var nextID = 0, seq = 0
        var timer: (handle: EventHandle, id: Int)?

        func record(_ id: Int) { ran.append((s.now.nanosecondsSinceStart, id)) }
        func schedule(at t: Int64, _ body: @escaping (Int) -> Void) -> (EventHandle, Int) {
            let id = nextID
            nextID += 1
            expected.append((t, seq, id))
            seq += 1
            return (s.schedule(at: SimTime(nanosecondsSinceStart: t)) { body(id) }, id)
        }
        func packet(_ id: Int) {
            record(id)
            let now = s.now.nanosecondsSinceStart
            guard now < 200_000 else { return }
            // A packet every 2 ns; the timer moves 300 ns out on each one, so the
            // bottom bucket (tens of ns wide here) fills with the cancelled
            // timers' tombstones, and each ack goes in ahead of them.
            if let old = timer {
                XCTAssertTrue(s.cancel(old.handle))
                cancelled.insert(old.id)
            }
            let t = schedule(at: now + 300) { record($0) }
            timer = (t.0, t.1)
            _ = schedule(at: now + 2) { packet($0) }
            _ = schedule(at: now + 1) { record($0) }
            _ = schedule(at: now + 1) { record($0) }
        }
        // A few events spread over the whole run shape the rungs so that the
        // bottom holds more than 64 entries behind an ack (without them it
        // never does, and the first assertion below says so).
        for k in 0..<20 { _ = schedule(at: Int64(k) * 10_000 + 7) { record($0) } }
        _ = schedule(at: 0) { packet($0) }
        s.runUntilIdle()

        XCTAssertGreaterThan(s.bottomFilters, 0, "the scenario must reach the bottom filter")
        let live = expected.filter { !cancelled.contains($0.id) }
            .sorted { ($0.time, $0.seq) < ($1.time, $1.seq) }
        XCTAssertEqual(ran.map(\.id), live.map(\.id))
        XCTAssertEqual(ran.map(\.time), live.map(\.time))
    }
}
