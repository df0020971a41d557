import Foundation
import XCTest

/// `stoqsim export` and `stoqsim man` as a user runs them.
final class ExportCLITests: XCTestCase {
    func stoqsim(_ args: [String]) throws -> StoqsimProcess.Outcome {
        try StoqsimProcess.run(StoqsimProcess.binary(near: ExportCLITests.self), args)
    }

    func testExportARunDirectoryWithFigures() throws {
        try StoqsimProcess.withTemporaryDirectory { dir in
            let run = dir + "/run"
            let r = try stoqsim(["run", "topologies/quickstart.yaml", "--out", run, "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let out = dir + "/export"
            let e = try stoqsim(["export", run, out, "--figures", "svg"])
            XCTAssertEqual(e.status, 0, e.stderr)
            XCTAssertTrue(e.stdout.contains("CSV files"), e.stdout)
            // One file per record type, each with a row per record.
            var counts: [String: Int] = [:]
            for line in try String(contentsOfFile: run + "/trace.jsonl", encoding: .utf8).split(separator: "\n") {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                counts[object["type"] as! String, default: 0] += 1
            }
            XCTAssertTrue(counts.keys.contains("transfer") && counts.keys.contains("cert") && counts.keys.contains("fetch"), "\(counts.keys)")
            for (type, n) in counts {
                let csv = try String(contentsOfFile: "\(out)/trace-\(type).csv", encoding: .utf8)
                XCTAssertEqual(csv.split(separator: "\n").count, n + 1, type)
            }
            // The summary tables the report shows.
            for table in ["summary", "summary-probes", "summary-transfers", "summary-tiers", "summary-links",
                          "summary-content.versions", "summary-content.edges", "summary-certificates.timeline"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(table).csv"), table)
            }
            let figures = try FileManager.default.contentsOfDirectory(atPath: out + "/figures").filter { $0.hasSuffix(".svg") }
            let report = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
            XCTAssertEqual(figures.count, report.components(separatedBy: "<figure>").count - 1, "\(figures)")
        }
    }

    func testExportErrors() throws {
        try StoqsimProcess.withTemporaryDirectory { dir in
            let missing = try stoqsim(["export", dir + "/none", dir + "/out"])
            XCTAssertEqual(missing.status, 2)
            XCTAssertTrue(missing.stderr.contains("no such file or directory"), missing.stderr)
            let trace = dir + "/trace.jsonl"
            try "{\"type\":\"run\"}\nnot json\n".write(toFile: trace, atomically: true, encoding: .utf8)
            let malformed = try stoqsim(["export", trace, dir + "/out"])
            XCTAssertEqual(malformed.status, 2)
            XCTAssertTrue(malformed.stderr.contains("\(trace):2: not a JSON object"), malformed.stderr)
            let format = try stoqsim(["export", trace, dir + "/out", "--format", "xlsx"])
            XCTAssertEqual(format.status, 2)
            XCTAssertTrue(format.stderr.contains("csv") && format.stderr.contains("jsonl"), format.stderr)
            // PNG without rsvg-convert: the error names the Debian package, and nothing is written.
            let binary = try StoqsimProcess.binary(near: ExportCLITests.self)
            let noTool = try StoqsimProcess.run(URL(fileURLWithPath: "/usr/bin/env"),
                                                ["PATH=/nonexistent", binary.path, "export", trace, dir + "/png", "--figures", "png"])
            XCTAssertEqual(noTool.status, 1)
            XCTAssertTrue(noTool.stderr.contains("rsvg-convert") && noTool.stderr.contains("librsvg2-bin"), noTool.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/png"))
        }
    }

    func testManPageListsEveryCommand() throws {
        let r = try stoqsim(["man"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix(".Dd "), String(r.stdout.prefix(80)))
        XCTAssertTrue(r.stdout.contains(".Sh NAME\n.Nm stoqsim\n"))
        // Every subcommand `stoqsim --help` lists has an entry.
        let help = try stoqsim(["--help"])
        let after = try XCTUnwrap(help.stdout.components(separatedBy: "SUBCOMMANDS:").last)
        let section = after.components(separatedBy: "\n\n").first ?? after   // up to the blank line before "See …"
        let commands = section.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            return line.hasPrefix("  ") && !line.hasPrefix("    ") && !words.isEmpty ? String(words[0]) : nil
        }
        XCTAssertGreaterThan(commands.count, 10, help.stdout)
        for c in commands where c != "help" {
            XCTAssertTrue(r.stdout.contains(".It Nm \(c) ") || r.stdout.contains(".It Nm \(c)\n"), "no entry for \(c)")
        }
        // Nested commands and valid values too.
        XCTAssertTrue(r.stdout.contains(".It Nm trustchain "), "nested command")
        XCTAssertTrue(r.stdout.contains("Values: csv, jsonl."), "enum values")
        // mandoc accepts it, when installed.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/mandoc") {
            let page = NSTemporaryDirectory() + "stoqsim-\(UUID().uuidString).1"
            try r.stdout.write(toFile: page, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: page) }
            let lint = try StoqsimProcess.run(URL(fileURLWithPath: "/usr/bin/mandoc"), ["-T", "lint", "-W", "error", page])
            XCTAssertEqual(lint.status, 0, lint.stdout + lint.stderr)
        }
    }
}
