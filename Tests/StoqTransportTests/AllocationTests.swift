import CStoqAllocationCounter
import XCTest
import StoqEngine
import StoqBenchmarks
import StoqTestSupport

/// The datagram path (driver → network socket → payload slab → link → socket →
/// driver → QUIC) allocates nothing per packet once its buffers have grown:
/// a real count of malloc/calloc/realloc calls (this test binary interposes
/// them, CStoqAllocationCounter) over tens of thousands of datagrams.
///
/// Only optimized builds say anything about the code: unoptimized Swift calls
/// the standard library's generic collection accessors (`for … in`, `first`,
/// subscripts through a protocol), whose coroutine frames are heap-allocated
/// per call. Run it with `swift test -c release -Xswiftc -enable-testing --filter AllocationTests`.
final class AllocationTests: XCTestCase {
    func testBulkTransferAllocatesNothingPerPacketInSteadyState() throws {
        #if DEBUG
        throw XCTSkip("allocation counts need an optimized build (debug builds allocate coroutine frames in generic accessors): swift test -c release -Xswiftc -enable-testing --filter AllocationTests")
        #endif
        var configuration = TransportConfiguration()
        configuration.countLostPackets = false   // qlog-based loss counting formats text per lost packet
        let pair = try InMemoryPair.verified(oneWayDelay: .milliseconds(1), bitsPerSecond: 1e9, configuration: configuration)
        let (c, s) = try XCTUnwrap(pair.establish())
        let reader = DiscardingReader(s)
        let id = try c.openStream(bidirectional: false)
        // Queued up front, so the stream's send chunks are allocated here and
        // not while packets flow (writing is the application's allocation, not the path's).
        try c.write(stream: id, [UInt8](repeating: 0xa5, count: 96 << 20), fin: true)
        // Slow start and the buffers' growth to the flight size happen in the first third.
        XCTAssertTrue(pair.run(until: { reader.received >= 32 << 20 }))

        let datagramsBefore = c.metrics.datagramsSent + s.metrics.datagramsSent
        let allocationsBefore = cstoq_thread_allocations()
        XCTAssertTrue(pair.run(until: { reader.received >= 80 << 20 }))
        let allocations = cstoq_thread_allocations() - allocationsBefore
        let datagrams = c.metrics.datagramsSent + s.metrics.datagramsSent - datagramsBefore

        XCTAssertGreaterThan(datagrams, 30_000)
        // A bound that does not grow with the datagram count: amortized growth
        // of buffers and ngtcp2's pools at most (a release build counts 9 over
        // 53,944 datagrams), nothing per packet.
        XCTAssertLessThanOrEqual(allocations, 32, "\(allocations) allocations over \(datagrams) datagrams")
        XCTAssertTrue(pair.run(until: { reader.finished }))
        XCTAssertEqual(reader.received, 96 << 20)
    }
}
