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
        let yaml = """
            sites:
              - {name: fra, city: Frankfurt}
              - {name: sin, city: Singapore}
            nodes:
              - {name: core-fra, site: fra, role: core}
              - {name: core-sin, site: sin, role: core}
              - {name: edge-fra, site: fra, role: edge, uplink: {to: core-fra, tier: 1gbps, duplicate: 0.01, mtu: 9000}}
            backbones:
              - {sites: [fra, sin], tier: 2.5gbps, jitter: {mean: 1ms, deviation: 1ms}}
            """
        let t = try parse(yaml)
        XCTAssertEqual(t.links.first { $0.from == "core-fra" && $0.to == "core-sin" }?.models.jitter?.mean, .milliseconds(1))
        let uplink = try XCTUnwrap(t.links.first { $0.from == "edge-fra" })
        XCTAssertEqual(uplink.models.duplicate, 0.01)
        XCTAssertEqual(uplink.models.mtu, 9000)
    }

    func testBadValuesAreLocatedWithAHint() {
        assertError(link("corrupt: 1.5"), line: 10, "'corrupt' must be a probability", hint: "one bit flipped")
        assertError(link("duplicate: lots"), line: 10, "'duplicate' must be a probability", hint: "arrive twice")
        assertError(link("mtu: 1000"), line: 10, "'mtu' in link must be between 1280 and 65575 bytes; got 1000", hint: "RFC 8200")
        assertError(link("mtu: big"), line: 10, "'mtu' must be a size in bytes")
        assertError(link("jitter: {mean: 1ms}"), line: 10, "missing field 'deviation' in 'jitter' of link", hint: "0 or more")
        assertError(link("jitter: {deviation: -1ms}"), line: 10, "'deviation'", hint: "cannot be negative")
        assertError(link("jitter: {deviation: 1ms, distribution: gauss}"), line: 10, "unknown jitter distribution 'gauss'", hint: "normal or pareto")
        assertError(link("jitter: {distribution: pareto, deviation: 1ms}"), line: 10, "pareto jitter in link needs a 'mean' above 0", hint: "positive")
        assertError(link("jitter: {deviation: 1ms, reorder: maybe}"), line: 10, "'reorder' must be true or false", hint: "overtake")
        assertError(link("jitter: {deviation: 1ms, jitter: 2ms}"), line: 10, "unknown field 'jitter' in 'jitter' of link")
        assertError(link("loss: {p: 0.1}"), line: 10, "missing field 'model' in 'loss' of link", hint: "gilbert-elliott")
        assertError(link("loss: {model: markov, p: 0.1}"), line: 10, "unknown loss model 'markov'", hint: "bernoulli")
        assertError(link("loss: {model: gilbert-elliott, p: 0.1}"), line: 10, "missing field 'r'", hint: "bursts last 1/r")
        assertError(link("loss: {model: gilbert-elliott, p: 0.1, r: 0}"), line: 10, "'r' of the gilbert-elliott loss in link must be above 0")
        assertError(link("loss: {model: gilbert-elliott, p: 0.1, r: 0.5, k: 2}"), line: 10, "'k' must be a probability", hint: "good state")
        assertError(link("loss: {model: bernoulli, p: 0.1, r: 0.5}"), line: 10, "unknown field 'r' in 'loss' of link")
        assertError(link("loss: {model: bernoulli}"), line: 10, "missing field 'p'")
        assertError(link("loss: 1.5"), line: 10, "'loss' must be a probability", hint: "gilbert-elliott")
    }

    func testGilbertElliottStationaryLoss() {
        XCTAssertEqual(GilbertElliottModel(p: 0.05, r: 0.25).stationaryLossRate, 1.0 / 6, accuracy: 1e-12)
        // π_bad = 0.2: 0.2 · 0.5 + 0.8 · 0.01.
        XCTAssertEqual(GilbertElliottModel(p: 0.1, r: 0.4, h: 0.5, k: 0.99).stationaryLossRate, 0.108, accuracy: 1e-12)
    }
}
