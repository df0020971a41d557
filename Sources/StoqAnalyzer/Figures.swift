import Foundation

/// The charts of report.html as standalone figures for a paper: the report
/// is drawn in the paper chart style (`ChartStyle.paper`: 3.4 in wide, 8 pt
/// text, legends under the plot, the map 7 in) and each of its figures is
/// written to its own file, so the figures are always exactly the report's
/// charts. PNG and PDF are converted from the SVG by `rsvg-convert`.
public enum ReportFigures {
    public enum Format: String, CaseIterable {
        case svg, png, pdf
    }

    public struct Figure {
        /// File name without extension: `NN-SECTION-TITLE` (e.g. `01-latency-rtt-cdf-per-workload`).
        public var name: String
        public var caption: String
        /// A complete SVG document with a physical size.
        public var svg: String
    }

    /// The converter for PNG and PDF, and where to get it.
    public static let converter = "rsvg-convert"
    static let converterPackage = "librsvg2-bin"
    /// PNG resolution: print quality.
    public static let pngDPI = 300

    /// The report's figures, in the report's order.
    public static func figures(_ summary: RunSummary) -> [Figure] {
        let html = ChartStyle.$current.withValue(.paper) { RunReport.html(summary) }
        return extract(fromReport: html)
    }

    /// Figures out of report HTML: each `<figure>` holds one SVG and its
    /// caption (`HTMLPage.Builder.figure`); the enclosing section's id and
    /// the chart's label name the file.
    static func extract(fromReport html: String) -> [Figure] {
        var figures: [Figure] = []
        var from = html.startIndex
        while let start = html.range(of: "<figure>\n", range: from..<html.endIndex),
              let captionStart = html.range(of: "<figcaption>", range: start.upperBound..<html.endIndex),
              let captionEnd = html.range(of: "</figcaption>", range: captionStart.upperBound..<html.endIndex) {
            from = captionEnd.upperBound
            let section = html.range(of: "<section id=\"", options: .backwards, range: html.startIndex..<start.lowerBound)
                .map { String(html[$0.upperBound...].prefix { $0 != "\"" }) } ?? "report"
            let svg = String(html[start.upperBound..<captionStart.lowerBound])
            let label = svg.range(of: "aria-label=\"").map { String(svg[$0.upperBound...].prefix { $0 != "\"" }) } ?? "figure"
            figures.append(Figure(name: String(format: "%02d-", figures.count + 1) + slug(section) + "-" + slug(unescape(label)),
                                  caption: unescape(String(html[captionStart.upperBound..<captionEnd.lowerBound])),
                                  svg: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg))
        }
        return figures
    }

    /// Writes every figure as `DIR/NAME.FORMAT` (DIR created if needed) and
    /// `DIR/captions.txt` (one `NAME: caption` line each); returns the figure paths.
    public static func write(_ summary: RunSummary, to directory: String, format: Format) throws -> [String] {
        let tool = format == .svg ? nil : try converterPath()
        try RunExport.makeDirectory(directory)
        let all = figures(summary)
        var paths: [String] = []
        for figure in all {
            let base = (directory as NSString).appendingPathComponent(figure.name)
            let svgPath = base + ".svg"
            try writeText(figure.svg, to: svgPath)
            if let tool {
                defer { try? FileManager.default.removeItem(atPath: svgPath) }
                let out = base + "." + format.rawValue
                try convert(svgPath, to: out, format: format, tool: tool)
                paths.append(out)
            } else {
                paths.append(svgPath)
            }
        }
        try writeText(all.map { "\($0.name): \($0.caption)\n" }.joined(), to: (directory as NSString).appendingPathComponent("captions.txt"))
        return paths
    }

    /// `rsvg-convert` on the PATH, or an error saying which package has it.
    public static func converterPath() throws -> String {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        if let found = dirs.map({ "\($0)/\(converter)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return found
        }
        throw ExportError("PNG and PDF figures need \(converter), which is not on the PATH: install Debian's \(converterPackage) " +
                          "(apt-get install \(converterPackage); tools/setup.sh does), or ask for --figures svg")
    }

    static func convert(_ svg: String, to out: String, format: Format, tool: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        var arguments = ["--format", format.rawValue, "--output", out]
        // PNG: print resolution on a white background (PDF keeps vectors and the page size).
        if format == .png { arguments += ["--dpi-x", "\(pngDPI)", "--dpi-y", "\(pngDPI)", "--background-color", "white"] }
        p.arguments = arguments + [svg]
        let errors = Pipe()
        p.standardError = errors
        do { try p.run() } catch { throw ExportError("cannot run \(tool): \(error.localizedDescription)") }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ExportError("\(converter) failed on \(svg) (exit \(p.terminationStatus)): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    static func writeText(_ text: String, to path: String) throws {
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) } catch {
            throw ExportError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// Lower-case letters and digits, other runs of characters one `-`.
    static func slug(_ s: String) -> String {
        var out = ""
        for c in s.lowercased().unicodeScalars {
            if c.isASCII, CharacterSet.alphanumerics.contains(c) { out.unicodeScalars.append(c) } else if !out.hasSuffix("-") { out += "-" }
        }
        return out.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }
}
