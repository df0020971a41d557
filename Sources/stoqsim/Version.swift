import ArgumentParser
import Foundation
import StoqTransport

/// `stoqsim --version`: the code's git description (when the binary was built
/// inside a checkout, as `swift run` does) and the C libraries it runs against.
enum StoqsimVersion {
    static var text: String {
        "stoqsim \(codeVersion ?? "(built outside a git checkout)")\n\(LinkedLibraries.description)"
    }

    /// `git describe` of the checkout the binary sits in (.build/<config>/stoqsim).
    static var codeVersion: String? {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while dir.path != "/", !FileManager.default.fileExists(atPath: dir.appendingPathComponent(".git").path) {
            dir = dir.deletingLastPathComponent()
        }
        guard dir.path != "/" else { return nil }
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", dir.path, "describe", "--always", "--dirty", "--tags"]
        let out = Pipe()
        git.standardOutput = out
        git.standardError = FileHandle.nullDevice
        guard (try? git.run()) != nil else { return nil }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        git.waitUntilExit()
        return git.terminationStatus == 0 && !text.isEmpty ? "git " + text : nil
    }
}

/// `stoqsim completion bash|zsh|fish`: the shell completion script.
struct Completion: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a shell completion script, e.g. stoqsim completion bash > /etc/bash_completion.d/stoqsim")

    enum Shell: String, ExpressibleByArgument, CaseIterable { case bash, zsh, fish }
    @Argument(help: "bash, zsh or fish.") var shell: Shell

    func run() throws {
        let kind: CompletionShell = shell == .bash ? .bash : shell == .zsh ? .zsh : .fish
        print(Stoqsim.completionScript(for: kind))
    }
}
