import XCTest
@testable import StoqTopology

/// `jitter`, `loss` models, `corrupt`, `duplicate` and `mtu` on links, uplinks and backbones.
final class LinkModelParserTests: XCTestCase {
    private func link(_ fields: String) -> String {
        baseSites + "links: [{from: edge-fra, to: core-sin, tier: 1gbps, \(fields)}]\n"
    }

    func testEveryModelIsReadFromALink() throws {
        let t = try parse(link("""
            jitter: {distribution: pareto, mean: 2ms, deviation: 500us, reorder: true}, \
            loss: {model: gilbert-elliott, p: 1%, r: 0.3, h: 0.1, k: 0.999}, corrupt: 0.001, duplicate: 0.5%, mtu: 1500
            """))
        let l = try XCTUnwrap(t.links.first { $0.from == "edge-fra" && $0.to == "core-sin" })
        XCTAssertEqual(l.models.jitter, JitterModel(distribution: .pareto, mean: .milliseconds(2), deviation: .microseconds(500), reorder: true))
        XCTAssertEqual(l.models.burstLoss, GilbertElliottModel(p: 0.01, r: 0.3, h: 0.1, k: 0.999))
        XCTAssertEqual(l.lossRate, 0, "a Gilbert–Elliott link has no Bernoulli loss on top")
        XCTAssertEqual(l.models.corrupt, 0.001)
        XCTAssertEqual(l.models.duplicate, 0.005)
        XCTAssertEqual(l.models.mtu, 1500)
        XCTAssertTrue(t.links.filter { $0.from != "edge-fra" || $0.to != "core-sin" }.allSatisfy { $0.models.isEmpty })
    }

    func testDefaults() throws {
        let t = try parse(link("jitter: {deviation: 1ms}, loss: {model: gilbert-elliott, p: 0.01, r: 0.5}"))
        let l = try XCTUnwrap(t.links.last)
        XCTAssertEqual(l.models.jitter, JitterModel(distribution: .normal, mean: .zero, deviation: .milliseconds(1), reorder: false))
        XCTAssertEqual(l.models.burstLoss, GilbertElliottModel(p: 0.01, r: 0.5, h: 0, k: 1))
        XCTAssertNil(l.models.mtu)
    }

    func testScalarAndBernoulliLossAreTheSame() throws {
        let scalar = try parse(link("loss: 2%")).links.last!
        let model = try parse(link("loss: {model: bernoulli, p: 0.02}")).links.last!
        XCTAssertEqual(scalar.lossRate, 0.02)
        XCTAssertEqual(model.lossRate, 0.02)
        XCTAssertTrue(model.models.isEmpty)
    }

    func testBackbonesAndUplinksCarryModels() throws {
        let yaml = baseSites
            .replacingOccurrences(of: "uplink: {to: core-fra, tier: 1gbps}", with: "uplink: {to: core-fra, tier: 1gbps, duplicate: 0.01, mtu: 9000}")
            .replacingOccurrences(of: "{sites: [fra, sin], tier: 2.5gbps}", with: "{sites: [fra, sin], tier: 2.5gbps, jitter: {mean: 1ms, deviation: 1ms}}")
        let t = try parse(yaml)
        XCTAssertEqual(t.links.first { $0.from == "core-fra" && $0.to == "core-sin" }?.models.jitter?.mean, .milliseconds(1))
        let uplink = try XCTUnwrap(t.links.first { $0.from == "edge-fra" })
        XCTAssertEqual(uplink.models.duplicate, 0.01)
        XCTAssertEqual(uplink.models.mtu, 9000)
    }

    func testBadValuesAreLocatedWithAHint() {
        // (link fields, what the message says, what the hint says)
        let cases: [(String, String, String?)] = [
            ("corrupt: 1.5", "'corrupt' must be a probability", "one bit flipped"),
            ("duplicate: lots", "'duplicate' must be a probability", "arrive twice"),
            ("mtu: 1000", "'mtu' in link must be between 1280 and 65575 bytes; got 1000", "RFC 8200"),
            ("mtu: big", "'mtu' must be a size in bytes", nil),
            ("jitter: {mean: 1ms}", "missing field 'deviation' in 'jitter' of link", "0 or more"),
            ("jitter: {deviation: -1ms}", "'deviation'", "cannot be negative"),
            ("jitter: {deviation: 1ms, distribution: gauss}", "unknown jitter distribution 'gauss'", "normal or pareto"),
            ("jitter: {distribution: pareto, deviation: 1ms}", "pareto jitter in link needs a 'mean' above 0", "positive"),
            ("jitter: {deviation: 1ms, reorder: maybe}", "'reorder' must be true or false", "overtake"),
            ("jitter: {deviation: 1ms, jitter: 2ms}", "unknown field 'jitter' in 'jitter' of link", nil),
            ("loss: {p: 0.1}", "missing field 'model' in 'loss' of link", "gilbert-elliott"),
            ("loss: {model: markov, p: 0.1}", "unknown loss model 'markov'", "bernoulli"),
            ("loss: {model: gilbert-elliott, p: 0.1}", "missing field 'r'", "bursts last 1/r"),
            ("loss: {model: gilbert-elliott, p: 0.1, r: 0}", "'r' of the gilbert-elliott loss in link must be above 0", "never leaves"),
            ("loss: {model: gilbert-elliott, p: 0.1, r: 0.5, k: 2}", "'k' must be a probability", "good state"),
            ("loss: {model: bernoulli, p: 0.1, r: 0.5}", "unknown field 'r' in 'loss' of link", nil),
            ("loss: {model: bernoulli}", "missing field 'p'", nil),
            ("loss: 1.5", "'loss' must be a probability", "gilbert-elliott"),
        ]
        for (fields, message, hint) in cases { assertError(link(fields), line: 10, message, hint: hint) }
    }

    func testGilbertElliottStationaryLoss() {
        XCTAssertEqual(GilbertElliottModel(p: 0.05, r: 0.25).stationaryLossRate, 1.0 / 6, accuracy: 1e-12)
        // π_bad = 0.2: 0.2 · 0.5 + 0.8 · 0.01.
        XCTAssertEqual(GilbertElliottModel(p: 0.1, r: 0.4, h: 0.5, k: 0.99).stationaryLossRate, 0.108, accuracy: 1e-12)
    }
}
