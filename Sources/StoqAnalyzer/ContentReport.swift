/// The content-distribution parts of the text summary and the reports.
extension RunReport {
    static func contentOverview(_ c: ContentSummary) -> Table {
        func saved(_ requested: some BinaryInteger, _ sent: some BinaryInteger) -> String {
            "\(SummaryText.formatBytes(UInt64(requested))) → \(SummaryText.formatBytes(UInt64(sent))) " +
                "(\(percent(ContentSummary.ratio(saved: requested, sent: sent))) saved)"
        }
        var rows = [["versions published", "\(c.versionsPublished)"],
                    ["fetches", "\(c.fetches)" + (c.fetchesFailed > 0 ? " (\(c.fetchesFailed) failed)" : "")]]
        if let f = c.fetchNs {
            rows.append(["time to fetch", "p50 \(SummaryText.formatNs(f.p50)), p99 \(SummaryText.formatNs(f.p99)), max \(SummaryText.formatNs(f.max))"])
        }
        rows += [["content bytes, end to end", saved(c.bytesRequested, c.bytesSent)],
                 ["on links (summed over hops)", saved(c.linkBytesRequested, c.linkBytesSent)],
                 ["on backbone links", saved(c.backboneBytesRequested, c.backboneBytesSent)],
                 ["clients got from edges / origin",
                  "\(SummaryText.formatBytes(UInt64(c.bytesFromEdges))) / \(SummaryText.formatBytes(UInt64(c.bytesFromOrigins)))"]]
        return Table(header: ["", ""], rows: rows)
    }

    static func versionHeading(_ c: ContentSummary) -> String {
        c.versions.count > pairRows
            ? "The first \(pairRows) of \(SummaryText.grouped(c.versions.count)) object versions, in publishing order (the totals above cover all)"
            : "Per object version"
    }

    static func contentLinksHeading(_ c: ContentSummary) -> String {
        c.links.count > pairRows
            ? "\(pairRows) of \(SummaryText.grouped(c.links.count)) links, ranked by content requested over them (the totals above cover all)"
            : "Links carrying content, most first"
    }

    static func versionTable(_ c: ContentSummary) -> Table {
        Table(header: ["object", "version", "size", "new bytes", "fetches", "requested", "sent", "dedup"],
              rows: c.versions.prefix(pairRows).map {
                  [$0.object, "\($0.version)", SummaryText.formatBytes(UInt64($0.bytes)), SummaryText.formatBytes(UInt64($0.newBytes)),
                   "\($0.fetches)", SummaryText.formatBytes(UInt64($0.bytesRequested)), SummaryText.formatBytes(UInt64($0.bytesSent)),
                   percent(ContentSummary.ratio(saved: $0.bytesRequested, sent: $0.bytesSent))]
              })
    }

    static func edgeTable(_ c: ContentSummary) -> Table {
        Table(header: ["edge", "hits", "misses", "hit ratio", "served", "stored", "evicted (LRU / TTL)"],
              rows: c.edges.map {
                  [$0.node, "\($0.hits)", "\($0.misses)", $0.wasAsked ? percent($0.hitRatio) : "– (not asked)",
                   SummaryText.formatBytes(UInt64($0.hitBytes)),
                   SummaryText.formatBytes(UInt64($0.bytesStored)), "\($0.evictedCapacity) / \($0.evictedExpired)"]
              })
    }

    /// Links that carried the most content, with what dedup kept off them.
    static func contentLinkTable(_ c: ContentSummary) -> Table {
        let top = c.links.enumerated().sorted { a, b in
            a.element.bytesRequested != b.element.bytesRequested ? a.element.bytesRequested > b.element.bytesRequested
                                                                 : a.offset < b.offset
        }.prefix(pairRows).map(\.element)
        return Table(header: ["link", "backbone", "requested", "sent", "saved"], rows: top.map {
            [$0.link, $0.backbone ? "yes" : "", SummaryText.formatBytes($0.bytesRequested), SummaryText.formatBytes($0.bytesSent),
             percent(ContentSummary.ratio(saved: $0.bytesRequested, sent: $0.bytesSent))]
        })
    }

    static func contentMarkdown(_ c: ContentSummary) -> String {
        var out = "\n## Content distribution and deduplication\n\n"
        out += "\"Requested\" is what would have crossed without deduplication; \"sent\" is the chunk payload that did.\n\n"
        out += Markdown.table(contentOverview(c), headerless: true)
        out += "\n" + versionHeading(c) + ":\n\n" + Markdown.table(versionTable(c))
        if !c.edges.isEmpty { out += "\nEdge caches:\n\n" + Markdown.table(edgeTable(c)) }
        if !c.links.isEmpty { out += "\n" + contentLinksHeading(c) + ":\n\n" + Markdown.table(contentLinkTable(c)) }
        return out
    }

    static func contentHTML(_ c: ContentSummary, into h: inout HTMLPage) {
        h.section("content", "Content distribution and deduplication") { b in
            b.paragraph("\"Requested\" is what would have crossed without deduplication; \"sent\" is the chunk payload that did.")
            b.table(contentOverview(c), headerless: true)
            if !c.timeline.isEmpty {
                b.figure(Charts.overTime(title: "content bytes over time", timesNs: c.timeline.map(\.tNs),
                                         series: [.init(name: "without dedup", values: c.timeline.map { Double($0.bytesRequested) }),
                                                  .init(name: "sent", values: c.timeline.map { Double($0.bytesSent) })],
                                         yLabel: "bytes (cumulative)", format: { SummaryText.formatBytes(UInt64($0)) }),
                         caption: "Dedup savings over time: cumulative content bytes requested vs sent")
            }
            b.heading(versionHeading(c))
            b.table(versionTable(c))
            if !c.edges.isEmpty {
                b.heading("Edge caches")
                b.table(edgeTable(c))
                let asked = c.edges.filter(\.wasAsked)
                if !asked.isEmpty {
                    b.figure(Charts.bars(title: "cache hit ratio per edge", categories: asked.map(\.node),
                                         series: [.init(name: "hit ratio", values: asked.map { $0.hitRatio * 100 })],
                                         yMax: 100, format: { String(format: "%.0f%%", $0) }),
                             caption: "Share of chunks asked of each edge that it held" +
                                 (asked.count < c.edges.count ? " (left out: \(c.edges.filter { !$0.wasAsked }.map(\.node).joined(separator: ", ")), which no client asked)" : ""))
                }
            }
            if !c.links.isEmpty {
                b.heading(contentLinksHeading(c))
                b.table(contentLinkTable(c))
            }
        }
    }
}

extension ContentSummary.Edge {
    /// An edge no client asked for a chunk has no hit ratio (not 0 %).
    var wasAsked: Bool { hits + misses > 0 }
}

extension SummaryText {
    static func content(_ c: ContentSummary) -> String {
        func saved(_ requested: some BinaryInteger, _ sent: some BinaryInteger) -> String {
            "\(formatBytes(UInt64(requested))) → \(formatBytes(UInt64(sent))) " +
                "(" + String(format: "%.1f%%", ContentSummary.ratio(saved: requested, sent: sent) * 100) + ")"
        }
        var out = "\ncontent distribution with deduplication\n"
        out += "  fetched      \(c.versionsPublished) versions published, \(c.fetches) fetches" +
            (c.fetchesFailed > 0 ? " (\(c.fetchesFailed) failed)" : "") +
            (c.fetchNs.map { "  p50 \(formatNs($0.p50)), max \(formatNs($0.max))" } ?? "") + "\n"
        out += "  dedup saved  end to end \(saved(c.bytesRequested, c.bytesSent)); on the backbone " +
            "\(saved(c.backboneBytesRequested, c.backboneBytesSent))\n"
        let asked = c.edges.filter(\.wasAsked)
        if !asked.isEmpty {
            out += "  edge caches  hit ratio " + asked.map { "\($0.node) " + String(format: "%.0f%%", $0.hitRatio * 100) }
                .joined(separator: ", ") + "; clients got \(formatBytes(UInt64(c.bytesFromEdges))) from edges, " +
                "\(formatBytes(UInt64(c.bytesFromOrigins))) from origins\n"
        }
        return out
    }
}
