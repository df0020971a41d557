import Foundation
import StoqEngine
@testable import StoqRouting
import StoqTopology
import XCTest

/// The byte writers of `stoqsim route`: the JSON and CSV they stream parse
/// back to the matrix the tables give.
final class MatrixOutputTests: XCTestCase {
    /// Four sites on two continents (so stretch is defined), a few nodes each,
    /// one node unreachable.
    private func sampleTables() -> ForwardingTables {
        let here = SourceLocation(file: "test", line: 1, column: 1)
        let places: [(String, Double, Double)] = [("fra", 50.1, 8.7), ("ams", 52.4, 4.9), ("sin", 1.35, 103.8), ("syd", -33.9, 151.2)]
        let sites = places.enumerated().map { i, p in
            Site(name: p.0, latitude: p.1, longitude: p.2, region: "r\(i / 2)",
                 prefix: IPv6Prefix(address: IPv6Address(high: (0xfd00 << 48) | (UInt64(i) << 32), low: 0), length: 48), location: here)
        }
        var nodes: [NodeSpec] = []
        for (i, s) in sites.enumerated() {
            for k in 0..<3 {
                // A quote and a comma in one name: the writers must escape (JSON) or keep (CSV) them.
                let name = i == 1 && k == 2 ? "odd \"n,ame\"" : "\(s.name)-\(k)"
                nodes.append(NodeSpec(name: name, site: s.name, role: .edge, address: s.prefix.host(UInt64(k + 1)), location: here))
            }
        }
        var links: [LinkSpec] = []
        func link(_ a: Int, _ b: Int, _ ms: Int64, _ mbps: UInt64) {
            links.append(LinkSpec(from: nodes[a].name, to: nodes[b].name, bandwidthBitsPerSecond: mbps * 1_000_000,
                                  latency: .microseconds(ms * 1000 + 123), latencyIsAuto: false, lossRate: 0, queueBytes: 100_000,
                                  location: here))
        }
        for s in 0..<4 { link(3 * s, 3 * s + 1, 1, 1000); link(3 * s, 3 * s + 2, 1, 100) }
        link(0, 3, 8, 10_000); link(3, 6, 90, 2500); link(6, 9, 45, 2500); link(0, 6, 160, 1000)
        nodes.append(NodeSpec(name: "alone", site: "syd", role: .edge, address: sites[3].prefix.host(9), location: here))
        let topology = Topology(name: "t", sourceFile: "test", seed: 1, duration: .seconds(1), routeInflation: 1,
                                sites: sites, nodes: nodes, links: links, faults: [], workloads: [],
                                routing: RoutingConfig(), warnings: [])
        let graph = RoutingGraph(topology: topology)
        return ForwardingTables(graph: graph, strategy: LatencyStrategy(), parallel: false)
    }

    private func output(_ tables: ForwardingTables, _ format: RouteRowWriter.Format, threads: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        try RoutingMatrixOutput(tables: tables, format: format).write(threads: threads, to: { out += $0 })
        return out
    }

    func testJSONParsesBackToTheMatrix() throws {
        let tables = sampleTables()
        let matrix = RoutingMatrix(tables: tables, parallel: false)
        let n = tables.rowLength
        let bytes = try output(tables, .json, threads: 3)
        XCTAssertEqual(bytes, try output(tables, .json, threads: 1), "the thread count changes nothing")
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]])
        XCTAssertEqual(rows.count, n * (n - 1))
        var i = 0
        for s in 0..<Int32(n) {
            for d in 0..<Int32(n) where d != s {
                let row = rows[i]
                i += 1
                XCTAssertEqual(row["from"] as? String, tables.graph.name(ofNode: s))
                XCTAssertEqual(row["to"] as? String, tables.graph.name(ofNode: d))
                let cell = Int(s) * n + Int(d)
                guard matrix.latency[cell] >= 0 else {
                    XCTAssertTrue(row["path"] is NSNull && row["latency_us"] is NSNull && row["stretch"] is NSNull, "\(row)")
                    continue
                }
                let path = try XCTUnwrap(row["path"] as? [String])
                XCTAssertEqual(path, tables.path(from: s, to: d)!.map { tables.graph.name(ofNode: $0) })
                XCTAssertEqual(Int64(((row["latency_us"] as! NSNumber).doubleValue * 1000).rounded()), matrix.latency[cell])
                XCTAssertEqual(row["hops"] as? Int, Int(matrix.hops[cell]))
                XCTAssertEqual((row["bottleneck_bps"] as? NSNumber)?.uint64Value, matrix.bottleneck[cell])
                if let st = matrix.stretch(from: s, to: d) {
                    XCTAssertEqual((row["stretch"] as! NSNumber).doubleValue, st, accuracy: 0.00005)
                } else {
                    XCTAssertTrue(row["stretch"] is NSNull)
                }
            }
        }
    }

    func testCSVParsesBackToTheMatrix() throws {
        let tables = sampleTables()
        let matrix = RoutingMatrix(tables: tables, parallel: false)
        let n = tables.rowLength
        let bytes = try output(tables, .csv, threads: 2)
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.removeLast(), "", "ends with a newline")
        XCTAssertEqual(lines.removeFirst() + "\n", RouteRowWriter.csvHeader)
        XCTAssertEqual(lines.count, n * (n - 1))
        var i = 0
        for s in 0..<Int32(n) {
            for d in 0..<Int32(n) where d != s {
                // Names may hold commas here, so take the numeric fields from the right.
                let fields = lines[i].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                i += 1
                let cell = Int(s) * n + Int(d)
                let stretch = fields[fields.count - 1], bottleneck = fields[fields.count - 2]
                let hops = fields[fields.count - 3], latency = fields[fields.count - 4]
                guard matrix.latency[cell] >= 0 else {
                    XCTAssertEqual([latency, hops, bottleneck, stretch], ["", "", "", ""])
                    continue
                }
                XCTAssertEqual(latency, String(format: "%lld.%03lld", matrix.latency[cell] / 1000, matrix.latency[cell] % 1000))
                XCTAssertEqual(Int(hops), Int(matrix.hops[cell]))
                XCTAssertEqual(UInt64(bottleneck), matrix.bottleneck[cell])
                XCTAssertEqual(stretch, matrix.stretch(from: s, to: d).map { String(format: "%.4f", $0) } ?? "")
            }
        }
    }

    /// Four decimals as printf rounds them, ties and near-ties included.
    func testFixedFourDecimalsMatchPrintf() throws {
        var values: [Double] = [0, 1, 1.00005, 2.00015, 0.99995, 1.23456789, 12345.67895, 3.14159265, 1e-5, 7.5e-5, 99999.99995]
        var x: UInt64 = 12345
        for _ in 0..<20_000 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values.append(Double(x >> 11) / Double(1 << 53) * 50)
            values.append(Double((x >> 20) % 1_000_000) / 100_000 + 0.00005)
        }
        for v in values {
            var out: [UInt8] = []
            Decimal3.appendFixed4(v, to: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), String(format: "%.4f", v), "\(v)")
        }
    }
}
