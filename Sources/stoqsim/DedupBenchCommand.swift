import ArgumentParser
import StoqDedup

struct DedupBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dedup",
        abstract: "FastCDC chunking, SHA-256, and both together, on seeded random data, one core.")

    @Option(help: "Input size in MiB (generated before timing).") var mebibytes: Int = 256
    @Option(help: "Seed for the input data.") var seed: UInt64 = 1
    @Option(name: .customLong("repeat"), help: "Repetitions; the median (by CPU time) is reported.") var repetitions: Int = 3

    func run() throws {
        guard mebibytes > 0, repetitions > 0 else { throw ValidationError("--mebibytes and --repeat must be positive") }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench dedup'")
        #endif
        let data = DedupBenchmarks.makeData(bytes: mebibytes << 20, seed: seed)
        let cases: [() -> ThroughputResult] = [
            { DedupBenchmarks.chunking(data, parameters: .default) },
            { DedupBenchmarks.chunking(data, parameters: .small) },
            { DedupBenchmarks.chunking(data, parameters: .large) },
            { DedupBenchmarks.sha256(data) },
            { DedupBenchmarks.chunkAndHash(data, parameters: .default) },
        ]
        var failed = false
        for bench in cases {
            let runs = (0..<repetitions).map { _ in bench() }.sorted { $0.cpuSeconds < $1.cpuSeconds }
            failed = failed || runs.contains { !$0.verified }
            print("\(runs[runs.count / 2])  (median of \(runs.count))")
        }
        if failed {
            printError("a benchmark's own check failed: the figures above are not valid")
            throw ExitCode.failure
        }
    }
}
