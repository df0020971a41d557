import StoqEngine
import StoqNetwork
import StoqTopology
import XCTest

/// Link activity in fixed bins: what the bins add up to, and the 10 ms peaks beside the means.
final class LinkTimeSeriesTests: XCTestCase {
    /// a→b at 10 Mbit/s with a small queue, bins of 100 ms over a 1 s run.
    private func bottleneck(queueBytes: Int = 30_000) -> (Harness, LinkTimeSeries, edge: Int) {
        let h = Harness(topology(["a", "b"], [link("a", "b", mbps: 10, latency: .milliseconds(5), queueBytes: queueBytes)]))
        let series = LinkTimeSeries(edgeCount: h.network.graph.edgeCount, tracking: Array(0..<h.network.graph.edgeCount),
                                    binNs: 100_000_000, binCount: 10)
        h.network.linkSeries = series
        h.socket("b")
        return (h, series, Int(h.network.graph.edge(from: 0, to: 1)!))
    }

    /// A burst of `count` 1200-byte datagrams at `at`.
    private func burst(_ h: Harness, count: Int, at: SimTime) {
        for _ in 0..<count { h.send(from: "a", to: "b", payload: 1200, at: at) }
    }

    func testBinsAddUpToTheLinksCounters() {
        let (h, series, e) = bottleneck()
        burst(h, count: 60, at: .zero + .milliseconds(120))    // more than the queue takes: drops
        burst(h, count: 10, at: .zero + .milliseconds(450))
        burst(h, count: 40, at: .zero + .milliseconds(995))     // serialization runs past the last bin
        h.run()
        series.finish()
        let c = h.network.counters(edge: e)
        let bins = series.bins(edge: e)!, tail = series.tail(edge: e)!
        XCTAssertGreaterThan(c.packetsDropped, 0)
        XCTAssertEqual(bins.map(\.bytes).reduce(0, +) + tail.bytes, c.bytesSent)
        XCTAssertEqual(bins.map(\.drops).reduce(0, +) + tail.drops, c.packetsDropped)
        XCTAssertEqual(bins.map(\.busyNs).reduce(0, +) + tail.busyNs, c.busyTime.nanoseconds)
        XCTAssertGreaterThan(tail.busyNs, 0, "the last burst is still serializing when the bins end")
        XCTAssertEqual(bins.map(\.maxQueuedBytes).max(), c.maxQueuedBytes)
        // The reverse direction carried nothing.
        XCTAssertEqual(series.bins(edge: 1 - e)!.map(\.bytes).reduce(0, +), 0)
    }

    func testThePeakWindowIsAtLeastTheMeanAndAtMostTheWindow() {
        let (h, series, e) = bottleneck()
        burst(h, count: 20, at: .zero + .milliseconds(130))
        burst(h, count: 3, at: .zero + .milliseconds(505))
        h.run()
        series.finish()
        for bin in series.bins(edge: e)! {
            let mean = Double(bin.busyNs) / Double(series.binNs), peak = Double(bin.maxWindowBusyNs) / Double(series.windowNs)
            XCTAssertGreaterThanOrEqual(peak, mean)
            XCTAssertLessThanOrEqual(peak, 1)
        }
    }

    /// The case: a link busy a few percent on average that is saturated, and dropping, for tens of milliseconds.
    func testABurstIsSaturatedOverTenMillisecondsWhileTheBinMeanIsLow() {
        let (h, series, e) = bottleneck()
        burst(h, count: 40, at: .zero + .milliseconds(300))   // 40 × 1248 B at 10 Mbit/s: 40 ms busy, the queue overflows
        h.run()
        series.finish()
        let bins = series.bins(edge: e)!
        let bin = bins[3]
        XCTAssertGreaterThan(bin.drops, 0)
        XCTAssertEqual(bin.maxWindowBusyNs, series.windowNs, "a full 10 ms window inside the burst")
        XCTAssertLessThan(Double(bin.busyNs) / Double(series.binNs), 0.3)
        XCTAssertEqual(bins.enumerated().filter { $0.element.busyNs > 0 }.map(\.offset), [3])
    }

    func testAFlushForgetsTheSerializationThatWillNotHappen() {
        let h = Harness(topology(["a", "b"], [link("a", "b", mbps: 10, latency: .milliseconds(5))],
                                 faults: [FaultSpec(target: .link("a", "b"), downAt: .milliseconds(210), upAt: nil,
                                                    location: SourceLocation(file: "test", line: 1, column: 1))]))
        let series = LinkTimeSeries(edgeCount: 2, tracking: [0, 1], binNs: 100_000_000, binCount: 10)
        h.network.linkSeries = series
        try! h.network.scheduleFaults()
        h.socket("b")
        for _ in 0..<50 { h.send(from: "a", to: "b", payload: 1200, at: .zero + .milliseconds(200)) }
        h.run()
        series.finish()
        let e = Int(h.network.graph.edge(from: 0, to: 1)!)
        let c = h.network.counters(edge: e), bins = series.bins(edge: e)!
        XCTAssertEqual(bins.map(\.busyNs).reduce(0, +), c.busyTime.nanoseconds)
        XCTAssertEqual(bins[2].busyNs, 10_000_000, "busy from 200 ms until the link failed at 210 ms")
        XCTAssertEqual(bins.map(\.drops).reduce(0, +), c.packetsDropped)
    }

    func testOnlyTrackedDirectionsAreCounted() {
        let h = Harness(topology(["a", "b"], [link("a", "b")]))
        let e = Int(h.network.graph.edge(from: 0, to: 1)!)
        let series = LinkTimeSeries(edgeCount: 2, tracking: [1 - e], binNs: 100_000_000, binCount: 10)
        h.network.linkSeries = series
        h.socket("b")
        h.send(from: "a", to: "b")
        h.run()
        series.finish()
        XCTAssertNil(series.bins(edge: e))
        XCTAssertEqual(series.bins(edge: 1 - e)!.map(\.bytes).reduce(0, +), 0)
    }

    func testBinWidths() throws {
        XCTAssertEqual(try LinkTimeSeries.binWidth(durationNs: 10_000_000_000), 40_000_000, "10 s in ≤ 300 bins of whole 10 ms windows")
        XCTAssertEqual(try LinkTimeSeries.binWidth(durationNs: 86_400_000_000_000), 288_000_000_000, "a day in 288 s bins")
        XCTAssertEqual(try LinkTimeSeries.binWidth(durationNs: 1_000_000), 10_000_000, "never under one window")
        XCTAssertEqual(try LinkTimeSeries.binWidth(durationNs: 1, requested: 5_000_000), 5_000_000)
        XCTAssertThrowsError(try LinkTimeSeries.binWidth(durationNs: 1, requested: 15_000_000))
        XCTAssertThrowsError(try LinkTimeSeries.binWidth(durationNs: 1, requested: 0))
        // Too many directions for the budget: fewer, wider bins; far too many: none unless chosen.
        let wide = try XCTUnwrap(LinkTimeSeries.make(edgeCount: 2000, chosen: nil, durationNs: 10_000_000_000, binNs: nil))
        XCTAssertLessThanOrEqual(wide.binCount * 2000, LinkTimeSeries.cellBudget)
        XCTAssertNil(try LinkTimeSeries.make(edgeCount: 100_000, chosen: nil, durationNs: 10_000_000_000, binNs: nil))
        XCTAssertEqual(try LinkTimeSeries.make(edgeCount: 100_000, chosen: [7, 3], durationNs: 10_000_000_000, binNs: nil)?.edges, [3, 7])
    }
}
