import ArgumentParser
import Foundation
import StoqTopology

extension ImportedGraph.Format: ExpressibleByArgument {}
extension GraphImport.TierSource: ExpressibleByArgument {}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a published network graph (Topology Zoo GML or GraphML, networkx node-link JSON as topohub ships it) into a topology file.",
        discussion: "Each point of presence becomes a site with one core node, each edge a link; docs/import.md has the rules.")

    @Argument(help: "Graph file (.gml, .graphml or .json).") var file: String
    @Option(help: "Graph format (default: from the extension).") var format: ImportedGraph.Format?
    @Option(help: "Link capacities from the file's capacities, or by link length.") var tierFrom: GraphImport.TierSource = .capacity
    @Option(help: "Topology name (default: the graph's name or the file name).") var name: String?
    @Option(name: .shortAndLong, help: "Output file (default: standard output).") var out: String?

    func run() throws {
        let entries: GraphImport.Entries
        do {
            entries = try GraphImport(tierSource: tierFrom).entries(of: ImportedGraph.read(path: file, format: format))
        } catch let d as TopologyDiagnostic {
            printError(d.description)
            throw ExitCode(badInputExitCode)
        } catch let e as TopologyErrors {
            e.diagnostics.forEach { printError($0.description) }
            throw ExitCode(badInputExitCode)
        }
        let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        let slug = TopologyGenerator.slug(name ?? entries.name ?? stem)
        let yaml = GraphImport.yaml(entries, name: slug.isEmpty ? "imported" : slug, source: (file as NSString).lastPathComponent)
        // What import writes must load: check it as `validate` would before anyone runs it.
        let topology: Topology
        do {
            topology = try TopologyParser.parse(yaml: yaml, file: out ?? "imported.yaml")
        } catch let e as TopologyErrors {
            e.diagnostics.forEach { printError($0.description) }
            throw ExitCode(badInputExitCode)
        }
        for w in entries.warnings + topology.warnings { printError(w.description) }
        if let out {
            try yaml.write(toFile: out, atomically: true, encoding: .utf8)
            printError("wrote \(out) (\(topology.sites.count) sites, \(topology.links.count) links)")
        } else {
            print(yaml, terminator: "")
        }
    }
}
