import ArgumentParser
import Foundation
import StoqAnalyzer

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put finished runs side by side: key metrics per run, differences against the first run.")

    @Argument(help: "Run directories; the first is the baseline.") var directories: [String]
    @Option(help: "Write compare.md and compare.html into this directory instead of printing Markdown.") var out: String?

    func validate() throws {
        guard directories.count >= 2 else { throw ValidationError("compare needs at least two run directories") }
    }

    func run() throws {
        var runs: [(label: String, summary: RunSummary)] = []
        for d in directories {
            do { runs.append((d, try RunReport.loadSummary(directory: d))) } catch {
                printError("\(d): \(error)")
                throw ExitCode(badInputExitCode)
            }
        }
        let comparison = RunComparison(runs: runs)
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
