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
