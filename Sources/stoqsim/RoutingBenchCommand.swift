import ArgumentParser
import Foundation
import StoqRouting
import StoqTopology

struct RoutingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routing",
        abstract: "Route discovery for one pair and all pairs (serial and parallel), per strategy.")

    @Argument(help: "Topology file (default: topologies/edge-1000.yaml).") var file: String = "topologies/edge-1000.yaml"
    @Option(help: "Strategy to measure (default: every strategy).") var strategy: String?
    @Option(help: "Random pairs the single-pair time averages over.") var pairs: Int = 1000
    @Flag(help: "Skip writing the all-pairs matrix as JSON and CSV.") var noOutput = false

    func run() throws {
        guard pairs > 0 else { throw ValidationError("--pairs must be positive") }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench routing'")
        #endif
        let topology = try loadScenario(file).topology
        let names = strategy.map { [$0] } ?? RoutingStrategies.names
        var failed = false
        for name in names {
            guard let s = RoutingStrategies.named(name, config: topology.routing) else {
                throw ValidationError("unknown strategy '\(name)'; known: \(RoutingStrategies.names.joined(separator: ", "))")
            }
            let result = RoutingBenchmarks.measure(topology: topology, strategy: s, pairs: pairs)
            failed = failed || !result.identical
            print(result)
        }
        if !noOutput {
            for format in [RouteRowWriter.Format.json, .csv] {
                for threads in Set([1, ProcessInfo.processInfo.activeProcessorCount]).sorted() {
                    let line = try RoutingBenchmarks.matrixOutput(topology: topology, format: format, threads: threads)
                    failed = failed || line.contains("EXPECTED")
                    print(line)
                }
            }
        }
        if failed {
            printError("serial and parallel routing differ, or the matrix output is short: the figures above are not valid")
            throw ExitCode.failure
        }
    }
}
