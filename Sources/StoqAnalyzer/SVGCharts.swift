import Foundation

/// Small SVG building blocks for the HTML reports. Numbers are printed with a
/// fixed precision so the same summary always gives the same bytes, and
/// every element is closed so the report parses as XML.
enum SVG {
    static func n(_ v: Double) -> String { String(format: "%.1f", v.isFinite ? v : 0) }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func open(width: Double, height: Double, label: String) -> String {
        let size = ChartStyle.current.unitsPerInch.map { perInch in
            String(format: "width=\"%.2fin\" height=\"%.2fin\"", width / perInch, height / perInch)
        } ?? "width=\"\(n(width))\" height=\"\(n(height))\""
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" \(size) " +
            "viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" aria-label=\"\(escape(label))\">\n"
    }

    static func text(_ x: Double, _ y: Double, _ s: String, anchor: String = "start", size: Int = 11,
                     extra: String = "") -> String {
        "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\"\(extra)>\(escape(s))</text>\n"
    }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1,
                     extra: String = "") -> String {
        "<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(n(width))\"\(extra)/>\n"
    }

    static func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, title: String? = nil) -> String {
        let r = "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(max(w, 0)))\" height=\"\(n(max(h, 0)))\" fill=\"\(fill)\""
        guard let title else { return r + "/>\n" }
        return r + "><title>\(escape(title))</title></rect>\n"
    }

    /// Estimated width of `s` at font `size` in a sans-serif face: wide enough
    /// for digits and lower case (about 0.55 em), so layouts that keep these
    /// boxes apart keep the drawn text apart.
    static func textWidth(_ s: String, size: Int) -> Double { Double(s.count) * Double(size) * 0.6 }

    /// Width a legend column of `names` needs (swatch, gap, text, margin).
    static func legendWidth(_ names: [String], size: Int = 11) -> Double {
        14 + 26 + (names.map { textWidth($0, size: size) }.max() ?? 0) + 8
    }

    /// A y-axis title, rotated, centred on the plot's height.
    static func yTitle(_ title: String, x: Double, centreY: Double) -> String {
        text(x, centreY, title, anchor: "middle", extra: " class=\"y-title\" transform=\"rotate(-90 \(n(x)) \(n(centreY)))\"")
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                          "#bcbd22", "#17becf"]

    /// A data series as a polyline (its name as tooltip) and its legend entry.
    static func seriesLine(_ points: [String], name: String, color: String, legendX: Double, legendY: Double) -> String {
        "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\">" +
            "<title>\(escape(name))</title></polyline>\n" +
            line(legendX, legendY, legendX + 20, legendY, stroke: color, width: 3) +
            text(legendX + 26, legendY + 4, name, extra: " font-family=\"sans-serif\" class=\"legend\"")
    }

    /// About `count` round tick values (1, 2, 5 × 10^k) covering 0…max.
    static func niceTicks(max: Double, count: Int = 5) -> [Double] {
        guard max > 0, max.isFinite else { return [0, 1] }
        let raw = max / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        return (0...Int((max / step).rounded(.up))).map { Double($0) * step }
    }
}

/// A time axis in the unit that suits its span: a week reads 0, 1d, 2d …,
/// ten seconds 0, 2s, 4s …, never 600000s or 0ns.
struct TimeAxis {
    static let units: [(ns: Double, suffix: String, name: String, upTo: Double)] = [
        (1e3, "µs", "µs", 2e6), (1e6, "ms", "ms", 2e9), (1e9, "s", "s", 300e9), (60e9, "min", "minutes", 5 * 3600e9),
        (3600e9, "h", "hours", 3 * 86400e9), (86400e9, "d", "days", .infinity),
    ]
    let unitNs: Double
    let suffix: String
    /// The unit spelled out, for the axis title.
    let unitName: String
    /// Tick positions in nanoseconds, from 0 past the span.
    let ticksNs: [Double]

    init(spanNs: Double) {
        let unit = Self.units.first { spanNs <= $0.upTo } ?? Self.units.last!
        unitNs = unit.ns; suffix = unit.suffix; unitName = unit.name
        ticksNs = SVG.niceTicks(max: max(spanNs, 1) / unit.ns).map { $0 * unit.ns }
    }

    var maxNs: Double { ticksNs.last! }

    func label(_ ns: Double) -> String { ns == 0 ? "0" : String(format: "%g", ns / unitNs) + suffix }
}

/// The charts of report.html.
enum Charts {
    struct CDFSeries {
        var name: String
        /// Values (ns) at `percentiles`.
        var valuesNs: [Int64]
    }

    /// Latency CDFs: x is the RTT (log scale when the values span more than a
    /// decade), y the fraction of probes at or below it.
    static func cdf(title: String, percentiles: [Double], series: [CDFSeries]) -> String {
        let frame = PlotFrame(left: 70, top: 16, bottom: 42, screenPlot: (484, 282), legend: series.map(\.name), minLegendWidth: 220)
        let (left, top, bottom, plotW, plotH, width, height) = frame.box
        let legend = frame.legend
        let all = series.flatMap(\.valuesNs).filter { $0 > 0 }
        let lo = Double(all.min() ?? 1), hi = Double(max(all.max() ?? 1, 1))
        let logScale = hi / max(lo, 1) > 10
        let xMin: Double, xMax: Double, ticks: [Double]
        if logScale {
            xMin = pow(10, floor(log10(max(lo, 1))))
            xMax = pow(10, ceil(log10(hi)))
            ticks = stride(from: log10(xMin), through: log10(xMax), by: 1).map { pow(10, $0) }
        } else {
            ticks = SVG.niceTicks(max: hi * 1.05)
            xMin = 0
            xMax = ticks.last!
        }
        func x(_ v: Double) -> Double {
            let f = logScale ? (log10(max(v, xMin)) - log10(xMin)) / (log10(xMax) - log10(xMin)) : (v - xMin) / (xMax - xMin)
            return left + plotW * min(max(f, 0), 1)
        }
        func y(_ p: Double) -> Double { top + plotH * (1 - p / 100) }

        var s = SVG.open(width: width, height: height, label: title)
        s += "<g class=\"axes\" font-family=\"sans-serif\" fill=\"#333\">\n"
        for p in [0.0, 25, 50, 75, 90, 100] {
            s += SVG.line(left, y(p), left + plotW, y(p), stroke: "#e3e3e3")
            s += SVG.text(left - 6, y(p) + 4, String(format: "%.0f%%", p), anchor: "end")
        }
        for t in ticks {
            s += SVG.line(x(t), top, x(t), top + plotH, stroke: "#e3e3e3")
            s += SVG.text(x(t), top + plotH + 16, tickLabel(t), anchor: "middle")
        }
        s += SVG.line(left, top + plotH, left + plotW, top + plotH, stroke: "#555")
        s += SVG.line(left, top, left, top + plotH, stroke: "#555")
        s += SVG.text(left + plotW / 2, top + plotH + bottom - 6, "round-trip time" + (logScale ? " (log scale)" : ""), anchor: "middle")
        s += SVG.yTitle("share of probes ≤ RTT", x: 14, centreY: top + plotH / 2)
        s += "</g>\n"
        for (i, ser) in series.enumerated() {
            let color = SVG.palette[i % SVG.palette.count]
            let points = zip(ser.valuesNs, percentiles).map { "\(SVG.n(x(Double($0))))," + SVG.n(y($1)) }
            let at = legend.lineEntry(i, plotRight: left + plotW, top: top, belowY: top + plotH + bottom)
            s += SVG.seriesLine(points, name: ser.name, color: color, legendX: at.x, legendY: at.y)
        }
        return s + "</svg>\n"
    }

    /// A short duration label for axis ticks: 10µs, 2.5ms, 1s; 0 without a unit.
    static func tickLabel(_ ns: Double) -> String {
        if ns == 0 { return "0" }
        let units: [(Double, String)] = [(1e9, "s"), (1e6, "ms"), (1e3, "µs")]
        for (scale, unit) in units where ns >= scale { return String(format: "%g", ns / scale) + unit }
        return String(format: "%gns", ns)
    }

    struct BarSeries {
        var name: String
        var values: [Double]
    }

    /// How category labels under bars are drawn: level when they fit their
    /// slot, else rotated just enough that neighbours clear each other
    /// (parallel labels `spacing` apart are `spacing × sin(angle)` apart
    /// across their baselines, which must exceed the text's height).
    struct CategoryLabels {
        static let size = 12
        var angle: Double
        /// Height the labels take below the axis.
        var depth: Double
        /// How far the first label reaches left of its slot's centre.
        var reachLeft: Double

        init(_ categories: [String], spacing: Double) {
            let widest = categories.map { SVG.textWidth($0, size: Self.size) }.max() ?? 0
            if widest + 6 <= spacing {
                angle = 0
            } else {
                let lineHeight = Double(Self.size) * 1.3
                angle = [30.0, 45, 60].first { spacing * sin($0 * .pi / 180) >= lineHeight } ?? 90
            }
            depth = angle == 0 ? 24 : widest * sin(angle * .pi / 180) + 16
            reachLeft = angle == 0 ? (categories.first.map { SVG.textWidth($0, size: Self.size) } ?? 0) / 2
                                   : widest * cos(angle * .pi / 180)
        }
    }

    /// Grouped vertical bars, one group per category; `errors` (half-widths,
    /// same shape as the values) adds an error bar to each. `yMax` fixes the
    /// axis top (e.g. 100 for percentages) instead of fitting the data.
    static func bars(title: String, categories: [String], series: [BarSeries], errors: [[Double]]? = nil,
                     yMax fixedMax: Double? = nil, format: (Double) -> String) -> String {
        let style = ChartStyle.current
        let top = 20.0, plotH = style.paper ? ChartStyle.paperPlotHeight : 260
        let legend = ChartLegend(names: series.map(\.name), style: style, minRight: 150)
        let tops = series.enumerated().flatMap { k, ser in ser.values.enumerated().map { $1 + (errors?[k][$0] ?? 0) } }
        let ticks = fixedMax.map { SVG.niceTicks(max: $0) } ?? SVG.niceTicks(max: (tops.max() ?? 0) * 1.1)
        let yMax = fixedMax ?? ticks.last!
        // On paper the chart's title is the y-axis title (there is no caption
        // beside it), so the left margin also holds the tick labels and the title.
        let minLeft = style.paper ? (ticks.map { SVG.textWidth(format($0), size: 11) }.max() ?? 0) + 32 : 80
        // Room on the left for the y ticks and for the first (rotated) label;
        // on paper the plot takes what the column leaves, so the labels are
        // laid out again once the margin is known.
        var plotW = style.plotWidth(screen: 530, left: minLeft, right: legend.right)
        var labels = CategoryLabels(categories, spacing: plotW / Double(max(categories.count, 1)))
        var left = max(minLeft, labels.reachLeft - plotW / Double(max(categories.count, 1)) / 2 + 8)
        if style.paper, left > minLeft {
            plotW = style.plotWidth(screen: 530, left: left, right: legend.right)
            labels = CategoryLabels(categories, spacing: plotW / Double(max(categories.count, 1)))
            left = max(minLeft, labels.reachLeft - plotW / Double(max(categories.count, 1)) / 2 + 8)
        }
        let groupW = plotW / Double(max(categories.count, 1))
        let width = left + plotW + legend.right
        let height = top + plotH + labels.depth + legend.below
        func y(_ v: Double) -> Double { top + plotH * (1 - min(v, yMax) / yMax) }
        var s = SVG.open(width: width, height: height, label: title)
        s += "<g font-family=\"sans-serif\" fill=\"#333\">\n"
        for t in ticks where t <= yMax {
            s += SVG.line(left, y(t), left + plotW, y(t), stroke: "#e3e3e3")
            s += SVG.text(left - 6, y(t) + 4, format(t), anchor: "end", extra: " class=\"y-tick\"")
        }
        let barW = min(groupW * 0.8 / Double(max(series.count, 1)), 70)
        for (c, category) in categories.enumerated() {
            let gx = left + groupW * Double(c) + (groupW - barW * Double(series.count)) / 2
            for (k, ser) in series.enumerated() {
                let v = ser.values[c]
                let bx = gx + barW * Double(k)
                s += SVG.rect(bx, y(v), barW - 2, y(0) - y(v), fill: SVG.palette[k % SVG.palette.count],
                              title: "\(category) \(ser.name): \(format(v))")
                let e = errors?[k][c] ?? 0
                if e > 0 {
                    let cx = bx + barW / 2 - 1, lo = y(max(v - e, 0)), hi = y(v + e)
                    s += SVG.line(cx, lo, cx, hi, stroke: "#222")
                    s += SVG.line(cx - 5, hi, cx + 5, hi, stroke: "#222") + SVG.line(cx - 5, lo, cx + 5, lo, stroke: "#222")
                }
                // Values only where they fit over their bar; the bar's title has it anyway.
                if SVG.textWidth(format(v), size: 9) <= barW + 2 {
                    s += SVG.text(bx + barW / 2 - 1, y(v + e) - 4, format(v), anchor: "middle", size: 9)
                }
            }
            let lx = left + groupW * (Double(c) + 0.5), ly = top + plotH + 18
            s += labels.angle == 0
                ? SVG.text(lx, ly, category, anchor: "middle", size: CategoryLabels.size, extra: " class=\"x-label\"")
                : SVG.text(lx, ly - 6, category, anchor: "end", size: CategoryLabels.size,
                           extra: " class=\"x-label\" transform=\"rotate(-\(SVG.n(labels.angle)) \(SVG.n(lx)) \(SVG.n(ly - 6)))\"")
        }
        s += SVG.line(left, top + plotH, left + plotW, top + plotH, stroke: "#555")
        if style.paper { s += SVG.yTitle(title, x: 14, centreY: top + plotH / 2) }
        for (k, ser) in series.enumerated() {
            let at = legend.boxEntry(k, plotRight: left + plotW, top: top, belowY: top + plotH + labels.depth)
            s += SVG.rect(at.x, at.y - 8, 12, 12, fill: SVG.palette[k % SVG.palette.count])
            s += SVG.text(at.x + 18, at.y + 2, ser.name, extra: " class=\"legend\"")
        }
        return s + "</g>\n</svg>\n"
    }

    /// Utilisation bins of the map, with their colours.
    static let utilisationBins: [(upTo: Double, label: String, color: String)] = [
        (0.01, "< 1%", "#8fbc8f"), (0.10, "1–10%", "#2ca02c"), (0.50, "10–50%", "#e6b800"),
        (0.80, "50–80%", "#ff7f0e"), (.infinity, "≥ 80%", "#d62728"),
    ]

    static func utilisationColor(_ u: Double) -> String { utilisationBins.first { u < $0.upTo }!.color }

    /// Sites and inter-site links on an equirectangular projection centred on
    /// the sites (`MapProjection`); links are great-circle arcs coloured by
    /// their busiest direction's utilisation, and site names are placed
    /// where they overlap neither another name nor a site.
    static func worldMap(sites: [RunSummary.SiteInfo], links: [RunSummary.SiteLink]) -> String {
        // On paper the map spans both columns of the page (7 in).
        let paper = ChartStyle.current.paper
        let map = MapProjection(sites: sites, links: links, width: paper ? 700 : 960, height: paper ? 350 : 480)
        let width = map.width, height = map.height, legendH = paper ? 46.0 : 28.0

        var s = SVG.open(width: width, height: height + legendH, label: "map of sites and links")
        s += "<defs><clipPath id=\"map-area\"><rect x=\"0\" y=\"0\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\"/></clipPath></defs>\n"
        s += "<g clip-path=\"url(#map-area)\">\n"
        s += SVG.rect(0, 0, width, height, fill: "#eef3f8")
        s += "<g class=\"land\" fill=\"#dde5d3\" stroke=\"#c5d1ba\" stroke-width=\"0.5\">\n"
        for outline in Continents.outlines {
            for copy in map.visibleCopies(map.unwrapped(outline.map { (lat: $0.1, lon: $0.0) })) {
                s += "<polygon points=\"\(MapProjection.points(copy))\"/>\n"
            }
        }
        s += "</g>\n"
        s += "<g class=\"graticule\" font-family=\"sans-serif\" fill=\"#8a9bb0\">\n"
        for (x, lon) in map.meridians() {
            s += SVG.line(x, 0, x, height, stroke: lon == 0 ? "#9fb3c8" : "#cfdae6")
            s += SVG.text(x + 2, height - 4, String(format: "%.0f°", lon), size: 9)
        }
        for (y, lat) in map.parallels() {
            s += SVG.line(0, y, width, y, stroke: lat == 0 ? "#9fb3c8" : "#cfdae6")
            s += SVG.text(2, y - 2, String(format: "%.0f°", lat), size: 9)
        }
        s += "</g>\n"
        let byName = Dictionary(sites.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        s += "<g class=\"links\" fill=\"none\" stroke-linecap=\"round\">\n"
        for l in links {
            guard let a = byName[l.from], let b = byName[l.to] else { continue }
            let w = l.tier == "2.5gbps" ? 3.5 : (l.tier == "1gbps" ? 2.5 : 1.5)
            let title = SVG.escape("\(l.from) – \(l.to) (\(l.tier)): max utilisation " + String(format: "%.2f%%", l.maxUtilisation * 100))
            let arc = map.greatCircle(from: (a.latitude, a.longitude), to: (b.latitude, b.longitude))
            for copy in map.visibleCopies(arc) {
                s += "<polyline class=\"link\" points=\"\(MapProjection.points(copy))\" stroke=\"\(utilisationColor(l.maxUtilisation))\" " +
                    "stroke-width=\"\(SVG.n(w))\"><title>\(title)</title></polyline>\n"
            }
        }
        s += "</g>\n<g class=\"sites\" font-family=\"sans-serif\">\n"
        let radius = { (site: RunSummary.SiteInfo) in min(3 + sqrt(Double(site.nodes)), 9) }
        for site in sites {
            let (x, y) = map.point(lat: site.latitude, lon: site.longitude)
            s += "<circle cx=\"\(SVG.n(x))\" cy=\"\(SVG.n(y))\" r=\"\(SVG.n(radius(site)))\" " +
                "fill=\"#1f3b5c\" stroke=\"#fff\" stroke-width=\"1\"><title>\(SVG.escape("\(site.name) (\(site.region)): \(site.nodes) nodes"))</title></circle>\n"
        }
        let placement = sites.count <= 60 ? MapLabels(sites: sites, map: map, radius: radius) : nil
        for label in placement?.labels ?? [] {
            if let (from, to) = label.leader { s += SVG.line(from.x, from.y, to.x, to.y, stroke: "#1f3b5c", width: 0.7) }
            s += SVG.text(label.x, label.y, label.name, anchor: label.anchor, size: MapLabels.size,
                          extra: " class=\"site-label\" fill=\"#1f3b5c\" font-weight=\"bold\"")
        }
        s += "</g>\n</g>\n<g class=\"legend\" font-family=\"sans-serif\">\n"
        s += SVG.text(4, height + 19, "link utilisation (busiest direction):", size: 11)
        for (i, bin) in utilisationBins.enumerated() {
            let lx = 250 + Double(i) * 78
            s += SVG.line(lx, height + 15, lx + 24, height + 15, stroke: bin.color, width: 4)
            s += SVG.text(lx + 28, height + 19, bin.label, size: 11)
        }
        let unlabelled = placement.map { sites.count - $0.labels.count } ?? sites.count
        if unlabelled > 0 {
            // On paper there is no room beside the bins, and nothing to hover.
            s += paper ? SVG.text(4, height + 37, "\(unlabelled) sites unlabelled (crowded)", size: 11)
                       : SVG.text(width - 4, height + 19, "\(unlabelled) sites unlabelled (crowded): hover for names",
                                  anchor: "end", size: 11)
        }
        return s + "</g>\n</svg>\n"
    }

    /// One lane per failed link or node; red while it was down.
    static func timeline(changes: [RunSummary.StateChange], measuredNs: Int64) -> String {
        var lanes = OrderedGroups<String, [RunSummary.StateChange]>()
        for c in changes { lanes.values[lanes.slot(c.target) { [] }].append(c) }
        let style = ChartStyle.current
        let right = 20.0, top = 10.0, laneH = 22.0, bottom = 44.0
        let left = max(style.paper ? 60 : 170, (lanes.keys.map { SVG.textWidth($0, size: 11) }.max() ?? 0) + 16)
        let plotW = max(style.plotWidth(screen: 570, left: left, right: right), 150), width = left + plotW + right
        let height = top + laneH * Double(lanes.keys.count) + bottom
        let end = Double(max(measuredNs, changes.map(\.tNs).max() ?? 1, 1))
        let axis = TimeAxis(spanNs: end)
        func x(_ t: Int64) -> Double { left + plotW * Double(t) / end }
        var s = SVG.open(width: width, height: height, label: "failures and recoveries")
        s += "<g font-family=\"sans-serif\" fill=\"#333\">\n"
        for t in axis.ticksNs where t <= end {
            let tx = x(Int64(t))
            s += SVG.line(tx, top, tx, height - bottom, stroke: "#e3e3e3")
            s += SVG.text(tx, height - bottom + 16, axis.label(t), anchor: "middle", extra: " class=\"x-tick\"")
        }
        s += SVG.text(left + plotW / 2, height - 6, "simulated time (\(axis.unitName))", anchor: "middle")
        for (i, (target, events)) in lanes.pairs.enumerated() {
            let ly = top + laneH * Double(i)
            s += SVG.text(left - 8, ly + 15, target, anchor: "end")
            s += SVG.rect(left, ly + 4, plotW, laneH - 8, fill: "#d9ead3")
            var downSince: Int64?
            for e in events {
                if !e.up, downSince == nil { downSince = e.tNs }
                if e.up, let d = downSince {
                    s += SVG.rect(x(d), ly + 4, x(e.tNs) - x(d), laneH - 8, fill: "#d62728",
                                  title: "\(target) down \(SummaryText.formatNs(d)) – \(SummaryText.formatNs(e.tNs))")
                    downSince = nil
                }
            }
            if let d = downSince {
                s += SVG.rect(x(d), ly + 4, x(Int64(end)) - x(d), laneH - 8, fill: "#d62728",
                              title: "\(target) down from \(SummaryText.formatNs(d)) to the end")
            }
        }
        return s + "</g>\n</svg>\n"
    }
}

/// A very rough hand-drawn outline of the continents (longitude, latitude),
/// only so the map's sites can be placed by eye; not for measuring anything.
enum Continents {
    static let outlines: [[(Double, Double)]] = [
        // North America
        [(-168, 65), (-140, 70), (-95, 72), (-80, 63), (-60, 55), (-52, 47), (-67, 44), (-75, 35), (-81, 25), (-97, 26),
         (-97, 18), (-87, 15), (-77, 8), (-83, 9), (-92, 15), (-105, 20), (-112, 30), (-117, 33), (-124, 40), (-124, 48),
         (-135, 58), (-152, 58), (-165, 60)],
        // South America
        [(-77, 8), (-60, 10), (-50, 0), (-35, -7), (-40, -22), (-48, -27), (-58, -38), (-65, -42), (-68, -55), (-74, -50),
         (-73, -37), (-71, -18), (-81, -5), (-80, 1)],
        // Europe and Asia
        [(-10, 36), (-9, 43), (-2, 47), (-5, 48), (0, 50), (8, 54), (5, 58), (10, 63), (20, 70), (30, 71), (45, 68), (60, 70),
         (80, 73), (100, 77), (140, 73), (180, 69), (180, 65), (170, 60), (160, 55), (142, 46), (135, 35), (127, 35),
         (122, 40), (121, 30), (110, 20), (105, 10), (100, 14), (98, 8), (104, 1), (100, 4), (98, 16), (92, 22), (80, 15),
         (77, 8), (72, 21), (67, 25), (57, 25), (52, 28), (48, 30), (56, 26), (59, 22), (52, 16), (45, 13), (43, 15),
         (35, 28), (35, 33), (28, 36), (27, 41), (20, 40), (15, 38), (13, 43), (12, 45), (3, 43), (-5, 36)],
        // Africa
        [(-17, 15), (-17, 21), (-10, 30), (-6, 36), (10, 37), (11, 33), (20, 31), (32, 31), (34, 27), (43, 12), (51, 12),
         (40, -2), (40, -15), (35, -25), (27, -34), (18, -34), (12, -17), (13, -5), (9, 4), (-8, 4), (-15, 10)],
        // Australia
        [(114, -22), (114, -34), (122, -34), (135, -35), (140, -38), (150, -37), (153, -28), (146, -19), (142, -11),
         (136, -12), (130, -12), (123, -17)],
        // Greenland, Great Britain, Japan
        [(-73, 78), (-20, 82), (-20, 70), (-43, 60), (-55, 65)],
        [(-5, 50), (1, 51), (-2, 56), (-5, 58), (-6, 55)],
        [(130, 31), (141, 36), (142, 45), (140, 41), (133, 34)],
    ]
}

extension Charts {
    struct LineSeries {
        var name: String
        var values: [Double]
        /// This series' own times (it ends at its last); nil: the chart's `timesNs`.
        var timesNs: [Int64]? = nil
    }

    /// Step lines over time: x is simulated time (ns), one y value per point
    /// of `timesNs` for each series (e.g. cumulative bytes); `yMax` fixes the
    /// top of the y axis (100 for a percentage).
    static func overTime(title: String, timesNs: [Int64], series: [LineSeries], yLabel: String,
                         format: (Double) -> String, xLabel: String = "simulated time", yMax: Double? = nil) -> String {
        let frame = PlotFrame(left: 90, top: 16, bottom: 42, screenPlot: (500, 262), legend: series.map(\.name), minLegendWidth: 170)
        let (left, top, bottom, plotW, plotH, width, height) = frame.box
        let legend = frame.legend
        let axis = TimeAxis(spanNs: Double((timesNs + series.flatMap { $0.timesNs ?? [] }).max() ?? 1))
        // A quantity with a ceiling (a percentage) stops there.
        let yTicks = SVG.niceTicks(max: yMax ?? (series.flatMap(\.values).max() ?? 0) * 1.05)
        func x(_ t: Double) -> Double { left + plotW * t / axis.maxNs }
        func y(_ v: Double) -> Double { top + plotH * (1 - v / yTicks.last!) }
        var s = SVG.open(width: width, height: height, label: title)
        s += "<g font-family=\"sans-serif\" fill=\"#333\">\n"
        for t in yTicks {
            s += SVG.line(left, y(t), left + plotW, y(t), stroke: "#e3e3e3")
            s += SVG.text(left - 6, y(t) + 4, format(t), anchor: "end")
        }
        for t in axis.ticksNs {
            s += SVG.line(x(t), top, x(t), top + plotH, stroke: "#e3e3e3")
            s += SVG.text(x(t), top + plotH + 16, axis.label(t), anchor: "middle", extra: " class=\"x-tick\"")
        }
        s += SVG.line(left, top + plotH, left + plotW, top + plotH, stroke: "#555")
        s += SVG.line(left, top, left, top + plotH, stroke: "#555")
        s += SVG.text(left + plotW / 2, top + plotH + bottom - 6, "\(xLabel) (\(axis.unitName))", anchor: "middle")
        s += SVG.yTitle(yLabel, x: 14, centreY: top + plotH / 2)
        s += "</g>\n"
        for (i, ser) in series.enumerated() {
            let color = SVG.palette[i % SVG.palette.count]
            var points = ["\(SVG.n(x(0))),\(SVG.n(y(0)))"]
            var previous = 0.0
            for (t, v) in zip(ser.timesNs ?? timesNs, ser.values) {
                points.append("\(SVG.n(x(Double(t)))),\(SVG.n(y(previous)))")
                points.append("\(SVG.n(x(Double(t)))),\(SVG.n(y(v)))")
                previous = v
            }
            let at = legend.lineEntry(i, plotRight: left + plotW, top: top, belowY: top + plotH + bottom)
            s += SVG.seriesLine(points, name: ser.name, color: color, legendX: at.x, legendY: at.y)
        }
        return s + "</svg>\n"
    }
}

/// How charts are sized: for the screen (report.html, user units are CSS
/// pixels, legends beside the plot) or for a paper (`stoqsim export
/// --figures`): a fixed physical size at 100 units per inch, so the 11-unit
/// text prints at 8 pt; a chart is one column wide (3.4 in) with its legend
/// below the plot, the map two columns (7 in). Charts read the style of the
/// task they are drawn in, so the report code draws the same figures for both.
struct ChartStyle {
    /// nil on screen; on paper, user units per inch of the printed figure.
    var unitsPerInch: Double?
    /// On paper, the width (units) a one-column chart fills.
    var columnWidth: Double

    static let screen = ChartStyle(unitsPerInch: nil, columnWidth: 0)
    static let paper = ChartStyle(unitsPerInch: 100, columnWidth: 340)
    /// Plot height on paper: about half the column's width.
    static let paperPlotHeight = 170.0

    @TaskLocal static var current = ChartStyle.screen

    var paper: Bool { unitsPerInch != nil }

    /// The plot's width: fixed on screen, what the column leaves on paper.
    func plotWidth(screen: Double, left: Double, right: Double) -> Double {
        paper ? max(columnWidth - left - right, 120) : screen
    }
}

/// The layout of a chart with one plot, margins for axes left and below, and
/// a legend (beside the plot on screen, under it on paper).
struct PlotFrame {
    let legend: ChartLegend
    /// left, top, bottom margins; plot width and height; the whole chart's width and height.
    let box: (left: Double, top: Double, bottom: Double, plotW: Double, plotH: Double, width: Double, height: Double)

    init(left: Double, top: Double, bottom: Double, screenPlot: (width: Double, height: Double), legend names: [String],
         minLegendWidth: Double) {
        let style = ChartStyle.current
        legend = ChartLegend(names: names, style: style, minRight: minLegendWidth)
        let plotW = style.plotWidth(screen: screenPlot.width, left: left, right: legend.right)
        let plotH = style.paper ? ChartStyle.paperPlotHeight : screenPlot.height
        box = (left, top, bottom, plotW, plotH, left + plotW + legend.right, top + plotH + bottom + legend.below)
    }
}

/// Where a chart's legend goes: a column right of the plot on screen, rows
/// under the plot (and its axis title) on paper, where width is scarce.
struct ChartLegend {
    static let rowHeight = 16.0
    /// Room right of the plot.
    let right: Double
    /// Extra height under the plot for the legend rows.
    let below: Double
    private let beside: Bool

    init(names: [String], style: ChartStyle, minRight: Double) {
        beside = !style.paper
        // On paper, room for half of the last x tick label (centred on the plot's right edge).
        right = beside ? max(minRight, SVG.legendWidth(names)) : 24
        below = beside || names.isEmpty ? 0 : Double(names.count) * Self.rowHeight + 6
    }

    /// Origin of entry `i` drawn as a line swatch (`SVG.seriesLine`).
    func lineEntry(_ i: Int, plotRight: Double, top: Double, belowY: Double) -> (x: Double, y: Double) {
        beside ? (plotRight + 14, top + 8 + Double(i) * 16) : (14, belowY + 10 + Double(i) * Self.rowHeight)
    }

    /// Origin of entry `i` drawn as a box swatch (bar charts).
    func boxEntry(_ i: Int, plotRight: Double, top: Double, belowY: Double) -> (x: Double, y: Double) {
        beside ? (plotRight + 16, top + 10 + Double(i) * 18) : (14, belowY + 12 + Double(i) * Self.rowHeight)
    }
}
