import ArgumentParser
import StoqBenchmarks
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
        let memory = try TransportBenchmarks.memoryPerConnectionPair(pairs: pairs)
        try reportMedians([
            { try TransportBenchmarks.handshakes(count: handshakes) },
            { try TransportBenchmarks.handshakes(count: handshakes, algorithm: .ecdsaP256) },
            { try TransportBenchmarks.bulkGoodput(totalBytes: mebibytes << 20) },
        ], repetitions: repetitions, rank: \.value, verified: \.verified,
           extra: [(memory.description, memory.verified)])
    }
}
