import Foundation

/// A place on Earth in degrees.
public struct GeoPoint: Hashable, Codable, Sendable {
    public var latitude: Double
    public var longitude: Double
    public init(latitude: Double, longitude: Double) { self.latitude = latitude; self.longitude = longitude }
}

/// Mean Earth radius (IUGG), km.
public let earthRadiusKm = 6371.0088

/// Great-circle distance by the haversine formula. Local on purpose:
/// StoqDedup does not depend on StoqTopology.
public func greatCircleKm(_ a: GeoPoint, _ b: GeoPoint) -> Double {
    let rad = Double.pi / 180
    let dLat = (b.latitude - a.latitude) * rad, dLon = (b.longitude - a.longitude) * rad
    let s = sin(dLat / 2) * sin(dLat / 2) + cos(a.latitude * rad) * cos(b.latitude * rad) * sin(dLon / 2) * sin(dLon / 2)
    // atan2 rather than asin: stays accurate near antipodes, where s → 1.
    return 2 * earthRadiusKm * atan2(s.squareRoot(), max(0, 1 - s).squareRoot())
}

/// An edge as replica selection sees it.
public struct EdgeReplica: Sendable {
    public var name: String
    public var location: GeoPoint
    /// Utilisation in 0...1 (values outside are clamped).
    public var load: Double
    public var chunks: Set<ChunkID>
    public init(name: String, location: GeoPoint, load: Double, chunks: Set<ChunkID>) {
        self.name = name; self.location = location; self.load = load; self.chunks = chunks
    }
}

/// Where a client should fetch a chunk from.
public enum ReplicaSource: Equatable, Sendable {
    case edge(name: String, distanceKm: Double, cost: Double)
    case origin(distanceKm: Double)
}

/// Picks, among edges holding the chunk, the one with the lowest
/// `cost = distanceKm × (1 + α · load)`: a fully loaded edge looks (1 + α)
/// times farther than an idle one (α = 1: twice as far). Ties go to the
/// lexicographically smaller name, so the choice is deterministic. When no
/// edge holds the chunk the client goes to the origin.
public struct ReplicaSelector: Sendable {
    public var loadWeight: Double
    public init(loadWeight: Double = 1.0) { self.loadWeight = loadWeight }

    public func cost(distanceKm: Double, load: Double) -> Double {
        distanceKm * (1 + loadWeight * min(1, max(0, load)))
    }

    public func select(_ chunk: ChunkID, client: GeoPoint, edges: [EdgeReplica], origin: GeoPoint) -> ReplicaSource {
        var best: (name: String, distance: Double, cost: Double)?
        for e in edges where e.chunks.contains(chunk) {
            let d = greatCircleKm(client, e.location)
            let c = cost(distanceKm: d, load: e.load)
            if let b = best, (b.cost, b.name) <= (c, e.name) { continue }
            best = (e.name, d, c)
        }
        if let best { return .edge(name: best.name, distanceKm: best.distance, cost: best.cost) }
        return .origin(distanceKm: greatCircleKm(client, origin))
    }
}

/// Which edges hold a chunk (or a whole object): rendezvous (highest random
/// weight) hashing. Each edge scores `mix(key, edge name)`; the top
/// `replicationFactor` scores win. Deterministic, needs no coordination, and
/// when an edge leaves only the keys it held move (each to one new edge).
public struct ReplicaPlacement: Sendable {
    public var replicationFactor: Int
    public init(replicationFactor: Int = 3) {
        precondition(replicationFactor > 0)
        self.replicationFactor = replicationFactor
    }

    public func edges(for chunk: ChunkID, among edges: [String]) -> [String] {
        place(key: chunk.words.0 ^ chunk.words.1, among: edges)
    }

    /// Object-level placement keyed by the object id.
    public func edges(forObject objectID: String, among edges: [String]) -> [String] {
        place(key: fnv1a(objectID), among: edges)
    }

    func place(key: UInt64, among edges: [String]) -> [String] {
        let scored = edges.map { (score: mix64(key ^ fnv1a($0)), name: $0) }
        return scored.sorted { ($0.score, $1.name) > ($1.score, $0.name) }.prefix(replicationFactor).map(\.name)
    }
}

/// FNV-1a: stable across processes, unlike Swift's seeded `Hasher`.
func fnv1a(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return h
}

/// SplitMix64's finaliser: spreads every input bit over the output.
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9e37_79b9_7f4a_7c15
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
}
