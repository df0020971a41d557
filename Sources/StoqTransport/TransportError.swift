import CStoq

/// Everything that can go wrong in StoqTransport, phrased for people: what
/// failed, in which call, and what to do about it.
public enum TransportError: Error, Equatable, CustomStringConvertible {
    /// A GnuTLS call failed (`code` is the GnuTLS error code).
    case tls(operation: String, code: Int32, message: String)
    /// An ngtcp2 call failed (`code` is the ngtcp2 error code).
    case quic(operation: String, code: Int32, message: String)
    /// A certificate or key could not be read or is unusable.
    case certificate(String)
    /// The peer allows no more streams of this kind right now; retry after `.streamsAvailable`.
    case streamLimitReached(bidirectional: Bool)
    /// The stream does not exist (never opened, or already closed).
    case unknownStream(Int64)
    /// The connection is closing or closed.
    case connectionClosed
    /// An address the transport refuses (IPv4, IPv4-mapped, malformed).
    case invalidAddress(String)

    public var description: String {
        switch self {
        case let .tls(op, code, message): return "TLS: \(op) failed: \(message) (GnuTLS error \(code))"
        case let .quic(op, code, message): return "QUIC: \(op) failed: \(message) (ngtcp2 error \(code))"
        case let .certificate(message): return "certificate: \(message)"
        case let .streamLimitReached(bidi):
            return "the peer allows no more \(bidi ? "bidirectional" : "unidirectional") streams now; wait for .streamsAvailable"
        case let .unknownStream(id): return "stream \(id) does not exist (never opened or already closed)"
        case .connectionClosed: return "the connection is closing or closed"
        case let .invalidAddress(message): return "address: \(message)"
        }
    }

    static func gnutls(_ operation: String, _ code: Int32) -> TransportError {
        .tls(operation: operation, code: code, message: String(cString: gnutls_strerror(code)))
    }

    static func ngtcp2(_ operation: String, _ code: Int32) -> TransportError {
        .quic(operation: operation, code: code, message: String(cString: ngtcp2_strerror(code)))
    }
}

/// Throws `TransportError.tls` when a GnuTLS call returns a negative code.
@discardableResult
func checkTLS(_ operation: String, _ rv: Int32) throws -> Int32 {
    if rv < 0 { throw TransportError.gnutls(operation, rv) }
    return rv
}
