import Benchmark
import Foundation
import StoqAnalyzer
import StoqBenchmarks
import StoqDedup
import StoqNetwork
import StoqRouting
import StoqScenario
import StoqTopology

/// Each benchmark calls a body from the main package's `*Benchmarks` enums
/// (the ones `stoqsim bench …` prints), once per iteration, and records that
/// body's own figure as a custom metric beside the wall clock.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .peakMemoryResident],
                                           maxDuration: .seconds(30), maxIterations: 5)

    func figure(_ name: String) -> BenchmarkMetric { .custom(name, polarity: .prefersLarger, useScalingFactor: false) }
    func withFigure(_ name: String) -> Benchmark.Configuration {
        var c = Benchmark.defaultConfiguration
        c.metrics += [figure(name)]
        return c
    }

    // MARK: Transport (StoqBenchmarks' TransportBenchmarks; `stoqsim bench transport`)

    Benchmark("transport bulk goodput, 256 MiB", configuration: withFigure("MB/s")) { benchmark in
        let r = try TransportBenchmarks.bulkGoodput(totalBytes: 256 << 20)
        precondition(r.verified, r.description)
        benchmark.measurement(figure("MB/s"), Int(r.value))
    }

    Benchmark("transport handshakes, 500 Ed25519", configuration: withFigure("handshakes/s")) { benchmark in
        let r = try TransportBenchmarks.handshakes(count: 500)
        precondition(r.verified, r.description)
        benchmark.measurement(figure("handshakes/s"), Int(r.value))
    }

    // MARK: Network model (StoqNetwork's NetworkBenchmarks; `stoqsim bench network`)

    Benchmark("network probe flood, edge-1000", configuration: withFigure("k packet-hops/s")) { benchmark in
        let topology = try TopologyParser.load(path: repositoryFile("topologies/edge-1000.yaml"))
        let r = try NetworkBenchmarks.probeFlood(topology: topology, probes: 200_000)
        precondition(r.verified, r.description)
        benchmark.measurement(figure("k packet-hops/s"), Int(r.hopsPerSecond / 1e3))
    }

    // MARK: FastCDC (StoqDedup's DedupBenchmarks; `stoqsim bench dedup`)

    let chunkerInput = DedupBenchmarks.makeData(bytes: 64 << 20)
    Benchmark("fastcdc default sizes, 64 MiB, 1 thread", configuration: withFigure("MB/s")) { benchmark in
        let r = DedupBenchmarks.chunking(chunkerInput)
        precondition(r.verified, r.description)
        benchmark.measurement(figure("MB/s"), Int(r.megabytesPerSecond))
    }
    Benchmark("fastcdc + SHA-256, 64 MiB, 1 thread", configuration: withFigure("MB/s")) { benchmark in
        let r = DedupBenchmarks.chunkAndHash(chunkerInput)
        precondition(r.verified, r.description)
        benchmark.measurement(figure("MB/s"), Int(r.megabytesPerSecond))
    }

    // MARK: Trace analysis (StoqAnalyzer's AnalysisBenchmarks; `stoqsim bench analysis`)

    Benchmark("trace analysis, 2M records, 1 thread", configuration: withFigure("k records/s")) { benchmark in
        let path = NSTemporaryDirectory() + "stoq-benchmarks-analysis-\(getpid()).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try AnalysisBenchmarks.writeTrace(to: path, records: 2_000_000)
        benchmark.startMeasurement()
        let (r, _) = try AnalysisBenchmarks.analyse(path: path, threads: 1)
        benchmark.stopMeasurement()
        benchmark.measurement(figure("k records/s"), Int(r.recordsPerSecond / 1e3))
    }

    // MARK: Matrix output (StoqRouting's RoutingBenchmarks; `stoqsim bench routing`)

    for format in [RouteRowWriter.Format.json, .csv] {
        Benchmark("route matrix as \(format == .json ? "JSON" : "CSV"), edge-1000, 1 thread") { _ in
            let topology = try TopologyParser.load(path: repositoryFile("topologies/edge-1000.yaml"))
            let line = try RoutingBenchmarks.matrixOutput(topology: topology, format: format, threads: 1)
            precondition(!line.contains("EXPECTED"), line)
        }
    }
}

/// A file of the main repository, which holds this package's directory.
func repositoryFile(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../\(relative)").standardizedFileURL.path
}
