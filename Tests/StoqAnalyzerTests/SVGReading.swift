import Foundation
import XCTest

/// Reading report SVG the way a browser lays it out (text boxes from the
/// same width estimate the charts use), for the report layout tests.
extension XCTestCase {
    /// A `<text>` element: position, anchor, rotation, classes and content.
    struct SVGText {
        var x: Double, y: Double
        var anchor: String
        var rotation: Double
        var classes: String
        var size: Int
        var content: String
    }

    func texts(_ svg: String, class wanted: String) -> [SVGText] {
        let pattern = #"<text x="([-0-9.]+)" y="([-0-9.]+)" font-size="(\d+)" text-anchor="(\w+)"([^>]*)>([^<]*)</text>"#
        let regex = try! NSRegularExpression(pattern: pattern)
        let ns = svg as NSString
        return regex.matches(in: svg, range: NSRange(location: 0, length: ns.length)).compactMap { m in
            let attrs = ns.substring(with: m.range(at: 5))
            let classes = attrs.range(of: #"class="([^"]*)""#, options: .regularExpression).map {
                String(attrs[$0].dropFirst(7).dropLast())
            } ?? ""
            guard classes.split(separator: " ").contains(Substring(wanted)) else { return nil }
            let rotation = attrs.range(of: #"rotate\(-?[0-9.]+"#, options: .regularExpression).map {
                abs(Double(attrs[$0].dropFirst(7))!)
            } ?? 0
            return SVGText(x: Double(ns.substring(with: m.range(at: 1)))!, y: Double(ns.substring(with: m.range(at: 2)))!,
                           anchor: ns.substring(with: m.range(at: 4)), rotation: rotation, classes: classes,
                           size: Int(ns.substring(with: m.range(at: 3)))!,
                           content: ns.substring(with: m.range(at: 6)))
        }
    }

    func svgWidth(_ svg: String) -> Double {
        let r = svg.range(of: #"width="[0-9.]+""#, options: .regularExpression)!
        return Double(svg[r].dropFirst(7).dropLast())!
    }
}
