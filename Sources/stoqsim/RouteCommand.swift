import ArgumentParser
import Dispatch
import Foundation
import StoqRouting
import StoqScenario
import StoqTopology

struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Show the route of one pair, or the all-pairs routing matrix.",
        discussion: """
        With --from and --to: the path, latency, hops, bottleneck and stretch of that pair (k-shortest also lists its k paths).
        Without: the matrix summary (table), or every ordered pair streamed as a JSON array or CSV rows.
        Stretch is latency over the great-circle lower bound (distance between the two sites × 5 µs/km).
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

    @Argument(help: "Topology file (YAML).") var file: String
    @Option(help: "Routing strategy (overrides the file's; keeps its other routing settings): \(RoutingStrategies.names.joined(separator: ", ")).")
    var strategy: String?
    @Option(help: "Source node.") var from: String?
    @Option(help: "Destination node.") var to: String?
    @Option(help: "Output format: table, json or csv.") var format: Format = .table

    func validate() throws {
        if (from == nil) != (to == nil) { throw ValidationError("--from and --to go together") }
    }

    func run() throws {
        var topology = try loadScenario(file).topology
        if let strategy { topology.routing.strategy = strategy }
        let diagnostics = RoutingPolicy.check(topology)
        if !diagnostics.isEmpty {
            for d in diagnostics { printError(strategy != nil && d.message.contains("'\(strategy!)'") ? "error: --strategy: \(d.message)\n    hint: \(d.hint ?? "")" : d.description) }
            throw ExitCode(badInputExitCode)
        }
        let graph = RoutingGraph(topology: topology)
        let policy = try RoutingPolicy(config: topology.routing, graph: graph)
        if let from, let to {
            try showPair(graph: graph, policy: policy, from: node(from, "--from", graph), to: node(to, "--to", graph))
        } else {
            showMatrix(topology: topology, graph: graph, policy: policy)
        }
    }

    private func node(_ name: String, _ flag: String, _ graph: RoutingGraph) throws -> Int32 {
        if let i = graph.index(ofNode: name) { return i }
        printError("error: \(flag): no node named '\(name)' in \(file)")
        throw ExitCode(badInputExitCode)
    }

    private func showPair(graph: RoutingGraph, policy: RoutingPolicy, from s: Int32, to d: Int32) throws {
        let strategy = policy.strategy(forSource: s)
        let route = policy.route(from: s, to: d, in: graph)
        let alternatives = (strategy as? KShortestStrategy)?.paths(from: s, to: d, in: graph) ?? []
        switch format {
        case .json, .csv:
            let writer = RouteRowWriter(graph: graph, format: format == .json ? .json : .csv)
            var out = format == .json ? [UInt8]() : Array(RouteRowWriter.csvHeader.utf8)
            writer.append(from: s, to: d, route: route, to: &out)
            if format == .json { out.append(0x0a) }
            FileHandle.standardOutput.write(Data(out))
        case .table:
            print("\(graph.name(ofNode: s)) → \(graph.name(ofNode: d)) (\(strategy.name))")
            guard let route else {
                print("unreachable")
                throw ExitCode.failure
            }
            print("path:       \(route.nodes.map { graph.name(ofNode: $0) }.joined(separator: " → "))")
            print("latency:    \(Human.duration(route.latency))")
            print("hops:       \(route.hops)")
            print("bottleneck: \(route.hops == 0 ? "-" : Human.bandwidth(route.bottleneck))")
            print("bound:      \(Human.duration(route.lowerBound)) (great circle × 5 µs/km)")
            print("stretch:    \(route.stretch.map { Human.fixed($0, 3) } ?? "- (same site)")")
            if alternatives.count > 1 {
                print("\(alternatives.count) shortest paths:")
                for (i, p) in alternatives.enumerated() {
                    print("  \(i + 1). \(Human.duration(p.latency)), \(p.hops) hops: \(p.nodes.map { graph.name(ofNode: $0) }.joined(separator: " → "))")
                }
            }
        }
    }

    private func showMatrix(topology: Topology, graph: RoutingGraph, policy: RoutingPolicy) {
        let start = DispatchTime.now().uptimeNanoseconds
        let tables = ForwardingTables(graph: graph, policy: policy)
        let n = Int32(graph.nodeCount)
        switch format {
        case .json, .csv:
            // Formatted on all cores a batch of sources at a time, written in order.
            let output = RoutingMatrixOutput(tables: tables, format: format == .json ? .json : .csv)
            var progress = MatrixProgress(pairs: output.pairs)
            do {
                try output.write(to: { bytes in
                    try writeAll(bytes)
                    progress.written += bytes.count
                }, progress: { progress.update(pairsDone: $0) })
            } catch {
                // A closed pipe (`| head`) is not an error of ours; anything else is said.
                if (error as? POSIXError)?.code != .EPIPE { printError("route: writing the matrix failed: \(error)") }
                return
            }
            progress.finish()
        case .table:
            let sum = RoutingMatrix(tables: tables).summary()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let names = policy.strategies.map(\.name)
            print("\(topology.name): \(graph.nodeCount) nodes, \(graph.linkCount) links, strategy \(names[0])"
                  + (names.count > 1 ? " (regions: \(topology.routing.regions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))" : ""))
            print("pairs:       \(sum.pairs) ordered, \(sum.unreachablePairs) unreachable")
            func pair(_ p: (Int32, Int32)?) -> String { p.map { "\(graph.name(ofNode: $0.0)) → \(graph.name(ofNode: $0.1))" } ?? "-" }
            print("latency:     mean \(Human.duration(Int64(sum.meanLatency))), diameter \(Human.duration(sum.diameterLatency)) (\(pair(sum.diameterLatencyPair)))")
            print("hops:        diameter \(sum.diameterHops) (\(pair(sum.diameterHopsPair)))")
            if let p50 = sum.stretchP50, let p90 = sum.stretchP90, let p99 = sum.stretchP99, let mx = sum.stretchMax {
                print("stretch:     p50 \(Human.fixed(p50, 3))  p90 \(Human.fixed(p90, 3))  p99 \(Human.fixed(p99, 3))  max \(Human.fixed(mx, 3))"
                      + "  (\(sum.stretchPairs) pairs at different sites)")
            } else {
                print("stretch:     - (every pair shares a site)")
            }
            if names.contains("geographic") {
                print("recovery:    \(tables.recoveryPairs) pairs needed geographic recovery")
            }
            print("computed in \(Human.fixed(seconds, 3)) s")
        }
    }
}

/// Progress of a large matrix on stderr, about once a second (stdout carries the data).
struct MatrixProgress {
    let pairs: Int
    var written = 0
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastReport: UInt64 = 0
    private var reported = false
    /// Smaller matrices finish in well under a second: no progress for them.
    static let fromPairs = 250_000

    init(pairs: Int) {
        self.pairs = pairs
        lastReport = start
    }

    private var seconds: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    mutating func update(pairsDone: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard pairs >= Self.fromPairs, now - lastReport >= 1_000_000_000, pairsDone < pairs else { return }
        lastReport = now
        reported = true
        printError("route: \(pairsDone) of \(pairs) pairs (\(pairsDone * 100 / max(pairs, 1))%), "
                   + "\(written >> 20) MiB written, \(Human.fixed(seconds, 1)) s")
    }

    func finish() {
        guard reported else { return }
        printError("route: \(pairs) pairs, \(written >> 20) MiB in \(Human.fixed(seconds, 1)) s "
                   + "(\(Human.fixed(Double(written) / 1e6 / max(seconds, 1e-9), 0)) MB/s)")
    }
}

/// Writes all of `bytes` to stdout; throws EPIPE-style errors as `POSIXError`.
func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
    var at = 0
    while at < bytes.count {
        let n = write(STDOUT_FILENO, bytes.baseAddress! + at, bytes.count - at)
        if n < 0 {
            if errno == EINTR { continue }
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        at += n
    }
}

enum Human {
    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    static func duration(_ ns: Int64) -> String {
        ns >= 1_000_000 ? fixed(Double(ns) / 1e6, 3) + " ms" : fixed(Double(ns) / 1e3, 3) + " µs"
    }

    static func bandwidth(_ bps: UInt64) -> String {
        bps >= 1_000_000_000 ? fixed(Double(bps) / 1e9, 2) + " Gbps" : fixed(Double(bps) / 1e6, 1) + " Mbps"
    }
}
