import Foundation

/// report.html laid out by a real browser: headless Chromium (Debian's
/// `chromium`, installed by tools/setup.sh) loads a copy of the page with a
/// measuring script appended, which lists every element reaching past the
/// window's right edge. Wide tables may scroll inside their own box; nothing
/// else may widen the page. Shared by the analyzer's report tests and the
/// bundled-topology report tests; tools/screenshot-report.sh is the same check
/// by hand, with a picture.
public enum BrowserLayout {
    public static let browsers = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]

    /// The browser to use, nil when none is installed.
    public static var browser: String? { browsers.first { FileManager.default.isExecutableFile(atPath: $0) } }

    public enum Failure: Error, CustomStringConvertible {
        case noBrowser
        case didNotRender(String)
        public var description: String {
            switch self {
            case .noBrowser: return "no chromium (apt-get install chromium; tools/setup.sh installs it)"
            case .didNotRender(let page): return "the page did not render: \(page)"
            }
        }
    }

    /// Tags (and classes) of elements wider than a `windowWidth` window, outside scroll boxes.
    public static func overflowingElements(html: String, windowWidth: Int) throws -> [String] {
        guard let browser else { throw Failure.noBrowser }
        let dir = NSTemporaryDirectory() + "stoq-browser-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
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
        try Data(html.replacingOccurrences(of: "</body>", with: probe + "</body>").utf8).write(to: URL(fileURLWithPath: page))
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
        guard let marker = dom.range(of: #"data-overflow="[^"]*""#, options: .regularExpression) else {
            throw Failure.didNotRender(String(dom.prefix(200)))
        }
        let value = dom[marker].dropFirst("data-overflow=\"".count).dropLast()
        return value == "none" ? [] : value.split(separator: " ").map(String.init)
    }
}
