import XCTest
@testable import StoqTopology

/// Parses `yaml` expecting failure and returns the diagnostics.
func diagnostics(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) -> [TopologyDiagnostic] {
    do {
        _ = try TopologyParser.parse(yaml: yaml, file: "test.yaml")
        XCTFail("expected the topology to be rejected", file: file, line: line)
    } catch let e as TopologyErrors {
        return e.diagnostics
    } catch {
        XCTFail("unexpected error type: \(error)", file: file, line: line)
    }
    return []
}

/// Asserts exactly one error, on `line`, whose message contains `message`
/// (and whose hint contains `hint`, when given).
func assertError(_ yaml: String, line expectedLine: Int, _ message: String, hint: String? = nil,
                 file: StaticString = #filePath, line: UInt = #line) {
    let d = diagnostics(yaml, file: file, line: line)
    guard d.count == 1 else {
        return XCTFail("expected one error, got \(d.count):\n\(TopologyErrors(d))", file: file, line: line)
    }
    XCTAssertEqual(d[0].location.line, expectedLine, "\(d[0])", file: file, line: line)
    XCTAssertEqual(d[0].location.file, "test.yaml", file: file, line: line)
    XCTAssertTrue(d[0].message.contains(message), "message was: \(d[0].message)", file: file, line: line)
    if let hint {
        XCTAssertTrue(d[0].hint?.contains(hint) == true, "hint was: \(d[0].hint ?? "nil")", file: file, line: line)
    }
}

func parse(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) throws -> Topology {
    do {
        return try TopologyParser.parse(yaml: yaml, file: "test.yaml")
    } catch {
        XCTFail("\(error)", file: file, line: line)
        throw error
    }
}

/// Two sites, a core each, a backbone; lines 1–9. Tests append sections.
let baseSites = """
sites:
  - {name: fra, city: Frankfurt}
  - {name: sin, city: Singapore}
nodes:
  - {name: core-fra, site: fra, role: core}
  - {name: core-sin, site: sin, role: core}
  - {name: edge-fra, site: fra, role: edge, uplink: {to: core-fra, tier: 1gbps}}
backbones:
  - {sites: [fra, sin], tier: 2.5gbps}

"""

/// The directory of the repository, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func fixture(_ name: String) -> String {
    Bundle.module.url(forResource: name, withExtension: "yaml", subdirectory: "Fixtures")!.path
}
