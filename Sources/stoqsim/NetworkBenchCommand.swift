import ArgumentParser
import StoqNetwork
import StoqTopology

struct NetworkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Packet-hops per CPU second of the network model: an echo-probe flood between random node pairs, no QUIC, no trace.")

    @Argument(help: "Topology file (default: topologies/edge-1000.yaml).") var file: String = "topologies/edge-1000.yaml"
    @Option(help: "Echo probes sent (each crosses the path twice).") var probes: Int = 1_000_000
    @Option(name: .customLong("repeat"), help: "Repetitions; the median is reported.") var repetitions: Int = 3

    @Flag(help: "Also run with every link model on (jitter, burst loss, corruption, duplication, MTU) and print the on/off ratio.")
    var linkModels = false
    @Flag(help: "Also run with link time series on (every direction binned, as a run records them) and print the on/off ratio.")
    var linkSeries = false

    func run() throws {
        guard probes > 0, repetitions > 0 else { throw ValidationError("--probes and --repeat must be positive") }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench network'")
        #endif
        let topology = try loadScenario(file).topology
        // The reference first, then each feature asked for, alone.
        var variants: [(name: String, models: LinkModels?, series: Bool)] = [("link models and series off", nil, false)]
        if linkModels { variants.append(("every link model on", NetworkBenchmarks.busyLinkModels, false)) }
        if linkSeries { variants.append(("link time series on", nil, true)) }
        var results = variants.map { _ in [NetworkBenchmarks.Result]() }
        // The variants alternate, so all see the same machine load.
        for _ in 0..<repetitions {
            for (i, v) in variants.enumerated() {
                results[i].append(try NetworkBenchmarks.probeFlood(topology: topology, probes: probes, linkModels: v.models,
                                                                   linkSeries: v.series))
                print(results[i].last!)
            }
        }
        func median(_ r: [NetworkBenchmarks.Result]) -> Double { r.map(\.hopsPerSecond).sorted()[r.count / 2] }
        func millions(_ v: Double) -> String { "\((v / 1e4).rounded() / 100) M" }
        let off = median(results[0])
        print("median: \(millions(off)) packet-hops/s" + (variants.count > 1 ? " with \(variants[0].name)" : ""))
        for (v, r) in zip(variants, results).dropFirst() {
            let on = median(r)
            print("median: \(millions(on)) packet-hops/s with \(v.name); on/off = "
                  + "\((on / off * 1000).rounded() / 1000) (\(Int(1e9 / on - 1e9 / off)) ns more per hop)")
        }
        if results.joined().contains(where: { !$0.verified }) { throw ExitCode.failure }
    }
}
