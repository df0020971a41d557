import Foundation

/// `stoqsim export`: a run's trace and summary as files other tools read
/// (see docs/reports.md, "Export"): one file per record type and one per
/// summary table, plus the report's charts as standalone figures.
public enum RunExport {
    /// A run to export: its trace and, once needed, its summary.
    public struct Input {
        public let tracePath: String
        /// The run directory, when one was given (its summary.json is reused).
        public let directory: String?

        /// `path` is a run directory (holding trace.jsonl) or a trace file.
        public init(path: String) throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ExportError("\(path): no such file or directory; pass a run directory written by 'stoqsim run' or its trace.jsonl", badInput: true)
            }
            if isDirectory.boolValue {
                tracePath = (path as NSString).appendingPathComponent(RunReport.traceFile)
                directory = path
                guard FileManager.default.fileExists(atPath: tracePath) else {
                    throw ExportError("\(path) holds no \(RunReport.traceFile); pass a run directory written by 'stoqsim run' or a trace file", badInput: true)
                }
            } else {
                tracePath = path
                directory = nil
            }
        }

        /// The run directory's summary.json when it is current, else a fresh analysis of the trace.
        public func summary() throws -> RunSummary {
            if let directory { return try RunReport.loadSummary(directory: directory) }
            return try TraceAnalyzer.summarize(tracePath: tracePath)
        }
    }

    /// Writes `trace-TYPE.FORMAT` per record type, `summary.FORMAT` and
    /// `summary-TABLE.FORMAT` per summary table, and the time series in long
    /// form (`series-links`, `series-transfers`), into `directory` (created if
    /// needed); returns every file written with its row count (header excluded).
    public static func write(_ input: Input, to directory: String, format: ExportFormat) throws -> [(path: String, rows: Int)] {
        try makeDirectory(directory)
        // The trace first: a malformed line is reported with its line number before any analysis.
        let records = try TraceExport.write(tracePath: input.tracePath, to: directory, format: format)
        let summary = try input.summary()
        return records + (try SummaryExport.write(summary, to: directory, format: format))
            + (try TimeSeriesExport.write(summary, to: directory, format: format))
    }

    static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw ExportError("cannot create the directory \(path): \(error.localizedDescription)")
        }
    }
}
