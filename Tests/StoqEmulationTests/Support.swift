import Foundation
import StoqEmulation
import StoqTopology
import XCTest

/// Skips the test with the reason the netns backend cannot run here.
func requireNetns() throws {
    if let reason = Namespaces.unavailableReason() { throw XCTSkip("netns backend unavailable: \(reason)") }
}

/// What a test left behind under this process's namespace prefix, and any
/// TUN device in the test's own namespace; both must be empty.
func leftovers() -> [String] {
    let mine = Namespaces.list(prefix: "stoq-\(getpid())-")
    let tuns = (try? String(contentsOfFile: "/proc/net/dev", encoding: .utf8))?
        .split(separator: "\n").compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
        .filter { $0.hasPrefix("stoq") } ?? []
    return mine + tuns
}

/// Removes whatever this process left (used in `defer`, so a failing test cannot leave namespaces).
func removeLeftovers() {
    _ = Namespaces.cleanupLeftovers(prefix: "stoq-\(getpid())-", includeLive: true)
}

func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "stoqsim-netns-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Three nodes in a line, 2 ms and 3 ms one way, 1 Gbps.
let lineYAML = """
name: line
seed: 3
duration: 1s
sites:
  - {name: fra, city: Frankfurt}
  - {name: par, city: Paris}
nodes:
  - {name: a, site: fra, role: edge}
  - {name: m, site: fra, role: core}
  - {name: b, site: par, role: edge}
links:
  - {from: a, to: m, tier: 1gbps, latency: 2ms}
  - {from: m, to: b, tier: 1gbps, latency: 3ms}
"""
