/// What a sender serves from: manifests and chunk bytes.
public protocol ContentSource: AnyObject {
    /// The manifest of `objectID` at `version` (nil: the newest held), if held.
    func manifest(objectID: String, version: UInt64?) -> Manifest?
    /// The chunk's bytes, or nil when it is not held (it is reported `missing`).
    func payload(of id: ChunkID) -> [UInt8]?
}

/// Where a receiver keeps what it gets.
public protocol ContentSink: AnyObject {
    func holds(_ id: ChunkID) -> Bool
    /// Called once per received chunk, after its hash was checked.
    func store(_ id: ChunkID, payload: [UInt8])
    /// Called when an offered manifest has been accepted.
    func accept(_ manifest: Manifest)
}

extension ContentSink {
    public func accept(_ manifest: Manifest) {}
}

/// One end of one content exchange, sans-IO: stream bytes go in with
/// `receive`, bytes to write come out of `takeOutput`. It never touches a
/// connection or a clock, so the same code runs over QUIC in virtual time,
/// over real sockets, or in a unit test wired back to back.
public final class ContentSession {
    public enum Outcome: Equatable, Sendable {
        case completed
        /// The sender does not hold the object (fetches only).
        case notFound
        case failed(ContentProtocolError)
    }

    /// What crossed the stream, in content terms.
    public struct Stats: Equatable, Sendable {
        /// The object's manifest, once offered.
        public var manifest: Manifest?
        /// Chunks wanted by the receiver (the plan), and what of it arrived.
        public var chunksWanted = 0
        public var chunksTransferred = 0
        public var payloadBytes = 0
        /// Chunks the sender could not serve.
        public var missing: [ChunkID] = []
        /// Bytes the receiver already held, so did not ask for.
        public var bytesDeduplicated = 0
    }

    private enum State {
        case awaitingOffer          // receiver, after `request`
        case awaitingRequest        // passive end: anything may come first
        case awaitingWant           // sender, after `offer`
        case awaitingChunks         // receiver, after `want`
        case done
    }

    public private(set) var stats = Stats()
    public private(set) var outcome: Outcome?
    private var state: State
    private var reader = ContentFrameReader()
    /// Messages to send, encoded only as the stream takes them (`takeOutput(max:)`):
    /// a chunk message holds its payload's storage, shared with the store, so
    /// serving a large object costs no copy until the stream has room for it.
    private var queued: [ContentMessage] = []
    private var queuedHead = 0
    /// The stream ends after the last queued message.
    private var finQueued = false
    private var finTaken = false
    private var wanted: Set<ChunkID> = []
    private let source: ContentSource?
    private let sink: ContentSink?
    private let hash: ChunkHasher

    private init(state: State, source: ContentSource?, sink: ContentSink?, hash: @escaping ChunkHasher) {
        self.state = state
        self.source = source
        self.sink = sink
        self.hash = hash
    }

    /// A receiver asking a sender for `objectID` (nil version: the newest).
    public static func fetch(objectID: String, version: UInt64?, into sink: ContentSink,
                             hash: @escaping ChunkHasher = ChunkHash.sha256) -> ContentSession {
        let s = ContentSession(state: .awaitingOffer, source: nil, sink: sink, hash: hash)
        s.send(.request(objectID: objectID, version: version))
        return s
    }

    /// A receiver asking for chunks whose manifest it already has (e.g. those an edge lacked).
    public static func fetchChunks(_ ids: [ChunkID], into sink: ContentSink,
                                   hash: @escaping ChunkHasher = ChunkHash.sha256) -> ContentSession {
        let s = ContentSession(state: .awaitingChunks, source: nil, sink: sink, hash: hash)
        s.wanted = Set(ids)
        s.stats.chunksWanted = s.wanted.count
        s.send(.want(ids), fin: true)
        return s
    }

    /// A sender offering `manifest` to a receiver (a push to an edge).
    public static func push(_ manifest: Manifest, from source: ContentSource) -> ContentSession {
        let s = ContentSession(state: .awaitingWant, source: source, sink: nil, hash: ChunkHash.sha256)
        s.stats.manifest = manifest
        s.send(.offer(manifest))
        return s
    }

    /// The end that did not open the stream: it serves a `request` or a
    /// `want` from `source`, and accepts an `offer` into `sink` when it has one.
    public static func serve(from source: ContentSource, acceptingInto sink: ContentSink? = nil,
                             hash: @escaping ChunkHasher = ChunkHash.sha256) -> ContentSession {
        ContentSession(state: .awaitingRequest, source: source, sink: sink, hash: hash)
    }

    /// Bytes to write to the stream — whole messages, until at least `max`
    /// bytes (one message may go past it) — and whether to end the stream
    /// after them. A caller that writes what the stream has room for keeps a
    /// large transfer's memory bounded by the stream's buffer, not its size.
    public func takeOutput(max: Int = .max) -> (bytes: [UInt8], fin: Bool) {
        var out: [UInt8] = []
        while queuedHead < queued.count && out.count < max {
            out += queued[queuedHead].encoded()
            queued[queuedHead] = .end       // lets go of the payload
            queuedHead += 1
        }
        if queuedHead == queued.count {
            queued.removeAll()
            queuedHead = 0
        }
        let fin = finQueued && queued.isEmpty && !finTaken
        if fin { finTaken = true }
        return (out, fin)
    }

    /// Bytes (or the stream's end) still to be taken with `takeOutput`.
    public var hasOutputPending: Bool { !queued.isEmpty || (finQueued && !finTaken) }

    /// The exchange's outcome is known; its last bytes may still be pending (`hasOutputPending`).
    public var isFinished: Bool { outcome != nil }

    /// Feeds bytes read from the stream; `fin` when the peer ended it.
    public func receive(_ bytes: [UInt8], fin: Bool) {
        guard outcome == nil else { return }
        reader.append(bytes)
        do {
            while outcome == nil, let message = try reader.next() { try handle(message) }
            if fin && outcome == nil {
                // A sender may see the receiver's stream end right after `want`: that is normal.
                if state != .done { throw ContentProtocolError.truncated }
            }
        } catch let e as ContentProtocolError {
            fail(e)
        } catch {
            fail(.malformed("\(error)"))
        }
    }

    private func handle(_ message: ContentMessage) throws {
        switch (state, message) {
        case (.awaitingRequest, .request(let object, let version)):
            guard let manifest = source?.manifest(objectID: object, version: version) else {
                send(.notFound(objectID: object), fin: true)
                finish(.notFound)
                return
            }
            stats.manifest = manifest
            send(.offer(manifest))
            state = .awaitingWant
        case (.awaitingRequest, .want(let ids)), (.awaitingWant, .want(let ids)):
            serve(ids)
        case (.awaitingRequest, .offer(let manifest)) where sink != nil:
            accept(manifest)
        case (.awaitingOffer, .offer(let manifest)):
            accept(manifest)
        case (.awaitingOffer, .notFound):
            finish(.notFound)
        case (.awaitingChunks, .chunk(let id, let payload)):
            guard wanted.remove(id) != nil else { throw ContentProtocolError.unrequestedChunk(id) }
            guard payload.withUnsafeBytes({ hash($0) }) == id else { throw ContentProtocolError.hashMismatch(id) }
            sink!.store(id, payload: payload)
            stats.chunksTransferred += 1
            stats.payloadBytes += payload.count
        case (.awaitingChunks, .missing(let ids)):
            for id in ids {
                guard wanted.remove(id) != nil else { throw ContentProtocolError.unrequestedChunk(id) }
                stats.missing.append(id)
            }
        case (.awaitingChunks, .end):
            guard wanted.isEmpty else {
                throw ContentProtocolError.unexpected("end with \(wanted.count) wanted chunks neither sent nor reported missing")
            }
            finish(.completed)
        default:
            throw ContentProtocolError.unexpected("\(Self.name(of: message)) while \(state)")
        }
    }

    /// Receiver: asks for the chunks of `manifest` the sink lacks, each once.
    private func accept(_ manifest: Manifest) {
        stats.manifest = manifest
        sink!.accept(manifest)
        let plan = manifest.transferPlan { self.sink!.holds($0) }
        stats.bytesDeduplicated = plan.bytesSaved
        wanted = Set(plan.missing.map(\.id))
        stats.chunksWanted = wanted.count
        send(.want(plan.missing.map(\.id)), fin: true)
        state = .awaitingChunks
    }

    /// Sender: the asked-for chunks it holds, a list of those it does not, then `end`.
    private func serve(_ ids: [ChunkID]) {
        var missing: [ChunkID] = []
        for id in ids {
            if let payload = source?.payload(of: id) {
                send(.chunk(id, payload))
                stats.chunksTransferred += 1
                stats.payloadBytes += payload.count
            } else {
                missing.append(id)
            }
        }
        stats.chunksWanted = ids.count
        stats.missing = missing
        if !missing.isEmpty { send(.missing(missing)) }
        send(.end, fin: true)
        finish(.completed)
    }

    private func send(_ message: ContentMessage, fin: Bool = false) {
        queued.append(message)
        if fin { finQueued = true }
    }

    private func finish(_ outcome: Outcome) {
        state = .done
        self.outcome = outcome
    }

    private func fail(_ error: ContentProtocolError) {
        state = .done
        outcome = .failed(error)
    }

    private static func name(of message: ContentMessage) -> String {
        switch message {
        case .request: return "request"
        case .offer: return "offer"
        case .want: return "want"
        case .chunk: return "chunk"
        case .missing: return "missing"
        case .notFound: return "not-found"
        case .end: return "end"
        }
    }
}
