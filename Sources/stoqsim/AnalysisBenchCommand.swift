import ArgumentParser
import Foundation
import StoqAnalyzer

struct AnalysisBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analysis",
        abstract: "Trace analysis on a generated probe and transfer trace: one thread, then all cores.",
        discussion: "The trace is written to a temporary file first (≈ 150 bytes a record) and removed afterwards.")

    @Option(help: "Records in the generated trace.") var records: Int = 10_000_000
    @Option(help: "Threads of the parallel run (default: all cores).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("repeat"), help: "Repetitions; the median is reported.") var repetitions: Int = 1
    @Option(help: ArgumentHelp("Keep the generated trace at this path, or analyse the one already there.",
                               discussion: "Side-by-side runs of two builds then read the same file (from the page cache).",
                               valueName: "path"))
    var trace: String?

    func run() throws {
        guard records >= 1_000, threads > 0, repetitions > 0 else {
            throw ValidationError("--records must be at least 1000; --threads and --repeat positive")
        }
        if let trace {
            let directory = (trace as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory.isEmpty ? "." : directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--trace: the directory '\(directory)' does not exist")
            }
        }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench analysis'")
        #endif
        let path = trace ?? NSTemporaryDirectory() + "stoqsim-bench-analysis-\(getpid()).jsonl"
        defer { if trace == nil { try? FileManager.default.removeItem(atPath: path) } }
        if trace != nil, FileManager.default.fileExists(atPath: path) {
            printError("analysing the trace already at \(path) (--records does not apply)")
        } else {
            let start = Date()
            try AnalysisBenchmarks.writeTrace(to: path, records: records)
            printError("generated \(records) records in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        }
        // The single-thread runs come first; the first one's summary is what every run must match.
        var reference: RunSummary?
        try reportMedians([
            {
                let (result, summary) = try AnalysisBenchmarks.analyse(path: path, threads: 1, reference: reference)
                if reference == nil { reference = summary }
                return result
            },
            { try AnalysisBenchmarks.analyse(path: path, threads: threads, reference: reference).0 },
        ], repetitions: repetitions, rank: \.wallSeconds, verified: \.verified)
    }
}
