import ArgumentParser
import StoqNetwork

struct NetworkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Packet-hops per CPU second of the network model: an echo-probe flood between random node pairs, no QUIC, no trace.")

    @Argument(help: "Topology file (default: topologies/edge-1000.yaml).") var file: String = "topologies/edge-1000.yaml"
    @Option(help: "Echo probes sent (each crosses the path twice).") var probes: Int = 1_000_000
    @Option(name: .customLong("repeat"), help: "Repetitions; the median is reported.") var repetitions: Int = 3

    func run() throws {
        guard probes > 0, repetitions > 0 else { throw ValidationError("--probes and --repeat must be positive") }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench network'")
        #endif
        let topology = try loadScenario(file).topology
        var results: [NetworkBenchmarks.Result] = []
        for _ in 0..<repetitions {
            let r = try NetworkBenchmarks.probeFlood(topology: topology, probes: probes)
            print(r)
            results.append(r)
        }
        let median = results.sorted { $0.hopsPerSecond < $1.hopsPerSecond }[results.count / 2]
        print("median: \((median.hopsPerSecond / 1e4).rounded() / 100) M packet-hops/s")
        if results.contains(where: { !$0.verified }) { throw ExitCode.failure }
    }
}
