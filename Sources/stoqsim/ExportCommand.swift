import ArgumentParser
import Foundation
import StoqAnalyzer

extension ExportFormat: ExpressibleByArgument {}
extension ReportFigures.Format: ExpressibleByArgument {}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a run's records and summary tables as CSV or JSON lines, and its charts as figures for a paper.",
        discussion: """
        The output directory gets trace-TYPE.FORMAT per record type, summary.FORMAT (single values) and \
        summary-TABLE.FORMAT per summary table; with --figures, every chart of report.html as a standalone figure \
        (3.4 in wide, 8 pt text; the map 7 in) in its figures/ directory. Columns are listed in docs/reports.md ("Export").
        """)

    @Argument(help: "Run directory (holding trace.jsonl) or a trace file.") var input: String
    @Argument(help: "Output directory (created if needed).") var directory: String
    @Option(help: "Format of the record and table files.") var format: ExportFormat = .csv
    @Option(help: ArgumentHelp("Also write the report's charts in this format (png and pdf need rsvg-convert, Debian's librsvg2-bin).",
                               valueName: "format"))
    var figures: ReportFigures.Format?
    @Option(help: "Directory for the figures (default: <directory>/figures).") var figuresDir: String?
    @Flag(help: "Only the figures, no record or table files.") var figuresOnly = false

    func validate() throws {
        if figuresOnly, figures == nil { throw ValidationError("--figures-only needs --figures svg|png|pdf") }
        if figuresDir != nil, figures == nil { throw ValidationError("--figures-dir needs --figures svg|png|pdf") }
    }

    func run() throws {
        do {
            // A missing converter is found before any file is written.
            if let figures, figures != .svg { _ = try ReportFigures.converterPath() }
            let run = try RunExport.Input(path: input)
            if !figuresOnly {
                let files = try RunExport.write(run, to: directory, format: format)
                let rows = files.reduce(0) { $0 + $1.rows }
                print("wrote \(files.count) \(format.rawValue.uppercased()) files (\(rows) rows) into \(directory)")
            }
            if let figures {
                let dir = figuresDir ?? (directory as NSString).appendingPathComponent("figures")
                let paths = try ReportFigures.write(try run.summary(), to: dir, format: figures)
                for p in paths { print("wrote \(p)") }
                print("wrote \((dir as NSString).appendingPathComponent("captions.txt"))")
            }
        } catch let e as ExportError {
            printError(e.description)
            throw ExitCode(e.badInput ? badInputExitCode : ExitCode.failure.rawValue)
        } catch let e as TraceAnalyzer.AnalysisError {
            printError(e.description)
            throw ExitCode(badInputExitCode)
        } catch let e as ExitCode {
            throw e
        } catch {
            printError("export of \(input) failed: \(error)")
            throw ExitCode.failure
        }
    }
}
