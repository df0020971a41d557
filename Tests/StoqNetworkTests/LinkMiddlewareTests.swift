import StoqEngine
import StoqNetwork
import StoqTopology
import XCTest

/// The link models (`LinkMiddleware`) on one seeded link a→b: each model's
/// statistics for a fixed seed, the order guarantee of jitter, and determinism.
final class LinkMiddlewareTests: XCTestCase {
    /// `count` datagrams of `payload` bytes from a to b, one every `interval`,
    /// each numbered in its first four bytes.
    private func flood(_ models: LinkModels, loss: Double = 0, count: Int = 20_000, payload: Int = 1200,
                       interval: SimDuration = .microseconds(200), seed: UInt64 = 1) -> Harness {
        let h = Harness(topology(["a", "b"], [link("a", "b", loss: loss, models: models)]), seed: seed)
        h.socket("b")
        let sender = h.socket("a")
        let to = h.address("b")
        for i in 0..<count {
            h.scheduler.schedule(at: .zero + SimDuration.nanoseconds(interval.nanoseconds * Int64(i))) {
                var bytes = [UInt8](repeating: 0, count: payload)
                withUnsafeBytes(of: UInt32(i).littleEndian) { for (j, b) in $0.enumerated() { bytes[j] = b } }
                bytes.withUnsafeBytes { sender.send(to: to, $0) }
            }
        }
        h.run()
        return h
    }

    private func sequence(_ d: Datagram) -> Int {
        Int(UInt32(d.payload[0]) | UInt32(d.payload[1]) << 8 | UInt32(d.payload[2]) << 16 | UInt32(d.payload[3]) << 24)
    }

    private func counters(_ h: Harness) -> LinkCounters { h.network.counters(from: "a", to: "b")! }

    func testGilbertElliottLossRateAndBurstLengthsMatchTheModel() {
        let ge = GilbertElliottModel(p: 0.05, r: 0.25)
        let h = flood(LinkModels(burstLoss: ge))
        let received = Set(h.received.map { sequence($0.datagram) })
        let lost = (0..<20_000).filter { !received.contains($0) }
        // π_bad = p / (p + r) = 1/6 with h = 0, k = 1; bursts last 1/r = 4 packets.
        XCTAssertEqual(ge.stationaryLossRate, 1.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(Double(lost.count) / 20_000, 1.0 / 6, accuracy: 0.02)
        var bursts: [Int] = []
        for (i, s) in lost.enumerated() {
            if i > 0 && lost[i - 1] == s - 1 { bursts[bursts.count - 1] += 1 } else { bursts.append(1) }
        }
        let meanBurst = Double(lost.count) / Double(bursts.count)
        XCTAssertEqual(meanBurst, 4, accuracy: 0.4, "mean burst length 1/r")
        XCTAssertEqual(counters(h).dropped[.loss], UInt64(lost.count))
        // Bernoulli loss at the same rate has bursts of 1 / (1 − rate) = 1.2 packets.
        let b = flood(LinkModels(), loss: 1.0 / 6)
        let bReceived = Set(b.received.map { sequence($0.datagram) })
        let bLost = (0..<20_000).filter { !bReceived.contains($0) }
        let bBursts = bLost.indices.filter { $0 == 0 || bLost[$0 - 1] != bLost[$0] - 1 }.count
        XCTAssertEqual(Double(bLost.count) / Double(bBursts), 1.2, accuracy: 0.1)
    }

    func testJitterWithoutReorderKeepsOrder() {
        // Packets 0.5 ms apart with 1 ms of deviation: many would overtake.
        let jitter = JitterModel(distribution: .normal, mean: .milliseconds(2), deviation: .milliseconds(1))
        let h = flood(LinkModels(jitter: jitter), count: 2_000, interval: .microseconds(500))
        XCTAssertEqual(h.received.map { sequence($0.datagram) }, Array(0..<2_000), "one direction keeps its order without 'reorder'")
        XCTAssertEqual(counters(h).reordered, 0)
        let extra = extraDelays(h, interval: .microseconds(500))
        XCTAssertTrue(extra.allSatisfy { $0 >= 0 }, "jitter never shortens the latency")
        XCTAssertGreaterThan(Set(extra).count, 1_000, "the delays vary")
    }

    func testNormalJitterHasTheConfiguredMeanAndDeviation() {
        // 5 ms apart, packets almost never wait behind a slower one.
        let jitter = JitterModel(distribution: .normal, mean: .milliseconds(3), deviation: .milliseconds(1))
        let extra = extraDelays(flood(LinkModels(jitter: jitter), count: 2_000, interval: .milliseconds(5)), interval: .milliseconds(5))
        let mean = extra.reduce(0, +) / Double(extra.count)
        let deviation = (extra.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(extra.count)).squareRoot()
        XCTAssertEqual(mean / 1e6, 3, accuracy: 0.1)
        XCTAssertEqual(deviation / 1e6, 1, accuracy: 0.1)
    }

    /// Each arrival's delay beyond send time, propagation and serialization (ns).
    private func extraDelays(_ h: Harness, interval: SimDuration) -> [Double] {
        h.received.map { r in
            Double(r.time.nanosecondsSinceStart - interval.nanoseconds * Int64(sequence(r.datagram)) - 10_000_000 - serialization(1200))
        }
    }

    func testJitterWithReorderLetsPacketsOvertakeAndCountsThem() {
        let jitter = JitterModel(distribution: .pareto, mean: .milliseconds(2), deviation: .milliseconds(1), reorder: true)
        let h = flood(LinkModels(jitter: jitter), count: 2_000, interval: .microseconds(200))
        let order = h.received.map { sequence($0.datagram) }
        XCTAssertEqual(order.sorted(), Array(0..<2_000), "every packet arrives once")
        // A packet overtook another when an earlier-sent one arrives after it.
        var overtakers = 0, smallestLater = Int.max
        for s in order.reversed() {
            if smallestLater < s { overtakers += 1 }
            smallestLater = min(smallestLater, s)
        }
        XCTAssertGreaterThan(overtakers, 100)
        XCTAssertEqual(counters(h).reordered, UInt64(overtakers))
        let extra = extraDelays(h, interval: .microseconds(200))
        // Pareto with mean 2 ms, deviation 1 ms: shape 1 + √5, scale ≈ 1.38 ms.
        XCTAssertGreaterThanOrEqual(extra.min()!, 1.38e6)
        XCTAssertEqual(extra.reduce(0, +) / 2_000 / 1e6, 2, accuracy: 0.1)
    }

    func testDuplicateDeliversTwice() {
        let always = flood(LinkModels(duplicate: 1), count: 100)
        XCTAssertEqual(always.received.map { sequence($0.datagram) }, (0..<100).flatMap { [$0, $0] })
        XCTAssertEqual(counters(always).duplicated, 100)
        XCTAssertEqual(counters(always).packetsDelivered, 200)
        let some = flood(LinkModels(duplicate: 0.1))
        XCTAssertEqual(Double(counters(some).duplicated) / 20_000, 0.1, accuracy: 0.01)
        XCTAssertEqual(UInt64(some.received.count), 20_000 + counters(some).duplicated)
    }

    func testMTUDropsAndCountsOversizedDatagrams() {
        let h = Harness(topology(["a", "b"], [link("a", "b", models: LinkModels(mtu: 1280))]))
        h.socket("b")
        h.send(from: "a", to: "b", payload: 1232)         // 1280 on the wire: fits
        h.send(from: "a", to: "b", payload: 1233)         // one byte over
        h.send(from: "a", to: "b", payload: 1400)
        h.run()
        XCTAssertEqual(h.received.map(\.datagram.payload.count), [1232])
        XCTAssertEqual(counters(h).dropped[.mtu], 2)
        XCTAssertEqual(h.recorder.drops.map(\.reason), [.mtu, .mtu])
        XCTAssertEqual(counters(h).busyTime, .nanoseconds(serialization(1232)), "an oversized datagram never reaches the serializer")
    }

    func testCorruptFlipsOneBitOfThePayload() {
        let h = flood(LinkModels(corrupt: 1), count: 200)
        XCTAssertEqual(counters(h).corrupted, 200)
        XCTAssertEqual(h.received.count, 200, "a corrupted packet is still delivered; the receiver finds the damage")
        // Numbers below 256 leave bytes 1... zero as sent: the flipped bit shows
        // there unless it hit byte 0 (8 bits in 9,600).
        let flippedBits = h.received.map { $0.datagram.payload.dropFirst().reduce(0) { $0 + $1.nonzeroBitCount } }
        XCTAssertTrue(flippedBits.allSatisfy { $0 <= 1 })
        XCTAssertGreaterThan(flippedBits.filter { $0 == 1 }.count, 190)
        let some = flood(LinkModels(corrupt: 0.02))
        XCTAssertEqual(Double(counters(some).corrupted) / 20_000, 0.02, accuracy: 0.004)
    }

    func testAbsentModelsBuildNoMiddlewareAndChangeNothing() {
        // A link with no model and one with models that never fire see the same arrivals.
        let plain = flood(LinkModels(), count: 500)
        let idle = flood(LinkModels(corrupt: 0, duplicate: 0, mtu: 65_575), count: 500)
        XCTAssertEqual(plain.arrivalTimes, idle.arrivalTimes)
        XCTAssertEqual(counters(plain), counters(idle))
    }

    func testSameSeedGivesTheSameFatesWithEveryModelOn() {
        let all = LinkModels(jitter: JitterModel(distribution: .normal, mean: .milliseconds(1), deviation: .milliseconds(1), reorder: true),
                             burstLoss: GilbertElliottModel(p: 0.02, r: 0.3, h: 0.1, k: 0.99), corrupt: 0.01, duplicate: 0.01, mtu: 1500)
        func fingerprint(seed: UInt64) -> [String] {
            let h = flood(all, count: 3_000, seed: seed)
            return h.received.map { "\($0.time.nanosecondsSinceStart) \($0.datagram.payload.hashValue)" }
                + h.recorder.drops.map { "\($0.id) \($0.reason) \($0.time.nanosecondsSinceStart)" }
        }
        XCTAssertEqual(fingerprint(seed: 1), fingerprint(seed: 1))
        XCTAssertNotEqual(fingerprint(seed: 1), fingerprint(seed: 2))
    }
}
