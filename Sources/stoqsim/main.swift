import ArgumentParser
import Foundation

/// The command line: argument parsing and printing only; the work happens in
/// StoqScenario and the modules below it.
struct Stoqsim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stoqsim",
        abstract: "STOQ Sim: simulate STOQ (QUIC) edge networks from a topology file.",
        discussion: "Exit codes: 0 success, 1 runtime failure, 2 bad input. `stoqsim --version` prints the code and library versions.",
        subcommands: [Run.self, Validate.self, Analyze.self, Export.self, Compare.self, Sweep.self, Generate.self, Import.self, ChunkFile.self, Bench.self, RouteCommand.self, Netns.self, Node.self, TrustChainCommand.self, Completion.self, Man.self]
    )
}

/// Exit code for bad input (topology errors, bad flags).
let badInputExitCode: Int32 = 2

// `--version` is answered here, not through the configuration's `version:`,
// which would run `git describe` on every start.
if CommandLine.arguments.dropFirst() == ["--version"] {
    print(StoqsimVersion.text)
    exit(0)
}

// ArgumentParser exits with 64 on usage errors; the documented code is 2.
do {
    var command = try Stoqsim.parseAsRoot()
    try command.run()
} catch {
    let code = Stoqsim.exitCode(for: error)
    if code == .validationFailure {
        FileHandle.standardError.write(Data((Stoqsim.fullMessage(for: error) + "\n").utf8))
        exit(badInputExitCode)
    }
    Stoqsim.exit(withError: error)
}
