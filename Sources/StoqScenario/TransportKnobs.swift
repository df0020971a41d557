import StoqEngine
import StoqTopology
import StoqTransport

/// The QUIC settings a workload may choose for the connections it opens
/// (docs/topology-format.md, "QUIC knobs"): each field is optional and
/// range-checked with a located error; unset ones keep the endpoint's values.
struct TransportKnobs: Equatable {
    static let fields = ["congestion", "initial-rtt", "stream-window", "connection-window", "max-udp-payload",
                         "idle-timeout", "max-ack-delay", "pacing", "key-update-interval", "resumption",
                         "count-lost-packets"]

    var congestion: CongestionControl?
    var initialRTT: SimDuration?
    var streamWindow: Int?
    var connectionWindow: Int?
    var maxUDPPayload: Int?
    var idleTimeout: SimDuration?
    var maxAckDelay: SimDuration?
    var pacing: Bool?
    var keyUpdateInterval: SimDuration?
    var resumption: Bool?
    /// Measurement, not protocol: count the packets the sender declares lost
    /// (ngtcp2 0.12 reports them only as qlog text, formatted for every packet).
    var countLostPackets: Bool?

    init() {}

    init(_ f: ConfigMap) throws {
        if let name = try f.string("congestion") {
            guard let cc = CongestionControl(rawValue: name.lowercased()) else {
                throw TopologyDiagnostic(at: f.location(of: "congestion"), "unknown congestion controller '\(excerpt(name))'",
                                         hint: "ngtcp2 provides \(CongestionControl.allCases.map(\.rawValue).joined(separator: ", ")); the default is cubic")
            }
            congestion = cc
        }
        func duration(_ key: String, _ range: ClosedRange<SimDuration>, _ what: String) throws -> SimDuration? {
            guard let d = try f.duration(key) else { return nil }
            guard range.contains(d) else {
                throw TopologyDiagnostic(at: f.location(of: key), "'\(key)' must be between \(range.lowerBound) and \(range.upperBound); got \(d)", hint: what)
            }
            return d
        }
        func size(_ key: String, _ range: ClosedRange<Int>, _ what: String) throws -> Int? {
            guard let n = try f.byteCount(key) else { return nil }
            guard range.contains(n) else {
                throw TopologyDiagnostic(at: f.location(of: key), "'\(key)' must be between \(range.lowerBound) and \(range.upperBound) bytes; got \(n)", hint: what)
            }
            return n
        }
        initialRTT = try duration("initial-rtt", .milliseconds(1)...(.seconds(10)), "the RTT assumed before the first sample (default 333ms)")
        streamWindow = try size("stream-window", 1024...(1 << 30), "flow-control credit per stream before the receiver reads (default 16MiB)")
        connectionWindow = try size("connection-window", 1024...(1 << 30), "flow-control credit per connection (default 24MiB)")
        maxUDPPayload = try size("max-udp-payload", 1200...65527, "QUIC needs 1200; an IPv6 UDP datagram carries at most 65527 (default 1452)")
        idleTimeout = try duration("idle-timeout", .milliseconds(1)...(.seconds(86_400)), "a connection with no packets this long closes (default 30s)")
        // RFC 9000 §18.2: values of 2^14 ms and above are invalid.
        maxAckDelay = try duration("max-ack-delay", .zero...(.milliseconds(16_383)), "the longest a receiver delays an ACK (default 25ms)")
        pacing = try f.bool("pacing")
        keyUpdateInterval = try duration("key-update-interval", .milliseconds(1)...(.seconds(86_400)),
                                         "how often each side starts a QUIC key update once the handshake is confirmed (default: never)")
        resumption = try f.bool("resumption")
        countLostPackets = try f.bool("count-lost-packets")
    }

    var isEmpty: Bool { self == TransportKnobs() }

    /// A `transport:` mapping (top level or a node's): only knobs, checked.
    init(section m: ConfigMap) throws {
        if let unknown = m.unknownKeys(allowed: Self.fields, context: "'transport'").first { throw unknown }
        try self.init(m)
    }

    /// The settings of `node`'s endpoint: its own `transport:` over the
    /// topology's over the defaults.
    static func endpointConfiguration(for node: NodeSpec, in topology: Topology) throws -> TransportConfiguration {
        var c = TransportConfiguration()
        if let top = topology.transport { c = try TransportKnobs(section: top).applied(to: c) }
        if let own = node.transport { c = try TransportKnobs(section: own).applied(to: c) }
        return c
    }

    /// Every error of the topology's and the nodes' `transport:` sections
    /// (a template's map once, not once per stamped node).
    static func check(_ topology: Topology) -> [TopologyDiagnostic] {
        var seen = Set<String>()
        var errors: [TopologyDiagnostic] = []
        for m in [topology.transport].compactMap({ $0 }) + topology.nodes.compactMap(\.transport) {
            guard seen.insert("\(m.location)").inserted else { continue }
            errors += m.unknownKeys(allowed: fields, context: "'transport'")
            do { _ = try TransportKnobs(m) } catch let d as TopologyDiagnostic { errors.append(d) } catch {}
        }
        return errors
    }

    /// `base` with the knobs that are set.
    func applied(to base: TransportConfiguration) -> TransportConfiguration {
        var c = base
        if let congestion { c.congestionControl = congestion }
        if let initialRTT { c.initialRTT = initialRTT }
        if let streamWindow { c.initialStreamWindow = UInt64(streamWindow); c.maxStreamWindow = max(c.maxStreamWindow, UInt64(streamWindow)) }
        if let connectionWindow { c.initialConnectionWindow = UInt64(connectionWindow); c.maxConnectionWindow = max(c.maxConnectionWindow, UInt64(connectionWindow)) }
        if let maxUDPPayload { c.maxUDPPayloadSize = maxUDPPayload }
        if let idleTimeout { c.idleTimeout = idleTimeout }
        if let maxAckDelay { c.maxAckDelay = maxAckDelay }
        if let pacing { c.pacing = pacing }
        if let keyUpdateInterval { c.keyUpdateInterval = keyUpdateInterval }
        if let resumption { c.resumption = resumption }
        if let countLostPackets { c.countLostPackets = countLostPackets }
        return c
    }

    /// The knobs set besides the congestion controller, for trace records
    /// (not `count-lost-packets`: it changes what is measured, not the transfer):
    /// "initial-rtt=100ms stream-window=1048576"; nil when none is.
    var traceText: String? {
        var parts: [String] = []
        if let initialRTT { parts.append("initial-rtt=\(initialRTT)") }
        if let streamWindow { parts.append("stream-window=\(streamWindow)") }
        if let connectionWindow { parts.append("connection-window=\(connectionWindow)") }
        if let maxUDPPayload { parts.append("max-udp-payload=\(maxUDPPayload)") }
        if let idleTimeout { parts.append("idle-timeout=\(idleTimeout)") }
        if let maxAckDelay { parts.append("max-ack-delay=\(maxAckDelay)") }
        if let pacing { parts.append("pacing=\(pacing)") }
        if let keyUpdateInterval { parts.append("key-update-interval=\(keyUpdateInterval)") }
        if let resumption { parts.append("resumption=\(resumption)") }
        return parts.isEmpty ? nil : parts.joined(separator: " ")
    }
}
