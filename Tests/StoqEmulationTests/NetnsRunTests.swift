import Foundation
import StoqAnalyzer
import StoqEmulation
import StoqScenario
import StoqTopology
import XCTest

final class NetnsRunTests: XCTestCase {
    override func tearDown() {
        removeLeftovers()
        XCTAssertEqual(leftovers(), [], "namespaces or TUN devices left behind")
    }

    private func records(_ dir: String) throws -> [TraceRecord] {
        var out: [TraceRecord] = []
        try TraceReader.forEach(path: dir + "/trace.jsonl") { out.append($0) }
        return out
    }

    /// Kernel, TUN and wake-up overhead per round trip, on top of the model's
    /// RTT. The workloads' own sockets keep the model's instants
    /// (`NetnsEmulator.bindWorkloadSocket`), so it is 0 whenever the kernel
    /// hands packets over synchronously (every run so far); a hand-over
    /// deferred to a softirq thread goes through epoll and costs up to the
    /// engine's lag. Before that change it was 0.3–0.8 ms on a loaded 2-core
    /// machine; the bound leaves room.
    static let overheadAllowance: Int64 = 2_000_000

    /// The quickstart topology (shortened) on sim and on netns: every pair's
    /// median RTT agrees within 5 % plus the stated kernel/TUN constant, and
    /// netns is never faster than the model.
    func testQuickstartRTTsMatchSim() throws {
        try requireNetns()
        // The quickstart's network with probes only (its other workloads and
        // its failure at 6 s are not what this compares).
        let yaml = try String(contentsOfFile: repositoryRoot + "/topologies/quickstart.yaml", encoding: .utf8)
            .replacingOccurrences(of: "duration: 10s", with: "duration: 3s")
            .components(separatedBy: "workloads:")[0] + """
            workloads:
              - {kind: probe, from: client-fra-1, to: [client-par-1, client-sin-1], interval: 100ms, size: 64}
              - {kind: probe, from: edge-fra, to: [edge-par, client-par-2], interval: 100ms, size: 1200}
            """
        let scenario = try Scenario(topology: TopologyParser.parse(yaml: yaml, file: "quickstart-3s.yaml"))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sim = try scenario.run(outputDirectory: dir + "/sim")
        let netns = try scenario.runOnNetns(outputDirectory: dir + "/netns")
        XCTAssertEqual(netns.summary.backend, "netns")
        XCTAssertEqual(sim.summary.probes.count, netns.summary.probes.count)
        for p in sim.summary.probes {
            let q = try XCTUnwrap(netns.summary.probes.first { $0.workload == p.workload && $0.from == p.from && $0.to == p.to })
            XCTAssertEqual(q.lost, 0, "\(q.from) → \(q.to) lost probes")
            let s = try XCTUnwrap(p.rttNs).p50, n = try XCTUnwrap(q.rttNs).p50
            XCTAssertGreaterThanOrEqual(n, s, "\(p.from) → \(p.to): netns faster than the model")
            XCTAssertLessThanOrEqual(n, s + s / 20 + Self.overheadAllowance, "\(p.from) → \(p.to): sim \(s) ns, netns \(n) ns")
        }
        // The trace has the realtime record before the end, and the summary its lag.
        let trace = try records(dir + "/netns")
        guard case .realtime(let r)? = trace.dropLast().last else { return XCTFail("no realtime record before end") }
        XCTAssertGreaterThan(r.events, 0)
        XCTAssertGreaterThan(r.packetsRelayed, 0)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: netns.summaryPath))) as? [String: Any]
        XCTAssertNotNil((summary?["realtime"] as? [String: Any])?["lag_p99_ns"])
        XCTAssertTrue(netns.notes.contains { $0.hasPrefix("real-time engine:") })
    }

    /// The quickstart topology with its probes replaced by two 1 MB QUIC
    /// transfers from Frankfurt, one to Singapore (RTT ≈ 160 ms: propagation
    /// dominates) and one to Paris (RTT ≈ 10 ms): on sim and on netns each
    /// completes, and netns takes within 10 % of sim's time plus the stated
    /// kernel/TUN constant. Paris is the harder case: its slow start overflows
    /// the sender's 64 KiB access queue (≈ 120 drops), where a shift of one
    /// packet time (96 µs at 100 Mbit/s) changes which packets drop.
    func testQuickstartTransferTimesMatchSim() throws {
        try requireNetns()
        let yaml = try String(contentsOfFile: repositoryRoot + "/topologies/quickstart.yaml", encoding: .utf8)
            .replacingOccurrences(of: "duration: 10s", with: "duration: 4s")
            .components(separatedBy: "workloads:")[0] + """
            workloads:
              - {kind: transfer, name: far, from: client-fra-1, to: client-sin-1, size: 1MB, start: 200ms, timeout: 20s}
              - {kind: transfer, name: near, from: client-fra-2, to: client-par-1, size: 1MB, start: 200ms, timeout: 20s}
            """
        let scenario = try Scenario(topology: TopologyParser.parse(yaml: yaml, file: "quickstart-transfer.yaml"))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try scenario.run(outputDirectory: dir + "/sim")
        let netns = try scenario.runOnNetns(outputDirectory: dir + "/netns")
        func transfers(_ run: String) throws -> [String: TraceRecord.TransferResult] {
            var out: [String: TraceRecord.TransferResult] = [:]
            for case .transfer(let t) in try records(dir + "/" + run) { out[t.workload] = t }
            return out
        }
        let sim = try transfers("sim"), real = try transfers("netns")
        XCTAssertEqual(Set(sim.keys), ["far", "near"])
        for (name, s) in sim.sorted(by: { $0.key < $1.key }) {
            let n = try XCTUnwrap(real[name], "\(name): no transfer record on netns")
            let sd = try XCTUnwrap(s.durationNs, "\(name) did not complete on sim")
            let nd = try XCTUnwrap(n.durationNs, "\(name) did not complete on netns: \(n); \(netns.notes)")
            XCTAssertEqual(n.bytesReceived, s.bytesReceived)
            XCTAssertLessThanOrEqual(abs(nd - sd), sd / 10 + Self.overheadAllowance,
                                     "\(name): sim \(sd) ns, netns \(nd) ns; \(netns.notes)")
        }
    }

    private let execYAML = """
    name: exec
    duration: 1s
    sites:
      - {name: fra, city: Frankfurt}
      - {name: par, city: Paris}
    nodes:
      - {name: a, site: fra, role: edge}
      - {name: b, site: par, role: edge}
    links:
      - {from: a, to: b, tier: 1gbps, latency: 5ms}
    workloads:
      - {kind: exec, name: ifaces, node: a, at: 100ms, command: [cat, /proc/net/if_inet6], timeout: 5s}
      - {kind: exec, name: slow, node: b, at: 100ms, command: [sleep, 30], timeout: 300ms}
      - {kind: exec, name: missing, node: b, command: [no-such-program-stoq], timeout: 1s}
      - {kind: exec, name: fds, node: a, command: [ls, /proc/self/fd], timeout: 5s}
    """

    /// Programs run inside the node's namespace (they see its address), their
    /// output lands in the run directory, exit, timeout and failure to
    /// start are traced, and they get no descriptor of the run's.
    func testExecWorkload() throws {
        try requireNetns()
        let scenario = try Scenario(topology: TopologyParser.parse(yaml: execYAML, file: "exec.yaml"))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try scenario.runOnNetns(outputDirectory: dir)
        var execs: [String: TraceRecord.ExecResult] = [:]
        for case .exec(let x) in try records(dir) { execs[x.workload] = x }
        XCTAssertEqual(execs["ifaces"]?.exitCode, 0)
        let hex = scenario.topology.node(named: "a")!.address.bytes.map { String(format: "%02x", $0) }.joined()
        let out = try String(contentsOfFile: dir + "/ifaces.stdout", encoding: .utf8)
        XCTAssertTrue(out.contains(hex), "a's namespace should hold a's address:\n\(out)")
        XCTAssertFalse(out.contains(scenario.topology.node(named: "b")!.address.bytes.map { String(format: "%02x", $0) }.joined()))
        XCTAssertEqual(execs["slow"]?.timedOut, true)
        XCTAssertNil(execs["slow"]?.exitCode)
        XCTAssertEqual(execs["missing"]?.exitCode, 127)
        // Only its stdin, stdout, stderr (and ls's own directory fd): none of the run's descriptors leak in.
        let fds = try String(contentsOfFile: dir + "/fds.stdout", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(fds, ["0", "1", "2", "3"])
    }

    /// gtlsclient (ngtcp2's example client over GnuTLS), started by an exec
    /// workload in client-par-1's namespace, reaches the STOQ server of the
    /// `ca` node in Frankfurt across the modelled network of the quickstart
    /// topology, completes the QUIC + TLS handshake (ALPN h3) and downloads a
    /// file the node serves over HTTP/3; the exec record has the exit status.
    func testGtlsclientReachesStoqServerInAnotherNamespace() throws {
        try requireNetns()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gtlsclient") else {
            throw XCTSkip("/usr/bin/gtlsclient missing: install Debian package ngtcp2-client (tools/setup.sh)")
        }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The ca node serves this directory over HTTP/3; gtlsclient downloads a file from it.
        try FileManager.default.createDirectory(atPath: dir + "/www", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/downloads", withIntermediateDirectories: true)
        let content = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
        try Data(content).write(to: URL(fileURLWithPath: dir + "/www/hello.bin"))
        let yaml = try String(contentsOfFile: repositoryRoot + "/topologies/quickstart.yaml", encoding: .utf8)
            .replacingOccurrences(of: "duration: 10s", with: "duration: 2s")
            .components(separatedBy: "workloads:")[0] + """
            workloads:
              - {kind: serve, node: ca, alpn: [h3], files: \(dir)/www}
              - kind: exec
                name: gtlsclient
                node: client-par-1
                at: 100ms
                command: [gtlsclient, --exit-on-all-streams-close, --timeout=3s, "--download=\(dir)/downloads", addr:ca, "443", "https://ca.stoq/hello.bin"]
                timeout: 8s
            """
        let scenario = try Scenario(topology: TopologyParser.parse(yaml: yaml, file: "quickstart-gtlsclient.yaml"))
        _ = try scenario.runOnNetns(outputDirectory: dir + "/run")
        var exec: TraceRecord.ExecResult?
        for case .exec(let x) in try records(dir + "/run") { exec = x }
        let x = try XCTUnwrap(exec, "no exec record")
        let out = ((try? String(contentsOfFile: dir + "/run/gtlsclient.stdout", encoding: .utf8)) ?? "") +
            ((try? String(contentsOfFile: dir + "/run/gtlsclient.stderr", encoding: .utf8)) ?? "")
        XCTAssertTrue(out.contains("QUIC handshake has completed"), "gtlsclient output:\n\(out.suffix(3000))")
        XCTAssertTrue(out.contains("Negotiated ALPN is h3"), "gtlsclient output:\n\(out.suffix(3000))")
        XCTAssertEqual(x.node, "client-par-1")
        XCTAssertFalse(x.timedOut, "gtlsclient did not end by itself:\n\(out.suffix(3000))")
        // The file crossed the modelled network from the ca namespace, intact.
        let downloaded = try Data(contentsOf: URL(fileURLWithPath: dir + "/downloads/hello.bin"))
        XCTAssertTrue(downloaded == Data(content), "downloaded \(downloaded.count) bytes, expected \(content.count)")
        // --exit-on-all-streams-close: the request's stream closes, and gtlsclient exits 0.
        XCTAssertEqual(x.exitCode, 0, "exit status: \(x)")
    }

    /// A serve workload's mistakes are reported with file:line, and on sim it
    /// only makes the node's endpoint listen (the run is otherwise unchanged).
    func testServeWorkloadValidation() throws {
        let head = execYAML.components(separatedBy: "workloads:")[0]
        let bad = head + """
        workloads:
          - {kind: serve, node: nowhere}
          - {kind: serve, node: a, alpn: [h3, ""]}
          - {kind: serve}
        """
        XCTAssertThrowsError(try Scenario(topology: TopologyParser.parse(yaml: bad, file: "serve.yaml"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("serve.yaml:12:") && text.contains("nowhere"), text)
            XCTAssertTrue(text.contains("serve.yaml:13:") && text.contains("ALPN protocol"), text)
            XCTAssertTrue(text.contains("serve.yaml:14:") && text.contains("node"), text)
        }
        let good = head + """
        workloads:
          - {kind: serve, node: [a, b], alpn: h3}
          - {kind: probe, from: a, to: b, interval: 100ms}
        """
        let scenario = try Scenario(topology: TopologyParser.parse(yaml: good, file: "serve.yaml"))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario.run(outputDirectory: dir)
        XCTAssertEqual(result.summary.probes.first?.lost, 0)
    }

    /// On the sim backend an exec workload is refused with the reason.
    func testExecNeedsNetns() throws {
        let scenario = try Scenario(topology: TopologyParser.parse(yaml: execYAML, file: "exec.yaml"))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try scenario.run(outputDirectory: dir)) { XCTAssertTrue("\($0)".contains("--backend netns")) }
    }

    /// `ping -6` between two nodes' namespaces: ICMPv6 is carried through the
    /// model, so the RTT is the model's (2 × 5 ms) plus overhead.
    func testPingThroughTheModel() throws {
        try requireNetns()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/ping") || FileManager.default.isExecutableFile(atPath: "/bin/ping") else {
            throw XCTSkip("ping is not installed (Debian package iputils-ping)")
        }
        let yaml = execYAML.components(separatedBy: "workloads:")[0] + """
        workloads:
          - {kind: exec, name: ping, node: a, at: 100ms, command: [ping, -6, -c, 3, -i, "0.2", addr:b], timeout: 3s}
        """
        let scenario = try Scenario(topology: TopologyParser.parse(yaml: yaml.replacingOccurrences(of: "duration: 1s", with: "duration: 2s"),
                                                                    file: "ping.yaml"))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try scenario.runOnNetns(outputDirectory: dir)
        var exit: Int?
        for case .exec(let x) in try records(dir) { exit = x.exitCode }
        let out = (try? String(contentsOfFile: dir + "/ping.stdout", encoding: .utf8)) ?? ""
        XCTAssertEqual(exit, 0, out + ((try? String(contentsOfFile: dir + "/ping.stderr", encoding: .utf8)) ?? ""))
        XCTAssertTrue(out.contains("3 received"), out)
        // "rtt min/avg/max/mdev = 10.3/10.5/10.9/0.2 ms": min at least the model's 10 ms.
        if let line = out.split(separator: "\n").first(where: { $0.contains("min/avg/max") }),
           let min = line.split(separator: "=").last?.split(separator: "/").first.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
            XCTAssertGreaterThanOrEqual(min, 10.0)
        } else {
            XCTFail("no rtt line in ping output:\n\(out)")
        }
    }

    /// SIGTERM in the middle of a run stops it cleanly: the trace ends with
    /// an end record that names the signal, summary.json says the run is not
    /// complete and why, and no namespace is left.
    func testSIGTERMStopsAndCleansUp() throws {
        try requireNetns()
        let yaml = execYAML.components(separatedBy: "workloads:")[0].replacingOccurrences(of: "duration: 1s", with: "duration: 30s") + """
        workloads:
          - {kind: exec, name: term, node: a, at: 200ms, command: [sh, -c, "kill -TERM $PPID"], timeout: 5s}
          - {kind: probe, from: a, to: b, interval: 50ms}
        """
        let scenario = try Scenario(topology: TopologyParser.parse(yaml: yaml, file: "term.yaml"))
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario.runOnNetns(outputDirectory: dir)
        guard case .end(let end)? = try records(dir).last else { return XCTFail("trace has no end record") }
        XCTAssertLessThan(end.t, 10_000_000_000, "the run did not stop on SIGTERM")
        XCTAssertEqual(end.interruptedBy, "SIGTERM")
        XCTAssertTrue(result.notes.contains { $0.contains("interrupted by SIGTERM") }, "\(result.notes)")
        XCTAssertEqual(result.interruptingSignal, SIGTERM, "stoqsim run exits 128 + this")
        let reason = "interrupted by SIGTERM at \(SummaryText.formatNs(end.t)) simulated"
        XCTAssertFalse(result.summary.complete)
        XCTAssertEqual(result.summary.incompleteReason, reason)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: result.summaryPath))) as? [String: Any]
        XCTAssertEqual(json?["complete"] as? Bool, false)
        XCTAssertEqual(json?["incompleteReason"] as? String, reason)
        XCTAssertNotNil(json?["realtime"], "the netns figures are still added")
        XCTAssertEqual(Namespaces.list(prefix: "stoq-\(getpid())-"), [])
    }
}
