import Foundation
import StoqScenario
import StoqTopology

/// A fresh temporary directory, removed by the caller's `defer`.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "stoqsim-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

func scenario(yaml: String, file: String = "test.yaml") throws -> Scenario {
    try Scenario(topology: TopologyParser.parse(yaml: yaml, file: file))
}

/// Two sites far apart and a local pair, with a lossy link for seed tests.
let twoSiteYAML = """
name: two-sites
seed: 7
duration: 2s
sites:
  - {name: fra, latitude: 50.11, longitude: 8.68, region: europe}
  - {name: sin, latitude: 1.35, longitude: 103.82, region: asia}
nodes:
  - {name: a, site: fra, role: edge}
  - {name: b, site: sin, role: edge}
  - {name: fast, site: fra, role: client}
  - {name: slow, site: fra, role: client}
links:
  - {from: a, to: b, tier: 2.5gbps, latency: 80ms, loss: 5%}
  - {from: a, to: fast, tier: 1gbps, latency: 1ms}
  - {from: a, to: slow, tier: 100mbps, latency: 1ms}
workloads:
  - {kind: probe, name: far, from: a, to: b, interval: 20ms, size: 64}
  - {kind: probe, name: tiers, from: a, to: [fast, slow], interval: 50ms, size: 1200}
"""

/// Nodes a (Frankfurt) and b (Paris) joined by one 1 Gbit/s link, 5 ms each
/// way, and one transfer workload from a to b with `fields` (e.g. "size: 2MB").
func transferPairYAML(seed: Int = 3, duration: String = "3s", loss: String = "0", workload fields: String) -> String {
    """
    name: transfer-test
    seed: \(seed)
    duration: \(duration)
    sites:
      - {name: fra, latitude: 50.11, longitude: 8.68, region: europe}
      - {name: par, latitude: 48.86, longitude: 2.35, region: europe}
    nodes:
      - {name: a, site: fra, role: edge}
      - {name: b, site: par, role: edge}
    links:
      - {from: a, to: b, tier: 1gbps, latency: 5ms, loss: \(loss)}
    workloads:
      - {kind: transfer, from: a, to: b, \(fields)}
    """
}

/// Runs `yaml` with one qlog per connection and returns, by qlog file name
/// ("client-fra-client-1"), the transport parameters the connection's own side
/// announced (its first local `parameters_set` event).
func localTransportParameters(ofRun yaml: String) throws -> [String: [String: Any]] {
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var s = try scenario(yaml: yaml)
    s.qlogDirectory = dir + "/qlog"
    try FileManager.default.createDirectory(atPath: dir + "/qlog", withIntermediateDirectories: true)
    _ = try s.run(outputDirectory: dir + "/run", pcapDirectory: nil)
    var result: [String: [String: Any]] = [:]
    for file in try FileManager.default.contentsOfDirectory(atPath: dir + "/qlog") {
        let text = try String(contentsOfFile: dir + "/qlog/" + file, encoding: .utf8)
        // JSON-SEQ: records separated by RS (0x1e) and newlines.
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\u{1e}" }) {
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  event["name"] as? String == "transport:parameters_set",
                  let data = event["data"] as? [String: Any], data["owner"] as? String == "local" else { continue }
            result[String(file.dropLast(".sqlog".count))] = data
            break
        }
    }
    return result
}
