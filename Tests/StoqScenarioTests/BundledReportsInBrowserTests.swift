import Foundation
import StoqAnalyzer
import StoqBrowserLayout
import StoqEngine
import StoqScenario
import XCTest

/// The report of every bundled topology renders in headless Chromium and has no
/// element overflowing a 1,400 px window: real site names on the map, real node
/// and link names in the tables. Each topology runs for its first 200 ms of
/// simulated time (`--until`): enough for every report section the topology
/// itself decides (map, links, tiers, nodes), cheap enough for CI; the sections
/// of workloads that start later are covered by ReportInBrowserTests' busy report.
final class BundledReportsInBrowserTests: XCTestCase {
    /// Every runnable topology file under topologies/ (experiment files name one of these).
    static func bundledTopologies() throws -> [String] {
        let root = repositoryRoot + "/topologies"
        let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        return files.filter { $0.hasSuffix(".yaml") && !$0.hasSuffix(".experiment.yaml") }.sorted().map { root + "/" + $0 }
    }

    func testEveryBundledTopologysReportFitsTheWindow() throws {
        guard BrowserLayout.browser != nil else { throw XCTSkip("\(BrowserLayout.Failure.noBrowser)") }
        let topologies = try Self.bundledTopologies()
        XCTAssertGreaterThanOrEqual(topologies.count, 15, "the bundled topologies were found")
        for path in topologies {
            let name = String(path.dropFirst(repositoryRoot.count + 1))
            let dir = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var s = try Scenario.load(path: path)
            s.stopAt = .milliseconds(200)
            let result = try s.run(outputDirectory: dir, pcapDirectory: nil)
            XCTAssertEqual(result.summary.incompleteReason, "interrupted by --until 200ms at 200.000ms simulated", name)
            let html = try String(contentsOfFile: dir + "/" + RunReport.htmlFile, encoding: .utf8)
            XCTAssertEqual(try BrowserLayout.overflowingElements(html: html, windowWidth: 1400), [], "\(name): elements wider than the window")
        }
    }
}
