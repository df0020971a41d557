import StoqAnalyzer
import StoqDedup
import StoqEngine
import StoqTopology
import StoqTransport

/// One node's content: the manifests it knows and the chunks its store holds.
/// The origin and clients keep everything they get (a store without a
/// practical limit); edges are caches with an LRU byte limit and a TTL.
final class ContentNode: ContentSource, ContentSink {
    let name: String
    var store: ChunkStore
    var manifests: [String: [UInt64: Manifest]] = [:]
    /// Exchanges this node serves right now: its load for replica selection.
    var serving = 0
    private unowned let distribution: ContentDistribution

    init(name: String, store: ChunkStore, distribution: ContentDistribution) {
        self.name = name
        self.store = store
        self.distribution = distribution
    }

    private var now: SimTime { distribution.context.scheduler.now }

    func manifest(objectID: String, version: UInt64?) -> Manifest? {
        guard let versions = manifests[objectID] else { return nil }
        if let version { return versions[version] }
        return versions.max { $0.key < $1.key }?.value
    }

    /// Serving a chunk counts a cache hit or miss; its bytes come from the run's pool.
    func payload(of id: ChunkID) -> [UInt8]? {
        guard store.lookup(id, now: now) != nil else { return nil }
        return distribution.payloads[id]
    }

    func holds(_ id: ChunkID) -> Bool { store.contains(id, now: now) }

    func store(_ id: ChunkID, payload: [UInt8]) {
        if distribution.payloads[id] == nil { distribution.payloads[id] = payload }
        _ = store.insert(id, size: payload.count, now: now)
    }

    func accept(_ manifest: Manifest) {
        manifests[manifest.objectID, default: [:]][manifest.version] = manifest
    }
}

/// Content distribution for a run: objects published at origins, pushed to
/// their replica edges and fetched by clients, all over STOQ streams tagged
/// `CONT` with the content protocol of `StoqDedup` (only missing chunks
/// cross). Shared by the publish, update and fetch workloads; made on first use.
public final class ContentDistribution {
    static let serviceTag = "CONT"
    /// Storage without a practical limit: origins and clients keep what they get.
    static let unlimited = ChunkStore(capacityBytes: 1 << 50, ttl: .seconds(100 * 365 * 86_400))

    /// A published object: where it lives and its versions so far.
    final class Object {
        let id: String
        let origin: String
        let replicas: [String]
        var latest: Manifest
        init(id: String, origin: String, replicas: [String], latest: Manifest) {
            self.id = id; self.origin = origin; self.replicas = replicas; self.latest = latest
        }
    }

    unowned let context: ScenarioContext
    /// Every chunk's bytes, once, by id: stores keep ids and sizes only.
    var payloads: [ChunkID: [UInt8]] = [:]
    private(set) var objects: [String: Object] = [:]
    private var nodes: [String: ContentNode] = [:]
    private var edges: Set<String> = []
    /// Content bytes per link direction (graph edge): without dedup, and sent.
    private var linkBytes: [Int32: (requested: UInt64, sent: UInt64)] = [:]
    private var serverSessions: [ObjectIdentifier: [Int64: (session: ContentSession, node: ContentNode)]] = [:]
    /// Exchanges in flight, kept alive here until they end.
    private var exchanges: [ObjectIdentifier: ContentExchangeRun] = [:]
    let selector = ReplicaSelector()

    init(context: ScenarioContext) {
        self.context = context
        context.stoq.register(service: Self.serviceTag, closed: { [unowned self] in self.connectionClosed($0) },
                              writable: { [unowned self] connection, id in self.write(connection, stream: id) }) {
            [unowned self] connection, id in
            let (bytes, fin) = connection.read(stream: id)
            self.serve(connection, stream: id, bytes: bytes, fin: fin)
        }
        context.atRunEnd { [unowned self] in self.traceTotals() }
    }

    var hasExchangesInFlight: Bool { !exchanges.isEmpty }

    /// Publish workloads by name, for the update and fetch workloads that
    /// name them. Weak: the run owns its workloads, and they hold the context.
    private var publishers: [String: WeakPublisher] = [:]
    private struct WeakPublisher { weak var workload: PublishWorkload? }

    func register(publisher: PublishWorkload) { publishers[publisher.name] = WeakPublisher(workload: publisher) }

    /// QUIC knobs of the workloads that set them, by workload name: the
    /// exchanges a workload starts connect with them.
    private var knobs: [String: TransportKnobs] = [:]
    func use(_ workloadKnobs: TransportKnobs, for workload: String) {
        if !workloadKnobs.isEmpty { knobs[workload] = workloadKnobs }
    }
    func publisher(named name: String) -> PublishWorkload? { publishers[name]?.workload }

    /// The node's content state; edges get a cache with `edgeStore`'s limits.
    func node(_ name: String) -> ContentNode {
        if let n = nodes[name] { return n }
        let n = ContentNode(name: name, store: Self.unlimited, distribution: self)
        nodes[name] = n
        return n
    }

    func makeEdge(_ name: String, capacityBytes: Int, ttl: SimDuration) {
        guard !edges.contains(name) else { return }
        edges.insert(name)
        node(name).store = ChunkStore(capacityBytes: capacityBytes, ttl: ttl)
    }

    // MARK: Publishing

    /// Makes `data` version `version` of `objectID` at `origin`: chunks it,
    /// keeps the chunks, traces it, and pushes it to the replica edges.
    func publish(_ data: [UInt8], objectID: String, version: UInt64, parameters: ChunkerParameters, origin: String,
                 replicas: [String], workload: String) {
        let originNode = node(origin)
        let chunker = FastCDC(parameters)
        let chunks = data.withUnsafeBytes { chunker.chunks($0) }
        for c in chunks where payloads[c.id] == nil { payloads[c.id] = Array(data[c.offset..<(c.offset + c.length)]) }
        for c in chunks { _ = originNode.store.insert(c.id, size: c.length, now: context.scheduler.now) }
        let manifest = Manifest(objectID: objectID, version: version, parameters: parameters,
                                chunks: chunks.map { ManifestEntry(id: $0.id, size: $0.length) })
        originNode.accept(manifest)
        let previous = objects[objectID]?.latest
        if let object = objects[objectID] { object.latest = manifest } else {
            objects[objectID] = Object(id: objectID, origin: origin, replicas: replicas, latest: manifest)
        }
        let newBytes = previous.map { p in manifest.transferPlan(receiverHolds: Set(p.chunks.map(\.id))).bytesToSend }
            ?? manifest.uniqueBytes
        context.trace(.publish(.init(t: context.scheduler.now.nanosecondsSinceStart, workload: workload, object: objectID,
                                     version: version, origin: origin, bytes: manifest.totalSize,
                                     chunks: manifest.chunks.count, newBytes: newBytes, replicas: replicas)))
        for edge in replicas {
            let session = ContentSession.push(manifest, from: originNode)
            start(session, operation: "push", client: origin, server: edge, workload: workload, manifest: manifest) { _ in }
        }
    }

    // MARK: Fetching

    /// A client fetches the newest version of `objectID`: from the nearest
    /// replica edge (distance weighted by load), the chunks that edge lacks
    /// from the origin. An edge that cannot be reached (or lacks the object)
    /// gives way to the next nearest replica, and the client skips an
    /// unreachable edge for `unreachableHold`, as a CDN client would; from
    /// the origin alone when no replica serves.
    func fetch(objectID: String, client: String, workload: String, done: @escaping () -> Void) {
        guard let object = objects[objectID] else {
            context.trace(.fetch(.init(t: context.scheduler.now.nanosecondsSinceStart, workload: workload, client: client,
                                       object: objectID, version: 0, source: "", bytes: 0, bytesFromEdge: 0,
                                       bytesFromOrigin: 0, durationNs: nil, error: "not published yet")))
            return done()
        }
        let manifest = object.latest
        let started = context.scheduler.now
        var candidates = nearestEdges(to: client, among: object.replicas)
            .filter { (unreachableUntil[EdgeFromClient(client: client, edge: $0)] ?? started) <= started }
        var source = object.origin
        var fromEdge = 0, fromOrigin = 0
        let clientNode = node(client)

        func record(_ error: String?) {
            context.trace(.fetch(.init(t: context.scheduler.now.nanosecondsSinceStart, workload: workload, client: client,
                                       object: objectID, version: manifest.version, source: source,
                                       bytes: manifest.totalSize, bytesFromEdge: fromEdge, bytesFromOrigin: fromOrigin,
                                       durationNs: error == nil ? (context.scheduler.now - started).nanoseconds : nil,
                                       error: error)))
            done()
        }
        func fromOriginAlone() {
            source = object.origin
            let s = ContentSession.fetch(objectID: objectID, version: manifest.version, into: clientNode)
            start(s, operation: "fetch", client: client, server: object.origin, workload: workload, manifest: manifest) { r in
                fromOrigin += r.session.stats.payloadBytes
                record(r.error)
            }
        }
        func fromNextEdge() {
            guard !candidates.isEmpty else { return fromOriginAlone() }
            let edge = candidates.removeFirst()
            source = edge
            let s = ContentSession.fetch(objectID: objectID, version: manifest.version, into: clientNode)
            start(s, operation: "fetch", client: client, server: edge, workload: workload, manifest: manifest) { [unowned self] r in
                fromEdge += r.session.stats.payloadBytes
                if r.error != nil {
                    self.unreachableUntil[EdgeFromClient(client: client, edge: edge)] = self.context.scheduler.now + Self.unreachableHold
                }
                if r.session.outcome == .notFound || r.error != nil { return fromNextEdge() }
                let missing = r.session.stats.missing
                guard !missing.isEmpty else { return record(nil) }
                let rest = ContentSession.fetchChunks(missing, into: clientNode)
                self.start(rest, operation: "fetch-missing", client: client, server: object.origin, workload: workload,
                           manifest: manifest) { r in
                    fromOrigin += r.session.stats.payloadBytes
                    record(r.error)
                }
            }
        }
        fromNextEdge()
    }

    /// How long a client skips an edge it could not reach.
    static let unreachableHold = SimDuration.seconds(60)

    private struct EdgeFromClient: Hashable {
        let client: String
        let edge: String
    }
    /// Edges a client could not reach, and until when it leaves them out.
    private var unreachableUntil: [EdgeFromClient: SimTime] = [:]

    /// The replica edges by distance × (1 + load), lowest first (ties by name).
    private func nearestEdges(to client: String, among replicas: [String]) -> [String] {
        guard let here = location(of: client) else { return [] }
        var ranked: [(cost: Double, name: String)] = []
        for r in replicas where r != client {
            guard let there = location(of: r) else { continue }
            let load = min(1, Double(node(r).serving) / Self.servingCapacity)
            ranked.append((selector.cost(distanceKm: greatCircleKm(here, there), load: load), r))
        }
        return ranked.sorted { ($0.cost, $0.name) < ($1.cost, $1.name) }.map(\.name)
    }

    /// Concurrent exchanges at which an edge counts as fully loaded.
    static let servingCapacity = 16.0

    private func location(of node: String) -> GeoPoint? {
        guard let spec = context.topology.node(named: node), let site = context.topology.site(named: spec.site) else { return nil }
        return GeoPoint(latitude: site.latitude, longitude: site.longitude)
    }

    // MARK: Exchanges

    struct ExchangeResult {
        let session: ContentSession
        let error: String?
    }

    /// Runs `session` on a new STOQ connection from `client` to `server`.
    private func start(_ session: ContentSession, operation: String, client: String, server: String, workload: String,
                       manifest: Manifest, done: @escaping (ExchangeResult) -> Void) {
        let run = ContentExchangeRun(session: session, operation: operation, client: client, server: server,
                                     workload: workload, manifest: manifest, started: context.scheduler.now)
        exchanges[ObjectIdentifier(run)] = run
        run.exchange.onEnd = { [unowned self, unowned run] error in
            self.account(run, error: error)
            done(ExchangeResult(session: run.session, error: error))
            self.exchanges[ObjectIdentifier(run)] = nil     // the last reference: nothing may touch `run` after this
        }
        do {
            try run.exchange.open(in: context, knobs: knobs[workload] ?? TransportKnobs())
        } catch {
            run.exchange.end("could not connect: \(error)")
        }
    }

    /// Server side: one session per stream, fed as bytes arrive.
    private func serve(_ connection: QuicConnection, stream id: Int64, bytes: [UInt8], fin: Bool) {
        let key = ObjectIdentifier(connection)
        var entry = serverSessions[key]?[id]
        if entry == nil {
            guard let name = context.nodeName(of: connection.localAddress.address) else { return }
            let n = node(name)
            n.serving += 1
            entry = (ContentSession.serve(from: n, acceptingInto: n), n)
            serverSessions[key, default: [:]][id] = entry
        }
        entry!.session.receive(bytes, fin: fin)
        write(connection, stream: id)
    }

    /// Server side: writes what the session has to send and the stream has room
    /// for (the rest on the stream's next `writable`); forgets a session that has
    /// finished and sent everything.
    private func write(_ connection: QuicConnection, stream id: Int64) {
        let key = ObjectIdentifier(connection)
        guard let (session, n) = serverSessions[key]?[id] else { return }
        let (out, outFin) = session.takeOutput(max: connection.writableBytes(stream: id))
        if !out.isEmpty || outFin {
            try? connection.write(stream: id, out, fin: outFin)
            try? context.stoq.endpoint(on: n.name).flush()
        }
        if session.isFinished && !session.hasOutputPending {
            n.serving -= 1
            serverSessions[key]?[id] = nil
            if serverSessions[key]?.isEmpty == true { serverSessions[key] = nil }
        }
    }

    /// A server connection ended: sessions it left unfinished stop counting as load.
    private func connectionClosed(_ connection: QuicConnection) {
        guard let sessions = serverSessions.removeValue(forKey: ObjectIdentifier(connection)) else { return }
        for (_, entry) in sessions { entry.node.serving -= 1 }
    }

    /// Connections with server sessions in progress, for tests.
    var connectionsWithSessions: Int { serverSessions.count }

    /// Traces the exchange and charges its bytes to the links of its route (sender → receiver).
    private func account(_ run: ContentExchangeRun, error: String?) {
        let stats = run.session.stats
        let sizes = Dictionary(run.manifest.chunks.map { ($0.id, $0.size) }, uniquingKeysWith: { a, _ in a })
        let missingBytes = stats.missing.reduce(0) { $0 + (sizes[$1] ?? 0) }
        // Without dedup the sender would have sent the whole object (less what it did not hold);
        // a chunk-only fetch would have sent exactly what it asked for.
        let requested = run.operation == "fetch-missing"
            ? stats.payloadBytes + missingBytes
            : (stats.manifest?.totalSize ?? 0) - missingBytes
        let sent = stats.payloadBytes
        let (sender, receiver) = run.isSender ? (run.client, run.server) : (run.server, run.client)
        if let a = context.network.nodeIndex(named: sender), let b = context.network.nodeIndex(named: receiver),
           let path = context.network.tables.edges(from: a, to: b) {
            for e in path {
                var v = linkBytes[e] ?? (0, 0)
                v.requested += UInt64(max(0, requested))
                v.sent += UInt64(sent)
                linkBytes[e] = v
            }
        }
        context.trace(.content(.init(t: context.scheduler.now.nanosecondsSinceStart, workload: run.workload,
                                     operation: run.operation, object: run.manifest.objectID, version: run.manifest.version,
                                     from: sender, to: receiver, bytesRequested: max(0, requested), bytesSent: sent,
                                     chunksSent: stats.chunksTransferred, chunksMissing: stats.missing.count,
                                     durationNs: error == nil ? (context.scheduler.now - run.started).nanoseconds : nil,
                                     error: error)))
    }

    /// End of run: each edge's cache, and content bytes per link.
    private func traceTotals() {
        for name in edges.sorted() {
            _ = node(name).store.expire(now: context.scheduler.now)
            let s = node(name).store
            context.trace(.cache(.init(node: name, hits: s.stats.hits, misses: s.stats.misses, hitBytes: s.stats.hitBytes,
                                       bytesStored: s.bytesStored, chunks: s.count, evictedCapacity: s.stats.evictedForCapacity,
                                       evictedExpired: s.stats.evictedExpired)))
        }
        let graph = context.network.graph
        for e in linkBytes.keys.sorted() {
            let v = linkBytes[e]!
            context.trace(.linkDedup(.init(link: graph.name(ofEdge: Int(e)), bytesRequested: v.requested, bytesSent: v.sent)))
        }
    }
}

/// A content exchange in flight: the stream exchange plus what the trace needs.
final class ContentExchangeRun {
    let exchange: StreamExchange
    let session: ContentSession
    let operation: String
    let workload: String
    let manifest: Manifest
    var client: String { exchange.client }
    var server: String { exchange.server }
    var started: SimTime { exchange.started }
    /// The client end sends (a push) rather than receives.
    var isSender: Bool { operation == "push" }

    init(session: ContentSession, operation: String, client: String, server: String, workload: String,
         manifest: Manifest, started: SimTime) {
        self.session = session; self.operation = operation; self.workload = workload; self.manifest = manifest
        exchange = StreamExchange(session: session, serviceTag: ContentDistribution.serviceTag, client: client, server: server,
                                  waitsForAcknowledgement: operation == "push", started: started)
    }
}

extension ContentSession: ExchangeSession {
    var finished: ExchangeEnd? {
        switch outcome {
        case nil: return nil
        case .completed, .notFound: return .succeeded
        case .failed(let e): return .failed("\(e)")
        }
    }
}
