import ArgumentParser
import StoqEngine

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure performance (release builds: swift run -c release stoqsim bench …).",
        subcommands: [EngineBench.self, RoutingBench.self, DedupBench.self, AnalysisBench.self, ChunkerBench.self, TransportBench.self, TierBench.self, NetnsBench.self, NetworkBench.self])
}

struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Hold model (10^6 pending events) and timer churn on one core.")

    @Option(help: "Pending events in the hold model.") var pending: Int = 1_000_000
    @Option(help: "Events dispatched in the hold model.") var events: Int = 10_000_000
    @Option(help: "Timer re-arm operations in the churn benchmark.") var operations: Int = 10_000_000
    @Option(name: .customLong("repeat"), help: "Repetitions; the median is reported.") var repetitions: Int = 3

    func run() throws {
        guard pending > 0, events > 0, operations > 0, repetitions > 0 else {
            throw ValidationError("--pending, --events, --operations and --repeat must be positive")
        }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench engine'")
        #endif
        try reportMedians([
            { EngineBenchmarks.holdModel(pending: pending, events: events, style: .actionObject) },
            { EngineBenchmarks.holdModel(pending: pending, events: events, style: .freshClosure) },
            { EngineBenchmarks.timerChurn(operations: operations) },
        ], repetitions: repetitions, rank: \.eventsPerSecond, verified: \.verified)
    }
}
