import Foundation
import StoqDedup
import StoqEngine
import StoqTopology

/// `publish`: makes content available at an origin node and pushes each
/// object to its replica edges (rendezvous placement, `replication` of them).
/// Content is generated from the run's seed (a file with edited versions, or
/// a set of files sharing blocks) or read from disk. `update` workloads add
/// versions; `fetch` workloads read them.
public final class PublishWorkload: Workload {
    public static let kind = "publish"
    /// QUIC knobs apply to its pushes, an `update`'s of its objects included.
    public static let fields = ["origin", "edges", "replication", "content", "objects", "chunking", "cache-size", "ttl", "at"]
        + TransportKnobs.fields

    enum Content {
        case versions(size: Int)
        case sharedBlocks(size: Int, blockSize: Int, distinctBlocks: Int)
        case file(path: String)
    }

    public let name: String
    let origin: String
    let edges: [String]
    let replication: Int
    let content: Content
    let edits: ContentGenerator.EditSpec
    let objectCount: Int
    let parameters: ChunkerParameters
    let cacheSize: Int
    let ttl: SimDuration
    let at: SimDuration
    let knobs: TransportKnobs
    public var drainTime: SimDuration { ContentWorkloadDefaults.drain }
    public var hasOutstandingWork: Bool { context?.content.hasExchangesInFlight ?? false }

    public init(spec: WorkloadSpec, name: String, topology: Topology) throws {
        let f = spec.fields
        self.name = name
        let origin = try NodeSelector.single("origin", of: f, in: topology, kind: Self.kind)
        self.origin = origin
        if f["edges"] != nil {
            edges = try NodeSelector.resolve(f.stringList("edges") ?? [], in: topology, at: f.location(of: "edges"))
                .filter { $0 != origin }
        } else {
            edges = topology.nodes.filter { $0.role == .edge && $0.name != origin }.map(\.name)
        }
        replication = try f.int("replication") ?? 3
        guard replication >= 1 else { throw TopologyDiagnostic(at: f.location(of: "replication"), "'replication' must be at least 1") }
        objectCount = try f.int("objects") ?? 1
        guard (1...100_000).contains(objectCount) else {
            throw TopologyDiagnostic(at: f.location(of: "objects"), "'objects' must be between 1 and 100000; got \(objectCount)")
        }
        cacheSize = try f.byteCount("cache-size") ?? (1 << 30)
        guard cacheSize > 0 else { throw TopologyDiagnostic(at: f.location(of: "cache-size"), "'cache-size' must be more than 0 bytes") }
        ttl = try f.duration("ttl") ?? .seconds(3600)
        guard ttl > .zero else { throw TopologyDiagnostic(at: f.location(of: "ttl"), "'ttl' must be greater than 0") }
        at = try f.duration("at") ?? .zero
        if at >= topology.duration {
            throw TopologyDiagnostic(at: f.location(of: "at"), "publish happens at \(at), after the run ends (\(topology.duration))")
        }
        parameters = try Self.chunking(f)
        (content, edits) = try Self.content(f, topology: topology, objects: objectCount)
        knobs = try TransportKnobs(f)
    }

    static func chunking(_ f: ConfigMap) throws -> ChunkerParameters {
        guard let v = f["chunking"] else { return .default }
        if case .scalar(let preset, let loc) = v {
            guard let p = ChunkerParameters.preset(named: preset) else {
                throw TopologyDiagnostic(at: loc, "unknown chunking preset '\(preset)'",
                                         hint: "presets: \(ChunkerParameters.presets.map(\.name).joined(separator: ", ")); or {min, avg, max}")
            }
            return p
        }
        guard let m = try f.map("chunking") else { return .default }
        try m.checkKeys(allowed: ["min", "avg", "max"], context: "'chunking'")
        let d = ChunkerParameters.default
        do {
            return try ChunkerParameters(minSize: try m.byteCount("min") ?? d.minSize, avgSize: try m.byteCount("avg") ?? d.avgSize,
                                         maxSize: try m.byteCount("max") ?? d.maxSize)
        } catch {
            throw TopologyDiagnostic(at: m.location, "bad chunking sizes: \(error)")
        }
    }

    static func content(_ f: ConfigMap, topology: Topology, objects: Int) throws -> (Content, ContentGenerator.EditSpec) {
        _ = try f.require("content", context: "a publish workload")
        guard let m = try f.map("content") else { throw TopologyDiagnostic(at: f.location(of: "content"), "'content' is missing") }
        try m.checkKeys(allowed: ["generate", "file", "size", "block-size", "distinct-blocks", "edits", "edit-size"],
                        context: "'content'")
        let edits = try m.int("edits") ?? 4
        let editSize = try m.byteCount("edit-size") ?? 256
        guard (0...1_000_000).contains(edits) else {
            throw TopologyDiagnostic(at: m.location(of: "edits"), "'edits' (per version) must be between 0 and 1000000")
        }
        guard editSize >= 1 else { throw TopologyDiagnostic(at: m.location(of: "edit-size"), "'edit-size' must be at least 1 byte") }
        let spec = ContentGenerator.EditSpec(editsPerVersion: edits, maxEditSize: editSize)
        if let path = try m.string("file") {
            guard m["generate"] == nil else {
                throw TopologyDiagnostic(at: m.location(of: "file"), "give either 'file' or 'generate', not both")
            }
            let base = (topology.sourceFile as NSString).deletingLastPathComponent
            let full = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
            guard FileManager.default.isReadableFile(atPath: full) else {
                throw TopologyDiagnostic(at: m.location(of: "file"), "cannot read content file '\(full)'")
            }
            guard objects == 1 else {
                throw TopologyDiagnostic(at: f.location(of: "objects"), "a content 'file' is one object; remove 'objects'")
            }
            return (.file(path: full), spec)
        }
        let generate = try m.requiredString("generate", context: "'content' (or give 'file')")
        guard let size = try m.byteCount("size") else {
            throw TopologyDiagnostic(at: m.location, "'content' needs a 'size' (e.g. 64MiB)")
        }
        guard (1...(4 << 30)).contains(size) else {
            throw TopologyDiagnostic(at: m.location(of: "size"), "content 'size' must be between 1 byte and 4 GiB")
        }
        // Every object is generated and held in memory at once.
        let limit = topology.limits.contentBytes
        guard objects <= limit / size else {
            throw TopologyDiagnostic(at: m.location(of: "size"), "\(objects) objects of \(size) bytes are more content than the limit of \(limit) bytes",
                                     hint: "fewer or smaller objects, or raise it with 'limits: {content-bytes: N}' or --limit content-bytes=N")
        }
        switch generate {
        case "versions":
            return (.versions(size: size), spec)
        case "shared-blocks":
            let block = try m.byteCount("block-size") ?? (64 << 10)
            let distinct = try m.int("distinct-blocks") ?? 16
            guard block >= 1, distinct >= 1 else {
                throw TopologyDiagnostic(at: m.location, "'block-size' and 'distinct-blocks' must be at least 1")
            }
            guard block <= size, distinct <= limit / block else {
                throw TopologyDiagnostic(at: m.location(of: block > size ? "block-size" : "distinct-blocks"),
                                         "the block pool (\(distinct) × \(block) bytes) must fit in the content 'size' per block and the content-bytes limit (\(limit))")
            }
            return (.sharedBlocks(size: size, blockSize: block, distinctBlocks: distinct), spec)
        default:
            throw TopologyDiagnostic(at: m.location(of: "generate"), "unknown content generator '\(generate)'",
                                     hint: "use 'versions' (one file, edited per version) or 'shared-blocks' (files sharing blocks)")
        }
    }

    /// Object ids: the workload's name, or NAME/1 … NAME/N.
    var objectIDs: [String] { objectCount == 1 ? [name] : (1...objectCount).map { "\(name)/\($0)" } }

    // MARK: Running

    private var context: ScenarioContext?
    /// Each object's current bytes and its edit stream, for updates.
    private var sources: [EditedVersions] = []

    public func start(in context: ScenarioContext) throws {
        self.context = context
        let distribution = context.content
        for e in edges { distribution.makeEdge(e, capacityBytes: cacheSize, ttl: ttl) }
        distribution.register(publisher: self)
        distribution.use(knobs, for: name)
        context.scheduler.schedule(at: .zero + at) { [unowned self] in self.publishAll() }
    }

    private func publishAll() {
        guard let context else { return }
        let ids = objectIDs
        switch content {
        case .versions(let size):
            sources = ids.map { EditedVersions(seed: Self.seed(context, $0), baseSize: size, edits: edits) }
        case .sharedBlocks(let size, let blockSize, let distinct):
            let blocks = max(1, (size + blockSize - 1) / blockSize)
            let files = ContentGenerator.sharedBlockFiles(seed: Self.seed(context, name), files: ids.count,
                                                          blocksPerFile: blocks, blockSize: blockSize, distinctBlocks: distinct)
            sources = zip(ids, files).map { EditedVersions(base: Array($1.prefix(size)), seed: Self.seed(context, $0), edits: edits) }
        case .file(let path):
            let bytes = (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
            sources = [EditedVersions(base: bytes, seed: Self.seed(context, name), edits: edits)]
        }
        for i in ids.indices { publish(i) }
    }

    private func publish(_ i: Int) {
        guard let context else { return }
        let id = objectIDs[i]
        let replicas = ReplicaPlacement(replicationFactor: replication).edges(forObject: id, among: edges)
        context.content.publish(sources[i].current, objectID: id, version: sources[i].version, parameters: parameters,
                                origin: origin, replicas: replicas, workload: name)
    }

    /// Publishes the next version of every object (an `update` workload's event).
    func publishNextVersions() {
        guard !sources.isEmpty else { return }
        for i in sources.indices {
            sources[i].advance()
            publish(i)
        }
    }

    /// Content seeds follow the run's seed and the object's name, nothing else.
    static func seed(_ context: ScenarioContext, _ object: String) -> UInt64 {
        var r = context.randomStream("content:" + object)
        return r.next()
    }
}

enum ContentWorkloadDefaults {
    /// How long past the end in-flight content exchanges may still finish.
    static let drain = SimDuration.seconds(60)

    /// The `publish` workload a field names, or a located error listing them.
    static func publisher(_ f: ConfigMap, kind: String, topology: Topology) throws -> String {
        let of = try f.requiredString("of", context: "a \(kind) workload")
        let publishers = topology.workloads.enumerated().filter { $0.element.kind == PublishWorkload.kind }
            .map { (try? $0.element.fields.string("name")).flatMap { $0 } ?? "publish-\($0.offset + 1)" }
        guard publishers.contains(of) else {
            throw TopologyDiagnostic(at: f.location(of: "of"), "no publish workload named '\(of)'",
                                     hint: publishers.isEmpty ? "add a 'publish' workload first"
                                         : "publish workloads: \(publishers.joined(separator: ", "))")
        }
        return of
    }
}

/// `update`: new versions of a publish workload's objects, each the previous
/// with a few random edits, pushed to the replica edges (only new chunks travel).
public final class UpdateWorkload: Workload {
    public static let kind = "update"
    public static let fields = ["of", "versions", "start", "interval"]

    public let name: String
    let publisher: String
    let versions: Int
    let startOffset: SimDuration
    let interval: SimDuration
    public var drainTime: SimDuration { ContentWorkloadDefaults.drain }
    public var hasOutstandingWork: Bool { context?.content.hasExchangesInFlight ?? false }
    private var context: ScenarioContext?

    public init(spec: WorkloadSpec, name: String, topology: Topology) throws {
        let f = spec.fields
        self.name = name
        publisher = try ContentWorkloadDefaults.publisher(f, kind: Self.kind, topology: topology)
        versions = try f.int("versions") ?? 1
        guard versions >= 1 else { throw TopologyDiagnostic(at: f.location(of: "versions"), "'versions' must be at least 1") }
        interval = try f.duration("interval") ?? .seconds(60)
        guard interval > .zero else { throw TopologyDiagnostic(at: f.location(of: "interval"), "'interval' must be greater than 0") }
        startOffset = try f.duration("start") ?? interval
        if startOffset >= topology.duration {
            throw TopologyDiagnostic(at: f.location(of: "start"), "update starts at \(startOffset), after the run ends (\(topology.duration))")
        }
    }

    public func start(in context: ScenarioContext) throws {
        self.context = context
        context.scheduleRounds(start: startOffset, interval: interval, count: versions) { [unowned self] _ in
            self.context?.content.publisher(named: self.publisher)?.publishNextVersions()
        }
    }
}

/// `fetch`: clients read a publish workload's objects, the newest version
/// each time, choosing objects by Zipf popularity (rank 1 most popular).
/// Either rounds (`interval`: every client fetches once per round, `count`
/// rounds) or Poisson arrivals (`rate` per second over all clients, each from
/// a random client, until `count` fetches or the end of the run).
public final class FetchWorkload: Workload {
    public static let kind = "fetch"
    public static let fields = ["of", "clients", "start", "interval", "rate", "count", "zipf"] + TransportKnobs.fields

    public let name: String
    let publisher: String
    let clients: [String]
    let startOffset: SimDuration
    let interval: SimDuration?
    let rate: ArrivalRate?
    let count: Int?
    let zipfExponent: Double
    let knobs: TransportKnobs
    public var drainTime: SimDuration { ContentWorkloadDefaults.drain }
    public var hasOutstandingWork: Bool { inFlight > 0 }
    private var context: ScenarioContext?
    private var inFlight = 0
    private var started = 0
    private var random = RandomStream(seed: 0)
    private var popularity = ZipfDistribution(count: 1, exponent: 1)

    public init(spec: WorkloadSpec, name: String, topology: Topology) throws {
        let f = spec.fields
        self.name = name
        publisher = try ContentWorkloadDefaults.publisher(f, kind: Self.kind, topology: topology)
        _ = try f.require("clients", context: "a fetch workload")
        clients = try NodeSelector.resolve(f.stringList("clients") ?? [], in: topology, at: f.location(of: "clients"))
        startOffset = try f.duration("start") ?? .zero
        if startOffset >= topology.duration {
            throw TopologyDiagnostic(at: f.location(of: "start"), "fetch starts at \(startOffset), after the run ends (\(topology.duration))")
        }
        rate = try ArrivalRate.parse(f)
        if rate != nil, f["interval"] != nil {
            throw TopologyDiagnostic(at: f.location(of: "rate"), "give either 'rate' (Poisson arrivals) or 'interval' (rounds), not both")
        }
        interval = rate == nil ? try f.duration("interval") ?? .seconds(10) : nil
        if let interval, interval <= .zero {
            throw TopologyDiagnostic(at: f.location(of: "interval"), "'interval' must be greater than 0")
        }
        count = try f.int("count")
        if let count, count < 1 { throw TopologyDiagnostic(at: f.location(of: "count"), "'count' must be at least 1") }
        zipfExponent = try f.double("zipf") ?? 1.0
        guard zipfExponent >= 0, zipfExponent.isFinite else {
            throw TopologyDiagnostic(at: f.location(of: "zipf"), "'zipf' must be a number ≥ 0 (0 = uniform popularity)")
        }
        knobs = try TransportKnobs(f)
    }

    public func start(in context: ScenarioContext) throws {
        self.context = context
        context.content.use(knobs, for: name)
        random = context.randomStream("fetch:" + name)
        if let interval {
            context.scheduleRounds(start: startOffset, interval: interval, count: count ?? .max) { [unowned self] _ in
                for c in self.clients { self.fetch(from: c) }
            }
        } else {
            scheduleArrival(after: startOffset)
        }
    }

    private func scheduleArrival(after delay: SimDuration) {
        guard let context, let rate else { return }
        let at = context.scheduler.now + delay + rate.nextGap(using: &random)
        guard at < context.endTime, count.map({ started < $0 }) ?? true else { return }
        context.scheduler.schedule(at: at) { [unowned self] in
            let client = self.clients[Int(self.random.next() % UInt64(self.clients.count))]
            self.fetch(from: client)
            self.scheduleArrival(after: .zero)
        }
    }

    private func fetch(from client: String) {
        guard let context else { return }
        started += 1
        let ids = context.content.publisher(named: publisher)?.objectIDs ?? []
        guard !ids.isEmpty else { return }
        if popularity.count != ids.count { popularity = ZipfDistribution(count: ids.count, exponent: zipfExponent) }
        let object = ids[popularity.sample(using: &random)]
        inFlight += 1
        context.content.fetch(objectID: object, client: client, workload: name) { [unowned self] in self.inFlight -= 1 }
    }
}

/// Ranks 0..<count with P(k) ∝ 1 / (k + 1)^s, sampled by inverse CDF.
struct ZipfDistribution {
    let count: Int
    private let cumulative: [Double]

    init(count: Int, exponent: Double) {
        self.count = count
        var sum = 0.0
        var c: [Double] = []
        c.reserveCapacity(count)
        for k in 1...max(1, count) {
            sum += 1 / pow(Double(k), exponent)
            c.append(sum)
        }
        cumulative = c.map { $0 / sum }
    }

    func probability(of rank: Int) -> Double { cumulative[rank] - (rank == 0 ? 0 : cumulative[rank - 1]) }

    func sample(using random: inout RandomStream) -> Int {
        let u = random.nextUnitDouble()
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
