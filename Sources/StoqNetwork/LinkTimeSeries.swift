/// Link utilisation, queue occupancy and drops over time, per link direction,
/// in fixed bins over the run: the dynamics a run's averages hide (a link 1 %
/// utilised on average can drop thousands of packets in a few saturated
/// seconds). Each bin also keeps the busiest `windowNs` window inside it, so
/// a report shows the short-window peak beside the mean.
///
/// Memory is fixed when the series is made: bins × tracked directions × 28
/// bytes, plus a few integers per direction; nothing grows while the run goes.
/// Activity after the last bin (transfers draining past the run's duration)
/// is summed in one tail per direction, so bins + tail equal the link's counters.
///
/// Busy time is charged as the network charges it (`LinkCounters.busyTime`):
/// when a packet is admitted, over the interval its serialization will take.
/// Admissions on one direction are in time order and serializer intervals do
/// not overlap, so they merge into one open busy run that is spread over bins
/// and windows only when a gap ends it (or a flush cuts it short).
public final class LinkTimeSeries {
    /// Width of the short windows whose peak utilisation each bin keeps.
    public static let defaultWindowNs: Int64 = 10_000_000
    /// Bins a run is cut into when no bin width is asked for.
    public static let defaultBinCount = 300
    /// Bin cells (bins × tracked directions) allowed without an explicit link
    /// choice: about 7 MB. Larger topologies get fewer, wider bins, down to
    /// `minimumBinCount`; past that only chosen links are tracked.
    public static let cellBudget = 1 << 18
    public static let minimumBinCount = 50

    public let binNs: Int64
    public let windowNs: Int64
    public let binCount: Int
    /// The tracked edges (link directions of `Network.graph`), in edge order.
    public let edges: [Int]
    private let slotOfEdge: [Int32]

    /// One bin of one direction as counted: 32 bytes, one cache line per packet.
    private struct Cell {
        var bytes: UInt64 = 0
        var busyNs: Int64 = 0
        var drops: UInt32 = 0
        var maxQueuedBytes: Int32 = 0
        var maxWindowBusyNs: Int32 = 0
    }

    /// A direction's open busy run and current window.
    private struct Direction {
        var runStart: Int64 = 0
        var runEnd: Int64 = 0
        /// End of the window being filled (0: none yet) and its bin (-1: past the last).
        var windowEnd: Int64 = 0
        var windowBin = -1
        var windowBusy: Int64 = 0
        var tail = Tail()
    }

    // Allocated once (slot-major cells: slot * binCount + bin); raw memory
    // because the packet path must not pay an array's uniqueness check per write.
    private let cells: UnsafeMutablePointer<Cell>
    private let directions: UnsafeMutablePointer<Direction>
    private let cellCount: Int
    /// The bin of the latest `now` seen: times on the packet path only grow, so most lookups skip the division.
    private var cachedBin = 0
    private var cachedBinStart: Int64 = 0
    private var cachedBinEnd: Int64
    private var finished = false

    /// What happened on a direction after the last bin.
    public struct Tail: Equatable, Sendable {
        public var bytes: UInt64 = 0
        public var busyNs: Int64 = 0
        public var drops: UInt64 = 0
    }

    /// One bin of one direction.
    public struct Bin: Equatable, Sendable {
        /// Bytes offered to the link (as `LinkCounters.bytesSent`).
        public var bytes: UInt64
        public var busyNs: Int64
        /// Packets dropped on the link, any reason.
        public var drops: UInt64
        /// Peak queue occupancy (bytes) at an admission in the bin.
        public var maxQueuedBytes: Int
        /// Busy time of the busiest window in the bin.
        public var maxWindowBusyNs: Int64
    }

    /// `binNs` must be positive; windows are `min(defaultWindowNs, binNs)` and
    /// `binNs` a multiple of them (so each window lies in one bin).
    public init(edgeCount: Int, tracking edges: [Int], binNs: Int64, binCount: Int) {
        precondition(binNs > 0 && binCount > 0)
        self.binNs = binNs
        windowNs = min(Self.defaultWindowNs, binNs)
        precondition(binNs % windowNs == 0, "bins must be a whole number of windows")
        self.binCount = binCount
        self.edges = edges.sorted()
        var slots = [Int32](repeating: -1, count: edgeCount)
        for (i, e) in self.edges.enumerated() { slots[e] = Int32(i) }
        slotOfEdge = slots
        cellCount = binCount * self.edges.count
        cells = .allocate(capacity: max(cellCount, 1))
        cells.initialize(repeating: Cell(), count: cellCount)
        directions = .allocate(capacity: max(self.edges.count, 1))
        directions.initialize(repeating: Direction(), count: self.edges.count)
        cachedBinEnd = binNs
    }

    deinit {
        cells.deinitialize(count: cellCount)
        cells.deallocate()
        directions.deinitialize(count: edges.count)
        directions.deallocate()
    }

    /// Why a bin width was refused.
    public struct InvalidBinWidth: Error, CustomStringConvertible {
        public var description: String
    }

    /// The bin width for a run of `durationNs`: `requested` when given (a
    /// positive divisor or multiple of the 10 ms window), else the run cut into
    /// at most `bins` bins of a whole number of windows.
    public static func binWidth(durationNs: Int64, requested: Int64? = nil, bins: Int = defaultBinCount) throws -> Int64 {
        if let requested {
            guard requested > 0, requested < defaultWindowNs || requested % defaultWindowNs == 0 else {
                throw InvalidBinWidth(description: "a time-series bin must be a multiple of 10ms (or shorter than 10ms); got \(SimDuration(nanoseconds: requested))")
            }
            return requested
        }
        let perBin = (max(durationNs, 1) + Int64(bins) - 1) / Int64(bins)
        return max(1, (perBin + defaultWindowNs - 1) / defaultWindowNs) * defaultWindowNs
    }

    /// Bins and directions for a run: every direction (or the `chosen` ones)
    /// with the bin count cut to fit `cellBudget`; nil when even
    /// `minimumBinCount` bins for every direction would not fit and nothing was chosen.
    public static func make(edgeCount: Int, chosen: [Int]?, durationNs: Int64, binNs requested: Int64?) throws -> LinkTimeSeries? {
        let edges = chosen ?? Array(0..<edgeCount)
        guard !edges.isEmpty else { return nil }
        var binNs = try binWidth(durationNs: durationNs, requested: requested)
        var count = Int((durationNs + binNs - 1) / binNs)
        if chosen == nil && requested == nil && count * edges.count > cellBudget {
            let fitting = cellBudget / edges.count
            guard fitting >= minimumBinCount else { return nil }
            binNs = try binWidth(durationNs: durationNs, bins: fitting)
            count = Int((durationNs + binNs - 1) / binNs)
        }
        return LinkTimeSeries(edgeCount: edgeCount, tracking: edges, binNs: binNs, binCount: max(count, 1))
    }

    // MARK: Recording (called by the network on the packet path)

    /// A packet of `bytes` was offered to `edge` at `now`; the direction's
    /// serializer is now busy until `busyUntil` with `queuedBytes` queued
    /// (unchanged when the packet was refused).
    @inline(__always)
    public func offered(edge: Int, bytes size: Int, now: Int64, busyUntil: Int64, queuedBytes: Int) {
        let slot = Int(slotOfEdge[edge])
        guard slot >= 0 else { return }
        let bin = currentBin(now)
        let d = directions + slot
        if bin < 0 {
            d.pointee.tail.bytes += UInt64(size)
        } else {
            cells[slot * binCount + bin].bytes += UInt64(size)
        }
        guard busyUntil > d.pointee.runEnd else { return }   // refused: the serializer's schedule is unchanged
        if bin >= 0 {
            let cell = cells + (slot * binCount + bin)
            cell.pointee.maxQueuedBytes = max(cell.pointee.maxQueuedBytes, Int32(clamping: queuedBytes))
        }
        if now <= d.pointee.runEnd {
            d.pointee.runEnd = busyUntil
        } else {
            spreadBusy(slot: slot, from: d.pointee.runStart, to: d.pointee.runEnd)
            d.pointee.runStart = now
            d.pointee.runEnd = busyUntil
        }
    }

    /// A packet was dropped on `edge` at `now` (any reason).
    @inline(__always)
    public func dropped(edge: Int, now: Int64) {
        let slot = Int(slotOfEdge[edge])
        guard slot >= 0 else { return }
        let bin = currentBin(now)
        if bin < 0 { directions[slot].tail.drops += 1 } else { cells[slot * binCount + bin].drops += 1 }
    }

    /// `edge` was emptied at `now` (it or an end node failed): the serialization
    /// scheduled past `now` will not happen, as `LinkCounters.busyTime` forgets it.
    public func flushed(edge: Int, now: Int64) {
        let slot = Int(slotOfEdge[edge])
        guard slot >= 0 else { return }
        let d = directions + slot
        d.pointee.runEnd = min(d.pointee.runEnd, max(now, d.pointee.runStart))
    }

    /// Spreads the open busy runs over their bins and closes the last windows;
    /// call once the run is over, before reading bins.
    public func finish() {
        guard !finished else { return }
        finished = true
        for slot in edges.indices {
            spreadBusy(slot: slot, from: directions[slot].runStart, to: directions[slot].runEnd)
            closeWindow(slot: slot)
        }
    }

    // MARK: Reading

    /// The bins of `edge`; nil when it is not tracked. Call `finish()` first.
    public func bins(edge: Int) -> [Bin]? {
        let slot = Int(slotOfEdge[edge])
        guard slot >= 0 else { return nil }
        return (0..<binCount).map { b in
            let c = cells[slot * binCount + b]
            return Bin(bytes: c.bytes, busyNs: c.busyNs, drops: UInt64(c.drops), maxQueuedBytes: Int(c.maxQueuedBytes),
                       maxWindowBusyNs: Int64(c.maxWindowBusyNs))
        }
    }

    public func tail(edge: Int) -> Tail? {
        let slot = Int(slotOfEdge[edge])
        return slot >= 0 ? directions[slot].tail : nil
    }

    // MARK: Accounting

    /// The bin `t` falls in, or -1 past the last one.
    private func bin(of t: Int64) -> Int {
        let b = t / binNs
        return b < Int64(binCount) ? Int(b) : -1
    }

    /// `bin(of: now)` for the packet path's non-decreasing `now`.
    @inline(__always)
    private func currentBin(_ now: Int64) -> Int {
        if now >= cachedBinStart && now < cachedBinEnd { return cachedBin }
        cachedBin = bin(of: now)
        cachedBinStart = now - now % binNs
        cachedBinEnd = cachedBinStart + binNs
        return cachedBin
    }

    /// Charges busy time [start, end) to bins and windows, a window at a time.
    private func spreadBusy(slot: Int, from start: Int64, to end: Int64) {
        let d = directions + slot
        var t = start
        while t < end {
            if t >= d.pointee.windowEnd {
                closeWindow(slot: slot)
                let windowStart = t - t % windowNs
                d.pointee.windowEnd = windowStart + windowNs
                d.pointee.windowBin = bin(of: windowStart)
                d.pointee.windowBusy = 0
            }
            let chunkEnd = min(end, d.pointee.windowEnd)
            d.pointee.windowBusy += chunkEnd - t
            if d.pointee.windowBin < 0 {
                d.pointee.tail.busyNs += chunkEnd - t
            } else {
                cells[slot * binCount + d.pointee.windowBin].busyNs += chunkEnd - t
            }
            t = chunkEnd
        }
    }

    /// Keeps the finished window's busy time if it is its bin's peak.
    private func closeWindow(slot: Int) {
        let d = directions[slot]
        guard d.windowEnd > 0, d.windowBin >= 0 else { return }
        let cell = cells + (slot * binCount + d.windowBin)
        cell.pointee.maxWindowBusyNs = max(cell.pointee.maxWindowBusyNs, Int32(clamping: d.windowBusy))
    }
}
