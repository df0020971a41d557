import ArgumentParser
import Foundation

/// `stoqsim man`: the manual page, in mdoc, generated from the argument
/// parser's own description of the command tree (its
/// `--experimental-dump-help` JSON), so it lists exactly the commands,
/// arguments, defaults and valid values `--help` does.
struct Man: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the manual page (mdoc) generated from the command-line parser.",
        discussion: "Install it with: stoqsim man > /usr/local/share/man/man1/stoqsim.1 (then `man stoqsim`), or read it with `stoqsim man | man -l -`.")

    func run() throws {
        print(try ManPage.render(ManPage.commandTree(), section: 1), terminator: "")
    }
}

/// The mdoc rendering of the parser's command tree.
enum ManPage {
    /// The subset of ArgumentParser's ToolInfo (serialization version 0) the page shows.
    struct Command: Decodable {
        var commandName: String
        var abstract: String?
        var discussion: String?
        var shouldDisplay: Bool?
        var subcommands: [Command]?
        var arguments: [Argument]?
    }

    struct Argument: Decodable {
        struct Name: Decodable {
            var kind: String
            var name: String
        }
        var kind: String
        var shouldDisplay: Bool
        var isOptional: Bool
        var isRepeating: Bool
        var names: [Name]?
        var valueName: String?
        var defaultValue: String?
        var allValues: [String]?
        var abstract: String?
        var discussion: String?
    }

    /// The parser's description of `stoqsim`, as `--experimental-dump-help` prints it.
    static func commandTree() throws -> Command {
        struct ToolInfo: Decodable { var command: Command }
        // The parser answers the dump request by throwing; its message is the JSON.
        let json: String
        do {
            _ = try Stoqsim.parseAsRoot(["--experimental-dump-help"])
            json = ""
        } catch {
            json = Stoqsim.fullMessage(for: error)
        }
        return try JSONDecoder().decode(ToolInfo.self, from: Data(json.utf8)).command
    }

    static func render(_ root: Command, section: Int) throws -> String {
        var out = ".Dd $Mdocdate$\n.Dt \(root.commandName.uppercased()) \(section)\n.Os\n"
        out += ".Sh NAME\n.Nm \(root.commandName)\n.Nd \(escape(root.abstract ?? ""))\n"
        out += ".Sh SYNOPSIS\n.Nm\n.Ar command\n.Op Ar arguments\n.Nm\n.Fl -version\n"
        out += ".Sh DESCRIPTION\n" + textLines(root.abstract) + paragraphs(root.discussion)
        out += ".Pp\nEach command is listed with its arguments and options; `stoqsim help COMMAND` prints the same.\n"
        out += ".Sh COMMANDS\n.Bl -tag -width Ds\n"
        for command in root.subcommands ?? [] where command.shouldDisplay ?? true {
            out += commandEntry(command, path: [])
        }
        out += ".El\n"
        out += ".Sh EXIT STATUS\n0 success, 1 runtime failure, 2 bad input (topology errors, bad flags, a malformed trace); " +
            "a run stopped by a signal exits 128 + its number.\n"
        out += ".Sh SEE ALSO\nREADME.md and docs/*.md in the source tree.\n"
        return out
    }

    /// A command's `.It` entry: synopsis, description, options, then its subcommands.
    static func commandEntry(_ c: Command, path: [String]) -> String {
        let shown = (c.arguments ?? []).filter { $0.shouldDisplay && !isHelp($0) }
        let name = path + [c.commandName]
        var out = ".It Nm " + (name + shown.map(synopsis)).joined(separator: " ") + "\n"
        out += textLines(c.abstract) + paragraphs(c.discussion)
        if !shown.isEmpty {
            out += ".Bl -tag -width Ds\n"
            for a in shown {
                out += ".It " + usage(a) + "\n" + textLines(a.abstract)
                if let values = a.allValues, !values.isEmpty { out += ".Pp\nValues: " + escape(values.joined(separator: ", ")) + ".\n" }
                if a.kind != "flag", let d = a.defaultValue, !d.isEmpty { out += ".Pp\nDefault: " + escape(d) + ".\n" }
                out += paragraphs(a.discussion)
            }
            out += ".El\n"
        }
        let subcommands = (c.subcommands ?? []).filter { $0.shouldDisplay ?? true }
        if !subcommands.isEmpty {
            out += ".Bl -tag -width Ds\n" + subcommands.map { commandEntry($0, path: name) }.joined() + ".El\n"
        }
        return out
    }

    static func isHelp(_ a: Argument) -> Bool { a.names?.contains { $0.name == "help" || $0.name == "version" } ?? false }

    /// `Fl -seed Ar seed`, `Ar file`, `Fl -quiet`.
    static func usage(_ a: Argument) -> String {
        let value = escapeWord(a.valueName ?? "value")
        guard a.kind != "positional" else { return "Ar " + value + (a.isRepeating ? " ..." : "") }
        let names = (a.names ?? []).map { ($0.kind == "short" ? "Fl " : "Fl -") + escapeWord($0.name) }.joined(separator: " , ")
        return a.kind == "flag" ? names : names + " Ar " + value
    }

    /// Synopsis form: optional ones in brackets (`Oo … Oc`, which close
    /// where `Op` would take in the rest of the line).
    static func synopsis(_ a: Argument) -> String {
        let u = usage(a)
        return a.isOptional ? "Oo " + u + " Oc" : u
    }

    /// Text as lines, or nothing (a blank line would be a paragraph break).
    static func textLines(_ text: String?) -> String {
        let t = escape(text ?? "")
        return t.isEmpty ? "" : t + "\n"
    }

    static func paragraphs(_ text: String?) -> String {
        guard let text, !text.isEmpty else { return "" }
        return text.components(separatedBy: "\n\n").map { ".Pp\n" + escape($0) + "\n" }.joined()
    }

    /// Roff-safe text: backslashes as `\e`, one sentence per line (mdoc's
    /// rule, so sentence spacing is right), no blank lines, and no line
    /// starting a request (`.` or `'`).
    static func escape(_ text: String) -> String {
        var sentences = text.replacingOccurrences(of: "\\", with: "\\e")
        for end in [". ", "? ", "! "] { sentences = sentences.replacingOccurrences(of: end, with: end.dropLast() + "\n") }
        return sentences.split(separator: "\n").map { line in
            let line = line.trimmingCharacters(in: .whitespaces)
            return line.hasPrefix(".") || line.hasPrefix("'") ? "\\&" + line : line
        }.filter { !$0.isEmpty }.joined(separator: "\n")
    }

    /// One macro argument: quoted when it has spaces. (Names and value names
    /// are lower case, so none reads as a macro, which are capitalised.)
    static func escapeWord(_ word: String) -> String {
        let w = escape(word)
        return w.contains(" ") ? "\"\(w)\"" : w
    }
}
