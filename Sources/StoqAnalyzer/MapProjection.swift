import Foundation

/// The report map's window onto the world: an equirectangular projection
/// centred on the sites so that the widest stretch of longitude without a
/// site lies at the edges (a run in San Francisco and Tokyo is drawn around
/// the Pacific, not across Europe), zoomed to the sites with a margin.
/// Longitudes are "unwrapped" relative to the centre, so a line may run past
/// ±180°; shapes that leave one edge are drawn again entering the other.
struct MapProjection {
    typealias Point = (x: Double, y: Double)
    let width: Double, height: Double
    /// Centre and extent of the window, degrees.
    let lonCentre: Double, lonSpan: Double, latCentre: Double, latSpan: Double

    /// The window for `sites`, tall enough for the great-circle arcs of
    /// `links` too (a New York–Singapore link runs over the Arctic).
    init(sites: [RunSummary.SiteInfo], links: [RunSummary.SiteLink] = [], width: Double, height: Double) {
        self.width = width; self.height = height
        let byName = Dictionary(sites.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let arcLatitudes = links.flatMap { l -> [Double] in
            guard let a = byName[l.from], let b = byName[l.to] else { return [] }
            return Self.greatCirclePath(from: (a.latitude, a.longitude), to: (b.latitude, b.longitude)).map(\.lat)
        }
        let lons = sites.map(\.longitude).sorted(), lats = sites.map(\.latitude) + arcLatitudes.map { min(max($0, -80), 80) }
        // The widest gap between neighbouring site longitudes, the one across ±180° included.
        var gapStart = lons.last ?? 0, gap = 360 - ((lons.last ?? 0) - (lons.first ?? 0))
        for (a, b) in zip(lons, lons.dropFirst()) where b - a > gap { gap = b - a; gapStart = a }
        let covered = 360 - gap
        let centre = Self.wrap(gapStart + gap + covered / 2)
        var lonSpan = min(max(covered * 1.25 + 20, 40), 360)
        if lonSpan > 300 { lonSpan = 360 }
        var latSpan = lonSpan / 2
        let latRange = (lats.max() ?? 0) - (lats.min() ?? 0)
        if latRange * 1.25 + 10 > latSpan {
            latSpan = min(latRange * 1.25 + 10, 180)
            lonSpan = min(latSpan * 2, 360)
            latSpan = lonSpan / 2
        }
        lonCentre = centre
        self.lonSpan = lonSpan
        self.latSpan = latSpan
        latCentre = min(max(((lats.max() ?? 0) + (lats.min() ?? 0)) / 2, -90 + latSpan / 2), 90 - latSpan / 2)
    }

    /// `lon` in [-180, 180).
    static func wrap(_ lon: Double) -> Double {
        let r = (lon + 180).truncatingRemainder(dividingBy: 360)
        return (r < 0 ? r + 360 : r) - 180
    }

    /// Longitude relative to the centre, in [-180, 180).
    func relative(_ lon: Double) -> Double { Self.wrap(lon - lonCentre) }

    func x(relative rel: Double) -> Double { (rel + lonSpan / 2) / lonSpan * width }
    func y(_ lat: Double) -> Double { (latCentre + latSpan / 2 - lat) / latSpan * height }
    func point(lat: Double, lon: Double) -> Point { (x(relative: relative(lon)), y(lat)) }

    /// Inverse of `x`: the (wrapped) longitude drawn at `x`.
    func longitude(atX x: Double) -> Double { Self.wrap(lonCentre + x / width * lonSpan - lonSpan / 2) }

    /// A path of points as drawn: the first at its place in the window, each
    /// next one the short way round from the previous (so no segment jumps
    /// across the map).
    func unwrapped(_ path: [(lat: Double, lon: Double)]) -> [Point] {
        guard let first = path.first else { return [] }
        var rel = relative(first.lon), previous = first.lon
        var out = [(x(relative: rel), y(first.lat))]
        for p in path.dropFirst() {
            rel += Self.wrap(p.lon - previous)
            previous = p.lon
            out.append((x(relative: rel), y(p.lat)))
        }
        return out
    }

    /// The path, and its copies one world-width left and right, that reach into the window.
    func visibleCopies(_ path: [Point]) -> [[Point]] {
        let worldW = width * 360 / lonSpan
        return [0.0, -worldW, worldW].compactMap { dx -> [Point]? in
            let moved = path.map { p -> Point in (x: p.x + dx, y: p.y) }
            let xs = moved.map { $0.x }
            return (xs.max() ?? -1) >= 0 && (xs.min() ?? width + 1) <= width ? moved : nil
        }
    }

    /// The great-circle arc from `a` to `b` (the shortest way over the
    /// sphere), in steps of at most 2°, unwrapped for drawing.
    func greatCircle(from a: (lat: Double, lon: Double), to b: (lat: Double, lon: Double)) -> [Point] {
        unwrapped(Self.greatCirclePath(from: a, to: b))
    }

    /// Points of the great-circle arc from `a` to `b`, at most 2° apart.
    static func greatCirclePath(from a: (lat: Double, lon: Double), to b: (lat: Double, lon: Double)) -> [(lat: Double, lon: Double)] {
        func vector(_ p: (lat: Double, lon: Double)) -> (Double, Double, Double) {
            let la = p.lat * .pi / 180, lo = p.lon * .pi / 180
            return (cos(la) * cos(lo), cos(la) * sin(lo), sin(la))
        }
        let (va, vb) = (vector(a), vector(b))
        let dot = min(max(va.0 * vb.0 + va.1 * vb.1 + va.2 * vb.2, -1), 1)
        let angle = acos(dot)
        let steps = max(Int((angle * 180 / .pi / 2).rounded(.up)), 1)
        var path: [(lat: Double, lon: Double)] = []
        for i in 0...steps {
            let t = Double(i) / Double(steps)
            // Spherical interpolation; sites at the same place (angle 0) stay put.
            let (wa, wb) = angle < 1e-9 ? (1 - t, t) : (sin((1 - t) * angle) / sin(angle), sin(t * angle) / sin(angle))
            let v = (wa * va.0 + wb * vb.0, wa * va.1 + wb * vb.1, wa * va.2 + wb * vb.2)
            path.append((atan2(v.2, sqrt(v.0 * v.0 + v.1 * v.1)) * 180 / .pi, atan2(v.1, v.0) * 180 / .pi))
        }
        return path
    }

    var graticuleStep: Double { lonSpan > 120 ? 30 : (lonSpan > 50 ? 10 : 5) }

    /// Meridians in the window: x and the longitude to print.
    func meridians() -> [(x: Double, lon: Double)] {
        let step = graticuleStep, lo = lonCentre - lonSpan / 2
        return stride(from: (lo / step).rounded(.up) * step, through: lo + lonSpan, by: step).map {
            (x(relative: $0 - lonCentre), Self.wrap($0) == -180 && $0 > 0 ? 180 : Self.wrap($0))
        }
    }

    func parallels() -> [(y: Double, lat: Double)] {
        let step = graticuleStep, top = latCentre + latSpan / 2
        return stride(from: ((top - latSpan) / step).rounded(.up) * step, through: top, by: step).map { (y($0), $0) }
    }

    /// Points as an SVG `points` attribute.
    static func points(_ path: [Point]) -> String {
        path.map { "\(SVG.n($0.x)),\(SVG.n($0.y))" }.joined(separator: " ")
    }
}

/// Site names on the map: each at the first free place around its site
/// (right, left, above, below, then the diagonals; then the same further
/// out, with a leader line back to the dot), free meaning its box overlaps
/// no other name and no site's dot. A name with no free place is left out
/// (its dot's hover title still names it).
struct MapLabels {
    static let size = 11
    struct Label {
        var name: String
        var x: Double, y: Double
        var anchor: String
        /// From the dot's edge to the label, for labels set apart from their site.
        var leader: (from: MapProjection.Point, to: MapProjection.Point)? = nil
    }
    struct Box {
        var x0: Double, y0: Double, x1: Double, y1: Double
        func overlaps(_ o: Box) -> Bool { x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1 }
        /// The point of the box nearest to (x, y).
        func nearest(_ x: Double, _ y: Double) -> MapProjection.Point { (min(max(x, x0), x1), min(max(y, y0), y1)) }
    }
    private(set) var labels: [Label] = []

    /// The box a label's text covers (baseline at `y`; descenders included).
    static func box(_ l: Label) -> Box {
        let w = SVG.textWidth(l.name, size: size), h = Double(size)
        let x0 = l.anchor == "end" ? l.x - w : (l.anchor == "middle" ? l.x - w / 2 : l.x)
        return Box(x0: x0, y0: l.y - h, x1: x0 + w, y1: l.y + h * 0.25)
    }

    static let directions: [(dx: Double, dy: Double)] = [(1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (1, 1), (-1, -1), (-1, 1)]
    static let rings: [Double] = [0, 14, 28]

    /// The places tried for a label of `name` at a dot of radius `r` centred at (x, y), in order.
    static func candidates(_ name: String, x: Double, y: Double, r: Double) -> [Label] {
        let h = Double(size)
        return rings.flatMap { ring in
            directions.map { d -> Label in
                let gap = r + 3 + ring
                let lx = x + d.dx * gap
                let ly = d.dy < 0 ? y - gap + (d.dx == 0 ? 0 : h * 0.35) : (d.dy > 0 ? y + gap + h * (d.dx == 0 ? 0.9 : 0.6) : y + h * 0.35)
                var label = Label(name: name, x: lx, y: ly, anchor: d.dx > 0 ? "start" : (d.dx < 0 ? "end" : "middle"))
                if ring > 0 {
                    let to = box(label).nearest(x, y)
                    let dist = max(hypot(to.x - x, to.y - y), 1e-9)
                    label.leader = ((x + (to.x - x) / dist * r, y + (to.y - y) / dist * r), to)
                }
                return label
            }
        }
    }

    init(sites: [RunSummary.SiteInfo], map: MapProjection, radius: (RunSummary.SiteInfo) -> Double) {
        var taken = sites.map { site -> Box in
            let (x, y) = map.point(lat: site.latitude, lon: site.longitude), r = radius(site)
            return Box(x0: x - r, y0: y - r, x1: x + r, y1: y + r)
        }
        let bounds = Box(x0: 0, y0: 0, x1: map.width, y1: map.height)
        // Bigger sites choose first.
        let order = sites.indices.sorted { sites[$0].nodes != sites[$1].nodes ? sites[$0].nodes > sites[$1].nodes : $0 < $1 }
        for i in order {
            let site = sites[i], (x, y) = map.point(lat: site.latitude, lon: site.longitude)
            guard let free = Self.candidates(site.name, x: x, y: y, r: radius(site)).first(where: { c in
                let b = Self.box(c)
                return b.x0 >= bounds.x0 && b.x1 <= bounds.x1 && b.y0 >= bounds.y0 && b.y1 <= bounds.y1
                    && !taken.enumerated().contains { $0.offset != i && $0.element.overlaps(b) }
            }) else { continue }
            labels.append(free)
            taken.append(Self.box(free))
        }
    }
}
