import Foundation
import XCTest

/// The README's first run is what the code prints: the quickstart's stdout,
/// run from a fresh directory (so its default output directory reads
/// `runs/quickstart-seed1` as in the README), equals the README's sample
/// byte for byte. A change to a workload, the network model or the summary
/// that moves a figure fails here until the README shows the new output.
final class ReadmeQuickstartTests: XCTestCase {
    static let command = "$ swift run -c release stoqsim run topologies/quickstart.yaml\n"

    func readmeSample() throws -> String {
        let readme = try String(contentsOf: StoqsimProcess.root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try XCTUnwrap(readme.range(of: Self.command), "the README has no quickstart sample")
        let end = try XCTUnwrap(readme.range(of: "\n```", range: start.upperBound..<readme.endIndex))
        return String(readme[start.upperBound..<end.lowerBound])
    }

    func testReadmeSampleIsTheQuickstartsOutput() throws {
        try StoqsimProcess.withTemporaryDirectory { dir in
            let topology = StoqsimProcess.root.appendingPathComponent("topologies/quickstart.yaml").path
            let r = try StoqsimProcess.run(StoqsimProcess.binary(near: ReadmeQuickstartTests.self), ["run", topology, "--quiet"],
                                           in: URL(fileURLWithPath: dir))
            XCTAssertEqual(r.status, 0, r.stderr)
            let printed = r.stdout.trimmingCharacters(in: .newlines)
            let sample = try readmeSample()
            XCTAssertEqual(printed, sample, "README.md's quickstart sample differs from the output; paste this:\n\(printed)")
        }
    }
}
