import Foundation
import StoqAnalyzer
import StoqEngine
import StoqTopology

/// Runs a real program inside a node's network namespace (netns backend
/// only): `{kind: exec, node: X, at: 2s, command: [ping, -6, -c, 3, addr:Y], timeout: 10s}`.
/// An argument `addr:NODE` becomes that node's IPv6 address. stdout and
/// stderr go to `NAME.stdout` / `NAME.stderr` in the run directory; the exit
/// status (or the signal, or the timeout) is an `exec` trace record.
public final class ExecWorkload: Workload {
    public static let kind = "exec"
    public static let fields = ["node", "at", "command", "timeout"]
    public static let backends = ["netns"]

    public let name: String
    let node: String
    let at: SimDuration
    let arguments: [String]
    let timeout: SimDuration
    public var drainTime: SimDuration { timeout }
    public var hasOutstandingWork: Bool { running }

    public init(spec: WorkloadSpec, name: String, topology: Topology) throws {
        let f = spec.fields
        let ctx = "an exec workload"
        node = try f.requiredString("node", context: ctx)
        guard topology.node(named: node) != nil else {
            if topology.unresolvedNames.contains(node) { throw UnresolvedReference(name: node) }
            throw TopologyDiagnostic(at: f.location(of: "node"), "unknown node '\(excerpt(node))'")
        }
        _ = try f.require("command", context: ctx)
        let raw = try f.stringList("command") ?? []
        guard let program = raw.first, !program.isEmpty else {
            throw TopologyDiagnostic(at: f.location(of: "command"), "'command' is empty",
                                     hint: "give the program and its arguments as a list, e.g. [ping, -6, -c, 3, addr:edge-par]")
        }
        _ = program
        arguments = try raw.map { arg in
            guard arg.hasPrefix("addr:") else { return arg }
            let target = String(arg.dropFirst(5))
            guard let n = topology.node(named: target) else {
                if topology.unresolvedNames.contains(target) { throw UnresolvedReference(name: target) }
                throw TopologyDiagnostic(at: f.location(of: "command"), "unknown node '\(target)' in '\(arg)'",
                                         hint: "addr:NODE stands for that node's IPv6 address")
            }
            return n.address.description
        }
        at = try f.duration("at") ?? .zero
        timeout = try f.duration("timeout") ?? .seconds(10)
        guard timeout > .zero else { throw TopologyDiagnostic(at: f.location(of: "timeout"), "'timeout' must be greater than 0") }
        if at >= topology.duration {
            throw TopologyDiagnostic(at: f.location(of: "at"), "exec starts at \(at), after the run ends (\(topology.duration))")
        }
        self.name = name
    }

    private var running = false

    public func start(in context: ScenarioContext) throws {
        #if os(Linux)
        guard let backend = context.backend as? NetnsBackend else {
            throw ExecUnsupported(workload: name, backend: context.backend.name)
        }
        context.scheduler.schedule(at: .zero + at) { [unowned self] in self.launch(backend, context) }
        #else
        throw ExecUnsupported(workload: name, backend: context.backend.name)
        #endif
    }

    #if os(Linux)
    private func launch(_ backend: NetnsBackend, _ context: ScenarioContext) {
        let stdout = "\(name).stdout", stderr = "\(name).stderr"
        let dir = backend.outputDirectory as NSString
        for file in [stdout, stderr] { _ = FileManager.default.createFile(atPath: dir.appendingPathComponent(file), contents: nil) }
        let record = { [unowned self] (exitCode: Int?, signal: Int?, timedOut: Bool) in
            self.running = false
            context.trace(.exec(.init(t: context.scheduler.now.nanosecondsSinceStart, workload: self.name, node: self.node,
                                      command: self.arguments.joined(separator: " "), exitCode: exitCode, signal: signal,
                                      timedOut: timedOut, stdout: stdout, stderr: stderr)))
        }
        do {
            running = true
            let child = try backend.spawn(node: node, arguments: arguments, stdoutPath: dir.appendingPathComponent(stdout),
                                          stderrPath: dir.appendingPathComponent(stderr)) { status in
                record(status.exitCode.map(Int.init), status.signal.map(Int.init), status.timedOut)
            }
            context.scheduler.schedule(after: timeout) { child.timeOut() }
        } catch {
            // The program could not start (not found, …): say why in its stderr file, exit code 127 like a shell.
            try? "\(error)\n".write(toFile: dir.appendingPathComponent(stderr), atomically: false, encoding: .utf8)
            record(127, nil, false)
        }
    }
    #endif
}

/// An exec workload on a backend without namespaces.
struct ExecUnsupported: Error, CustomStringConvertible {
    var workload: String
    var backend: String
    var description: String {
        "exec workload '\(workload)' runs programs inside node namespaces and needs '--backend netns' (this run uses '\(backend)')"
    }
}
