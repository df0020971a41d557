import Foundation
import XCTest

/// Runs the built `stoqsim` binary as a user would and checks exit codes and
/// messages (0 success, 1 runtime failure, 2 bad input).
final class CLITests: XCTestCase {
    func stoqsim(_ args: [String]) throws -> StoqsimProcess.Outcome {
        try StoqsimProcess.run(StoqsimProcess.binary(near: CLITests.self), args)
    }

    func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        try StoqsimProcess.withTemporaryDirectory(body)
    }

    func testValidateQuickstart() throws {
        let r = try stoqsim(["validate", "topologies/quickstart.yaml"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ok"), r.stdout)
    }

    func testBrokenFileExitsTwoAndNamesTheLine() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/bad.yaml"
            try """
            name: bad
            sites:
              - {name: fra, latitude: 50.1, longitude: 8.7, region: europe}
            nodes:
              - {name: a, site: fra, role: edge, address: 10.0.0.1}
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let r = try stoqsim(["validate", file])
            XCTAssertEqual(r.status, 2)
            XCTAssertTrue(r.stderr.contains("bad.yaml:5:"), r.stderr)
            XCTAssertTrue(r.stderr.contains("IPv4"), r.stderr)
        }
    }

    /// `chunk --no-ids` prints the same boundaries as `chunk`, without ids.
    func testChunkWithoutIDsGivesTheSameBoundaries() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/data.bin"
            // Seeded (xorshift), so a failure can be reproduced.
            var x: UInt64 = 0x9E37_79B9_7F4A_7C15
            try Data((0..<200_000).map { _ in x ^= x << 13; x ^= x >> 7; x ^= x << 17; return UInt8(truncatingIfNeeded: x) })
                .write(to: URL(fileURLWithPath: file))
            func report(_ extra: [String]) throws -> (rows: [[String: Any]], summary: [String: Any]) {
                let r = try stoqsim(["chunk", file, "--preset", "small", "--format", "json"] + extra)
                XCTAssertEqual(r.status, 0, r.stderr)
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
                return (try XCTUnwrap(object["chunks"] as? [[String: Any]]), try XCTUnwrap(object["summary"] as? [String: Any]))
            }
            let (full, fullSummary) = try report([]), (bare, bareSummary) = try report(["--no-ids"])
            XCTAssertNotNil(fullSummary["uniqueChunks"])
            XCTAssertNil(bareSummary["uniqueChunks"] ?? bareSummary["uniqueBytes"] ?? bareSummary["dedupRatio"])
            XCTAssertEqual(bareSummary["chunks"] as? Int, full.count)
            XCTAssertGreaterThan(full.count, 5)
            XCTAssertEqual(bare.map { [$0["offset"] as? Int, $0["length"] as? Int] }, full.map { [$0["offset"] as? Int, $0["length"] as? Int] })
            XCTAssertTrue(full.allSatisfy { ($0["id"] as? String)?.count == 64 })
            XCTAssertTrue(bare.allSatisfy { $0["id"] == nil })
        }
    }

    func testBadFlagExitsTwo() throws {
        let r = try stoqsim(["run", "topologies/quickstart.yaml", "--strategy", "teleport"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("teleport"), r.stderr)
        // An IPv4 listen address is bad input too (STOQ is IPv6-only), not a run-time failure.
        let v4 = try stoqsim(["node", "serve", "--listen", "1.2.3.4:5", "--self-signed"])
        XCTAssertEqual(v4.status, 2)
        XCTAssertTrue(v4.stderr.contains("IPv6-only"), v4.stderr)
        // Time-series bins must hold whole 10 ms windows.
        let bin = try stoqsim(["run", "topologies/quickstart.yaml", "--series-bin", "15ms"])
        XCTAssertEqual(bin.status, 2)
        XCTAssertTrue(bin.stderr.contains("--series-bin: a time-series bin must be a multiple of 10ms"), bin.stderr)
    }

    func testUntilStopsARunEarlyAndSaysSo() throws {
        try withTemporaryDirectory { dir in
            let r = try stoqsim(["run", "topologies/quickstart.yaml", "--until", "300ms", "--out", dir, "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("WARNING: incomplete run: interrupted by --until 300ms at 300.000ms simulated"), r.stdout)
            // The trace ends at the cut, saying why.
            let trace = try String(contentsOfFile: dir + "/trace.jsonl", encoding: .utf8)
            let end = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(trace.split(separator: "\n").last!.utf8)) as? [String: Any])
            XCTAssertEqual(end["type"] as? String, "end")
            XCTAssertEqual(end["t"] as? Int, 300_000_000)
            XCTAssertEqual(end["interrupted_by"] as? String, "--until 300ms")
        }
        for (value, message) in [("0s", "not a positive duration"), ("soon", "not a positive duration")] {
            let bad = try stoqsim(["run", "topologies/quickstart.yaml", "--until", value])
            XCTAssertEqual(bad.status, 2)
            XCTAssertTrue(bad.stderr.contains(message), bad.stderr)
        }
        let netns = try stoqsim(["run", "topologies/quickstart.yaml", "--until", "1s", "--backend", "netns"])
        XCTAssertEqual(netns.status, 2)
        XCTAssertTrue(netns.stderr.contains("--until is for the sim backend"), netns.stderr)
    }

    func testMissingFileExitsTwo() throws {
        let r = try stoqsim(["run", "no/such/file.yaml"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("no/such/file.yaml"), r.stderr)
    }

    func testRunWritesTraceAndSummaryThenAnalyzeReproducesIt() throws {
        try withTemporaryDirectory { dir in
            let r = try stoqsim(["run", "topologies/quickstart.yaml", "--out", dir, "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            // The quickstart shows every part of the system, one block each, then the report.
            for block in ["TrustChain certificates", "QUIC transfers", "content distribution with deduplication",
                          "probe round-trip times", "throughput per tier", "failures and recoveries"] {
                XCTAssertTrue(r.stdout.contains("\n" + block), "no '\(block)' block: \(r.stdout)")
            }
            XCTAssertTrue(r.stdout.contains("client-fra-2 → client-sin-2"), r.stdout)
            XCTAssertTrue(r.stdout.contains("\(dir)/summary.json"))
            XCTAssertEqual(r.stdout.split(separator: "\n").last.map(String.init), "report: \(dir)/report.html")
            let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))
            let a = try stoqsim(["analyze", dir])
            XCTAssertEqual(a.status, 0, a.stderr)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")), before)
        }
    }

    /// `run --pcap` end to end: one pcapng per node, and tshark (installed by
    /// tools/setup.sh) reads them without errors and sees the probes' UDP.
    func testRunWritesPcapsThatTsharkReads() throws {
        try withTemporaryDirectory { dir in
            let r = try stoqsim(["run", "topologies/quickstart.yaml", "--out", dir + "/run", "--pcap", dir + "/pcap", "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/pcap").sorted()
            XCTAssertTrue(files.contains("client-fra-1.pcapng") && files.contains("client-sin-1.pcapng"), "\(files)")
            guard let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw XCTSkip("tshark is not installed (tools/setup.sh installs it)")
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tshark)
            p.arguments = ["-r", dir + "/pcap/client-fra-2.pcapng", "-T", "fields", "-e", "ipv6.src", "-e", "udp.dstport"]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, stderr)
            let rows = stdout.split(separator: "\n")
            // client-fra-2 probes two peers every 50 ms for 10 s: requests out, echoes back.
            XCTAssertGreaterThan(rows.count, 300)
            XCTAssertTrue(rows.contains { $0.hasSuffix("\t7") }, "probes go to the echo port 7: \(rows.prefix(3))")
        }
    }

    /// Ctrl-C on the sim backend stops the run between slices of simulated
    /// time; the trace, summary and reports cover what ran and say why it stopped.
    func testInterruptedSimRunWritesAnIncompleteSummaryAndExits130() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/long.yaml"
            try """
            name: long
            duration: 3650d
            sites:
              - {name: fra, city: Frankfurt}
              - {name: par, city: Paris}
            nodes:
              - {name: a, site: fra, role: core}
              - {name: b, site: par, role: core, count: 4}
            links:
              - {from: a, to: b-1, tier: 1gbps}
              - {from: a, to: b-2, tier: 1gbps}
              - {from: a, to: b-3, tier: 1gbps}
              - {from: a, to: b-4, tier: 1gbps}
            workloads:
              - {kind: probe, from: a, to: [b-1, b-2, b-3, b-4], interval: 1ms}
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let c = try ChildStoqsim(["run", file, "--out", dir + "/run"])
            // A progress line means the engine is under way (the first comes after a wall second).
            XCTAssertTrue(c.wait(until: { c.stderr.contains("simulated") }), c.stderr)
            c.signal(SIGINT)
            XCTAssertEqual(c.finish(), 130, c.stderr)
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/run/summary.json"))
            let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            XCTAssertEqual(summary["complete"] as? Bool, false)
            let reason = try XCTUnwrap(summary["incompleteReason"] as? String)
            XCTAssertTrue(reason.hasPrefix("interrupted by SIGINT at "), reason)
            XCTAssertTrue(c.stdout.contains("interrupted by SIGINT: the run stopped early"), c.stdout)
        }
    }

    /// `--pcap-nodes` captures routers too (what they forward), `--pcap-links`
    /// each link direction; a selector naming nothing is bad input.
    func testPcapAtCoresAndPerLinkDirection() throws {
        try withTemporaryDirectory { dir in
            let r = try stoqsim(["run", "topologies/quickstart.yaml", "--quiet", "--out", dir + "/run", "--pcap", dir + "/pcap",
                                 "--pcap-nodes", "role:core", "--pcap-links"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let files = Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/pcap"))
            XCTAssertTrue(files.contains("core-fra.pcapng") && files.contains("link-core-fra-to-core-sin.pcapng"), "\(files.sorted())")
            XCTAssertFalse(files.contains("client-fra-1.pcapng"), "only the selected nodes")
            // core-fra forwards client-fra-2's probes to Paris and Singapore: a router's capture is not empty.
            let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: dir + "/pcap/core-fra.pcapng")[.size] as? Int)
            XCTAssertGreaterThan(size, 100 * 100, "hundreds of forwarded probes")
            let bad = try stoqsim(["run", "topologies/quickstart.yaml", "--quiet", "--out", dir + "/bad", "--pcap", dir + "/p2",
                                   "--pcap-nodes", "nobody"])
            XCTAssertEqual(bad.status, 2)
            XCTAssertTrue(bad.stderr.contains("--pcap-nodes: unknown node 'nobody'"), bad.stderr)
        }
    }

    /// Two edges, Frankfurt and Paris, and one transfer workload from a to b.
    func writeTransferTopology(_ path: String, transfer fields: String) throws {
        try """
        name: transfer
        duration: 2s
        sites:
          - {name: fra, city: Frankfurt}
          - {name: par, city: Paris}
        nodes:
          - {name: a, site: fra, role: edge}
          - {name: b, site: par, role: edge}
        links:
          - {from: a, to: b, tier: 1gbps}
        workloads:
          - {kind: transfer, from: a, to: b, \(fields)}
        """.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `run --qlog DIR`: one JSON-SEQ qlog per connection, a transfer's named
    /// by workload, pair and number, the server's by node; every record parses.
    func testQlogPerConnection() throws {
        try withTemporaryDirectory { dir in
            try writeTransferTopology(dir + "/t.yaml", transfer: "size: 20KB, count: 2, interval: 500ms")
            let r = try stoqsim(["run", dir + "/t.yaml", "--quiet", "--out", dir + "/run", "--qlog", dir + "/qlog"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/qlog").sorted()
            XCTAssertEqual(files, ["b-server-1.sqlog", "b-server-2.sqlog", "transfer-1_a-to-b_1.sqlog", "transfer-1_a-to-b_2.sqlog"])
            for f in files {
                let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/qlog/" + f))
                let records = try data.split(separator: 0x1E).filter { !$0.allSatisfy { $0 == 0x0A } }
                    .map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]) }
                XCTAssertEqual(records.first?["qlog_format"] as? String, "JSON-SEQ", f)
                let vantage = ((records.first?["trace"] as? [String: Any])?["vantage_point"] as? [String: Any])?["type"] as? String
                XCTAssertEqual(vantage, f.hasPrefix("transfer") ? "client" : "server", f)
                XCTAssertTrue(records.contains { $0["name"] as? String == "transport:packet_sent" }, f)
            }
        }
    }

    /// `run --keylog` writes the TLS secrets; with them tshark decrypts the
    /// captured QUIC packets down to STREAM frames, without them it cannot.
    func testKeylogLetsTsharkDecryptTheCapturedQUIC() throws {
        guard let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("tshark is not installed (tools/setup.sh installs it)")
        }
        try withTemporaryDirectory { dir in
            try writeTransferTopology(dir + "/t.yaml", transfer: "size: 20KB")
            let r = try stoqsim(["run", dir + "/t.yaml", "--quiet", "--out", dir + "/run", "--pcap", dir + "/pcap", "--keylog", dir + "/keys.txt"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let keys = try String(contentsOfFile: dir + "/keys.txt", encoding: .utf8)
            XCTAssertTrue(keys.contains("CLIENT_TRAFFIC_SECRET_0"), keys)
            func streamFrames(_ extra: [String]) throws -> Int {
                let t = try StoqsimProcess.run(URL(fileURLWithPath: tshark),
                                               ["-r", dir + "/pcap/a.pcapng"] + extra + ["-T", "fields", "-e", "quic.stream.stream_id"])
                XCTAssertEqual(t.status, 0, t.stderr)
                return t.stdout.split(separator: "\n").filter { !$0.isEmpty }.count
            }
            XCTAssertGreaterThan(try streamFrames(["-o", "tls.keylog_file:" + dir + "/keys.txt"]), 10, "20 KB of STREAM frames, decrypted")
            XCTAssertEqual(try streamFrames([]), 0, "without the secrets the payload stays encrypted")
        }
    }

    func testVersionNamesTheLibrariesAndCompletionScriptsAreWritten() throws {
        let v = try stoqsim(["--version"])
        XCTAssertEqual(v.status, 0, v.stderr)
        XCTAssertTrue(v.stdout.hasPrefix("stoqsim "), v.stdout)
        XCTAssertTrue(v.stdout.contains("ngtcp2 0.12") && v.stdout.contains("GnuTLS 3.") && v.stdout.contains("nghttp3 0.8"), v.stdout)
        for shell in ["bash", "zsh", "fish"] {
            let c = try stoqsim(["completion", shell])
            XCTAssertEqual(c.status, 0, c.stderr)
            XCTAssertTrue(c.stdout.contains("stoqsim") && c.stdout.contains("validate"), "\(shell): \(c.stdout.prefix(300))")
        }
        XCTAssertEqual(try stoqsim(["completion", "tcsh"]).status, 2)
    }

    func testGenerateWritesAFileThatValidates() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/gen.yaml"
            let g = try stoqsim(["generate", "--nodes", "60", "--seed", "3", "--regions", "europe,asia", "--out", file])
            XCTAssertEqual(g.status, 0, g.stderr)
            let v = try stoqsim(["validate", file])
            XCTAssertEqual(v.status, 0, v.stderr)
            XCTAssertTrue(v.stdout.contains("60 nodes"), v.stdout)
        }
    }

    func testImportWritesATopologyThatValidatesAndRefusesABrokenGraph() throws {
        try withTemporaryDirectory { dir in
            let out = dir + "/geant.yaml"
            let r = try stoqsim(["import", "Tests/StoqTopologyTests/Fixtures/zoo/Geant2012.gml", "--out", out])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("37 sites, 58 links"), r.stderr)
            let v = try stoqsim(["validate", out])
            XCTAssertEqual(v.status, 0, v.stderr)
            try "graph [\n  node [ id 1 label \"A\" ]\n]\n".write(toFile: dir + "/bad.gml", atomically: true, encoding: .utf8)
            let bad = try stoqsim(["import", dir + "/bad.gml"])
            XCTAssertEqual(bad.status, 2)
            XCTAssertTrue(bad.stderr.contains("bad.gml:2:8: error: node 'A' (id 1) has no usable coordinates"), bad.stderr)
        }
    }

    func testGenerateRejectsUnknownRegion() throws {
        let g = try stoqsim(["generate", "--nodes", "10", "--regions", "atlantis"])
        XCTAssertEqual(g.status, 2)
        XCTAssertTrue(g.stderr.contains("atlantis"), g.stderr)
    }

    func testRouteOnePairAsJSON() throws {
        let r = try stoqsim(["route", "topologies/quickstart.yaml", "--from", "client-fra-1", "--to", "client-sin-1", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let path = try XCTUnwrap(o["path"] as? [String])
        XCTAssertEqual(path.first, "client-fra-1")
        XCTAssertEqual(path.last, "client-sin-1")
        XCTAssertEqual(o["hops"] as? Int, path.count - 1)
        XCTAssertEqual(o["bottleneck_bps"] as? Int, 100_000_000, "the clients' access links are the bottleneck")
        XCTAssertGreaterThan(try XCTUnwrap(o["latency_us"] as? Double), 70_000)
    }

    func testRouteMatrixSummaryAndBadStrategy() throws {
        let r = try stoqsim(["route", "topologies/quickstart.yaml", "--strategy", "hops"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("0 unreachable"), r.stdout)
        XCTAssertTrue(r.stdout.contains("stretch"), r.stdout)
        let bad = try stoqsim(["route", "topologies/quickstart.yaml", "--strategy", "teleport"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("known strategies"), bad.stderr)
    }
}
