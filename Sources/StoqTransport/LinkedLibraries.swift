import CStoq

/// The versions of the C libraries this build runs against (for `stoqsim --version`
/// and bug reports): what the loader found, not what the headers said.
public enum LinkedLibraries {
    public static var ngtcp2: String { String(cString: cstoq_ngtcp2_version_string()) }
    public static var gnutls: String { String(cString: cstoq_gnutls_version_string()) }
    public static var nghttp3: String { String(cString: cstoq_nghttp3_version_string()) }
    public static var description: String { "ngtcp2 \(ngtcp2), GnuTLS \(gnutls), nghttp3 \(nghttp3)" }
}
