import StoqEngine

/// QUIC transport settings of an endpoint (both roles).
public struct TransportConfiguration: Sendable {
    /// Credit a peer gets per stream before the receiving application reads anything.
    public var initialStreamWindow: UInt64 = 16 << 20
    /// Credit a peer gets for the whole connection.
    public var initialConnectionWindow: UInt64 = 24 << 20
    /// Ceilings for ngtcp2's window auto-tuning. The defaults cover one
    /// connection filling 2.5 Gbit/s at 200 ms RTT (bandwidth × delay = 62.5 MB);
    /// a receiver only grows towards them while its application keeps reading.
    public var maxStreamWindow: UInt64 = 64 << 20
    public var maxConnectionWindow: UInt64 = 96 << 20
    /// Streams the peer may open at once.
    public var maxBidirectionalStreams: UInt64 = 100
    public var maxUnidirectionalStreams: UInt64 = 100
    /// Close silently after this long without packets from the peer (the
    /// smaller of both ends' values applies).
    public var idleTimeout: SimDuration = .seconds(30)
    /// A client sends a PING after this long without sending anything, so a
    /// connection held open but unused outlives `idleTimeout`; nil sends none.
    public var keepAlive: SimDuration? = nil
    /// Largest UDP payload we send (PMTU discovery probes up to it).
    public var maxUDPPayloadSize: Int = 1452
    /// Length of the connection IDs this endpoint issues (4…20).
    public var connectionIDLength: Int = 16
    /// The sender's congestion controller (ngtcp2 0.12 provides all four).
    public var congestionControl: CongestionControl = .cubic
    /// RTT assumed before the first sample (ngtcp2's default, RFC 9002's 333 ms).
    public var initialRTT: SimDuration = .milliseconds(333)
    /// Longest this endpoint delays an ACK (transport parameter max_ack_delay, RFC 9000 §18.2).
    public var maxAckDelay: SimDuration = .milliseconds(25)
    /// Scale of the ACK Delay field: 2^exponent µs (ack_delay_exponent, 0…20).
    public var ackDelayExponent: UInt64 = 3
    /// Count lost packets from ngtcp2's qlog "recovery:packet_lost" events
    /// (ngtcp2 0.12 has no loss counter). Off by default: ngtcp2 then formats
    /// qlog JSON for every packet, ≈ 15 % of a bulk transfer's CPU
    /// (`stoqsim bench transport`). `streamPacketsRetransmitted` counts the
    /// lost packets that carried stream data at no cost.
    public var countLostPackets: Bool = false
    /// Session resumption with TLS 1.3 tickets and 0-RTT (RFC 9001 §4.5–4.6):
    /// a client keeps the latest ticket and transport parameters of each
    /// server and offers them on its next connection there, whose streams may
    /// then carry data in 0-RTT packets, one round trip before the handshake
    /// completes; a server endpoint with it on issues one ticket per handshake.
    /// Off by default: tickets add packets and change handshake sizes.
    public var resumption: Bool = false
    /// Start a QUIC key update (RFC 9001 §6) this often once the handshake is
    /// confirmed; nil never starts one (the peer's updates are still followed).
    public var keyUpdateInterval: SimDuration? = nil
    /// Space packets with ngtcp2's pacer (on by default); off sends what the
    /// congestion window allows at once, in bursts.
    public var pacing: Bool = true

    public init() {}
}

/// Congestion controllers of ngtcp2 0.12.
public enum CongestionControl: String, CaseIterable, Sendable {
    case reno, cubic, bbr, bbr2
}
