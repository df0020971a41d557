import ArgumentParser
import Foundation
import StoqAnalyzer

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put finished runs side by side: key metrics per run, differences against the first run.")

    @Argument(help: "Run directories; the first is the baseline.") var directories: [String]
    @Option(help: "Write compare.md and compare.html into this directory instead of printing Markdown.") var out: String?
    @Option(name: .customLong("label"), help: ArgumentHelp("Name a run in the tables, NAME=DIR (repeatable); by default runs are named by what differs between them: topology, strategy, seed, backend.", valueName: "name=dir"))
    var labelAssignments: [String] = []

    func validate() throws {
        guard directories.count >= 2 else { throw ValidationError("compare needs at least two run directories") }
        for a in labelAssignments {
            guard let eq = a.firstIndex(of: "="), eq != a.startIndex, directories.contains(String(a[a.index(after: eq)...])) else {
                throw ValidationError("--label '\(a)' must be NAME=DIR with DIR one of the compared directories")
            }
        }
    }

    func run() throws {
        var summaries: [RunSummary] = []
        for d in directories {
            do { summaries.append(try RunReport.loadSummary(directory: d)) } catch {
                printError("\(d): \(error)")
                throw ExitCode(badInputExitCode)
            }
        }
        var overrides: [String: String] = [:]
        for a in labelAssignments {
            let eq = a.firstIndex(of: "=")!
            overrides[String(a[a.index(after: eq)...])] = String(a[..<eq])
        }
        let labels = RunComparison.labels(for: summaries, directories: directories, overrides: overrides)
        let comparison = RunComparison(runs: Array(zip(labels, summaries)).map { (label: $0.0, summary: $0.1) })
        guard let out else {
            print(comparison.markdown(), terminator: "")
            return
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for (name, text) in [("compare.md", comparison.markdown()), ("compare.html", comparison.html())] {
            let path = (out as NSString).appendingPathComponent(name)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            print("wrote \(path)")
        }
    }
}
