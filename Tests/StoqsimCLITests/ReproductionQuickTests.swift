import Foundation
import XCTest

/// `tools/reproduce.sh --quick` (issue #19: quick mode runs in CI): every
/// scenario at its small size, with the built binary, each checked against
/// ranges that follow from physics. About 2 minutes with a debug build.
final class ReproductionQuickTests: XCTestCase {
    static let scenarios = ["tiers", "routing-1000", "edge-geo", "dedup", "rotation", "sim-vs-netns", "connections-100k"]

    func testQuickReproductionPassesEveryScenario() throws {
        let binary = try StoqsimProcess.binary(near: ReproductionQuickTests.self)
        try StoqsimProcess.withTemporaryDirectory { dir in
            let r = try StoqsimProcess.run(URL(fileURLWithPath: "/bin/bash"),
                                           ["tools/reproduce.sh", "--quick", "--out", dir, "--stoqsim", binary.path])
            XCTAssertEqual(r.status, 0, "tools/reproduce.sh --quick failed:\n\(r.stdout.suffix(3000))\n\(r.stderr.suffix(3000))")
            let report = try String(contentsOfFile: dir + "/REPRODUCTION.md", encoding: .utf8)
            for name in Self.scenarios {
                XCTAssertTrue(report.contains("| [\(name)](#\(name)) | passed |"), "\(name) did not pass:\n\(report.prefix(2000))")
            }
            XCTAssertFalse(report.contains("| missing |"), "a scenario is listed as missing")
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/reproduction.html"))
        }
    }
}
