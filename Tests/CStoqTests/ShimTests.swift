import XCTest
import CStoq
#if canImport(Glibc)
import Glibc
#endif

/// The cstoq_ wrappers around ngtcp2's versioned macros and GnuTLS/glibc
/// helpers behave like the C they stand for.
final class ShimTests: XCTestCase {
    func testSettingsDefaultFillsTheVersionedStruct() {
        var settings = ngtcp2_settings()
        cstoq_ngtcp2_settings_default(&settings)
        XCTAssertGreaterThan(settings.max_tx_udp_payload_size, 1200)
        XCTAssertGreaterThan(settings.initial_rtt, 0)
        XCTAssertEqual(settings.handshake_timeout, 10_000_000_000)   // 10 s, in nanoseconds
    }

    func testTransportParamsDefault() {
        var params = ngtcp2_transport_params()
        cstoq_ngtcp2_transport_params_default(&params)
        XCTAssertEqual(params.max_udp_payload_size, 65527)
        XCTAssertEqual(params.active_connection_id_limit, 2)
        // The fact the transport relies on: no bidirectional streams unless raised.
        XCTAssertEqual(params.initial_max_streams_bidi, 0)
    }

    func testGnuTLSFreeReleasesLibraryMemory() {
        var hex = Array("00ff".utf8)
        var decoded = gnutls_datum_t()
        let rv = hex.withUnsafeMutableBufferPointer { buf -> Int32 in
            var input = gnutls_datum_t(data: buf.baseAddress, size: UInt32(buf.count))
            return gnutls_hex_decode2(&input, &decoded)
        }
        XCTAssertEqual(rv, 0)
        XCTAssertEqual(decoded.size, 2)
        XCTAssertEqual(decoded.data?[1], 0xff)
        cstoq_gnutls_free(decoded.data)   // GnuTLS allocated it; its own free must release it
    }

    func testHeapBytesInUseSeesAllocations() {
        let before = cstoq_heap_bytes_in_use()
        let p = malloc(4 << 20)!
        memset(p, 1, 4 << 20)
        let during = cstoq_heap_bytes_in_use()
        free(p)
        // Other threads may free a little meanwhile (the process is shared with
        // the rest of the suite): allow 64 KiB of slack against the 4 MiB block.
        XCTAssertGreaterThanOrEqual(Int(during) - Int(before), (4 << 20) - (64 << 10))
    }
}
