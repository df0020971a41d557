import XCTest
import StoqEngine

/// Random operations on a queue large enough to use the far tier (ring
/// buckets, overflow, re-levelling). A correct scheduler pops keys
/// (time, scheduling order) in non-decreasing order, and every event that was
/// not cancelled runs exactly once; any wrong pop shows up as a decrease.
final class SchedulerStressTests: XCTestCase {
    func testRandomOperationsKeepTimeAndFIFOOrder() {
        for seed: UInt64 in [1, 2, 3] { runWorkload(seed: seed, initial: 12_000, operations: 60_000) }
    }

    func testSmallQueueNeverSpills() {
        runWorkload(seed: 9, initial: 100, operations: 20_000)
    }

    private func runWorkload(seed: UInt64, initial: Int, operations: Int) {
        let s = Scheduler()
        var rng = RandomStream(seed: seed, stream: "stress")
        var order: UInt64 = 0
        var lastKey: (Int64, UInt64) = (.min, 0)
        var violations = 0
        var ranIDs = Set<Int>()
        var doubleRuns = 0
        var live: [Int: EventHandle] = [:]
        var nextID = 0

        func record(_ key: (Int64, UInt64)) {
            if key < lastKey { violations += 1 }
            lastKey = key
        }
        func delay() -> SimDuration {
            switch rng.next() % 10 {
            case 0: return .zero
            case 1: return .nanoseconds(Int64(rng.next() % 5) * 1_000)     // same-instant collisions
            case 2: return .seconds(Int64(rng.next() % 100) + 10)           // far beyond the ring
            case 3 where rng.next() % 50 == 0: return .nanoseconds(.max)    // saturates to distantFuture
            default: return .nanoseconds(Int64(rng.next() % 2_000_000_000))
            }
        }
        func scheduleOne() {
            let id = nextID
            nextID += 1
            let t = s.now + delay()
            let key = (t.nanosecondsSinceStart, order)
            order += 1
            live[id] = s.schedule(at: t) {
                XCTAssertEqual(s.now.nanosecondsSinceStart, key.0)
                record(key)
                if !ranIDs.insert(id).inserted { doubleRuns += 1 }
                live[id] = nil
            }
        }

        var timers: [SimTimer] = []
        var timerKey: [(Int64, UInt64)?] = []
        for k in 0..<200 {
            timerKey.append(nil)
            timers.append(s.makeTimer {
                guard let key = timerKey[k] else { return XCTFail("unarmed timer fired") }
                XCTAssertEqual(s.now.nanosecondsSinceStart, key.0)
                record(key)
                timerKey[k] = nil
            })
        }

        for _ in 0..<initial { scheduleOne() }
        for _ in 0..<operations {
            switch rng.next() % 20 {
            case 0..<7:
                scheduleOne()
            case 7..<10:
                if let (id, h) = live.randomElement(using: &rng) {
                    XCTAssertTrue(s.cancel(h))
                    XCTAssertFalse(s.cancel(h))
                    live[id] = nil
                }
            case 10..<15:
                let k = Int(rng.next() % 200)
                let t = s.now + delay()
                timers[k].arm(at: t)
                timerKey[k] = (t.nanosecondsSinceStart, order)
                order += 1
                XCTAssertEqual(timers[k].deadline, t)
            case 15:
                let k = Int(rng.next() % 200)
                timers[k].cancel()
                timerKey[k] = nil
            default:
                s.runNextEvent()
            }
            if rng.next() % 50 == 0 { XCTAssertEqual(s.pendingCount, live.count + timerKey.compactMap { $0 }.count) }
        }
        XCTAssertEqual(s.runUntilIdle(), .idle)
        XCTAssertEqual(violations, 0, "seed \(seed): events out of (time, FIFO) order")
        XCTAssertEqual(doubleRuns, 0)
        XCTAssertTrue(live.isEmpty, "seed \(seed): \(live.count) events never ran")
        XCTAssertEqual(s.pendingCount, 0)
        XCTAssertTrue(timerKey.allSatisfy { $0 == nil })
    }
}
