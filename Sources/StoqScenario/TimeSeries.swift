import StoqAnalyzer
import StoqEngine
import StoqNetwork
import StoqRouting
import StoqTopology
import StoqTransport

/// What a run records over time (`run --series-*`, `--sample-transfers`):
/// link activity in fixed bins, traced for the busiest link directions, and
/// the congestion state of a few transfers per workload.
public struct TimeSeriesOptions: Equatable, Sendable {
    /// Link directions whose bins are traced, the busiest by bytes first.
    public var busiestLinks = 10
    /// Directions to track: `a>b` names one, a node name every direction from
    /// or to it. nil tracks every direction (with fewer, wider bins on large
    /// topologies: `LinkTimeSeries.make`).
    public var links: [String]?
    /// Bin width; nil cuts the run into `LinkTimeSeries.defaultBinCount` bins.
    public var binWidth: SimDuration?
    /// Transfers of each `transfer` workload (its first ones) whose sender's
    /// congestion window and RTT are sampled.
    public var sampledTransfers = 3

    public init() {}

    /// Throws, saying why, for a bin width the series cannot use.
    public static func checkBinWidth(_ width: SimDuration) throws {
        _ = try LinkTimeSeries.binWidth(durationNs: 1, requested: width.nanoseconds)
    }

    /// The keys of a topology file's `trace:` mapping, one per `run` option.
    static let fileKeys = ["series-top", "series-links", "series-bin", "sample-transfers"]

    /// The defaults with a topology file's `trace:` settings applied; throws a
    /// located error for an unknown key, a bad value or an unknown link or node.
    public init(section m: ConfigMap?, topology: Topology) throws {
        self.init()
        guard let m else { return }
        try m.checkKeys(allowed: Self.fileKeys, context: "'trace'")
        func count(_ key: String) throws -> Int? {
            guard let n = try m.int(key) else { return nil }
            guard n >= 0 else { throw TopologyDiagnostic(at: m.location(of: key), "'\(key)' must be 0 or more; got \(n)") }
            return n
        }
        if let n = try count("series-top") { busiestLinks = n }
        if let n = try count("sample-transfers") { sampledTransfers = n }
        if let names = try m.stringList("series-links") {
            for name in names {
                // What `chosenEdges` will look for in the graph: the same test on each direction of each link.
                guard topology.links.contains(where: { Self.selects(name, from: $0.from, to: $0.to) || Self.selects(name, from: $0.to, to: $0.from) }) else {
                    throw TopologyDiagnostic(at: m.location(of: "series-links"), "'series-links' names '\(excerpt(name))', which is neither a node nor a link direction (a>b) of the topology")
                }
            }
            links = names
        }
        if let width = try m.duration("series-bin") {
            do { try Self.checkBinWidth(width) } catch {
                throw TopologyDiagnostic(at: m.location(of: "series-bin"), "'series-bin': \(error)")
            }
            binWidth = width
        }
    }

    /// No link series and no transfer samples.
    public static let off: TimeSeriesOptions = {
        var o = TimeSeriesOptions()
        o.busiestLinks = 0
        o.sampledTransfers = 0
        return o
    }()

    /// Whether `name` (a direction `a>b`, or a node for all its links) selects the link direction from → to.
    static func selects(_ name: String, from: String, to: String) -> Bool {
        name == from || name == to || name == "\(from)>\(to)"
    }

    /// The edges `links` names; throws for a name that is neither a node nor a link direction.
    func chosenEdges(in graph: RoutingGraph) throws -> [Int]? {
        guard let links else { return nil }
        var edges = Set<Int>()
        for name in links {
            let matches = (0..<graph.edgeCount).filter { e in
                Self.selects(name, from: graph.name(ofNode: graph.edgeSource[e]), to: graph.name(ofNode: graph.edgeTarget[e]))
            }
            guard !matches.isEmpty else {
                throw name.contains(">") ? NetworkError.unknownLink(String(name.split(separator: ">").first ?? ""),
                                                                    String(name.split(separator: ">").last ?? ""))
                                          : NetworkError.unknownNode(name)
            }
            edges.formUnion(matches)
        }
        return edges.sorted()
    }

    /// The series the network records into for this run; nil when none is wanted (or fits).
    func makeLinkSeries(for network: Network) throws -> LinkTimeSeries? {
        guard busiestLinks > 0 else { return nil }
        return try LinkTimeSeries.make(edgeCount: network.graph.edgeCount, chosen: try chosenEdges(in: network.graph),
                                       durationNs: network.topology.duration.nanoseconds, binNs: binWidth?.nanoseconds)
    }

    /// `link_series` records of the `busiestLinks` tracked directions that carried the most bytes, busiest first (ties in edge order).
    func linkSeriesRecords(_ series: LinkTimeSeries, network: Network) -> [TraceRecord] {
        series.finish()
        let bytes = series.edges.map { (edge: $0, bytes: network.counters(edge: $0).bytesSent) }.filter { $0.bytes > 0 }
        let busiest = bytes.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.edge < $1.edge }.prefix(busiestLinks).map(\.edge)
        return busiest.compactMap { e in
            guard let bins = series.bins(edge: e), let tail = series.tail(edge: e) else { return nil }
            return .linkSeries(.init(link: network.graph.name(ofEdge: e), binNs: series.binNs, windowNs: series.windowNs,
                                     bytes: bins.map { Int64($0.bytes) }, busyNs: bins.map(\.busyNs),
                                     maxWindowBusyNs: bins.map(\.maxWindowBusyNs), maxQueuedBytes: bins.map { Int64($0.maxQueuedBytes) },
                                     drops: bins.map { Int64($0.drops) }, tailBytes: Int64(tail.bytes), tailBusyNs: tail.busyNs,
                                     tailDrops: Int64(tail.drops)))
        }
    }
}

/// A sender's congestion window, smoothed RTT and bytes in flight over one
/// transfer, sampled after its connection's transmit turns (each follows an
/// ACK it processed or one of its timers). At most `capacity` samples, at least
/// `spacingNs` apart; when they fill up every other one goes and the spacing
/// doubles, so a transfer of any length keeps an even spread.
final class CongestionSamples {
    static let capacity = 256
    private(set) var spacingNs: Int64 = 1_000_000
    private(set) var offsetNs: [Int64] = []
    private(set) var cwnd: [Int64] = []
    private(set) var srttNs: [Int64] = []
    private(set) var inFlight: [Int64] = []

    /// Takes a sample at `offset` (since the transfer started) unless the last is nearer than the spacing.
    func sample(at offset: Int64, from connection: QuicConnection, force: Bool = false) {
        if let last = offsetNs.last, offset - last < spacingNs, !force || offset == last { return }
        if offsetNs.count == Self.capacity { thin() }
        let m = connection.metrics
        offsetNs.append(offset)
        cwnd.append(Int64(clamping: m.congestionWindow))
        srttNs.append(m.smoothedRTT.nanoseconds)
        inFlight.append(Int64(clamping: m.bytesInFlight))
    }

    private func thin() {
        func everyOther(_ a: [Int64]) -> [Int64] { stride(from: 0, to: a.count, by: 2).map { a[$0] } }
        offsetNs = everyOther(offsetNs)
        cwnd = everyOther(cwnd)
        srttNs = everyOther(srttNs)
        inFlight = everyOther(inFlight)
        spacingNs *= 2
    }
}
