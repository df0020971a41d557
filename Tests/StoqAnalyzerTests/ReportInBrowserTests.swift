import Foundation
@testable import StoqAnalyzer
import XCTest

/// report.html laid out by a real browser: headless Chromium (Debian's
/// `chromium`, optional: the test is skipped without it) loads a copy of the
/// report with a measuring script appended and reports every element that
/// reaches past the window's right edge. Wide tables may scroll inside their
/// own box; nothing else may widen the page. Run by hand on a real report:
/// tools/screenshot-report.sh.
final class ReportInBrowserTests: XCTestCase {
    static let browsers = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]

    /// Tags (and classes) of elements wider than the window, outside scroll boxes.
    func overflowingElements(html: String, windowWidth: Int) throws -> [String] {
        guard let browser = Self.browsers.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("no chromium (apt-get install chromium) to lay the report out")
        }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let probe = """
        <script>
        const limit = document.documentElement.clientWidth + 1;
        // An <svg> clips what it holds (the map's land runs past its frame), so
        // only the <svg> itself counts; ReportLayoutTests check what is inside.
        const wide = [...document.querySelectorAll('body *')].filter(e =>
          e.getBoundingClientRect().right > limit && !e.ownerSVGElement &&
          !(e.parentElement && e.parentElement.closest('.scroll')));
        document.body.setAttribute('data-overflow', wide.map(e => e.tagName + '.' + (e.getAttribute('class') || '')).join(' ') || 'none');
        </script>
        """
        let page = dir + "/report.html"
        try html.replacingOccurrences(of: "</body>", with: probe + "</body>").write(toFile: page, atomically: true, encoding: .utf8)
        // The DOM after the script ran goes to a file (no pipe to drain while waiting).
        let dump = dir + "/dom.html"
        FileManager.default.createFile(atPath: dump, contents: nil)
        let chromium = Process()
        chromium.executableURL = URL(fileURLWithPath: browser)
        chromium.arguments = ["--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=\(dir)/profile", "--hide-scrollbars",
                              "--window-size=\(windowWidth),900", "--dump-dom", "file://\(page)"]
        chromium.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dump))
        chromium.standardError = FileHandle.nullDevice
        try chromium.run()
        chromium.waitUntilExit()
        let dom = try String(contentsOfFile: dump, encoding: .utf8)
        let marker = try XCTUnwrap(dom.range(of: #"data-overflow="[^"]*""#, options: .regularExpression), "the page did not render")
        let value = dom[marker].dropFirst("data-overflow=\"".count).dropLast()
        return value == "none" ? [] : value.split(separator: " ").map(String.init)
    }

    /// A report with every kind of section and long names: transfers between
    /// long node names, many sites on the map, a long failure target.
    func busyReport() throws -> String {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSampleTrace(to: dir + "/trace.jsonl")
        var s = try TraceAnalyzer.summarize(tracePath: dir + "/trace.jsonl")
        s.transfers = (0..<30).map { i in
            .init(workload: "day-\(i % 3)", from: "client-north-america-\(i)", to: "edge-north-america-\(i)", bytes: 10_000, streams: 1,
                  started: 1, completed: 1, durationNs: Distribution([Int64(50_000_000 + i)]), handshakeNs: Distribution([10_000_000]),
                  meanGoodputBps: 1e6, meanGoodputAfterSlowStartBps: 2e6, packetsLost: 0, packetsRetransmitted: 0,
                  congestion: "cubic", transport: "initial-rtt 100ms")
        }
        return RunReport.html(s)
    }

    func testNothingOverflowsA1400PixelWindow() throws {
        XCTAssertEqual(try overflowingElements(html: try busyReport(), windowWidth: 1400), [])
    }

    func testNothingOverflowsANarrowWindowEither() throws {
        XCTAssertEqual(try overflowingElements(html: try busyReport(), windowWidth: 800), [])
    }
}
