import ArgumentParser
import StoqEmulation

struct Netns: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the netns backend's Linux network namespaces.",
        subcommands: [NetnsCleanup.self, NetnsCheck.self])
}

/// A run removes its namespaces itself, also on errors and SIGINT/SIGTERM;
/// this is for what a killed (SIGKILL) or crashed run left behind (the next
/// `stoqsim run --backend netns` does the same before it starts).
struct NetnsCleanup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Remove stoq-* namespaces left by killed or crashed runs (and kill processes still in them).")

    @Flag(help: "Also remove namespaces of stoqsim runs that are still going.") var all = false

    func run() throws {
        #if os(Linux)
        let report = Namespaces.cleanupLeftovers(includeLive: all)
        for n in report.removed { print("removed \(n)") }
        for n in report.skippedLive { print("kept \(n) (its run is still going; --all removes it)") }
        for line in report.messages { printError(line) }
        if report.removed.isEmpty && report.skippedLive.isEmpty && report.failed.isEmpty { print("nothing to clean up") }
        if !report.failed.isEmpty {
            printError("could not remove: \(report.failed.joined(separator: ", ")) (are you root?)")
            throw ExitCode.failure
        }
        #else
        print("nothing to clean up: the netns backend exists only on Linux")
        #endif
    }
}

struct NetnsCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Say whether the netns backend can run on this machine, and why not.")

    func run() throws {
        #if os(Linux)
        if let reason = Namespaces.unavailableReason() {
            printError("netns backend unavailable: \(reason)")
            throw ExitCode.failure
        }
        print("netns backend available")
        #else
        printError("netns backend unavailable: it needs Linux")
        throw ExitCode.failure
        #endif
    }
}
