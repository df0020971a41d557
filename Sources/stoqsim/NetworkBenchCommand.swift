import ArgumentParser
import StoqNetwork

struct NetworkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Packet-hops per CPU second of the network model: an echo-probe flood between random node pairs, no QUIC, no trace.")

    @Argument(help: "Topology file (default: topologies/edge-1000.yaml).") var file: String = "topologies/edge-1000.yaml"
    @Option(help: "Echo probes sent (each crosses the path twice).") var probes: Int = 1_000_000
    @Option(name: .customLong("repeat"), help: "Repetitions; the median is reported.") var repetitions: Int = 3

    @Flag(help: "Also run with every link model on (jitter, burst loss, corruption, duplication, MTU) and print the on/off ratio.")
    var linkModels = false

    func run() throws {
        guard probes > 0, repetitions > 0 else { throw ValidationError("--probes and --repeat must be positive") }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench network'")
        #endif
        let topology = try loadScenario(file).topology
        var off: [NetworkBenchmarks.Result] = [], on: [NetworkBenchmarks.Result] = []
        // Off and on alternate, so both see the same machine load.
        for _ in 0..<repetitions {
            off.append(try NetworkBenchmarks.probeFlood(topology: topology, probes: probes))
            print(off.last!)
            if linkModels {
                on.append(try NetworkBenchmarks.probeFlood(topology: topology, probes: probes, linkModels: NetworkBenchmarks.busyLinkModels))
                print(on.last!)
            }
        }
        func median(_ r: [NetworkBenchmarks.Result]) -> Double { r.map(\.hopsPerSecond).sorted()[r.count / 2] }
        func millions(_ v: Double) -> String { "\((v / 1e4).rounded() / 100) M" }
        print("median: \(millions(median(off))) packet-hops/s" + (linkModels ? " with link models off" : ""))
        if linkModels {
            let perHopOff = 1e9 / median(off), perHopOn = 1e9 / median(on)
            print("median: \(millions(median(on))) packet-hops/s with every link model on; on/off = "
                  + "\((median(on) / median(off) * 1000).rounded() / 1000) (\(Int(perHopOn - perHopOff)) ns more per hop)")
        }
        if (off + on).contains(where: { !$0.verified }) { throw ExitCode.failure }
    }
}
