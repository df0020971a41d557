/// Values waiting per slot, handed over a batch at a time. A probe analysis
/// has thousands of pairs whose groups and histograms (kilobytes each) are
/// rarely in cache: recording each probe at once cost three dependent cache
/// misses (the group, its histogram's counts array, the count). Appending to
/// the pair's batch here touches two small dense arrays instead, and a full
/// batch is folded in with one visit to the group, its counts loaded side by
/// side. Plain memory, grown with the slots: no reference counting or
/// uniqueness checks per value.
final class SlotBatches {
    static let size = 8
    private(set) var slots = 0
    private var capacity = 64
    private var counts: UnsafeMutablePointer<UInt8>
    private var values: UnsafeMutablePointer<Int64>

    init() {
        counts = .allocate(capacity: capacity)
        values = .allocate(capacity: capacity * Self.size)
    }

    deinit {
        counts.deallocate()
        values.deallocate()
    }

    /// Adds an empty batch for the next slot.
    func addSlot() {
        if slots == capacity {
            let c = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            c.initialize(from: counts, count: slots)
            counts.deallocate()
            counts = c
            let v = UnsafeMutablePointer<Int64>.allocate(capacity: capacity * 2 * Self.size)
            v.initialize(from: values, count: slots * Self.size)
            values.deallocate()
            values = v
            capacity *= 2
        }
        counts[slots] = 0
        slots += 1
    }

    /// Appends `value` to `slot`'s batch; true when that filled it (then
    /// read it with `batch` and empty it with `clear`).
    @inline(__always)
    func append(_ value: Int64, to slot: Int) -> Bool {
        let n = Int(counts[slot])
        values[slot &* Self.size &+ n] = value
        counts[slot] = UInt8(truncatingIfNeeded: n &+ 1)
        return n &+ 1 == Self.size
    }

    func batch(_ slot: Int) -> UnsafeBufferPointer<Int64> {
        UnsafeBufferPointer(start: values + slot * Self.size, count: Int(counts[slot]))
    }

    /// The slot's batch without the values equal to `marker`, in place (valid until the next `append` to the slot).
    func removeAll(_ marker: Int64, from slot: Int) -> UnsafeBufferPointer<Int64> {
        let start = values + slot * Self.size
        var kept = 0
        for k in 0..<Int(counts[slot]) where start[k] != marker {
            start[kept] = start[k]
            kept += 1
        }
        return UnsafeBufferPointer(start: start, count: kept)
    }

    func clear(_ slot: Int) { counts[slot] = 0 }
}
