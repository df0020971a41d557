import ArgumentParser
import StoqTransport

struct TransportBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport",
        abstract: "QUIC handshakes/s, bulk stream goodput and memory per connection pair (both ends in-process, no sockets).")

    @Option(help: "Handshakes to time.") var handshakes: Int = 2000
    @Option(help: "Bytes moved in the goodput run (MiB).") var mebibytes: Int = 1024
    @Option(help: "Connection pairs held open for the memory figure.") var pairs: Int = 1000
    @Option(name: .customLong("repeat"), help: "Repetitions of the speed runs; the median is reported.") var repetitions: Int = 3

    func run() throws {
        guard handshakes > 0, mebibytes > 0, pairs > 0, repetitions > 0 else {
            throw ValidationError("--handshakes, --mebibytes, --pairs and --repeat must be positive")
        }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench transport'")
        #endif
        var failed = false
        let speed: [(String, () throws -> TransportBenchmarkResult)] = [
            ("handshakes", { try TransportBenchmarks.handshakes(count: handshakes) }),
            ("handshakes-ecdsa", { try TransportBenchmarks.handshakes(count: handshakes, algorithm: .ecdsaP256) }),
            ("goodput", { try TransportBenchmarks.bulkGoodput(totalBytes: mebibytes << 20) }),
        ]
        for (_, bench) in speed {
            let runs = try (0..<repetitions).map { _ in try bench() }.sorted { $0.value < $1.value }
            failed = failed || runs.contains { !$0.verified }
            print("\(runs[runs.count / 2])  (median of \(runs.count))")
        }
        let memory = try TransportBenchmarks.memoryPerConnectionPair(pairs: pairs)
        failed = failed || !memory.verified
        print(memory)
        if failed {
            printError("a benchmark's own check failed: the figures above are not valid")
            throw ExitCode.failure
        }
    }
}
