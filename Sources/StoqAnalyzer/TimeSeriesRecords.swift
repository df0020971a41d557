extension TraceRecord {
    /// One link direction's activity over the run in fixed bins (written at
    /// the end for the busiest directions): per bin the bytes offered, the
    /// serializer's busy time, the busy time of the busiest `window_ns` window,
    /// the peak queue occupancy and the drops. Bin `i` covers
    /// [i × bin_ns, (i + 1) × bin_ns); `tail_*` hold what happened after the
    /// last bin (transfers draining past the run's duration), so bins + tail
    /// equal the direction's `link_stats`.
    public struct LinkSeries: Equatable, TraceRecordFields {
        public var link: String = ""
        public var binNs: Int64 = 0
        public var windowNs: Int64 = 0
        public var bytes: [Int64] = []
        public var busyNs: [Int64] = []
        public var maxWindowBusyNs: [Int64] = []
        public var maxQueuedBytes: [Int64] = []
        public var drops: [Int64] = []
        public var tailBytes: Int64 = 0
        public var tailBusyNs: Int64 = 0
        public var tailDrops: Int64 = 0
        public init(link: String, binNs: Int64, windowNs: Int64, bytes: [Int64], busyNs: [Int64], maxWindowBusyNs: [Int64],
                    maxQueuedBytes: [Int64], drops: [Int64], tailBytes: Int64, tailBusyNs: Int64, tailDrops: Int64) {
            self.link = link; self.binNs = binNs; self.windowNs = windowNs; self.bytes = bytes; self.busyNs = busyNs
            self.maxWindowBusyNs = maxWindowBusyNs; self.maxQueuedBytes = maxQueuedBytes; self.drops = drops
            self.tailBytes = tailBytes; self.tailBusyNs = tailBusyNs; self.tailDrops = tailDrops
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.type("link_series"); try c.field("link", &link); try c.field("bin_ns", &binNs); try c.field("window_ns", &windowNs)
            try c.field("bytes", integers: &bytes); try c.field("busy_ns", integers: &busyNs)
            try c.field("max_window_busy_ns", integers: &maxWindowBusyNs); try c.field("max_queued_bytes", integers: &maxQueuedBytes)
            try c.field("drops", integers: &drops)
            try c.field("tail_bytes", &tailBytes); try c.field("tail_busy_ns", &tailBusyNs); try c.field("tail_drops", &tailDrops)
        }
    }

    /// The sender's congestion state over one sampled transfer, written when
    /// the transfer ends: at each sample, the time since the transfer started,
    /// ngtcp2's congestion window, smoothed RTT and bytes in flight.
    public struct TransferSeries: Equatable, TraceRecordFields {
        public var t: Int64 = 0
        public var workload: String = ""
        public var from: String = ""
        public var to: String = ""
        /// When the transfer started (its connection attempt).
        public var startNs: Int64 = 0
        public var offsetNs: [Int64] = []
        public var cwnd: [Int64] = []
        public var srttNs: [Int64] = []
        public var inFlight: [Int64] = []
        public init(t: Int64, workload: String, from: String, to: String, startNs: Int64, offsetNs: [Int64], cwnd: [Int64],
                    srttNs: [Int64], inFlight: [Int64]) {
            self.t = t; self.workload = workload; self.from = from; self.to = to; self.startNs = startNs
            self.offsetNs = offsetNs; self.cwnd = cwnd; self.srttNs = srttNs; self.inFlight = inFlight
        }
        init() {}

        mutating func fields<C: TraceFieldCoder>(_ c: inout C) throws {
            try c.field("t", &t); try c.type("transfer_series"); try c.field("workload", &workload); try c.field("from", &from)
            try c.field("to", &to); try c.field("start_ns", &startNs); try c.field("offset_ns", integers: &offsetNs)
            try c.field("cwnd", integers: &cwnd); try c.field("srtt_ns", integers: &srttNs); try c.field("in_flight", integers: &inFlight)
        }
    }
}
