#if os(Linux)
import Glibc
import XCTest
@testable import StoqEngine

/// Wall-clock tests: they assert "not earlier than" and ordering only, never an
/// upper bound on elapsed time, so a loaded CI machine cannot make them fail.
final class RealTimeDriverTests: XCTestCase {
    private func wallNow() -> Int64 { MonotonicClock.nanoseconds() }

    /// A pipe: [read end, write end].
    private func makePipe() throws -> [Int32] {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw RealTimeDriverError(operation: "pipe", errno: errno) }
        return fds
    }

    func testEventsFireInOrderAndNotBeforeTheirTime() throws {
        let s = Scheduler()
        let driver = try RealTimeDriver(scheduler: s)
        let start = wallNow()
        var fired: [(Int, Int64)] = []
        for (i, ms) in [30, 10, 20, 20, 5].enumerated() {
            s.schedule(after: .milliseconds(Int64(ms))) { fired.append((i, self.wallNow() - start)) }
        }
        XCTAssertEqual(driver.run(), .idle)
        XCTAssertEqual(fired.map { $0.0 }, [4, 1, 2, 3, 0])
        let scheduled: [Int64] = [30, 10, 20, 20, 5].map { Int64($0) * 1_000_000 }
        for (i, elapsed) in fired { XCTAssertGreaterThanOrEqual(elapsed, scheduled[i], "event \(i) fired early") }
        let report = driver.lagReport
        XCTAssertEqual(report.count, 5)
        XCTAssertGreaterThanOrEqual(report.max, report.mean)
        XCTAssertGreaterThanOrEqual(report.mean, .zero)
        XCTAssertLessThanOrEqual(report.p50, report.p99)
        XCTAssertLessThanOrEqual(report.p99, report.max)
        XCTAssertEqual(s.now, SimTime.zero + .milliseconds(30))
    }

    func testPipeWrittenByAnEventWakesTheHandler() throws {
        let s = Scheduler()
        let driver = try RealTimeDriver(scheduler: s)
        let fds = try makePipe()
        defer { close(fds[0]); close(fds[1]) }
        var received: [UInt8] = []
        var handlerSimTime: SimTime?
        try driver.register(fd: fds[0]) {
            var byte: UInt8 = 0
            XCTAssertEqual(read(fds[0], &byte, 1), 1)
            received.append(byte)
            handlerSimTime = s.now
            driver.stop()
        }
        s.schedule(after: .milliseconds(15)) {
            var byte: UInt8 = 42
            _ = write(fds[1], &byte, 1)
        }
        let later = s.schedule(after: .seconds(60)) { XCTFail("the handler should have stopped the run") }
        let start = wallNow()
        XCTAssertEqual(driver.run(), .stopped)
        XCTAssertGreaterThanOrEqual(wallNow() - start, 15_000_000)
        XCTAssertEqual(received, [42])
        // The clock moved to (about) the wall time of the wake-up, not to the 60 s event.
        let t = try XCTUnwrap(handlerSimTime)
        XCTAssertGreaterThanOrEqual(t, SimTime.zero + .milliseconds(15))
        XCTAssertLessThan(t, SimTime.zero + .seconds(60))
        XCTAssertTrue(s.cancel(later))
        XCTAssertTrue(driver.unregister(fd: fds[0]))
        XCTAssertFalse(driver.unregister(fd: fds[0]))
        XCTAssertEqual(driver.run(), .idle, "no events and no descriptors left")
    }

    func testHandlerSchedulesEventsThatArePacedToo() throws {
        let s = Scheduler()
        let driver = try RealTimeDriver(scheduler: s)
        let fds = try makePipe()
        defer { close(fds[0]); close(fds[1]) }
        var byte: UInt8 = 1
        _ = write(fds[1], &byte, 1)   // readable from the start
        var replyWall: Int64 = 0
        var readWall: Int64 = 0
        try driver.register(fd: fds[0]) {
            var b: UInt8 = 0
            _ = read(fds[0], &b, 1)
            readWall = self.wallNow()
            s.schedule(after: .milliseconds(10)) { replyWall = self.wallNow(); s.stop() }
        }
        XCTAssertEqual(driver.run(), .stopped)
        XCTAssertGreaterThan(readWall, 0)
        XCTAssertGreaterThanOrEqual(replyWall - readWall, 10_000_000)
    }

    /// Busy-waits: a handler or event that takes this long, as a burst of packets does.
    private func spin(nanoseconds: Int64) {
        let until = wallNow() + nanoseconds
        while wallNow() < until {}
    }

    func testOverdueEventsRunBeforeTheNextReadableDescriptorWhichSeesTheWallClock() throws {
        // Two descriptors readable at once; each handler schedules an event 100 µs
        // ahead and then works for 3 ms. The other handler must run after that
        // event, with the clock at the wall time: were it run with the event still
        // pending, the clock could not pass it and what the handler schedules
        // would be late from the start (how lag used to snowball under load).
        let s = Scheduler()
        let driver = try RealTimeDriver(scheduler: s)
        var pipes: [[Int32]] = []
        var handled: [(fd: Int32, at: SimTime, eventsFiredBefore: Int)] = []
        var fired = 0
        for _ in 0..<2 {
            let fds = try makePipe()
            pipes.append(fds)
            var byte: UInt8 = 1
            _ = write(fds[1], &byte, 1)
            try driver.register(fd: fds[0]) {
                var b: UInt8 = 0
                _ = read(fds[0], &b, 1)
                handled.append((fds[0], s.now, fired))
                s.schedule(after: .microseconds(100)) { fired += 1 }
                self.spin(nanoseconds: 3_000_000)
                if handled.count == 2 { s.schedule(after: .microseconds(200)) { driver.stop() } }
            }
        }
        defer { for fds in pipes { close(fds[0]); close(fds[1]) } }
        XCTAssertEqual(driver.run(), .stopped)
        XCTAssertEqual(handled.count, 2)
        XCTAssertEqual(fired, 2)
        XCTAssertEqual(handled[1].eventsFiredBefore, 1, "the first handler's event fires before the second handler")
        XCTAssertGreaterThanOrEqual(handled[1].at - handled[0].at, .milliseconds(3), "the second handler sees the wall clock")
    }

    func testAnOverloadedEngineStillHandlesDescriptors() throws {
        // An event chain that is always overdue (each event works 200 µs and
        // schedules the next at once) must not starve a readable descriptor:
        // it is handled once the backlog has lasted `backlogIOInterval`.
        let s = Scheduler()
        let driver = try RealTimeDriver(scheduler: s)
        let fds = try makePipe()
        defer { close(fds[0]); close(fds[1]) }
        var chain = 0
        var step: () -> Void = {}
        step = {
            chain += 1
            self.spin(nanoseconds: 200_000)
            if chain < 10_000 { s.schedule(after: .zero) { step() } }
        }
        s.schedule(after: .zero) { step() }
        var byte: UInt8 = 1
        _ = write(fds[1], &byte, 1)
        try driver.register(fd: fds[0]) { driver.stop() }
        XCTAssertEqual(driver.run(), .stopped)
        XCTAssertLessThan(chain, 10_000, "the descriptor waited for the whole backlog")
        XCTAssertGreaterThan(chain, 1, "due events come first")
    }

    func testRunUntilAndRunForStopAtTheEndTime() throws {
        let s = Scheduler()
        let driver = try RealTimeDriver(scheduler: s)
        var ran: [Int] = []
        s.schedule(after: .milliseconds(5)) { ran.append(1) }
        s.schedule(after: .seconds(100)) { ran.append(2) }
        let start = wallNow()
        XCTAssertEqual(driver.run(until: SimTime.zero + .milliseconds(20)), .reachedEndTime)
        XCTAssertGreaterThanOrEqual(wallNow() - start, 20_000_000)
        XCTAssertEqual(ran, [1])
        XCTAssertEqual(s.now, SimTime.zero + .milliseconds(20))
        XCTAssertEqual(s.pendingCount, 1)
        // With no events before the end, the run still waits for the end.
        let start2 = wallNow()
        XCTAssertEqual(driver.run(for: .milliseconds(10)), .reachedEndTime)
        XCTAssertGreaterThanOrEqual(wallNow() - start2, 10_000_000)
        XCTAssertEqual(s.now, SimTime.zero + .milliseconds(30))
        XCTAssertEqual(driver.lagReport.count, 1)
        driver.resetLagReport()
        XCTAssertEqual(driver.lagReport.count, 0)
    }

    func testStopFromAnEventAndIdleWithoutWork() throws {
        let s = Scheduler()
        let driver = try RealTimeDriver(scheduler: s)
        XCTAssertEqual(driver.run(), .idle)
        var ran: [Int] = []
        s.schedule(after: .milliseconds(1)) { ran.append(1); s.stop() }
        s.schedule(after: .milliseconds(2)) { ran.append(2) }
        XCTAssertEqual(driver.run(), .stopped)
        XCTAssertEqual(ran, [1])
        XCTAssertEqual(driver.run(), .idle)
        XCTAssertEqual(ran, [1, 2])
    }

    func testRegisterRejectsABadDescriptor() throws {
        let driver = try RealTimeDriver(scheduler: Scheduler())
        XCTAssertThrowsError(try driver.register(fd: -1) {}) { error in
            XCTAssertTrue("\(error)".contains("epoll_ctl"))
        }
    }

    func testLagHistogramPercentiles() {
        var h = LagHistogram()
        for v in 1...1000 { h.record(Int64(v) * 1_000) }
        let r = h.report
        XCTAssertEqual(r.count, 1000)
        XCTAssertEqual(r.max, .microseconds(1000))
        XCTAssertEqual(r.mean, .nanoseconds(500_500))
        // Upper bounds within 12.5 %.
        XCTAssertGreaterThanOrEqual(r.p50, .microseconds(500))
        XCTAssertLessThanOrEqual(r.p50, .nanoseconds(562_500))
        XCTAssertGreaterThanOrEqual(r.p99, .microseconds(990))
        XCTAssertLessThanOrEqual(r.p99, .microseconds(1000))
        for v: Int64 in [0, 1, 15, 16, 17, 1_000_003, Int64.max / 2] {
            let b = LagHistogram.bucket(of: v)
            XCTAssertGreaterThanOrEqual(LagHistogram.upperBound(of: b), v)
            if b > 0 { XCTAssertLessThan(LagHistogram.upperBound(of: b - 1), v) }
        }
    }
}
#endif
