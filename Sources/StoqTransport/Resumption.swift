#if canImport(Glibc)
import Glibc
#endif
import CStoq
import StoqCore

/// What a client keeps from a server to resume with it later (RFC 9001 §4.5,
/// RFC 9000 §7.4.1): GnuTLS's session data, which holds the TLS 1.3 ticket,
/// and the transport parameters the server announced, which 0-RTT data must
/// respect before the server can repeat them.
struct ResumptionState {
    let sessionData: [UInt8]
    let parameters: RememberedTransportParameters
}

/// The server's transport parameters a client must remember for 0-RTT
/// (the fields ngtcp2_conn_set_early_remote_transport_params reads).
struct RememberedTransportParameters {
    var maxStreamsBidirectional: UInt64
    var maxStreamsUnidirectional: UInt64
    var maxStreamDataBidirectionalLocal: UInt64
    var maxStreamDataBidirectionalRemote: UInt64
    var maxStreamDataUnidirectional: UInt64
    var maxData: UInt64
    var activeConnectionIDLimit: UInt64
    var maxDatagramFrameSize: UInt64

    init(_ p: ngtcp2_transport_params) {
        maxStreamsBidirectional = p.initial_max_streams_bidi
        maxStreamsUnidirectional = p.initial_max_streams_uni
        maxStreamDataBidirectionalLocal = p.initial_max_stream_data_bidi_local
        maxStreamDataBidirectionalRemote = p.initial_max_stream_data_bidi_remote
        maxStreamDataUnidirectional = p.initial_max_stream_data_uni
        maxData = p.initial_max_data
        activeConnectionIDLimit = p.active_connection_id_limit
        maxDatagramFrameSize = p.max_datagram_frame_size
    }

    /// Defaults with the remembered fields set (the others are ignored by ngtcp2).
    var ngtcp2: ngtcp2_transport_params {
        var p = ngtcp2_transport_params()
        cstoq_ngtcp2_transport_params_default(&p)
        p.initial_max_streams_bidi = maxStreamsBidirectional
        p.initial_max_streams_uni = maxStreamsUnidirectional
        p.initial_max_stream_data_bidi_local = maxStreamDataBidirectionalLocal
        p.initial_max_stream_data_bidi_remote = maxStreamDataBidirectionalRemote
        p.initial_max_stream_data_uni = maxStreamDataUnidirectional
        p.initial_max_data = maxData
        p.active_connection_id_limit = activeConnectionIDLimit
        p.max_datagram_frame_size = maxDatagramFrameSize
        return p
    }
}

/// Which earlier session a client connection may resume: the same server
/// (address and the name it verifies) and the same application protocol.
struct ResumptionKey: Hashable {
    let remote: SocketAddress
    let serverName: String
    let alpn: [String]
}

/// A server endpoint's session tickets: the key they are sealed with
/// (GnuTLS's session-ticket encryption key, one per endpoint, so every
/// connection of the endpoint accepts every ticket it issued) and the
/// anti-replay record GnuTLS consults before it accepts 0-RTT data.
final class SessionTicketIssuer {
    /// gnutls_session_ticket_key_generate's datum (allocated by GnuTLS).
    private(set) var key = gnutls_datum_t()
    let antiReplay: gnutls_anti_replay_t
    /// ClientHellos that carried early data, as GnuTLS names them: a second
    /// one is a replay, and its early data is refused (1-RTT goes on).
    private var seenEarlyData = Set<[UInt8]>()

    init() throws {
        try checkTLS("gnutls_session_ticket_key_generate", gnutls_session_ticket_key_generate(&key))
        var ar: gnutls_anti_replay_t?
        let rv = gnutls_anti_replay_init(&ar)
        guard rv == 0, let ar else {
            cstoq_gnutls_free(key.data)
            throw TransportError.gnutls("gnutls_anti_replay_init", rv)
        }
        antiReplay = ar
        gnutls_anti_replay_set_ptr(ar, Unmanaged.passUnretained(self).toOpaque())
        gnutls_anti_replay_set_add_function(ar) { ptr, _, key, _ in
            guard let ptr, let key, let data = key.pointee.data else { return 0 }
            let issuer = Unmanaged<SessionTicketIssuer>.fromOpaque(ptr).takeUnretainedValue()
            let name = Array(UnsafeBufferPointer(start: data, count: Int(key.pointee.size)))
            return issuer.seenEarlyData.insert(name).inserted ? 0 : GNUTLS_E_DB_ENTRY_EXISTS
        }
    }

    deinit {
        gnutls_anti_replay_deinit(antiReplay)
        if let data = key.data {
            memset(data, 0, Int(key.size))
            cstoq_gnutls_free(data)
        }
    }

    /// Makes `session` (a server session, created with GNUTLS_NO_AUTO_SEND_TICKET)
    /// able to issue and accept this endpoint's tickets and 0-RTT data.
    func enable(on session: gnutls_session_t) throws {
        try checkTLS("gnutls_session_ticket_enable_server", gnutls_session_ticket_enable_server(session, &key))
        gnutls_anti_replay_enable(session, antiReplay)
        // QUIC carries early data in 0-RTT packets, not TLS records: no TLS limit (RFC 9001 §4.6.1).
        try checkTLS("gnutls_record_set_max_early_data_size", gnutls_record_set_max_early_data_size(session, Int(UInt32.max)))
    }
}
