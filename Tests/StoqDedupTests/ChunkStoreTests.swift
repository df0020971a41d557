import StoqEngine
import XCTest
@testable import StoqDedup

final class ChunkStoreTests: XCTestCase {
    func id(_ n: Int) -> ChunkID { ChunkID(words: (UInt64(n), UInt64(n), 0, 0)) }
    let t0 = SimTime.zero

    func testHitsMissesAndLRUOrder() {
        var s = ChunkStore(capacityBytes: 300)
        s.insert(id(1), size: 100, now: t0)
        s.insert(id(2), size: 100, now: t0)
        s.insert(id(3), size: 100, now: t0)
        XCTAssertEqual(s.recencyOrder, [id(3), id(2), id(1)])
        XCTAssertEqual(s.lookup(id(1), now: t0)?.size, 100)
        XCTAssertNil(s.lookup(id(9), now: t0))
        XCTAssertEqual(s.recencyOrder, [id(1), id(3), id(2)])
        // Full: the least recently used (2) goes.
        let evicted = s.insert(id(4), size: 100, now: t0)
        XCTAssertEqual(evicted.map(\.0), [id(2)])
        XCTAssertEqual(evicted.map(\.1), [.capacity])
        XCTAssertFalse(s.contains(id(2), now: t0))
        XCTAssertEqual(s.stats.hits, 1)
        XCTAssertEqual(s.stats.misses, 1)
        XCTAssertEqual(s.stats.hitBytes, 100)
        XCTAssertEqual(s.stats.evictedForCapacity, 1)
        XCTAssertEqual(s.bytesStored, 300)
    }

    func testSizeLimitEvictsAsManyAsNeeded() {
        var s = ChunkStore(capacityBytes: 1000)
        for n in 1...10 { s.insert(id(n), size: 100, now: t0) }
        let evicted = s.insert(id(11), size: 450, now: t0)
        XCTAssertEqual(evicted.map(\.0), (1...5).map(id))
        XCTAssertEqual(s.bytesStored, 950)
        XCTAssertEqual(s.count, 6)
        XCTAssertEqual(s.stats.evictedBytes, 500)
        // Larger than the whole store: refused, nothing evicted.
        XCTAssertEqual(s.insert(id(12), size: 1001, now: t0).count, 0)
        XCTAssertEqual(s.stats.rejected, 1)
        XCTAssertEqual(s.count, 6)
    }

    func testTTLExpiresEntriesAndReinsertRefreshes() {
        var s = ChunkStore(capacityBytes: 10_000, ttl: .seconds(60))
        s.insert(id(1), size: 10, now: t0)
        s.insert(id(2), size: 10, now: t0 + .seconds(10))
        s.insert(id(1), size: 10, now: t0 + .seconds(30))  // refresh: now expires at 90 s
        XCTAssertTrue(s.contains(id(2), now: t0 + .seconds(69)))
        XCTAssertFalse(s.contains(id(2), now: t0 + .seconds(70)))
        XCTAssertNil(s.lookup(id(2), now: t0 + .seconds(70)))
        XCTAssertEqual(s.stats.evictedExpired, 1)
        XCTAssertNotNil(s.lookup(id(1), now: t0 + .seconds(89)))
        let expired = s.expire(now: t0 + .seconds(90))
        XCTAssertEqual(expired.map(\.0), [id(1)])
        XCTAssertEqual(expired.map(\.1), [.expired])
        XCTAssertEqual(s.count, 0)
        XCTAssertEqual(s.bytesStored, 0)
    }

    func testDefaultTTLIsOneHour() {
        var s = ChunkStore(capacityBytes: 100)
        XCTAssertEqual(s.ttl, .seconds(3600))
        s.insert(id(1), size: 1, now: t0)
        XCTAssertTrue(s.contains(id(1), now: t0 + .seconds(3599)))
        XCTAssertFalse(s.contains(id(1), now: t0 + .seconds(3600)))
    }

    func testPayloadAndRemoveAndSlotReuse() {
        var s = ChunkStore(capacityBytes: 100)
        s.insert(id(1), size: 3, payload: [1, 2, 3], now: t0)
        XCTAssertEqual(s.lookup(id(1), now: t0)?.payload, [1, 2, 3])
        XCTAssertTrue(s.remove(id(1)))
        XCTAssertFalse(s.remove(id(1)))
        XCTAssertEqual(s.bytesStored, 0)
        for n in 2...5 { s.insert(id(n), size: 10, now: t0) }
        XCTAssertEqual(s.recencyOrder, [id(5), id(4), id(3), id(2)])
        XCTAssertEqual(s.stats.evictedForCapacity + s.stats.evictedExpired, 0)
    }

    /// Random operations against a simple reference model.
    func testMatchesReferenceModel() {
        var rng = RandomStream(seed: 11)
        var s = ChunkStore(capacityBytes: 2_000, ttl: .seconds(50))
        var model: [(id: ChunkID, size: Int, expires: SimTime)] = []  // most recent first
        var now = t0
        for _ in 0..<3_000 {
            now += .milliseconds(Int64(rng.next() % 1_000))
            model.removeAll { $0.expires <= now }
            let key = id(Int(rng.next() % 40))
            if rng.next() % 2 == 0 {
                let size = 1 + Int(rng.next() % 300)
                s.insert(key, size: size, now: now)
                model.removeAll { $0.id == key }
                while model.reduce(0, { $0 + $1.size }) + size > 2_000 { model.removeLast() }
                model.insert((key, size, now + .seconds(50)), at: 0)
            } else {
                let hit = s.lookup(key, now: now)
                if let i = model.firstIndex(where: { $0.id == key }) {
                    XCTAssertEqual(hit?.size, model[i].size)
                    model.insert(model.remove(at: i), at: 0)
                } else {
                    XCTAssertNil(hit)
                }
            }
            XCTAssertEqual(s.recencyOrder, model.map(\.id))
            XCTAssertEqual(s.bytesStored, model.reduce(0) { $0 + $1.size })
        }
    }
}
