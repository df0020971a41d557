import XCTest
@testable import StoqDedup

final class ReplicaTests: XCTestCase {
    let chunk = ChunkID(words: (42, 0, 0, 0))
    let other = ChunkID(words: (43, 0, 0, 0))

    func testHaversine() {
        let equator = GeoPoint(latitude: 0, longitude: 0)
        // A quarter meridian is exactly π/2 · R.
        XCTAssertEqual(greatCircleKm(equator, GeoPoint(latitude: 90, longitude: 0)), Double.pi / 2 * 6371.0088, accuracy: 1e-9)
        // One degree of longitude on the equator: 2πR/360 = 111.195 km.
        XCTAssertEqual(greatCircleKm(equator, GeoPoint(latitude: 0, longitude: 1)), 111.1951, accuracy: 1e-3)
        XCTAssertEqual(greatCircleKm(equator, equator), 0)
        // Antipodes: half the circumference. Rounding in s (≈ 1 - 1e-16) costs
        // about R·√ε ≈ 0.1 m there, the haversine's known weak spot.
        XCTAssertEqual(greatCircleKm(GeoPoint(latitude: 10, longitude: 20), GeoPoint(latitude: -10, longitude: -160)),
                       Double.pi * 6371.0088, accuracy: 1e-3)
    }

    /// Edges on the equator, client at 0°,0°: an edge at longitude L is
    /// 111.195·L km away.
    func edge(_ name: String, lon: Double, load: Double, holds: Bool = true) -> EdgeReplica {
        EdgeReplica(name: name, location: GeoPoint(latitude: 0, longitude: lon), load: load, chunks: holds ? [chunk] : [other])
    }
    let client = GeoPoint(latitude: 0, longitude: 0)
    let origin = GeoPoint(latitude: 0, longitude: 50)

    func testNearestHolderWins() {
        let edges = [edge("near-empty", lon: 1, load: 0, holds: false), edge("mid", lon: 2, load: 0), edge("far", lon: 3, load: 0)]
        guard case .edge(let name, let d, let c) = ReplicaSelector().select(chunk, client: client, edges: edges, origin: origin) else {
            return XCTFail("expected an edge")
        }
        XCTAssertEqual(name, "mid")
        XCTAssertEqual(d, 222.390, accuracy: 1e-3)
        XCTAssertEqual(c, d)
    }

    /// mid: 222.39 km × (1 + 1·0.9) = 422.5; far: 333.59 × (1 + 0.1) = 366.9 → far wins.
    /// With α = 0.5: mid 322.5, far 350.3 → mid wins.
    func testLoadWeighting() {
        let edges = [edge("mid", lon: 2, load: 0.9), edge("far", lon: 3, load: 0.1)]
        guard case .edge(let name, _, let cost) = ReplicaSelector(loadWeight: 1).select(chunk, client: client, edges: edges, origin: origin)
        else { return XCTFail() }
        XCTAssertEqual(name, "far")
        XCTAssertEqual(cost, 333.585 * 1.1, accuracy: 1e-2)
        guard case .edge(let name2, _, _) = ReplicaSelector(loadWeight: 0.5).select(chunk, client: client, edges: edges, origin: origin)
        else { return XCTFail() }
        XCTAssertEqual(name2, "mid")
        // Load outside 0...1 is clamped.
        XCTAssertEqual(ReplicaSelector().cost(distanceKm: 100, load: 7), 200)
        XCTAssertEqual(ReplicaSelector().cost(distanceKm: 100, load: -1), 100)
    }

    func testTieGoesToSmallerName() {
        let edges = [edge("b", lon: 2, load: 0), edge("a", lon: -2, load: 0)]
        XCTAssertEqual(ReplicaSelector().select(chunk, client: client, edges: edges, origin: origin),
                       .edge(name: "a", distanceKm: greatCircleKm(client, GeoPoint(latitude: 0, longitude: -2)),
                             cost: greatCircleKm(client, GeoPoint(latitude: 0, longitude: -2))))
    }

    func testFallsBackToOrigin() {
        let edges = [edge("x", lon: 1, load: 0, holds: false)]
        XCTAssertEqual(ReplicaSelector().select(chunk, client: client, edges: edges, origin: origin),
                       .origin(distanceKm: greatCircleKm(client, origin)))
        XCTAssertEqual(ReplicaSelector().select(chunk, client: client, edges: [], origin: origin),
                       .origin(distanceKm: greatCircleKm(client, origin)))
    }

    func testPlacementIsDeterministicAndDistinct() {
        let edges = (0..<10).map { "edge-\($0)" }
        let p = ReplicaPlacement()
        let a = p.edges(for: chunk, among: edges)
        XCTAssertEqual(a.count, 3)
        XCTAssertEqual(Set(a).count, 3)
        XCTAssertEqual(p.edges(for: chunk, among: edges.reversed()), a, "input order must not matter")
        XCTAssertEqual(ReplicaPlacement(replicationFactor: 5).edges(for: chunk, among: ["a", "b"]).count, 2)
        XCTAssertEqual(p.edges(forObject: "obj", among: edges), p.edges(forObject: "obj", among: edges))
    }

    /// Rendezvous hashing: removing one edge moves only the chunks it held,
    /// and spreads chunks roughly evenly.
    func testPlacementMovesOnlyWhatTheLostEdgeHeld() {
        let edges = (0..<8).map { "edge-\($0)" }
        let p = ReplicaPlacement()
        var perEdge: [String: Int] = [:]
        for n in 0..<800 {
            let id = SHA256.hash(Array("chunk \(n)".utf8))
            let before = p.edges(for: id, among: edges)
            for e in before { perEdge[e, default: 0] += 1 }
            let after = p.edges(for: id, among: edges.filter { $0 != "edge-3" })
            if before.contains("edge-3") {
                XCTAssertEqual(Set(before).subtracting(["edge-3"]).isSubset(of: Set(after)), true)
            } else {
                XCTAssertEqual(after, before)
            }
        }
        // 2400 placements over 8 edges: 300 each on average.
        XCTAssertTrue(perEdge.values.allSatisfy { (200...400).contains($0) }, "\(perEdge)")
    }
}
