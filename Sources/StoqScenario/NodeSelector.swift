import StoqTopology

/// Picks nodes for workloads: a node name, or `role:client`, `site:fra`,
/// `region:europe`, or `all`. Unknown names are located errors.
public enum NodeSelector {
    public static let help = "a node name, role:ROLE, site:SITE, region:REGION or all"

    /// Resolves every selector in `selectors` (in order, without duplicates).
    public static func resolve(_ selectors: [String], in topology: Topology, at location: SourceLocation) throws -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for selector in selectors {
            let matches = try resolve(selector, in: topology, at: location)
            for m in matches where seen.insert(m).inserted { result.append(m) }
        }
        return result
    }

    /// The one node the required field `key` selects (e.g. a CA or an origin).
    static func single(_ key: String, of f: ConfigMap, in topology: Topology, kind: String) throws -> String {
        let selector = try f.requiredString(key, context: "a \(kind) workload")
        let nodes = try resolve([selector], in: topology, at: f.location(of: key))
        guard nodes.count == 1 else {
            throw TopologyDiagnostic(at: f.location(of: key), "'\(key)' must select exactly one node; '\(selector)' selects \(nodes.count)")
        }
        return nodes[0]
    }

    /// Every (from, to) pair of distinct nodes a workload's `from` and `to`
    /// fields select; both fields are required.
    static func pairs(_ spec: WorkloadSpec, in topology: Topology, workload name: String) throws -> [(from: String, to: String)] {
        let f = spec.fields
        func selected(_ key: String) throws -> [String] {
            _ = try f.require(key, context: "a \(spec.kind) workload")
            return try resolve(f.stringList(key) ?? [], in: topology, at: f.location(of: key))
        }
        let sources = try selected("from"), targets = try selected("to")
        let limit = topology.limits.pairs
        guard sources.count <= limit, targets.count <= limit / max(sources.count, 1) else {
            throw TopologyDiagnostic(at: spec.location, "\(spec.kind) workload '\(name)' selects \(sources.count) × \(targets.count) pairs, more than the limit of \(limit)",
                                     hint: "select fewer nodes, or raise it with 'limits: {pairs: N}' or --limit pairs=N")
        }
        let pairs = sources.flatMap { s in targets.filter { $0 != s }.map { (from: s, to: $0) } }
        guard !pairs.isEmpty else {
            throw TopologyDiagnostic(at: spec.location, "\(spec.kind) workload '\(name)' has no pair of distinct nodes",
                                     hint: "'from' and 'to' select the same single node")
        }
        return pairs
    }

    static func resolve(_ selector: String, in topology: Topology, at location: SourceLocation) throws -> [String] {
        let parts = selector.split(separator: ":", maxSplits: 1).map(String.init)
        let matches: [String]
        if selector == "all" {
            matches = topology.nodes.map(\.name)
        } else if parts.count == 2 {
            let (kind, value) = (parts[0], parts[1])
            switch kind {
            case "role":
                guard let role = NodeRole(rawValue: value) else {
                    throw TopologyDiagnostic(at: location, "unknown role '\(value)' in selector '\(selector)'",
                                             hint: "roles are \(NodeRole.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                matches = topology.nodes.filter { $0.role == role }.map(\.name)
            case "site":
                guard topology.site(named: value) != nil else {
                    if topology.unresolvedNames.contains(value) { throw UnresolvedReference(name: value) }
                    throw TopologyDiagnostic(at: location, "unknown site '\(excerpt(value))' in selector '\(excerpt(selector))'")
                }
                matches = topology.nodes.filter { $0.site == value }.map(\.name)
            case "region":
                let sites = Set(topology.sites.filter { $0.region == value }.map(\.name))
                guard !sites.isEmpty else {
                    let regions = Array(Set(topology.sites.map(\.region))).sorted()
                    throw TopologyDiagnostic(at: location, "no site is in region '\(value)'",
                                             hint: "regions in this file: \(regions.joined(separator: ", "))")
                }
                matches = topology.nodes.filter { sites.contains($0.site) }.map(\.name)
            default:
                throw TopologyDiagnostic(at: location, "unknown selector '\(selector)'", hint: "use \(help)")
            }
        } else {
            guard topology.node(named: selector) != nil else {
                if topology.unresolvedNames.contains(selector) { throw UnresolvedReference(name: selector) }
                throw TopologyDiagnostic(at: location, "unknown node '\(excerpt(selector))'", hint: unknownNodeHint(selector, in: topology))
            }
            matches = [selector]
        }
        guard !matches.isEmpty else {
            throw TopologyDiagnostic(at: location, "selector '\(selector)' matches no node")
        }
        return matches
    }

    /// What an unknown node name probably meant: a `count` template's stamped
    /// nodes, or the closest node name.
    static func unknownNodeHint(_ name: String, in topology: Topology) -> String {
        let prefix = name + "-"
        let stamped = topology.nodes.filter { $0.name.hasPrefix(prefix) && Int($0.name.dropFirst(prefix.count)) != nil }
        if !stamped.isEmpty {
            return "'\(excerpt(name))' has count: \(stamped.count), so its nodes are \(name)-1 … \(name)-\(stamped.count); name one of them, or use a selector such as site:SITE or role:ROLE"
        }
        if let guess = closest(to: name, in: topology.nodes.map(\.name)) { return "did you mean '\(guess)'? (or use \(help))" }
        return "use \(help)"
    }
}
