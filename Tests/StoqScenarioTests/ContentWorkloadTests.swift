import Foundation
import StoqAnalyzer
import StoqScenario
import StoqTopology
import XCTest

/// Publish / update / fetch: content moves as chunks over real QUIC through
/// the simulated network, and only missing chunks cross.
final class ContentWorkloadTests: XCTestCase {
    /// An origin in Frankfurt, one edge per continent, one client per edge.
    func yaml(replication: Int = 2, ttl: String = "1h", cacheSize: String = "64MiB", updateVersions: Int = 2,
              fetch: String = "{kind: fetch, of: data, clients: role:client, start: 2s, interval: 3s, count: 3}") -> String {
        """
        name: content-test
        seed: 5
        duration: 9s
        sites:
          - {name: fra, city: Frankfurt}
          - {name: nyc, city: New York}
          - {name: sin, city: Singapore}
        nodes:
          - {name: core-fra, site: fra, role: core}
          - {name: core-nyc, site: nyc, role: core}
          - {name: core-sin, site: sin, role: core}
          - {name: origin, site: fra, role: core, uplink: {to: core-fra, tier: 1gbps}}
          - {name: edge-fra, site: fra, role: edge, uplink: {to: core-fra, tier: 1gbps}}
          - {name: edge-nyc, site: nyc, role: edge, uplink: {to: core-nyc, tier: 1gbps}}
          - {name: edge-sin, site: sin, role: edge, uplink: {to: core-sin, tier: 1gbps}}
          - {name: client-fra, site: fra, role: client, uplink: {to: edge-fra, tier: 100mbps}}
          - {name: client-nyc, site: nyc, role: client, uplink: {to: edge-nyc, tier: 100mbps}}
          - {name: client-sin, site: sin, role: client, uplink: {to: edge-sin, tier: 100mbps}}
        backbones:
          - {sites: [fra, nyc, sin], tier: 2.5gbps}
        workloads:
          - name: data
            kind: publish
            origin: origin
            replication: \(replication)
            ttl: \(ttl)
            cache-size: \(cacheSize)
            chunking: small
            content: {generate: versions, size: 1MiB, edits: 3, edit-size: 100}
          - \(fetch)
        \(updateVersions == 0 ? "" : "  - {kind: update, of: data, versions: \(updateVersions), start: 3500ms, interval: 3s}")
        """
    }

    /// QUIC knobs on content workloads reach their connections: a publish
    /// workload's on its pushes (origin → edges), a fetch workload's on its
    /// fetches (clients → edges), as the parameters each client side announces.
    func testContentWorkloadsConnectWithTheirQUICKnobs() throws {
        let text = yaml(fetch: "{kind: fetch, of: data, clients: role:client, start: 2s, interval: 3s, count: 1, idle-timeout: 7s}")
            .replacingOccurrences(of: "chunking: small\n", with: "chunking: small\n    stream-window: 256KiB\n")
        let parameters = try localTransportParameters(ofRun: text)
        let pushes = parameters.filter { $0.key.hasPrefix("origin-client-") }
        let fetches = parameters.filter { $0.key.hasPrefix("client-") && $0.key.contains("-client-") }
        XCTAssertFalse(pushes.isEmpty, "\(parameters.keys.sorted())")
        XCTAssertEqual(Set(fetches.keys.map { String($0.prefix(10)) }), ["client-fra", "client-nyc", "client-sin"],
                       "every client fetched (some from a second edge): \(parameters.keys.sorted())")
        for (name, p) in pushes {
            XCTAssertEqual(p["initial_max_stream_data_bidi_local"] as? Int, 256 << 10, name)
            XCTAssertEqual(p["max_idle_timeout"] as? Int, 30_000, "\(name): the default")
        }
        for (name, p) in fetches {
            XCTAssertEqual(p["max_idle_timeout"] as? Int, 7_000, name)
            XCTAssertEqual(p["initial_max_stream_data_bidi_local"] as? Int, 16 << 20, "\(name): the default")
        }
        XCTAssertThrowsError(try scenario(yaml: yaml(fetch: "{kind: fetch, of: data, clients: role:client, congestion: vegas}"))) {
            XCTAssertTrue("\($0)".contains("unknown congestion controller 'vegas'"), "\($0)")
        }
    }

    struct Records {
        var publishes: [TraceRecord.PublishRecord] = []
        var exchanges: [TraceRecord.ContentExchange] = []
        var fetches: [TraceRecord.FetchResult] = []
        var caches: [TraceRecord.CacheStats] = []
        var links: [TraceRecord.LinkDedup] = []
        var trace = Data()
        var summary: RunSummary?
    }

    func run(_ yaml: String) throws -> Records {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try scenario(yaml: yaml).run(outputDirectory: dir)
        var r = Records()
        try TraceReader.forEach(path: result.tracePath) {
            switch $0 {
            case .publish(let p): r.publishes.append(p)
            case .content(let c): r.exchanges.append(c)
            case .fetch(let f): r.fetches.append(f)
            case .cache(let c): r.caches.append(c)
            case .linkDedup(let l): r.links.append(l)
            default: break
            }
        }
        r.trace = try Data(contentsOf: URL(fileURLWithPath: result.tracePath))
        r.summary = result.summary
        return r
    }

    func testVersionsPushOnlyNewChunksAndClientsFetchFromTheNearestReplica() throws {
        let r = try run(yaml())
        // Version 0 at t=0, then two updates.
        XCTAssertEqual(r.publishes.map(\.version), [0, 1, 2])
        let v0 = r.publishes[0]
        XCTAssertEqual(v0.bytes, 1 << 20)
        XCTAssertEqual(v0.newBytes, v0.bytes)
        XCTAssertEqual(v0.replicas.count, 2)
        for p in r.publishes.dropFirst() { XCTAssertLessThan(p.newBytes, p.bytes / 5, "an edited version shares most chunks") }

        // Pushes: every replica gets each version; after version 0 only new chunks travel.
        let pushes = r.exchanges.filter { $0.operation == "push" }
        XCTAssertEqual(pushes.count, 3 * 2)
        XCTAssertTrue(pushes.allSatisfy { $0.error == nil && $0.from == "origin" && v0.replicas.contains($0.to) })
        for p in pushes {
            let published = try XCTUnwrap(r.publishes.first { $0.version == p.version })
            XCTAssertEqual(p.bytesSent, published.newBytes, "push of version \(p.version) to \(p.to)")
        }

        // Fetches: 3 rounds × 3 clients, all complete, all whole.
        XCTAssertEqual(r.fetches.count, 9)
        XCTAssertTrue(r.fetches.allSatisfy { $0.error == nil && $0.durationNs != nil }, "\(r.fetches)")
        for f in r.fetches {
            // The source is a replica, and the nearest one to the client among them.
            XCTAssertTrue(v0.replicas.contains(f.source))
            if f.client == "client-fra" && v0.replicas.contains("edge-fra") { XCTAssertEqual(f.source, "edge-fra") }
            if f.client == "client-sin" && v0.replicas.contains("edge-sin") { XCTAssertEqual(f.source, "edge-sin") }
        }
        // A client's first fetch brings the whole object; later ones only what changed.
        for client in ["client-fra", "client-nyc", "client-sin"] {
            let mine = r.fetches.filter { $0.client == client }
            XCTAssertEqual(mine.first.map { $0.bytesFromEdge + $0.bytesFromOrigin }, v0.bytes)
            for f in mine.dropFirst() { XCTAssertLessThan(f.bytesFromEdge + f.bytesFromOrigin, f.bytes / 5) }
        }

        // Per link, the dedup ledger: every link with content saw less than was requested.
        XCTAssertFalse(r.links.isEmpty)
        let requested = r.links.reduce(0) { $0 + $1.bytesRequested }, sent = r.links.reduce(0) { $0 + $1.bytesSent }
        XCTAssertLessThan(Double(sent), 0.6 * Double(requested))
        XCTAssertEqual(Set(r.caches.map(\.node)), ["edge-fra", "edge-nyc", "edge-sin"])
        XCTAssertGreaterThan(r.caches.reduce(0) { $0 + $1.hits }, 0)

        // The analyzer's view of the same run.
        let c = try XCTUnwrap(r.summary?.content)
        XCTAssertEqual(c.versionsPublished, 3)
        XCTAssertEqual(c.fetches, 9)
        XCTAssertEqual(c.fetchNs?.count, 9)
        XCTAssertEqual(c.bytesRequested, r.exchanges.reduce(0) { $0 + $1.bytesRequested })
        XCTAssertEqual(c.bytesSent, r.exchanges.reduce(0) { $0 + $1.bytesSent })
        XCTAssertEqual(c.linkBytesSent, sent)
        XCTAssertGreaterThan(c.dedupRatio, 0.4)
        XCTAssertGreaterThan(c.backboneBytesRequested, 0)
        XCTAssertLessThan(c.backboneBytesSent, c.backboneBytesRequested)
        XCTAssertEqual(c.versions.map(\.version), [0, 1, 2])
        XCTAssertEqual(c.timeline.last?.bytesRequested, c.bytesRequested)
        let markdown = RunReport.markdown(try XCTUnwrap(r.summary)), html = RunReport.html(try XCTUnwrap(r.summary))
        XCTAssertTrue(markdown.contains("## Content distribution and deduplication"))
        XCTAssertTrue(html.contains("Dedup savings over time") && html.contains("cache hit ratio per edge"))
    }

    func testClientsOfAFailedEdgeMoveToTheNextReplicaAndSkipItAfterwards() throws {
        // Every edge holds the object; client-fra sits beside edge-fra (both on
        // core-fra), so the edge's failure at 3 s leaves the client connected.
        var text = yaml(replication: 3, updateVersions: 0,
                        fetch: "{kind: fetch, of: data, clients: client-fra, start: 2s, interval: 6s, count: 4}")
        text = text.replacingOccurrences(of: "duration: 9s", with: "duration: 30s")
            .replacingOccurrences(of: "{name: client-fra, site: fra, role: client, uplink: {to: edge-fra, tier: 100mbps}}",
                                  with: "{name: client-fra, site: fra, role: client, uplink: {to: core-fra, tier: 100mbps}}")
            + "\nfaults:\n  - {node: edge-fra, down: 3s}\n"
        let r = try run(text)
        // In the order they started (a fetch that waited out a timeout ends after a later one).
        let fetches = r.fetches.filter { $0.client == "client-fra" }.sorted { $0.t - ($0.durationNs ?? 0) < $1.t - ($1.durationNs ?? 0) }
        XCTAssertEqual(fetches.count, 4)
        XCTAssertTrue(fetches.allSatisfy { $0.error == nil }, "\(fetches)")
        XCTAssertEqual(fetches.first?.source, "edge-fra", "the nearest replica, before it fails")
        for f in fetches.dropFirst() {
            XCTAssertTrue(["edge-nyc", "edge-sin"].contains(f.source), "after the failure another replica serves, not the origin: \(f)")
        }
        // The rounds at 8 s and 14 s each found edge-fra dead (a handshake timeout);
        // the round at 20 s, after the first failure was noted, did not try it.
        let triedDeadEdge = r.exchanges.filter { $0.to == "client-fra" && $0.from == "edge-fra" && $0.error != nil }
        XCTAssertEqual(triedDeadEdge.count, 2, "\(triedDeadEdge)")
        let last = try XCTUnwrap(fetches.last?.durationNs)
        XCTAssertLessThan(last, 1_000_000_000, "the last fetch went straight to a live replica")
    }

    func testExpiredEdgeChunksComeFromTheOrigin() throws {
        // Chunks live 1 s at the edges; the push to Singapore ends by about 2.1 s
        // (slow start over a long round trip): a fetch at 5 s finds them all expired.
        let r = try run(yaml(ttl: "1s", updateVersions: 0,
                             fetch: "{kind: fetch, of: data, clients: client-sin, start: 5s, count: 1}"))
        let f = try XCTUnwrap(r.fetches.first)
        XCTAssertNil(f.error)
        XCTAssertEqual(f.bytesFromOrigin, f.bytes, "every chunk expired at the edge")
        XCTAssertEqual(f.bytesFromEdge, 0)
        XCTAssertTrue(r.exchanges.contains { $0.operation == "fetch-missing" && $0.from == "origin" && $0.to == "client-sin" })
        let edge = try XCTUnwrap(r.caches.first { $0.node == f.source })
        XCTAssertGreaterThan(edge.misses, 0)
        XCTAssertGreaterThan(edge.evictedExpired, 0)
    }

    func testPoissonFetchesWithZipfPopularityAreDeterministic() throws {
        let fetch = "{kind: fetch, of: data, clients: role:client, start: 1s, rate: 2/s}"
        let a = try run(yaml(fetch: fetch)), b = try run(yaml(fetch: fetch))
        XCTAssertEqual(a.trace, b.trace)
        XCTAssertGreaterThan(a.fetches.count, 5)
        XCTAssertTrue(a.fetches.allSatisfy { $0.error == nil })
    }

    func testBadContentFieldsNameTheirLine() {
        let base = yaml()
        let content = "content: {generate: versions, size: 1MiB, edits: 3, edit-size: 100}"
        let cases: [(from: String, to: String, expected: String)] = [
            (content, "content: {generate: nope, size: 1MiB}", "test.yaml:29:15: error: unknown content generator 'nope'"),
            (content, "content: {generate: versions}", "test.yaml:29:14: error: 'content' needs a 'size'"),
            (content, "content: {file: /does/not/exist}", "cannot read content file '/does/not/exist'"),
            ("chunking: small", "chunking: huge", "test.yaml:28:15: error: unknown chunking preset 'huge'"),
            ("kind: fetch, of: data", "kind: fetch, of: nothing", "no publish workload named 'nothing'"),
            ("versions: 2, start", "versions: 0, start", "'versions' must be at least 1"),
            ("interval: 3s, count: 3}", "rate: fast}", "'rate' must be events per second"),
            ("origin: origin", "origin: role:edge", "'origin' must select exactly one node"),
        ]
        for c in cases {
            let text = base.replacingOccurrences(of: c.from, with: c.to)
            XCTAssertNotEqual(text, base, c.from)
            XCTAssertThrowsError(try scenario(yaml: text), c.to) {
                XCTAssertTrue("\($0)".contains(c.expected), "\(c.to): \($0)")
            }
        }
    }

    func testSharedBlockObjectsDeduplicateAcrossObjectsAndZipfFavoursRankOne() throws {
        // Six objects built from 8 distinct 16 KiB blocks: after the first fetch,
        // a client holds most blocks any other object is made of.
        let text = yaml(updateVersions: 0, fetch: "{kind: fetch, of: data, clients: role:client, start: 1s, interval: 500ms, count: 12, zipf: 1.2}")
            .replacingOccurrences(of: "content: {generate: versions, size: 1MiB, edits: 3, edit-size: 100}",
                                  with: "objects: 6\n    content: {generate: shared-blocks, size: 256KiB, block-size: 16KiB, distinct-blocks: 8}")
        let r = try run(text)
        XCTAssertEqual(Set(r.publishes.map(\.object)), Set((1...6).map { "data/\($0)" }))
        XCTAssertEqual(r.fetches.count, 36)
        XCTAssertTrue(r.fetches.allSatisfy { $0.error == nil })
        let counts = Dictionary(grouping: r.fetches, by: \.object).mapValues(\.count)
        XCTAssertEqual(counts.max { $0.value < $1.value }?.key, "data/1", "rank 1 is the most popular: \(counts)")
        // Across a client's fetches of different objects, far less than the objects' size crosses.
        let requested = r.fetches.reduce(0) { $0 + $1.bytes }
        let sent = r.fetches.reduce(0) { $0 + $1.bytesFromEdge + $1.bytesFromOrigin }
        XCTAssertLessThan(Double(sent), 0.3 * Double(requested))
    }

    func testPublishesAFileFromDisk() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var x: UInt64 = 1
        let bytes = (0..<300_000).map { _ -> UInt8 in
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407     // no repeats: nothing dedups inside the file
            return UInt8(truncatingIfNeeded: x >> 56)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/blob.bin"))
        let text = yaml(updateVersions: 0, fetch: "{kind: fetch, of: data, clients: client-fra, start: 1s, count: 1}")
            .replacingOccurrences(of: "content: {generate: versions, size: 1MiB, edits: 3, edit-size: 100}", with: "content: {file: blob.bin}")
        let s = try Scenario(topology: TopologyParser.parse(yaml: text, file: dir + "/t.yaml"))
        let result = try s.run(outputDirectory: dir + "/run")
        var publishes: [TraceRecord.PublishRecord] = [], fetches: [TraceRecord.FetchResult] = []
        try TraceReader.forEach(path: result.tracePath) {
            if case .publish(let p) = $0 { publishes.append(p) }
            if case .fetch(let f) = $0 { fetches.append(f) }
        }
        XCTAssertEqual(publishes.first?.bytes, bytes.count)
        XCTAssertEqual(fetches.first?.bytesFromEdge, bytes.count)
    }
}
