import Foundation
import StoqEngine
import StoqTopology
import StoqTransport

/// Makes nodes' STOQ servers listen for the whole run, for clients that no
/// workload of the run starts — typically a real program started by an `exec`
/// workload on the netns backend:
/// `{kind: serve, node: ca, alpn: [h3]}`.
///
/// A node's STOQ endpoint (UDP port 443, the run's certificate for
/// `NODE.stoq` and its address) is otherwise made only when a workload of
/// the run needs it. `alpn` lists protocols the server accepts after "stoq"
/// (STOQ peers still get "stoq"). With `h3` the node answers HTTP/3 (clients
/// such as `gtlsclient`): the files under `files` (a directory, relative to
/// the topology file), or else a one-line status page at `/` and 404 for
/// other paths — unless another workload serves HTTP/3 there (the
/// `trustchain` workload's CA API). Requests on other protocols are refused
/// (stream reset with H3_REQUEST_REJECTED). Connections that agreed on
/// "stoq" reach the node's STOQ services unchanged.
public final class ServeWorkload: Workload {
    public static let kind = "serve"
    public static let fields = ["node", "alpn", "files"]
    /// HTTP/3's "request rejected" (RFC 9114 §8.1): not processed, the client may retry.
    static let requestRejected: UInt64 = 0x10b

    public let name: String
    let nodes: [String]
    let alpn: [String]
    let alpnLocation: SourceLocation
    /// The directory HTTP/3 requests are served from; nil: a status page.
    let files: String?
    public static let configuresEndpoints = true
    /// The nodes' HTTP/3 servers (connections hold them weakly).
    private var servers: [HTTP3Server] = []
    public var drainTime: SimDuration { .zero }
    public var hasOutstandingWork: Bool { false }

    public init(spec: WorkloadSpec, name: String, topology: Topology) throws {
        let f = spec.fields
        _ = try f.require("node", context: "a serve workload")
        nodes = try NodeSelector.resolve(f.stringList("node") ?? [], in: topology, at: f.location(of: "node"))
        guard !nodes.isEmpty else {
            throw TopologyDiagnostic(at: f.location(of: "node"), "'node' selects no node", hint: NodeSelector.help)
        }
        let extra = try f.stringList("alpn") ?? []
        for p in extra where p.utf8.isEmpty || p.utf8.count > 255 {
            throw TopologyDiagnostic(at: f.location(of: "alpn"), "ALPN protocol '\(p)' must be 1 to 255 bytes")
        }
        var seen: Set<String> = ["stoq"]
        alpn = extra.filter { seen.insert($0).inserted }
        alpnLocation = f.location(of: "alpn")
        if let dir = try f.string("files") {
            let base = (topology.sourceFile as NSString).deletingLastPathComponent
            let full = dir.hasPrefix("/") ? dir : (base as NSString).appendingPathComponent(dir)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw TopologyDiagnostic(at: f.location(of: "files"), "'files' must be a directory; '\(full)' is not one")
            }
            guard alpn.contains("h3") else {
                throw TopologyDiagnostic(at: f.location(of: "files"), "'files' are served over HTTP/3: add alpn: [h3]")
            }
            files = full
        } else {
            files = nil
        }
        self.name = name
    }

    public func start(in context: ScenarioContext) throws {
        for node in nodes {
            for protocolName in alpn where !context.stoq.hasApplication(protocolName, on: node) {
                do {
                    if protocolName == "h3" {
                        let server = HTTP3Server(handler: files.map { HTTP3FileHandler.serving(root: $0) } ?? Self.statusPage(node))
                        servers.append(server)
                        try context.stoq.register(application: protocolName, on: node) { connection in server.accept(connection) }
                        continue
                    }
                    try context.stoq.register(application: protocolName, on: node) { connection in
                        connection.onEvent = { [unowned connection] event in Self.refuse(event, on: connection) }
                    }
                } catch {
                    throw TopologyDiagnostic(at: alpnLocation, "\(error)", hint: "list this serve workload before the workloads that use \(node)")
                }
            }
            _ = try context.stoq.endpoint(on: node)
        }
    }

    /// `GET /`: which node answered; anything else: 404.
    static func statusPage(_ node: String) -> HTTP3Connection.Handler {
        { request in
            guard request.path == "/" else { return HTTP3Response(status: 404) }
            return HTTP3Response(status: 200, headers: [HTTP3Header("content-type", "text/plain")],
                                 body: Array("STOQ node \(node)\n".utf8))
        }
    }

    /// A connection on another protocol: refuse requests, drop the client's unidirectional streams.
    static func refuse(_ event: ConnectionEvent, on connection: QuicConnection) {
        guard case .streamReadable(let id) = event else { return }
        if id & 0x2 == 0 {
            _ = connection.discard(stream: id)
            try? connection.resetStream(id, errorCode: requestRejected)
        } else {
            _ = connection.discard(stream: id)
        }
    }
}
