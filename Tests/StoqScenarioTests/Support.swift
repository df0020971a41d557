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
