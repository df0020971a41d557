import Foundation
import XCTest
import StoqEngine

/// Runs the engine benchmarks small by default (checking only that they work:
/// events in time order, bounded queues); full size with STOQ_BENCH=1, printing
/// the rates. Never asserts on speed.
final class EngineBenchmarkTests: XCTestCase {
    private var full: Bool { ProcessInfo.processInfo.environment["STOQ_BENCH"] == "1" }

    func testBenchmarksVerify() {
        let results: [BenchmarkResult]
        if full {
            results = EngineBenchmarks.all()
        } else {
            results = [
                EngineBenchmarks.holdModel(pending: 1_000, events: 20_000),
                EngineBenchmarks.holdModel(pending: 1_000, events: 20_000, delay: .uniform(.zero, .microseconds(1))),
                EngineBenchmarks.holdModel(pending: 100, events: 5_000, style: .sharedClosure),
                EngineBenchmarks.holdModel(pending: 100, events: 5_000, style: .freshClosure),
                EngineBenchmarks.timerChurn(timers: 100, operations: 20_000),
                EngineBenchmarks.scheduleCancel(pending: 1_000, operations: 20_000),
            ]
        }
        for r in results {
            if full { print("BENCH \(r)") }
            XCTAssertTrue(r.verified, r.description)
            XCTAssertGreaterThan(r.events, 0)
            XCTAssertGreaterThan(r.eventsPerSecond, 0)
        }
    }
}
