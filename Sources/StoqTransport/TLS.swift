#if canImport(Glibc)
import Glibc
#endif
import CStoq
import StoqCore

/// Owns one GnuTLS certificate-credentials object: a server's certificate
/// chain and key, or a client's trust anchors. One object serves any number
/// of connections (GnuTLS only reads it after setup).
public final class TLSCredentials {
    let handle: gnutls_certificate_credentials_t

    private init() throws {
        var cred: gnutls_certificate_credentials_t?
        try checkTLS("gnutls_certificate_allocate_credentials", gnutls_certificate_allocate_credentials(&cred))
        handle = cred!
    }

    deinit { gnutls_certificate_free_credentials(handle) }

    /// Server credentials from a PEM chain (leaf first, then intermediates) and a PEM key.
    public static func server(certificateChainPEM: String, privateKeyPEM: String) throws -> TLSCredentials {
        let cred = try TLSCredentials()
        let rv = withDatum(certificateChainPEM) { cert in
            withDatum(privateKeyPEM) { key in
                gnutls_certificate_set_x509_key_mem2(cred.handle, cert, key, GNUTLS_X509_FMT_PEM, nil, 0)
            }
        }
        if rv < 0 {
            throw TransportError.certificate("cannot load the certificate chain and key: \(String(cString: gnutls_strerror(rv))); expected PEM certificate(s) and an unencrypted PEM private key")
        }
        return cred
    }

    public static func server(_ bundle: CertificateBundle) throws -> TLSCredentials {
        try server(certificateChainPEM: bundle.certificateChainPEM, privateKeyPEM: bundle.privateKeyPEM)
    }

    /// Mutual TLS, server side: its own chain and key, and the anchors its clients' certificates must chain to.
    public static func server(_ bundle: CertificateBundle, clientTrustAnchorsPEM: String) throws -> TLSCredentials {
        let cred = try server(bundle)
        try cred.addTrustAnchors(clientTrustAnchorsPEM)
        return cred
    }

    /// Mutual TLS, client side: the anchors the server must chain to, and the
    /// client's own chain and key (sent when the server asks; nil: none to send).
    public static func client(trustAnchorsPEM: String, certificate: CertificateBundle?) throws -> TLSCredentials {
        let cred = try client(trustAnchorsPEM: trustAnchorsPEM)
        if let certificate {
            let rv = withDatum(certificate.certificateChainPEM) { cert in
                withDatum(certificate.privateKeyPEM) { key in
                    gnutls_certificate_set_x509_key_mem2(cred.handle, cert, key, GNUTLS_X509_FMT_PEM, nil, 0)
                }
            }
            if rv < 0 {
                throw TransportError.certificate("cannot load the client certificate chain and key: \(String(cString: gnutls_strerror(rv)))")
            }
        }
        return cred
    }

    private func addTrustAnchors(_ pem: String) throws {
        let n = withDatum(pem) { gnutls_certificate_set_x509_trust_mem(handle, $0, GNUTLS_X509_FMT_PEM) }
        if n <= 0 {
            throw TransportError.certificate(n < 0 ? "cannot read trust anchors: \(String(cString: gnutls_strerror(n)))"
                                                   : "no PEM certificate found among the trust anchors")
        }
    }

    /// Server credentials from PEM files (GnuTLS reads them).
    public static func server(certificateFile: String, keyFile: String) throws -> TLSCredentials {
        let cred = try TLSCredentials()
        let rv = gnutls_certificate_set_x509_key_file2(cred.handle, certificateFile, keyFile, GNUTLS_X509_FMT_PEM, nil, 0)
        if rv < 0 {
            throw TransportError.certificate("cannot load \(certificateFile) with key \(keyFile): \(String(cString: gnutls_strerror(rv))); expected PEM files, key unencrypted")
        }
        return cred
    }

    /// Client credentials that trust the PEM certificates in `trustAnchorsPEM`.
    public static func client(trustAnchorsPEM: String) throws -> TLSCredentials {
        let cred = try TLSCredentials()
        try cred.addTrustAnchors(trustAnchorsPEM)
        return cred
    }

    /// Client credentials that trust the PEM certificates in `file`.
    public static func client(trustAnchorsFile file: String) throws -> TLSCredentials {
        let cred = try TLSCredentials()
        let n = gnutls_certificate_set_x509_trust_file(cred.handle, file, GNUTLS_X509_FMT_PEM)
        if n <= 0 {
            throw TransportError.certificate(n < 0 ? "cannot read trust anchors from \(file): \(String(cString: gnutls_strerror(n)))"
                                                   : "no PEM certificate found in \(file)")
        }
        return cred
    }

    /// Client credentials with no trust anchors, for the explicit skip-verification mode only.
    static func empty() throws -> TLSCredentials { try TLSCredentials() }
}

/// How a client checks the server's certificate.
public enum ServerCertificateVerification {
    /// Verify the chain against these trust anchors and the dialled name
    /// (a DNS name, or an IPv6 address matched against the SAN iPAddress).
    case verify(trustAnchors: TLSCredentials)
    /// Accept any certificate. Only for talking to your own process on localhost;
    /// never the default, and loudly named so it shows up in review.
    case insecureSkipVerificationForLocalTesting
}

/// TLS settings of a client endpoint.
public struct ClientTLSConfiguration {
    public var verification: ServerCertificateVerification
    /// ALPN protocols offered, most preferred first ("stoq" between STOQ peers; "h3" for HTTP/3 servers).
    public var alpn: [String]
    /// When set, certificate validity is checked at this Unix time (milliseconds)
    /// plus the connection's `now`, not on the machine's clock: a simulation
    /// dates certificates on its own timeline (a 7-day virtual run rotates into
    /// certificates the real clock has not reached).
    public var certificateEpochUnixMilliseconds: Int64?

    public init(verification: ServerCertificateVerification, alpn: [String] = ["stoq"],
                certificateEpochUnixMilliseconds: Int64? = nil) {
        self.verification = verification
        self.alpn = alpn
        self.certificateEpochUnixMilliseconds = certificateEpochUnixMilliseconds
    }
}

/// Whether a server asks its clients for certificates (mutual TLS).
public enum ClientCertificatePolicy: Sendable {
    /// Server-only TLS.
    case none
    /// Ask; verify one that is sent (chain to the credentials' trust anchors,
    /// validity, TLS client purpose), accept a client that sends none (the
    /// application decides: e.g. a CA enrolling nodes that have no certificate yet).
    case request
    /// Ask and refuse a handshake without a valid client certificate.
    case require
}

/// TLS settings of a server endpoint.
public struct ServerTLSConfiguration {
    public var credentials: TLSCredentials
    /// ALPN protocols accepted, in server preference order; a client offering none of them fails the handshake.
    public var alpn: [String]
    /// Mutual TLS; `credentials` must then hold trust anchors (`TLSCredentials.server(_:clientTrustAnchorsPEM:)`).
    public var clientCertificates: ClientCertificatePolicy
    /// As `ClientTLSConfiguration.certificateEpochUnixMilliseconds`, for clients' certificates.
    public var certificateEpochUnixMilliseconds: Int64?

    public init(credentials: TLSCredentials, alpn: [String] = ["stoq"], clientCertificates: ClientCertificatePolicy = .none,
                certificateEpochUnixMilliseconds: Int64? = nil) {
        self.credentials = credentials
        self.alpn = alpn
        self.clientCertificates = clientCertificates
        self.certificateEpochUnixMilliseconds = certificateEpochUnixMilliseconds
    }
}

/// Owns one GnuTLS priority cache (the parsed cipher-suite string), shared by sessions.
final class TLSPriority {
    /// TLS 1.3 only (QUIC requires it); X25519 first, so the key share is always 32 bytes;
    /// no middlebox-compatibility mode, which QUIC forbids.
    static let string = "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE"
    let handle: gnutls_priority_t

    init() throws {
        var p: gnutls_priority_t?
        try checkTLS("gnutls_priority_init", gnutls_priority_init(&p, Self.string, nil))
        handle = p!
    }

    deinit { gnutls_priority_deinit(handle) }
}

/// Owns one GnuTLS session. Its pointer slot (gnutls_session_set_ptr) holds the
/// ngtcp2_crypto_conn_ref that ngtcp2_crypto_gnutls uses to find the QUIC connection.
final class TLSSession {
    let handle: gnutls_session_t
    /// Kept alive for as long as the session may read them.
    private let credentials: TLSCredentials
    private let priority: TLSPriority
    let verifies: Bool
    /// GnuTLS keeps the pointer given to gnutls_session_set_verify_cert (no copy): we own this copy.
    private var expectedName: UnsafeMutablePointer<CChar>?

    /// `tickets` (servers): issue and accept this endpoint's session tickets,
    /// one ticket sent when the handshake completes (`sendSessionTicket`);
    /// without it a server sends none, so runs without resumption keep their
    /// packet sizes. `resumeFrom` (clients): session data of an earlier
    /// connection to resume. `captureTickets` (clients): hand each ticket the
    /// server sends to the connection (`QuicConnection.sessionTicketArrived`).
    init(isServer: Bool, credentials: TLSCredentials, priority: TLSPriority, alpn: [String],
         serverName: String?, verify: Bool, clientCertificates: ClientCertificatePolicy = .none,
         tickets: SessionTicketIssuer? = nil, resumeFrom sessionData: [UInt8]? = nil, captureTickets: Bool = false,
         connRef: UnsafeMutablePointer<ngtcp2_crypto_conn_ref>) throws {
        var s: gnutls_session_t?
        // Flags ngtcp2_crypto_gnutls expects; a server sends tickets only when
        // resumption is on, and then only when told to (not as GnuTLS would, at once).
        var flags: UInt32 = GNUTLS_ENABLE_EARLY_DATA.rawValue | GNUTLS_NO_END_OF_EARLY_DATA.rawValue
        if isServer {
            flags |= GNUTLS_SERVER.rawValue | (tickets == nil ? GNUTLS_NO_TICKETS.rawValue : GNUTLS_NO_AUTO_SEND_TICKET.rawValue)
        } else {
            flags |= GNUTLS_CLIENT.rawValue
        }
        try checkTLS("gnutls_init", gnutls_init(&s, flags))
        handle = s!
        self.credentials = credentials
        self.priority = priority
        // GnuTLS's own verification status exists for a client and a requiring server.
        self.verifies = verify || clientCertificates == .require
        do {
            try checkTLS("gnutls_priority_set", gnutls_priority_set(handle, priority.handle))
            if isServer {
                try checkTLS("ngtcp2_crypto_gnutls_configure_server_session", ngtcp2_crypto_gnutls_configure_server_session(handle))
            } else {
                try checkTLS("ngtcp2_crypto_gnutls_configure_client_session", ngtcp2_crypto_gnutls_configure_client_session(handle))
            }
            gnutls_session_set_ptr(handle, UnsafeMutableRawPointer(connRef))
            try checkTLS("gnutls_credentials_set", gnutls_credentials_set(handle, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(credentials.handle)))
            try setALPN(alpn, server: isServer)
            if isServer && clientCertificates != .none {
                _ = cstoq_gnutls_verify_client_certificate(handle, clientCertificates == .require ? 1 : 0)
            }
            if isServer, let tickets { try tickets.enable(on: handle) }
            if !isServer, var data = sessionData {
                let rv = data.withUnsafeMutableBytes { gnutls_session_set_data(handle, $0.baseAddress, $0.count) }
                try checkTLS("gnutls_session_set_data", rv)
            }
            if !isServer && captureTickets {
                gnutls_handshake_set_hook_function(handle, UInt32(GNUTLS_HANDSHAKE_NEW_SESSION_TICKET.rawValue), GNUTLS_HOOK_POST) { session, _, _, _, _ in
                    // The session's pointer is the conn_ref whose user_data is the connection (see QuicConnection).
                    guard let session, let ref = gnutls_session_get_ptr(session)?.assumingMemoryBound(to: ngtcp2_crypto_conn_ref.self),
                          let user = ref.pointee.user_data else { return 0 }
                    Unmanaged<QuicConnection>.fromOpaque(user).takeUnretainedValue().sessionTicketArrived()
                    return 0
                }
            }
            if var name = serverName, !isServer {
                // "[::1]" (URL form) → "::1", the form GnuTLS matches against SAN iPAddress.
                if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
                // SNI carries DNS names only (RFC 6066): not for an address literal.
                if (try? IPv6AddressLiteral.parse(name)) == nil {
                    try checkTLS("gnutls_server_name_set",
                                 gnutls_server_name_set(handle, GNUTLS_NAME_DNS, name, name.utf8.count))
                }
                if verify {
                    // GnuTLS verifies during the handshake and matches an IP literal against SAN iPAddress.
                    expectedName = strdup(name)
                    gnutls_session_set_verify_cert(handle, expectedName, 0)
                }
            }
        } catch {
            gnutls_deinit(handle)
            free(expectedName)
            throw error
        }
    }

    deinit {
        gnutls_deinit(handle)
        free(expectedName)
    }

    private func setALPN(_ protocols: [String], server: Bool) throws {
        guard !protocols.isEmpty else { return }
        var storage = protocols.map { Array($0.utf8) }
        let rv: Int32 = storage.withUnsafeMutableBufferPointer { bufs in
            var datums = bufs.indices.map { i in
                bufs[i].withUnsafeMutableBufferPointer { gnutls_datum_t(data: $0.baseAddress, size: UInt32($0.count)) }
            }
            // GnuTLS copies the protocol names, so these temporaries may go.
            let flags = UInt32(GNUTLS_ALPN_MANDATORY.rawValue) | (server ? UInt32(GNUTLS_ALPN_SERVER_PRECEDENCE.rawValue) : 0)
            return gnutls_alpn_set_protocols(handle, &datums, UInt32(datums.count), flags)
        }
        try checkTLS("gnutls_alpn_set_protocols", rv)
    }

    /// Server: sends one NewSessionTicket (in 1-RTT CRYPTO frames) now that the handshake is done.
    func sendSessionTicket() throws {
        try checkTLS("gnutls_session_ticket_send", gnutls_session_ticket_send(handle, 1, 0))
    }

    /// Client: what resumes this session later (holds the latest ticket); nil before one arrived.
    var resumptionData: [UInt8]? {
        var datum = gnutls_datum_t()
        guard gnutls_session_get_data2(handle, &datum) == 0, let data = datum.data else { return nil }
        defer { cstoq_gnutls_free(data) }
        return Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
    }

    /// Whether this handshake resumed an earlier session (PSK), and whether
    /// the server took 0-RTT data (client: the server said so; server: it did).
    var isResumed: Bool { gnutls_session_is_resumed(handle) != 0 }
    var earlyDataAccepted: Bool { gnutls_session_get_flags(handle) & GNUTLS_SFLAGS_EARLY_DATA.rawValue != 0 }

    /// The protocol ALPN settled on, if any.
    var selectedALPN: String? {
        var datum = gnutls_datum_t()
        guard gnutls_alpn_get_selected_protocol(handle, &datum) == 0, let data = datum.data else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(datum.size)), as: UTF8.self)
    }

    /// The peer's end-entity certificate (DER), once the handshake has it.
    var peerCertificateDER: [UInt8]? {
        var count: UInt32 = 0
        guard let list = gnutls_certificate_get_peers(handle, &count), count > 0, let data = list[0].data else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(list[0].size)))
    }

    /// Why certificate verification failed, in GnuTLS's words; nil when it did not.
    var verificationFailure: String? {
        guard verifies else { return nil }
        let status = gnutls_session_get_verify_cert_status(handle)
        guard status != 0 else { return nil }
        var datum = gnutls_datum_t()
        guard gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &datum, 0) == 0 else {
            return "certificate verification failed (status 0x\(String(status, radix: 16)))"
        }
        return takeString(&datum)
    }
}

/// Recognises an IPv6 literal, with or without brackets.
enum IPv6AddressLiteral {
    static func parse(_ text: String) throws -> IPv6Address {
        var t = Substring(text)
        if t.hasPrefix("["), t.hasSuffix("]") { t = t.dropFirst().dropLast() }
        return try IPv6Address.parse(String(t))
    }
}

/// Runs `body` with a GnuTLS datum viewing `text`'s UTF-8 bytes.
func withDatum<R>(_ text: String, _ body: (UnsafePointer<gnutls_datum_t>) -> R) -> R {
    var bytes = Array(text.utf8)
    return bytes.withUnsafeMutableBufferPointer { buf in
        var datum = gnutls_datum_t(data: buf.baseAddress, size: UInt32(buf.count))
        return body(&datum)
    }
}
