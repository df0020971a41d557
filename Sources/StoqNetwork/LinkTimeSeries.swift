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

    // Per bin, slot-major (slot * binCount + bin).
    private var bytes: [UInt64]
    private var busy: [Int64]
    private var drops: [UInt32]
    private var maxQueue: [Int32]
    private var maxWindowBusy: [Int32]
    // Per slot.
    private var runStart: [Int64]
    private var runEnd: [Int64]
    private var window: [Int64]
    private var windowBusy: [Int64]
    private var tail: [Tail]
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
        let cells = binCount * self.edges.count
        bytes = Array(repeating: 0, count: cells)
        busy = Array(repeating: 0, count: cells)
        drops = Array(repeating: 0, count: cells)
        maxQueue = Array(repeating: 0, count: cells)
        maxWindowBusy = Array(repeating: 0, count: cells)
        runStart = Array(repeating: 0, count: self.edges.count)
        runEnd = runStart
        window = Array(repeating: -1, count: self.edges.count)
        windowBusy = runStart
        tail = Array(repeating: Tail(), count: self.edges.count)
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
                throw InvalidBinWidth(description: "a time-series bin must be a multiple of 10ms (or shorter than 10ms); got \(requested) ns")
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
        let bin = self.bin(of: now)
        if bin < 0 {
            tail[slot].bytes += UInt64(size)
        } else {
            bytes[slot * binCount + bin] += UInt64(size)
        }
        guard busyUntil > runEnd[slot] else { return }   // refused: the serializer's schedule is unchanged
        if bin >= 0 { maxQueue[slot * binCount + bin] = max(maxQueue[slot * binCount + bin], Int32(clamping: queuedBytes)) }
        if now <= runEnd[slot] {
            runEnd[slot] = busyUntil
        } else {
            spreadBusy(slot: slot, from: runStart[slot], to: runEnd[slot])
            runStart[slot] = now
            runEnd[slot] = busyUntil
        }
    }

    /// A packet was dropped on `edge` at `now` (any reason).
    @inline(__always)
    public func dropped(edge: Int, now: Int64) {
        let slot = Int(slotOfEdge[edge])
        guard slot >= 0 else { return }
        let bin = self.bin(of: now)
        if bin < 0 { tail[slot].drops += 1 } else { drops[slot * binCount + bin] += 1 }
    }

    /// `edge` was emptied at `now` (it or an end node failed): the serialization
    /// scheduled past `now` will not happen, as `LinkCounters.busyTime` forgets it.
    public func flushed(edge: Int, now: Int64) {
        let slot = Int(slotOfEdge[edge])
        guard slot >= 0 else { return }
        runEnd[slot] = min(runEnd[slot], max(now, runStart[slot]))
    }

    /// Spreads the open busy runs over their bins and closes the last windows;
    /// call once the run is over, before reading bins.
    public func finish() {
        guard !finished else { return }
        finished = true
        for slot in edges.indices {
            spreadBusy(slot: slot, from: runStart[slot], to: runEnd[slot])
            closeWindow(slot: slot)
        }
    }

    // MARK: Reading

    /// The bins of `edge`; nil when it is not tracked. Call `finish()` first.
    public func bins(edge: Int) -> [Bin]? {
        let slot = Int(slotOfEdge[edge])
        guard slot >= 0 else { return nil }
        return (0..<binCount).map { b in
            let i = slot * binCount + b
            return Bin(bytes: bytes[i], busyNs: busy[i], drops: UInt64(drops[i]), maxQueuedBytes: Int(maxQueue[i]),
                       maxWindowBusyNs: Int64(maxWindowBusy[i]))
        }
    }

    public func tail(edge: Int) -> Tail? {
        let slot = Int(slotOfEdge[edge])
        return slot >= 0 ? tail[slot] : nil
    }

    // MARK: Accounting

    /// The bin `t` falls in, or -1 past the last one.
    @inline(__always)
    private func bin(of t: Int64) -> Int {
        let b = t / binNs
        return b < Int64(binCount) ? Int(b) : -1
    }

    /// Charges busy time [start, end) to bins and windows, a window at a time.
    private func spreadBusy(slot: Int, from start: Int64, to end: Int64) {
        var t = start
        while t < end {
            let w = t / windowNs
            if w != window[slot] {
                closeWindow(slot: slot)
                window[slot] = w
                windowBusy[slot] = 0
            }
            let chunkEnd = min(end, (w + 1) * windowNs)
            windowBusy[slot] += chunkEnd - t
            let bin = self.bin(of: t)
            if bin < 0 { tail[slot].busyNs += chunkEnd - t } else { busy[slot * binCount + bin] += chunkEnd - t }
            t = chunkEnd
        }
    }

    /// Keeps the finished window's busy time if it is its bin's peak.
    private func closeWindow(slot: Int) {
        guard window[slot] >= 0 else { return }
        let bin = self.bin(of: window[slot] * windowNs)
        if bin >= 0 {
            let i = slot * binCount + bin
            maxWindowBusy[i] = max(maxWindowBusy[i], Int32(windowBusy[slot]))
        }
    }
}
