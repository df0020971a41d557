import StoqEngine

/// Why a connection ended. Indirect: its payloads are boxed, so the state and
/// events every connection carries stay pointer-sized.
public indirect enum CloseReason: Equatable, Sendable, CustomStringConvertible {
    /// An application closed it with `code` (QUIC APPLICATION_CLOSE).
    case application(code: UInt64, reason: String, byPeer: Bool)
    /// The transport closed it with a QUIC transport error `code` (0x100+alert: TLS alert).
    case transport(code: UInt64, reason: String, byPeer: Bool)
    /// The handshake failed locally (certificate verification, ALPN, TLS error).
    case handshakeFailed(String)
    /// Nothing arrived from the peer for the idle timeout.
    case idleTimeout

    public var description: String {
        switch self {
        case let .application(code, reason, byPeer):
            return "\(byPeer ? "peer" : "local") application close, code \(code)\(reason.isEmpty ? "" : ": \(reason)")"
        case let .transport(code, reason, byPeer):
            var text = "\(byPeer ? "peer" : "local") transport close, code 0x\(String(code, radix: 16))"
            if (0x100...0x1ff).contains(code) { text += " (TLS alert \(code - 0x100))" }
            return reason.isEmpty ? text : text + ": \(reason)"
        case let .handshakeFailed(message): return "handshake failed: \(message)"
        case .idleTimeout: return "idle timeout"
        }
    }
}

/// What happened on a connection, delivered after the call that caused it
/// returns (never from inside ngtcp2), so handlers may call back freely.
public enum ConnectionEvent: Equatable, Sendable {
    /// The TLS handshake finished on this side (client: at about 1 RTT).
    case handshakeCompleted
    /// The handshake is confirmed (HANDSHAKE_DONE): key updates are allowed from now on.
    case handshakeConfirmed
    /// The peer opened a stream.
    case streamOpened(Int64)
    /// Data or the end of a stream can be read. Edge-triggered: raised again
    /// only after `read(stream:)` drained what was there.
    case streamReadable(Int64)
    /// A stream whose send buffer a write filled (`writableBytes` was 0) has
    /// sent half of it: write more. Raised once per filling, so a producer
    /// that writes `writableBytes(stream:)` at a time and waits for this holds
    /// at most the buffer, however long the stream.
    case streamWritable(Int64)
    /// The peer reset its sending side of the stream.
    case streamReset(Int64, errorCode: UInt64)
    /// The stream is finished in both directions and ngtcp2 forgot it.
    case streamClosed(Int64)
    /// The peer raised the stream limit: `openStream` may succeed again.
    case streamsAvailable(bidirectional: Bool)
    /// The connection ended; no more events follow.
    case closed(CloseReason)
}

/// Per-connection counters and gauges, and where each comes from.
public struct ConnectionMetrics: Sendable, CustomStringConvertible {
    /// When this side started (client: connect; server: first Initial arrived).
    public var handshakeStarted: SimTime
    /// When ngtcp2 reported handshake completion on this side.
    public var handshakeCompleted: SimTime?
    public var handshakeDuration: SimDuration? { handshakeCompleted.map { $0 - handshakeStarted } }
    /// From ngtcp2_conn_get_conn_stat.
    public var smoothedRTT: SimDuration
    public var minRTT: SimDuration
    public var rttVariance: SimDuration
    public var latestRTT: SimDuration
    public var congestionWindow: UInt64
    public var bytesInFlight: UInt64
    /// Probe timeouts in a row right now (ngtcp2_conn_stat.pto_count).
    public var ptoCount: Int
    /// UDP payload bytes and datagrams this side wrote / fed to ngtcp2 (counted here).
    public var bytesSent: UInt64
    public var bytesReceived: UInt64
    public var datagramsSent: UInt64
    public var datagramsReceived: UInt64
    /// QUIC packets ngtcp2 declared lost (its qlog "recovery:packet_lost"
    /// events); nil when `countLostPackets` is off.
    public var packetsLost: UInt64?
    /// Packets carrying stream data that were declared lost, so their data was
    /// sent again: the sum of ngtcp2_conn_get_stream_loss_count over streams
    /// (closed ones counted when they close). May include spurious losses.
    public var streamPacketsRetransmitted: UInt64
    /// Stream payload bytes the application wrote / read.
    public var streamBytesWritten: UInt64
    public var streamBytesRead: UInt64
    /// ngtcp2 update_key callbacks: one is made ahead of time once the
    /// handshake is confirmed, then one per completed key update.
    public var keyUpdates: Int

    public var description: String {
        var parts = [String]()
        if let h = handshakeDuration { parts.append("handshake \(h)") }
        parts.append("srtt \(smoothedRTT) min \(minRTT) var \(rttVariance)")
        parts.append("cwnd \(congestionWindow)")
        parts.append("sent \(bytesSent) B/\(datagramsSent) dgrams, received \(bytesReceived) B/\(datagramsReceived) dgrams")
        if let lost = packetsLost { parts.append("lost \(lost)") }
        parts.append("stream pkts retransmitted \(streamPacketsRetransmitted)")
        return parts.joined(separator: ", ")
    }
}
