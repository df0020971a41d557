import XCTest
import CStoq

/// Calls into each C library so that a broken link or a wrong version fails CI
/// now, not when the transport first needs it.
final class LinkTests: XCTestCase {
    func testNgtcp2IsThePinnedVersion() {
        XCTAssertEqual(String(cString: cstoq_ngtcp2_version_string()), "0.12.1")
    }

    func testGnuTLSIsLinked() {
        let version = String(cString: cstoq_gnutls_version_string())
        XCTAssertTrue(version.hasPrefix("3."), "unexpected GnuTLS version \(version)")
    }

    func testNghttp3IsLinked() {
        let version = String(cString: cstoq_nghttp3_version_string())
        XCTAssertTrue(version.hasPrefix("0.8"), "unexpected nghttp3 version \(version)")
    }

    func testNgtcp2CryptoGnuTLSConfiguresASession() {
        XCTAssertEqual(cstoq_probe_ngtcp2_crypto_gnutls(), 0)
    }
}
