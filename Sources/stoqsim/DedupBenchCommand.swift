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
            { DedupBenchmarks.sha256(data, portable: true) },
            { DedupBenchmarks.chunkAndHash(data, parameters: .default) },
        ]
        try reportMedians(cases, repetitions: repetitions, rank: \.cpuSeconds, verified: \.verified)
    }
}
