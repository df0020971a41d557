import StoqEngine
import StoqTopology

/// One kind of workload (probe, transfer, …). A kind parses its own fields from
/// the topology file — reporting errors with file:line — and, at run time,
/// schedules its events through the context. New kinds register in
/// `WorkloadRegistry.kinds`.
public protocol Workload: AnyObject {
    /// The `kind:` value in topology files.
    static var kind: String { get }
    /// Fields this kind accepts besides `kind` and `name`.
    static var fields: [String] { get }

    /// Parses and validates `spec` against `topology`.
    init(spec: WorkloadSpec, name: String, topology: Topology) throws

    /// The name shown in traces and reports.
    var name: String { get }

    /// How long after the end of the run the workload still needs to finish
    /// in-flight work (e.g. a probe's timeout). Nothing new starts then.
    var drainTime: SimDuration { get }

    /// True while work started before the end is still in flight; the run
    /// goes on past its end (at most `drainTime`) until no workload has any.
    var hasOutstandingWork: Bool { get }

    /// Installs the workload's services and schedules its first events.
    func start(in context: ScenarioContext) throws

    /// Kinds that configure nodes' STOQ endpoints (certificates, ALPN) start
    /// before the others, whatever their order in the file: endpoints take
    /// their configuration when the first workload makes them.
    static var configuresEndpoints: Bool { get }

    /// The run backends this kind works on (`validate` checks the chosen one).
    static var backends: [String] { get }
}

extension Workload {
    public static var configuresEndpoints: Bool { false }
    public static var backends: [String] { ["sim", "netns"] }
}

public enum WorkloadRegistry {
    public static let kinds: [Workload.Type] = [ProbeWorkload.self, TransferWorkload.self, ExecWorkload.self, ServeWorkload.self,
                                                    PublishWorkload.self, UpdateWorkload.self, FetchWorkload.self,
                                                    TrustChainWorkload.self, ConnectionsWorkload.self]

    /// Builds every workload of the topology, collecting all errors,
    /// including workloads that cannot run on `backend` (when one is given).
    public static func makeAll(for topology: Topology, backend: String?) -> (workloads: [Workload], errors: [TopologyDiagnostic]) {
        var workloads: [Workload] = []
        var made: [(name: String, location: SourceLocation)] = []
        var errors: [TopologyDiagnostic] = []
        for (index, spec) in topology.workloads.enumerated() {
            do {
                let w = try make(spec, index: index, topology: topology)
                if let backend, !type(of: w).backends.contains(backend) {
                    errors.append(TopologyDiagnostic(at: spec.fields.location(of: "kind"),
                                                     "\(spec.kind) workload '\(w.name)' cannot run on the '\(backend)' backend",
                                                     hint: "it needs --backend \(type(of: w).backends.joined(separator: " or "))"))
                }
                workloads.append(w)
                made.append((w.name, spec.location))
            } catch let d as TopologyDiagnostic {
                errors.append(d)
            } catch let e as TopologyErrors {
                errors += e.diagnostics
            } catch is UnresolvedReference {
                // The node or site it names failed to parse and was reported there.
            } catch {
                errors.append(TopologyDiagnostic(at: spec.location, "\(spec.kind) workload: \(error)"))
            }
        }
        var firstLine: [String: Int] = [:]
        for w in made {
            if let line = firstLine[w.name] {
                errors.append(TopologyDiagnostic(at: w.location, "duplicate workload name '\(w.name)' (first at line \(line))",
                                                 hint: "give each workload a distinct 'name'"))
            } else {
                firstLine[w.name] = w.location.line
            }
        }
        return (workloads, errors)
    }

    static func make(_ spec: WorkloadSpec, index: Int, topology: Topology) throws -> Workload {
        guard let type = kinds.first(where: { $0.kind == spec.kind }) else {
            throw TopologyDiagnostic(at: spec.fields.location(of: "kind"), "unknown workload kind '\(spec.kind)'",
                                     hint: "known kinds: \(kinds.map { $0.kind }.joined(separator: ", "))")
        }
        try spec.fields.checkKeys(allowed: ["kind", "name"] + type.fields, context: "a \(spec.kind) workload")
        let name = try spec.fields.string("name") ?? "\(spec.kind)-\(index + 1)"
        // Names become file names in the run directory (exec's NAME.stdout).
        try TopologyParser.checkName(name, at: spec.fields.location(of: "name"), kind: "workload", maximumBytes: topology.limits.nameBytes)
        return try type.init(spec: spec, name: name, topology: topology)
    }
}
