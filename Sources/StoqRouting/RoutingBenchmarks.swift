import Foundation
import Dispatch
import StoqTopology

/// Route computation speed on a topology, per strategy. Wall clock is fine
/// here: this measures the machine, not the simulation.
public enum RoutingBenchmarks {
    public struct Result: Sendable, CustomStringConvertible {
        public var strategy: String
        public var nodes: Int
        /// Random (source, destination) pairs the single-pair figure averages over.
        public var pairs: Int
        /// Mean time to route one pair from scratch (`RoutingStrategy.route`: one search).
        public var singlePairMicroseconds: Double
        /// Forwarding tables plus routing matrix for all pairs, on one core and on all.
        public var allPairsSerialSeconds: Double
        public var allPairsParallelSeconds: Double
        /// Sampled pairs that had a route (the optimizer cannot drop the searches).
        public var pairsReached: Int
        /// Serial and parallel runs gave the same tables and matrix.
        public var identical: Bool
        /// k-shortest only: mean time of Yen's k paths for one pair.
        public var kPathsMicroseconds: Double?
        public var k: Int?

        public var description: String {
            func r(_ x: Double, _ digits: Double) -> Double { (x * digits).rounded() / digits }
            var s = "\(strategy): single pair \(r(singlePairMicroseconds, 10)) µs (mean of \(pairs)), "
                + "all \(nodes * nodes) pairs \(r(allPairsSerialSeconds, 1000)) s serial, \(r(allPairsParallelSeconds, 1000)) s parallel"
            if let kPathsMicroseconds, let k { s += ", \(k) paths \(r(kPathsMicroseconds, 10)) µs" }
            return s + (identical ? "" : " (SERIAL AND PARALLEL DIFFER)")
        }
    }

    public static func measure(topology: Topology, strategy: RoutingStrategy, pairs: Int = 1000, seed: UInt64 = 1) -> Result {
        let graph = RoutingGraph(topology: topology)
        let n = graph.nodeCount
        // A fixed LCG: the same pairs every run, independent of the engine's streams.
        var state = seed
        func draw() -> Int32 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int32((state >> 33) % UInt64(max(n, 1)))
        }
        let sample = (0..<pairs).map { _ in (draw(), draw()) }
        var reached = 0
        let single = seconds {
            for (s, d) in sample where strategy.route(from: s, to: d, in: graph) != nil { reached += 1 }
        }
        var kTime: Double?
        var k: Int?
        if let ks = strategy as? KShortestStrategy {
            let few = sample.prefix(max(1, pairs / 10))
            kTime = seconds { for (s, d) in few { _ = ks.paths(from: s, to: d, in: graph) } } / Double(few.count) * 1e6
            k = ks.k
        }
        var serial: RoutingMatrix?
        var parallel: RoutingMatrix?
        let serialTime = seconds {
            serial = RoutingMatrix(tables: ForwardingTables(graph: graph, strategy: strategy, parallel: false), parallel: false)
        }
        let parallelTime = seconds {
            parallel = RoutingMatrix(tables: ForwardingTables(graph: graph, strategy: strategy, parallel: true), parallel: true)
        }
        let a = serial!, b = parallel!
        let identical = a.latency == b.latency && a.hops == b.hops && a.bottleneck == b.bottleneck
            && a.tables.nextEdges == b.tables.nextEdges
        return Result(strategy: strategy.name, nodes: n, pairs: pairs, singlePairMicroseconds: single / Double(max(pairs, 1)) * 1e6,
                      allPairsSerialSeconds: serialTime, allPairsParallelSeconds: parallelTime, pairsReached: reached, identical: identical,
                      kPathsMicroseconds: kTime, k: k)
    }

    /// Writing the whole matrix as JSON or CSV (`stoqsim route FILE --format …`)
    /// into memory: bytes formatted per second of wall time, on `threads` cores.
    public static func matrixOutput(topology: Topology, format: RouteRowWriter.Format, threads: Int) throws -> String {
        let graph = RoutingGraph(topology: topology)
        let tables = ForwardingTables(graph: graph, policy: try RoutingPolicy(config: topology.routing, graph: graph))
        var bytes = 0, lines = 0
        let output = RoutingMatrixOutput(tables: tables, format: format)
        var failure: Error?
        let s = seconds {
            do {
                try output.write(threads: threads, to: { b in
                    bytes += b.count
                    var at = b.baseAddress!, left = b.count   // memchr: counting must not cost more than writing
                    while left > 0, let nl = memchr(at, 0x0a, left) {
                        lines += 1
                        left -= at.distance(to: UnsafeRawPointer(nl)) + 1
                        at = UnsafeRawPointer(nl) + 1
                    }
                })
            } catch { failure = error }
        }
        if let failure { throw failure }
        // JSON: "[", a line per pair, "]"; CSV: the header and a line per pair.
        let expected = output.pairs + (format == .json ? 2 : 1)
        return "matrix as \(format == .json ? "JSON" : "CSV"), \(threads) thread\(threads == 1 ? "" : "s"): \(output.pairs) pairs, "
            + "\(bytes >> 20) MiB in \(String(format: "%.3f", s)) s = \(String(format: "%.0f", Double(bytes) / s / 1e6)) MB/s"
            + (lines == expected ? "" : " (LINE COUNT \(lines), EXPECTED \(expected))")
    }

    private static func seconds(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
