import Foundation
import StoqEngine
@testable import StoqTopology
import XCTest

/// Published graphs (Topology Zoo GML, GraphML, topohub's node-link JSON)
/// become topologies; odd but valid files parse, broken ones are located errors.
final class ImportTests: XCTestCase {
    func zoo(_ file: String) -> String {
        Bundle.module.url(forResource: "Fixtures/zoo/" + file, withExtension: nil)!.path
    }

    func topology(_ graph: ImportedGraph, tierFrom: GraphImport.TierSource = .capacity) throws -> Topology {
        let entries = try GraphImport(tierSource: tierFrom).entries(of: graph)
        return try TopologyParser.parse(yaml: GraphImport.yaml(entries, name: "t", source: "test"), file: "t.yaml")
    }

    /// Sites, coordinates and links (with their latencies) in a comparable form.
    func shape(_ t: Topology) -> [String] {
        t.sites.map { "\($0.name) \($0.latitude) \($0.longitude) \($0.region)" }
            + t.links.map { "\([$0.from, $0.to].sorted()) \($0.bandwidthBitsPerSecond) \($0.latency)" }.sorted()
    }

    func testTheSameZooNetworkFromGMLAndGraphMLGivesTheSameTopology() throws {
        let gml = try topology(ImportedGraph.read(path: zoo("Abilene.gml")))
        let graphml = try topology(ImportedGraph.read(path: zoo("Abilene.graphml")))
        XCTAssertEqual(shape(gml), shape(graphml))
        XCTAssertEqual(gml.sites.count, 11)
        XCTAssertEqual(gml.links.count, 14)
        let ny = try XCTUnwrap(gml.site(named: "new-york"))
        XCTAssertEqual(ny.latitude, 40.71, accuracy: 1e-9)
        XCTAssertEqual(ny.region, "north-america")
        XCTAssertNotNil(gml.node(named: "core-new-york"))
        // New York–Chicago has 1,146.16 km of fibre in the file: 5 µs per km.
        let link = try XCTUnwrap(gml.links.first { Set([$0.from, $0.to]) == ["core-new-york", "core-chicago"] })
        XCTAssertEqual(link.latency, .microseconds(5731))
        XCTAssertEqual(link.bandwidthBitsPerSecond, LinkTier.gbps2_5.bitsPerSecond, "no capacity in the file: the default tier")
    }

    func testLargerZooNetworksInEveryFormat() throws {
        for (file, sites, links) in [("Geant2012.gml", 37, 58), ("Aarnet.graphml", 19, 24), ("Arnes.json", 34, 46)] {
            let t = try topology(ImportedGraph.read(path: zoo(file)))
            XCTAssertEqual(t.sites.count, sites, file)
            XCTAssertEqual(t.nodes.count, sites, "one core per point of presence: \(file)")
            XCTAssertEqual(t.links.count, links, file)
            XCTAssertFalse(t.warnings.contains { $0.message.contains("disconnected") }, "\(file): \(t.warnings)")
        }
    }

    /// Comments, nested lists, strings with spaces and entities, numbers in
    /// any form, a multigraph's parallel edges, capacities and a self-loop.
    func testOddButValidGML() throws {
        let text = """
        # a comment line
        Creator "hand written"
        graph [
          multigraph 1
          label "Odd &amp; Co"
          Network "Odd"
          node [ id 10 label "São Paulo" Latitude -23.55 Longitude -46.63 extra [ nested [ deeper 1 ] ] ]
          node [
            id 11
            label "New  York"   # two spaces, kept
            Latitude 40.71E0
            Longitude -7.401e1
          ]
          node [ id 12 label "Lisbon" Latitude 38.72 Longitude -9.14 ]
          edge [ source 10 target 11 LinkSpeedRaw 10000000000.0 LinkLabel "10 Gb/s" ]
          edge [ source 10 target 11 LinkSpeedRaw 2500000000 ]
          edge [ source 11 target 12 ]
          edge [ source 12 target 12 ]
        ]
        """
        let path = NSTemporaryDirectory() + "odd-\(UUID().uuidString).gml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let graph = try ImportedGraph.read(path: path)
        XCTAssertEqual(graph.name, "Odd & Co")
        XCTAssertEqual(graph.nodes.map(\.label), ["São Paulo", "New  York", "Lisbon"])
        XCTAssertEqual(graph.nodes[1].longitude, -74.01)
        XCTAssertEqual(graph.edges.count, 4)
        let entries = try GraphImport().entries(of: graph)
        XCTAssertEqual(entries.sites.map { $0["name"].flatMap { if case .scalar(let s, _) = $0 { s } else { nil } } }, ["sao-paulo", "new-york", "lisbon"])
        XCTAssertTrue(entries.warnings.contains { $0.message.contains("parallel edge") && $0.message.contains("12500000000 bps") }, "\(entries.warnings)")
        XCTAssertTrue(entries.warnings.contains { $0.message.contains("loops back") && $0.location.line == 18 }, "\(entries.warnings)")
        let t = try topology(graph)
        let merged = try XCTUnwrap(t.links.first { Set([$0.from, $0.to]) == ["core-sao-paulo", "core-new-york"] })
        XCTAssertEqual(merged.bandwidthBitsPerSecond, 12_500_000_000, "parallel edges' capacities add up")
        XCTAssertTrue(merged.latencyIsAuto, "no fibre length: from the coordinates")
        XCTAssertEqual(t.links.count, 2)
        // By distance: New York–Lisbon is 5,400 km, a 2.5gbps tier.
        let byDistance = try topology(graph, tierFrom: .distance)
        XCTAssertEqual(byDistance.links.first { Set([$0.from, $0.to]) == ["core-new-york", "core-lisbon"] }?.bandwidthBitsPerSecond,
                       LinkTier.gbps2_5.bitsPerSecond)
    }

    func assertImportError(_ text: String, ext: String = "gml", line: Int, _ message: String,
                           file: StaticString = #filePath, testLine: UInt = #line) throws {
        let path = NSTemporaryDirectory() + "bad-\(UUID().uuidString).\(ext)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try GraphImport().entries(of: ImportedGraph.read(path: path))
            XCTFail("expected an error containing '\(message)'", file: file, line: testLine)
        } catch let d as TopologyDiagnostic {
            XCTAssertEqual(d.location.file, path, file: file, line: testLine)
            XCTAssertEqual(d.location.line, line, "\(d)", file: file, line: testLine)
            XCTAssertTrue(d.message.contains(message), "\(d)", file: file, line: testLine)
        } catch let e as TopologyErrors {
            let d = try XCTUnwrap(e.diagnostics.first, file: file, line: testLine)
            XCTAssertEqual(d.location.line, line, "\(e)", file: file, line: testLine)
            XCTAssertTrue(d.message.contains(message), "\(e)", file: file, line: testLine)
        }
    }

    func testBrokenGraphsAreLocatedErrors() throws {
        let node = "  node [ id 1 label \"A\" Latitude 1 Longitude 2 ]\n"
        try assertImportError("graph [\n" + node + "  node [ id 2 label \"B\" ]\n]\n", line: 3, "node 'B' (id 2) has no usable coordinates")
        try assertImportError("graph [\n" + node + "  edge [ source 1 target 9 ]\n]\n", line: 3, "names node id '9'")
        try assertImportError("graph [\n" + node + node + "]\n", line: 3, "duplicate node 'A' (id 1)")
        try assertImportError("graph [\n" + node + "  edge [ source 1 ]\n]\n", line: 3, "an edge needs 'source' and 'target'")
        try assertImportError("graph [\n" + node + "  node [ id 2 label \"B\n", line: 3, "never closed with '\"'")
        try assertImportError("graph [\n" + node, line: 1, "never closed with ']'")
        try assertImportError("graph [\n  node [ id 1 Latitude north ]\n]\n", line: 2, "expected a number")
        try assertImportError("graph [\n" + node + "]\n]\n", line: 4, "unexpected ']'")
        try assertImportError("node [ id 1 ]\n", line: 1, "no 'graph [ … ]'")
        try assertImportError(String(repeating: "a [ ", count: 100), line: 1, "nested deeper than 64")
        try assertImportError("<graphml><graph><node id=\"1\"><data key=\"x\">1</data></node>\n<edge source=\"1\"/></graph></graphml>",
                              ext: "graphml", line: 2, "an <edge> needs source and target")
        try assertImportError("<graphml><graph>\n<node id=\"1\" <data/>\n</graph></graphml>", ext: "graphml", line: 2, "GraphML:")
        try assertImportError("{\"nodes\": [{\"id\": 1, \"name\": \"A\"}], \"edges\": []}", ext: "json", line: 1, "node 'A' (id 1) has no usable coordinates")
        try assertImportError("[1, 2]", ext: "json", line: 1, "expected networkx node-link data")
        try assertImportError("x", ext: "txt", line: 1, "cannot tell the graph format")
    }

    /// `topology: {import: FILE}` inside a topology file: the graph's sites,
    /// cores and links, plus the file's own nodes, links and settings.
    func testTopologyFileImportsAGraphAndAddsItsOwnNodes() throws {
        let dir = NSTemporaryDirectory() + "import-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: zoo("Abilene.gml"), toPath: dir + "/abilene.gml")
        let yaml = """
        name: abilene-study
        topology: {import: abilene.gml, tier-from: distance}
        sites:
          - {name: lab, city: Boston}
        nodes:
          - {name: client, site: lab, role: client, uplink: {to: core-new-york, tier: 100mbps}}
        """
        try yaml.write(toFile: dir + "/study.yaml", atomically: true, encoding: .utf8)
        let t = try TopologyParser.load(path: dir + "/study.yaml")
        XCTAssertEqual(t.sites.count, 12)
        XCTAssertEqual(t.nodes.count, 12)
        XCTAssertEqual(t.links.count, 15)
        XCTAssertTrue(t.links.contains { $0.from == "client" && $0.to == "core-new-york" })
        // Distance bands: New York–Chicago (1,146 km of fibre) is a 2.5gbps link.
        XCTAssertEqual(t.links.first { Set([$0.from, $0.to]) == ["core-new-york", "core-chicago"] }?.bandwidthBitsPerSecond,
                       LinkTier.gbps2_5.bitsPerSecond)

        // A graph that does not exist, a bad option: located in the topology file.
        try "topology: {import: nowhere.gml, tier-from: speed}\n".write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TopologyParser.load(path: dir + "/bad.yaml")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("bad.yaml:1:") && text.contains("'tier-from' must be capacity or distance"), text)
        }
    }

    /// Every Topology Zoo network that topohub ships (tools/setup.sh installs it).
    func testEveryTopologyZooNetworkOfTopohubImports() throws {
        let find = Process()
        find.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        find.arguments = ["python3", "-c", "import topohub, os; print(os.path.join(os.path.dirname(topohub.__file__), 'data', 'topozoo'))"]
        let pipe = Pipe()
        find.standardOutput = pipe
        find.standardError = FileHandle.nullDevice
        try find.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        find.waitUntilExit()
        let dir = out.trimmingCharacters(in: .whitespacesAndNewlines)
        guard find.terminationStatus == 0, FileManager.default.fileExists(atPath: dir) else {
            throw XCTSkip("the topohub package is not installed (tools/setup.sh installs it with pip): no Zoo networks to import")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 200)
        for f in files {
            do {
                let graph = try ImportedGraph.read(path: dir + "/" + f)
                let t = try topology(graph)
                XCTAssertEqual(t.sites.count, Set(graph.nodes.map(\.id)).count, f)
                XCTAssertGreaterThan(t.links.count, 0, f)
            } catch {
                XCTFail("\(f): \(error)")
            }
        }
    }
}
