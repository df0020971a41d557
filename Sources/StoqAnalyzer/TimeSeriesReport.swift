import Foundation

/// The reports' time-series sections: "Links over time" (utilisation per bin
/// beside its 10 ms peak, queue occupancy, drops) and "Congestion window and
/// RTT over time" for the sampled transfers.
extension RunReport {
    /// Links drawn one utilisation chart each; the table lists every traced one.
    static let seriesChartLimit = 6

    static func linkSeriesNote(_ series: [RunSummary.LinkSeries]) -> String {
        let bin = series.first.map { SummaryText.exactDuration($0.binNs) } ?? "–"
        let window = series.first.map { SummaryText.exactDuration($0.windowNs) } ?? "–"
        return "The \(series.count) busiest link directions (by bytes offered) in bins of \(bin). A run's mean utilisation "
            + "hides bursts: the peak is the busiest \(window) window, where a link that is idle on average can be saturated "
            + "and dropping. Queue is the peak occupancy in the bin."
    }

    static func linkSeriesTable(_ series: [RunSummary.LinkSeries]) -> Table {
        Table(header: ["link", "mean util", "peak util (\(series.first.map { SummaryText.exactDuration($0.windowNs) } ?? "window"))",
                       "busiest bin", "max queue", "dropped", "bins with drops"],
              rows: series.map { l in
                  [l.link, percent(l.meanUtilisation), percent(l.peakWindowUtilisation), percent(l.utilisation.max() ?? 0),
                   SummaryText.formatBytes(UInt64(max(l.maxQueuedBytes.max() ?? 0, 0))), "\(l.totalDrops)",
                   "\(l.drops.filter { $0 > 0 }.count) of \(l.drops.count)"]
              })
    }

    static func transferSeriesNote(_ series: [RunSummary.TransferSeries]) -> String {
        "The sender's congestion window and smoothed RTT (ngtcp2's conn_stat) over \(series.count) sampled transfer"
            + (series.count == 1 ? "" : "s") + ", from each transfer's connection attempt; sampled after the sender's transmit turns "
            + "(each follows an ACK or a timer; at most 256 samples each). A window that falls marks a loss or congestion signal."
    }

    static func transferSeriesTable(_ series: [RunSummary.TransferSeries]) -> Table {
        Table(header: ["workload", "transfer", "started", "samples", "max cwnd", "min cwnd after max", "max srtt"],
              rows: series.map { x in
                  let peak = x.cwnd.indices.max { x.cwnd[$0] < x.cwnd[$1] }
                  let afterPeak = peak.map { x.cwnd[$0...].min() ?? 0 }
                  return [x.workload, transferName(x), SummaryText.formatNs(x.startNs), "\(x.offsetNs.count)",
                          SummaryText.formatBytes(UInt64(max(x.cwnd.max() ?? 0, 0))),
                          afterPeak.map { SummaryText.formatBytes(UInt64(max($0, 0))) } ?? "–",
                          SummaryText.formatNs(x.srttNs.max() ?? 0)]
              })
    }

    static func transferName(_ x: RunSummary.TransferSeries) -> String { "\(x.from) → \(x.to) @\(SummaryText.formatNs(x.startNs))" }

    static func timeSeriesMarkdown(_ s: RunSummary) -> String {
        var out = ""
        if let l = s.linkSeries, !l.isEmpty {
            out += "\n## Links over time\n\n\(linkSeriesNote(l))\n\n" + Markdown.table(linkSeriesTable(l))
        }
        if let x = s.transferSeries, !x.isEmpty {
            out += "\n## Congestion window and RTT over time\n\n\(transferSeriesNote(x))\n\n" + Markdown.table(transferSeriesTable(x))
        }
        return out
    }

    static func timeSeriesHTML(_ s: RunSummary, into h: inout HTMLPage) {
        if let links = s.linkSeries, !links.isEmpty {
            h.section("links-over-time", "Links over time") { b in
                b.paragraph(linkSeriesNote(links))
                b.table(linkSeriesTable(links))
                for l in links.prefix(seriesChartLimit) {
                    b.figure(Charts.overTime(title: "utilisation of \(l.link)", timesNs: binStarts(l),
                                             series: [.init(name: "peak (\(SummaryText.exactDuration(l.windowNs)))", values: percents(l.peakUtilisation)),
                                                      .init(name: "mean per bin", values: percents(l.utilisation))],
                                             yLabel: "utilisation (%)", format: { String(format: "%.0f", $0) }, yMax: 100),
                             caption: "\(l.link): utilisation per \(SummaryText.exactDuration(l.binNs)) bin and its busiest "
                                 + "\(SummaryText.exactDuration(l.windowNs)) window")
                }
                let charted = Array(links.prefix(seriesChartLimit))
                let times = binStarts(charted[0])
                let queue = byteScale(charted.flatMap(\.maxQueuedBytes).max() ?? 0)
                b.figure(Charts.overTime(title: "queue occupancy", timesNs: times,
                                         series: charted.map { .init(name: $0.link, values: $0.maxQueuedBytes.map { Double($0) * queue.scale } + [0]) },
                                         yLabel: "peak queue per bin (\(queue.unit))", format: { String(format: "%g", $0) }),
                         caption: "Peak queue occupancy per bin" + chartedNote(charted.count, of: links.count))
                if links.contains(where: { $0.totalDrops > 0 }) {
                    b.figure(Charts.overTime(title: "drops", timesNs: times,
                                             series: charted.map { .init(name: $0.link, values: $0.drops.map(Double.init) + [0]) },
                                             yLabel: "packets dropped per bin", format: { String(format: "%.0f", $0) }),
                             caption: "Packets dropped per bin" + chartedNote(charted.count, of: links.count))
                }
            }
        }
        if let transfers = s.transferSeries, !transfers.isEmpty {
            h.section("transfers-over-time", "Congestion window and RTT over time") { b in
                b.paragraph(transferSeriesNote(transfers))
                b.table(transferSeriesTable(transfers))
                let charted = Array(transfers.prefix(cdfSeriesLimit))
                let window = byteScale(charted.flatMap(\.cwnd).max() ?? 0)
                b.figure(transferChart(charted, title: "congestion window", yLabel: "congestion window (\(window.unit))", values: \.cwnd,
                                       scale: window.scale, format: { String(format: "%g", $0) }),
                         caption: "Congestion window since each transfer's start" + chartedNote(charted.count, of: transfers.count))
                b.figure(transferChart(charted, title: "smoothed RTT", yLabel: "smoothed RTT (ms)", values: \.srttNs,
                                       scale: 1e-6, format: { String(format: "%g", $0) }),
                         caption: "Smoothed RTT since each transfer's start" + chartedNote(charted.count, of: transfers.count))
            }
        }
    }

    /// Each bin's start, plus the end of the last so its value is drawn across it.
    static func binStarts(_ l: RunSummary.LinkSeries) -> [Int64] {
        (0...l.utilisation.count).map { Int64($0) * l.binNs }
    }

    static func percents(_ v: [Double]) -> [Double] { v.map { $0 * 100 } + [0] }

    static func chartedNote(_ shown: Int, of total: Int) -> String {
        shown < total ? " (the first \(shown) of \(total) in the table's order)" : ""
    }

    /// Transfers sampled at different offsets, drawn on one axis, each ending at its last sample.
    static func transferChart(_ series: [RunSummary.TransferSeries], title: String, yLabel: String,
                              values: KeyPath<RunSummary.TransferSeries, [Int64]>, scale: Double = 1,
                              format: @escaping (Double) -> String) -> String {
        let lines = series.map { x in
            Charts.LineSeries(name: transferName(x), values: x[keyPath: values].map { Double($0) * scale }, timesNs: x.offsetNs)
        }
        return Charts.overTime(title: title, timesNs: [], series: lines, yLabel: yLabel, format: format,
                               xLabel: "time since the transfer started")
    }

    /// Byte values in the binary unit that keeps their axis ticks round (KiB or MiB), and that unit.
    static func byteScale(_ maxBytes: Int64) -> (scale: Double, unit: String) {
        maxBytes >= 4 << 20 ? (1.0 / Double(1 << 20), "MiB") : (1.0 / 1024, "KiB")
    }
}

extension SummaryText {
    /// Links listed in the terminal summary's time-series block.
    static let seriesRows = 5

    /// A bin or window width in the largest unit that states it exactly (`10ms`, `288s`), else as `formatNs`.
    static func exactDuration(_ ns: Int64) -> String {
        for (unit, suffix) in [(Int64(1_000_000_000), "s"), (1_000_000, "ms"), (1_000, "µs")] where ns >= unit && ns % unit == 0 {
            return "\(ns / unit)\(suffix)"
        }
        return formatNs(ns)
    }

    /// The busiest links' mean utilisation beside their short-window peak.
    static func linksOverTime(_ series: [RunSummary.LinkSeries]) -> String {
        let window = series.first.map { exactDuration($0.windowNs) } ?? "window"
        return "\nbusiest links over time (peak = busiest \(window) window)\n"
            + table(header: ["link", "mean util", "peak util", "max queue", "dropped"], rows: series.prefix(seriesRows).map { l in
                [l.link, String(format: "%.1f%%", l.meanUtilisation * 100), String(format: "%.1f%%", l.peakWindowUtilisation * 100),
                 formatBytes(UInt64(max(l.maxQueuedBytes.max() ?? 0, 0))), "\(l.totalDrops)"]
            })
    }
}
