import Foundation

/// The summary's time series in long form, one row per bin or sample, for
/// plotting tools: `series-links.FORMAT` (link, bin start, utilisation, peak
/// window utilisation, peak queue, drops, bytes) and `series-transfers.FORMAT`
/// (transfer, offset, cwnd, smoothed RTT, bytes in flight). The
/// `summary-linkSeries` and `summary-transferSeries` tables hold the same
/// series as one row per link or transfer, arrays in JSON cells.
enum TimeSeriesExport {
    static let linkColumns = ["link", "bin_start_ns", "bin_ns", "utilisation", "peak_utilisation", "window_ns",
                              "max_queued_bytes", "drops", "bytes"]
    static let transferColumns = ["workload", "from", "to", "start_ns", "offset_ns", "cwnd", "srtt_ns", "in_flight"]

    static func write(_ summary: RunSummary, to directory: String, format: ExportFormat) throws -> [(path: String, rows: Int)] {
        var written: [(String, Int)] = []
        if let links = summary.linkSeries, !links.isEmpty {
            let rows = links.flatMap { l in
                l.utilisation.indices.map { i -> [JSONValue] in
                    [.string(l.link), .int(Int64(i) * l.binNs), .int(l.binNs), .double(l.utilisation[i]), .double(l.peakUtilisation[i]),
                     .int(l.windowNs), .int(l.maxQueuedBytes[i]), .int(l.drops[i]), .int(l.bytes[i])]
                }
            }
            written.append(try writeTable("series-links", columns: linkColumns, rows: rows, to: directory, format: format))
        }
        if let transfers = summary.transferSeries, !transfers.isEmpty {
            let rows = transfers.flatMap { x in
                x.offsetNs.indices.map { i -> [JSONValue] in
                    [.string(x.workload), .string(x.from), .string(x.to), .int(x.startNs), .int(x.offsetNs[i]), .int(x.cwnd[i]),
                     .int(x.srttNs[i]), .int(x.inFlight[i])]
                }
            }
            written.append(try writeTable("series-transfers", columns: transferColumns, rows: rows, to: directory, format: format))
        }
        return written
    }

    private static func writeTable(_ name: String, columns: [String], rows: [[JSONValue]], to directory: String,
                                   format: ExportFormat) throws -> (String, Int) {
        let out = try ExportFile(path: (directory as NSString).appendingPathComponent("\(name).\(format.rawValue)"))
        if format == .csv { out.write(CSV.row(columns)) }
        for row in rows {
            out.write(format == .csv ? CSV.row(row.map { $0.cellText ?? "" })
                                     : JSONValue.object(Dictionary(uniqueKeysWithValues: zip(columns, row))).jsonText + "\n")
        }
        try out.close()
        return (out.path, rows.count)
    }
}
