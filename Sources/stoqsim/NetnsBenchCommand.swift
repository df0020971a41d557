import ArgumentParser
import StoqEmulation

struct NetnsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netns",
        abstract: "Namespace set-up and teardown time, and the engine's TUN-to-TUN relay rate (root).")

    @Option(help: "Namespaces (nodes) to create.") var namespaces: Int = 100
    @Option(help: "Sender/receiver pairs relaying through the engine.") var pairs: Int = 4
    @Option(help: "UDP payload bytes per datagram.") var size: Int = 1200
    @Option(help: "Seconds of relaying measured.") var seconds: Double = 3
    @Option(help: "Where the senders and receivers run: 'thread' (their own, as programs run by exec) or 'engine' (the engine thread, as the run's own workloads).")
    var senders: String = "thread"

    func run() throws {
        guard namespaces >= 3, pairs >= 1, 2 * pairs <= namespaces - 1, (16...1452).contains(size), seconds > 0 else {
            throw ValidationError("need --namespaces ≥ 3, 1 ≤ --pairs ≤ (namespaces-1)/2, --size 16…1452 (fits the 1500 MTU), --seconds > 0")
        }
        #if os(Linux)
        guard let placement = NetnsBenchmarks.Senders(rawValue: senders) else {
            throw ValidationError("--senders must be 'thread' or 'engine', not '\(senders)'")
        }
        #endif
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench netns'")
        #endif
        #if os(Linux)
        if let reason = Namespaces.unavailableReason() {
            printError("netns backend unavailable: \(reason)")
            throw ExitCode.failure
        }
        let result = try NetnsBenchmarks.run(namespaces: namespaces, pairs: pairs, payload: size, seconds: seconds, senders: placement)
        print(result)
        if !result.leftovers.isEmpty { throw ExitCode.failure }
        if result.interruptedBy != 0 { throw ExitCode(128 + result.interruptedBy) }
        #else
        printError("netns backend unavailable: it needs Linux")
        throw ExitCode.failure
        #endif
    }
}
