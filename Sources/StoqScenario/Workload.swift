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
}

extension Workload {
    public static var configuresEndpoints: Bool { false }
}

public enum WorkloadRegistry {
    public static let kinds: [Workload.Type] = [ProbeWorkload.self, TransferWorkload.self, ExecWorkload.self, ServeWorkload.self,
                                                    PublishWorkload.self, UpdateWorkload.self, FetchWorkload.self,
                                                    TrustChainWorkload.self]

    /// Builds every workload of the topology, collecting all errors.
    public static func makeAll(for topology: Topology) throws -> [Workload] {
        var workloads: [Workload] = []
        var errors: [TopologyDiagnostic] = []
        for (index, spec) in topology.workloads.enumerated() {
            do {
                workloads.append(try make(spec, index: index, topology: topology))
            } catch let d as TopologyDiagnostic {
                errors.append(d)
            }
        }
        let names = workloads.map(\.name)
        for (i, n) in names.enumerated() where names[..<i].contains(n) {
            errors.append(TopologyDiagnostic(at: topology.workloads[i].location, "duplicate workload name '\(n)'",
                                             hint: "give each workload a distinct 'name'"))
        }
        if !errors.isEmpty { throw TopologyErrors(errors) }
        return workloads
    }

    static func make(_ spec: WorkloadSpec, index: Int, topology: Topology) throws -> Workload {
        guard let type = kinds.first(where: { $0.kind == spec.kind }) else {
            throw TopologyDiagnostic(at: spec.fields.location(of: "kind"), "unknown workload kind '\(spec.kind)'",
                                     hint: "known kinds: \(kinds.map { $0.kind }.joined(separator: ", "))")
        }
        try spec.fields.checkKeys(allowed: ["kind", "name"] + type.fields, context: "a \(spec.kind) workload")
        let name = try spec.fields.string("name") ?? "\(spec.kind)-\(index + 1)"
        return try type.init(spec: spec, name: name, topology: topology)
    }
}
