import StoqCore

/// Identifies one scheduled event so it can be cancelled. Stale handles (the
/// event already ran or was cancelled) are harmless: cancelling them does nothing.
public struct EventHandle: Hashable, Sendable {
    fileprivate let slot: Int32
    fileprivate let generation: UInt32
}

/// Why `run` returned.
public enum RunOutcome: Equatable, Sendable {
    /// The next event lies after the requested end time; `now` is the end time.
    case reachedEndTime
    /// No events are left.
    case idle
    /// An event called `stop()`.
    case stopped
}

/// An event body that can be scheduled many times without allocating: the
/// allocation-free alternative to a closure for hot paths (a link's
/// "transmission done" event, a traffic source's next packet).
public protocol EventAction: AnyObject {
    func fire(in scheduler: Scheduler)
}

/// The discrete-event scheduler: an event is a time plus a closure or an
/// `EventAction` (ns-3's `Simulator::Schedule`), and everything else is built on that.
///
/// Events at the same instant run in the order they were scheduled. Cancelling
/// releases the event's action and drops it from `pendingCount` at once; timers
/// that are re-armed on every packet never pile up.
///
/// The queue is a ladder queue (Tang, Goh & Thng 2005) with 16-byte entries
/// stored inline in its lists:
/// - `top`: an unsorted list of events beyond the rungs (an insert is an append);
/// - rungs: arrays of time buckets, each bucket an unsorted list. When the
///   rungs run dry, `top` is spread over a new rung sized to it; a bucket that
///   is still too full when its turn comes is spread over a finer child rung;
/// - `bottom`: the current small bucket, sorted once, popped in order.
/// Bucket widths are powers of two, so finding a bucket is a subtract and a
/// shift. Every pass over an entry is sequential or lands in a few hundred
/// cached bucket tails; nothing on the hot path chases a pointer per entry
/// except the event's own slot.
///
/// FIFO among equal times needs no sequence number: every list holds its
/// entries in scheduling order (appends, spreads and compaction keep it;
/// a bottom insert goes after every entry with time <= its own), and the
/// bottom's sort is stable.
///
/// Entries are never searched for. Cancelling (or re-arming a timer) bumps
/// the slot's generation, which turns the queued entry into a tombstone; the
/// pop skips tombstones, and when they outnumber live events the lists are
/// compacted, so garbage stays bounded by the live count.
///
/// Not thread-safe: one scheduler belongs to one thread.
public final class Scheduler {
    /// One queue entry. It is live while `generation` equals its slot's.
    @usableFromInline
    struct Entry {
        var time: Int64
        var slot: Int32
        var generation: UInt32
    }

    /// A growable list of entries: `top`, `bottom` or one bucket.
    struct EntryList {
        var base: UnsafeMutablePointer<Entry>? = nil
        var count: Int32 = 0
        var capacity: Int32 = 0
    }

    /// One level of buckets: bucket `b` holds times in
    /// [base + b << shift, base + (b + 1) << shift). Buckets before `current` are used up.
    struct Rung {
        var base: Int64 = 0
        var shift: UInt64 = 0
        var bucketCount = 0
        var current = 0
        /// `maxBuckets` headers, allocated on first use of this depth and kept.
        var buckets: UnsafeMutablePointer<EntryList>? = nil
    }

    @usableFromInline
    enum Action {
        case empty
        case closure(() -> Void)
        case object(any EventAction)
        /// Timer slots stay allocated while the `Timer` lives.
        case timer(() -> Void)
        /// Holds a place for the `EventAction` being dispatched, which
        /// scheduled itself again: dispatch moves its reference in when `fire`
        /// returns (see `enqueueObject`).
        case adopted
    }

    /// Everything about one event or timer. Dispatch reads it once (action
    /// and generation share a cache line). `action` comes first: `actionPointer`
    /// relies on it.
    struct Slot {
        var action: Action
        /// Has a live entry in the queue (an armed timer, a pending event).
        var queued = false
        /// Holds a `.timer` action; lets dispatch and cancel tell without
        /// copying the action out.
        var isTimer = false
        /// Bumped whenever the live entry dies (ran, cancelled, re-armed):
        /// stale handles and tombstone entries no longer match.
        var generation: UInt32 = 0
        /// Deadline of a queued timer (not kept for plain events).
        var time: Int64 = 0
    }

    // Public state is computed from private storage: a public stored property
    // of a class costs a dynamic exclusivity check per access (two per event).
    public var now: SimTime { SimTime(nanosecondsSinceStart: nowNs) }
    /// Events executed since creation.
    public var eventsExecuted: UInt64 { executed }
    /// Set by `stop()`; read by `run` and by `RealTimeDriver`.
    var stopRequested: Bool {
        get { stopFlag }
        set { stopFlag = newValue }
    }

    private var nowNs: Int64
    /// The `EventAction` being dispatched, and the slot of the first successor
    /// it scheduled for itself (-1: none), which will receive dispatch's reference.
    private var firingObject: ObjectIdentifier? = nil
    private var adoptedSlot: Int32 = -1
    private var executed: UInt64 = 0
    private var stopFlag = false

    private var slots: UnsafeMutablePointer<Slot>            // initialized below slotCount
    private var freeSlots: UnsafeMutablePointer<Int32>
    private var slotCount = 0
    private var freeCount = 0
    private var slotCapacity: Int

    /// Ladder tuning: a bucket of more than `leafMax` entries is spread over a
    /// child rung aiming at `leafTarget` per bucket, with at most
    /// 2^`maxBucketsLog2` buckets, so the tails being appended to stay in L2.
    private static let leafTarget = 8, leafMax = 32, maxBucketsLog2 = 10
    /// Buckets emptied by a spread hand buffers of this many entries or more
    /// to those still filling (no fresh pages, no regrowth after warm-up).
    private static let spareThreshold: Int32 = 1024
    private var spareBuffers = [[UnsafeMutablePointer<Entry>]](repeating: [], count: 28)
    /// Each child rung is at least one bit finer, so 64 levels always suffice.
    private static let maxDepth = 66

    private let top: UnsafeMutablePointer<EntryList>
    private let bottom: UnsafeMutablePointer<EntryList>
    private var bottomHead = 0
    /// Latest time the bottom covers: later inserts go to the rungs or `top`.
    private var bottomLast = Int64.min
    private let rungs: UnsafeMutablePointer<Rung>
    /// The counting sort's counters, one per possible time offset in a leaf.
    private let sortCounts: UnsafeMutablePointer<Int32>
    private var depth = 0
    private var liveCount = 0
    private var tombstones = 0
    /// A bottom insert that would shift more entries than this drops the
    /// bottom's tombstones first, unless a recent filter found mostly live
    /// entries (then it waits this many long shifts before trying again).
    private static let bottomShiftLimit = 64
    private var bottomFilterCooldown = 0
    /// How often a bottom insert dropped the bottom's tombstones first (tests check the path is taken).
    private(set) var bottomFilters = 0

    public init(start: SimTime = .zero) {
        nowNs = start.nanosecondsSinceStart
        slotCapacity = 64
        slots = LargeAllocation.allocate(Slot.self, capacity: slotCapacity)
        freeSlots = LargeAllocation.allocate(Int32.self, capacity: slotCapacity)
        top = .allocate(capacity: 1)
        top.initialize(to: EntryList())
        bottom = .allocate(capacity: 1)
        bottom.initialize(to: EntryList())
        sortCounts = .allocate(capacity: 1 << Int(Self.countingSortMaxShift))
        rungs = .allocate(capacity: Self.maxDepth)
        rungs.initialize(repeating: Rung(), count: Self.maxDepth)
    }

    deinit {
        // Releasing actions may run arbitrary deinits (a Timer's among them);
        // they find no scheduler through their weak reference, so this is safe.
        slots.deinitialize(count: slotCount)
        LargeAllocation.deallocate(slots)
        LargeAllocation.deallocate(freeSlots)
        top.pointee.base.map(LargeAllocation.deallocate)
        bottom.pointee.base.map(LargeAllocation.deallocate)
        top.deallocate()
        bottom.deallocate()
        for d in 0..<Self.maxDepth {
            guard let b = rungs[d].buckets else { continue }
            for k in 0..<(1 << Self.maxBucketsLog2) { b[k].base.map(LargeAllocation.deallocate) }
            b.deallocate()
        }
        rungs.deallocate()
        sortCounts.deallocate()
        for list in spareBuffers { for b in list { LargeAllocation.deallocate(b) } }
    }

    /// Number of events waiting in the queue (armed timers included).
    public var pendingCount: Int { liveCount }

    /// Time of the earliest pending event, if any.
    public var nextEventTime: SimTime? {
        firstTime().map { SimTime(nanosecondsSinceStart: $0) }
    }

    // MARK: Scheduling

    /// Schedules `action` at `time`. A time in the past is clamped to `now`.
    @discardableResult
    public func schedule(at time: SimTime, _ action: @escaping () -> Void) -> EventHandle {
        enqueue(.closure(action), at: time.nanosecondsSinceStart)
    }

    @discardableResult
    public func schedule(after delay: SimDuration, _ action: @escaping () -> Void) -> EventHandle {
        enqueue(.closure(action), at: (now + delay).nanosecondsSinceStart)
    }

    /// Schedules `action.fire(in:)` at `time` (clamped to `now`). The scheduler
    /// holds `action` strongly until the event runs or is cancelled.
    @discardableResult
    public func schedule(at time: SimTime, action: any EventAction) -> EventHandle {
        enqueueObject(action, at: time.nanosecondsSinceStart)
    }

    @discardableResult
    public func schedule(after delay: SimDuration, action: any EventAction) -> EventHandle {
        enqueueObject(action, at: (now + delay).nanosecondsSinceStart)
    }

    /// An action that schedules itself again from its own `fire` (a traffic
    /// source's next packet, the hold model) does not copy its reference: the
    /// slot waits as `.adopted` and dispatch moves the reference it already
    /// holds in once `fire` returns. A copy costs an atomic retain now and an
    /// atomic release after `fire`, and each waits for every store in
    /// flight, cache misses included.
    @inline(__always)
    private func enqueueObject(_ action: any EventAction, at time: Int64) -> EventHandle {
        if adoptedSlot < 0, let f = firingObject, f == ObjectIdentifier(action) {
            let h = enqueue(.adopted, at: time)
            adoptedSlot = h.slot
            return h
        }
        return enqueue(.object(action), at: time)
    }

    @inline(__always)
    private func enqueue(_ action: Action, at time: Int64) -> EventHandle {
        let s = allocateSlot(action)
        let slot = slots + Int(s)
        slot.pointee.queued = true
        let g = slot.pointee.generation
        liveCount &+= 1
        push(Entry(time: max(time, nowNs), slot: s, generation: g))
        return EventHandle(slot: s, generation: g)
    }

    /// Removes a pending event. Returns false if it already ran or was cancelled.
    @discardableResult
    public func cancel(_ handle: EventHandle) -> Bool {
        let i = Int(handle.slot)
        guard i >= 0, i < slotCount, slots[i].generation == handle.generation,
              slots[i].queued else { return false }
        if slots[i].isTimer { return false }
        kill(handle.slot)
        releaseSlot(handle.slot)
        return true
    }

    /// Asks the running loop (`run`, `runUntilIdle` or a `RealTimeDriver`) to
    /// return after the current event. A loop clears the request when it
    /// starts, so calling this while nothing runs has no effect.
    public func stop() { stopFlag = true }

    // MARK: Running

    /// Runs events in time order until the queue is empty, `stop()` is called,
    /// or the next event lies after `end` (then `now` becomes `end`). Events
    /// at exactly `end` run. Must not be called from inside an event.
    @discardableResult
    public func run(until end: SimTime = .distantFuture) -> RunOutcome {
        run(until: end, polling: .max) { false }
    }

    /// `run(until:)` that also asks `shouldStop` every `interval` events and
    /// returns `.stopped` when it says so: a run whose slice of simulated time
    /// holds a billion events still answers Ctrl-C. Same events, same order.
    @discardableResult
    public func run(until end: SimTime, polling interval: Int, shouldStop: () -> Bool) -> RunOutcome {
        precondition(interval >= 1)
        stopFlag = false
        let endNs = end.nanosecondsSinceStart
        var countdown = interval
        while let first = firstTime() {
            if first > endNs {
                if endNs > nowNs { nowNs = endNs }
                return .reachedEndTime
            }
            runFirst()
            if stopFlag {
                stopFlag = false
                return .stopped
            }
            countdown -= 1
            if countdown == 0 {
                if shouldStop() { return .stopped }
                countdown = interval
            }
        }
        if end != .distantFuture, endNs > nowNs { nowNs = endNs }
        return .idle
    }

    /// Runs until no events are left or `stop()` is called.
    @discardableResult
    public func runUntilIdle() -> RunOutcome { run(until: .distantFuture) }

    /// Runs exactly the earliest event. Returns false when the queue is empty.
    /// The real-time driver uses this to interleave events with I/O.
    @discardableResult
    public func runNextEvent() -> Bool {
        guard firstTime() != nil else { return false }
        runFirst()
        return true
    }

    /// Moves the clock forward without running anything (the real-time driver
    /// uses it when I/O arrives before the next event). Never moves backwards
    /// and never past the next pending event.
    public func advanceClock(to time: SimTime) {
        var target = time.nanosecondsSinceStart
        if let next = firstTime(), next < target { target = next }
        if target > nowNs { nowNs = target }
    }

    /// Time of the earliest live event; drops tombstones from the front of the
    /// bottom and refills it from the rungs as needed.
    @inline(__always)
    private func firstTime() -> Int64? {
        while true {
            if bottomHead == Int(bottom.pointee.count) {
                if liveCount == 0 { return nil }
                refill()
                continue
            }
            let e = bottom.pointee.base.unsafelyUnwrapped[bottomHead]
            if tombstones == 0 || slots[Int(e.slot)].generation == e.generation { return e.time }
            bottomHead &+= 1
            tombstones &-= 1
        }
    }

    /// Runs the earliest event; the caller has made sure (`firstTime`) that it
    /// is live and at the bottom's head.
    @inline(__always)
    private func runFirst() {
        let e = bottom.pointee.base.unsafelyUnwrapped[bottomHead]
        bottomHead &+= 1
        nowNs = e.time
        executed &+= 1
        liveCount &-= 1
        let slot = slots + Int(e.slot)
        slot.pointee.queued = false
        slot.pointee.generation &+= 1
        let ap = Self.actionPointer(slot)
        if slot.pointee.isTimer {
            // A copy: the body may release its timer, and the slot with it.
            guard case .timer(let body) = ap.pointee else { preconditionFailure("timer slot without a body") }
            body()
            return
        }
        // Take the action out and free the slot before running it, so the
        // body may schedule into the same slot and its handle is already stale.
        let action = ap.move()
        ap.initialize(to: .empty)
        freeSlots[freeCount] = e.slot
        freeCount &+= 1
        // `consume`: the payload moves out, no retain/release pair around the call.
        switch consume action {
        case .object(let object):
            let savedObject = firingObject, savedSlot = adoptedSlot
            firingObject = ObjectIdentifier(object)
            adoptedSlot = -1
            object.fire(in: self)
            let adopted = adoptedSlot
            firingObject = savedObject
            adoptedSlot = savedSlot
            if adopted >= 0 {
                // The successor's slot (the table may have moved during `fire`).
                Self.actionPointer(slots + Int(adopted)).initialize(to: .object(consume object))
            }
        case .closure(let body): body()
        case .empty, .timer, .adopted: preconditionFailure("queued event without an action")
        }
    }

    /// The action field of a slot, for moving actions in and out without the
    /// copy-and-destroy an assignment costs.
    @inline(__always)
    private static func actionPointer(_ slot: UnsafeMutablePointer<Slot>) -> UnsafeMutablePointer<Action> {
        UnsafeMutableRawPointer(slot).assumingMemoryBound(to: Action.self)
    }

    // MARK: Timers

    /// Makes a re-armable timer. The timer keeps one live queue entry at most:
    /// re-arming queues a fresh entry and turns the old one into a tombstone.
    public func makeTimer(_ action: @escaping () -> Void) -> Timer {
        Timer(scheduler: self, slot: makeTimerSlot(action))
    }

    /// A timer as a plain value, for an owner that keeps many of them and
    /// holds this scheduler (a network's link directions): arming it touches
    /// no object and no weak reference, only the scheduler's slot. The owner
    /// must `release` it, at the latest in its own deinit.
    public func makeTimerSlot(_ action: @escaping () -> Void) -> TimerSlot {
        let s = allocateSlot(.timer(action))
        slots[Int(s)].isTimer = true
        return TimerSlot(slot: s)
    }

    /// Fires `timer`'s action at `time` (replacing any earlier arming); a time
    /// in the past is clamped to `now`.
    @inline(__always)
    public func arm(_ timer: TimerSlot, at time: SimTime) { armTimer(slot: timer.slot, at: time) }
    public func cancel(_ timer: TimerSlot) { disarmTimer(slot: timer.slot) }
    /// When `timer` will fire, or nil when it is not armed.
    public func deadline(of timer: TimerSlot) -> SimTime? { timerDeadline(slot: timer.slot) }
    /// Disarms `timer` and frees its slot; the value must not be used again.
    public func release(_ timer: TimerSlot) { releaseTimer(slot: timer.slot) }

    fileprivate func armTimer(slot s: Int32, at time: SimTime) {
        let t = max(time.nanosecondsSinceStart, nowNs)
        let slot = slots + Int(s)
        if slot.pointee.queued {
            // A fresh entry, not a moved one: it takes its place in line behind
            // events already scheduled for the same instant.
            slot.pointee.generation &+= 1
            tombstones &+= 1
        } else {
            slot.pointee.queued = true
            liveCount &+= 1
        }
        slot.pointee.time = t
        push(Entry(time: t, slot: s, generation: slot.pointee.generation))
        compactIfNeeded()
    }

    fileprivate func disarmTimer(slot: Int32) {
        if slots[Int(slot)].queued { kill(slot) }
    }

    fileprivate func timerDeadline(slot: Int32) -> SimTime? {
        let s = slots[Int(slot)]
        return s.queued ? SimTime(nanosecondsSinceStart: s.time) : nil
    }

    fileprivate func releaseTimer(slot: Int32) {
        disarmTimer(slot: slot)
        releaseSlot(slot)
    }

    // MARK: Slots

    @inline(__always)
    private func allocateSlot(_ action: Action) -> Int32 {
        if freeCount > 0 {
            freeCount &-= 1
            let s = freeSlots[freeCount]
            // Overwrites .empty, which holds nothing to release.
            Self.actionPointer(slots + Int(s)).initialize(to: action)
            return s
        }
        if slotCount == slotCapacity { growSlots() }
        let s = slotCount
        slotCount += 1
        (slots + s).initialize(to: Slot(action: action))
        return Int32(s)
    }

    /// Turns a queued slot's entry into a tombstone.
    private func kill(_ s: Int32) {
        slots[Int(s)].queued = false
        slots[Int(s)].generation &+= 1
        liveCount -= 1
        tombstones += 1
        compactIfNeeded()
    }

    /// Frees a slot that is no longer queued. The old action is released last,
    /// once the tables are consistent, because its deinit may call back in.
    private func releaseSlot(_ s: Int32) {
        let ap = Self.actionPointer(slots + Int(s))
        let old = ap.move()
        ap.initialize(to: .empty)
        slots[Int(s)].isTimer = false
        freeSlots[freeCount] = s
        freeCount += 1
        // Cancelled before dispatch handed its reference over: dispatch keeps it.
        if case .adopted = old { adoptedSlot = -1 }
        withExtendedLifetime(old) {}
    }

    private func growSlots() {
        let newCapacity = slotCapacity * 2
        slots = Self.grow(slots, count: slotCount, to: newCapacity)
        freeSlots = Self.grow(freeSlots, count: freeCount, to: newCapacity)
        slotCapacity = newCapacity
    }

    private static func grow<T>(_ old: UnsafeMutablePointer<T>, count: Int, to capacity: Int) -> UnsafeMutablePointer<T> {
        let new = LargeAllocation.allocate(T.self, capacity: capacity)
        new.moveInitialize(from: old, count: count)
        LargeAllocation.deallocate(old)
        return new
    }

    // MARK: Ladder

    /// Queues an entry: into the bottom if it falls in the bottom's range,
    /// else into the bucket of the coarsest rung whose unused buckets cover
    /// it, else onto `top`. Coarsest first: most events land far ahead of the
    /// fine rungs, and the coarse rung decides in one step.
    @inline(__always)
    private func push(_ e: Entry) {
        let t = e.time
        if t <= bottomLast {
            insertBottom(e)
            return
        }
        // t is after the bottom, so at or after the base of every rung; the
        // remaining ranges of the rungs nest: rung d + 1 is bucket
        // `current - 1` of rung d.
        var r = rungs
        let end = rungs + depth
        while r < end {
            let b = UInt64(bitPattern: t &- r.pointee.base) &>> r.pointee.shift
            if b >= UInt64(bitPattern: Int64(r.pointee.current)) {
                if b < UInt64(bitPattern: Int64(r.pointee.bucketCount)) {
                    append(e, to: r.pointee.buckets.unsafelyUnwrapped + Int(b))
                    return
                }
                break
            }
            r += 1
        }
        append(e, to: top)
    }

    @inline(__always)
    private func append(_ e: Entry, to list: UnsafeMutablePointer<EntryList>) {
        let c = list.pointee.count
        if c == list.pointee.capacity { grow(list) }
        let p = list.pointee.base.unsafelyUnwrapped
        p[Int(c)] = e
        list.pointee.count = c &+ 1
        // The line after the tail (four entries on): a bucket is appended to
        // once in a thousand events, too rarely for the hardware to see a
        // stream, and a store that misses stalls the store buffer.
        prefetchForWrite(p + Int(c) + 4)
    }

    /// Gives `list` a buffer of at least twice its capacity: the largest
    /// spare one (a bucket that has started to grow usually keeps growing),
    /// else a new one. The old buffer becomes a spare.
    private func grow(_ list: UnsafeMutablePointer<EntryList>) {
        let needed = max(16, Int(list.pointee.capacity) * 2)
        precondition(needed <= Int(Int32.max), "event list too long")
        var new: UnsafeMutablePointer<Entry>? = nil
        var capacity = needed
        var k = Int.bitWidth - 1 - (needed / 16).leadingZeroBitCount
        while k < spareBuffers.count {
            if let b = spareBuffers[k].popLast() {
                new = b
                capacity = Self.spareCapacity(k)
                break
            }
            k += 1
        }
        let buffer = new ?? LargeAllocation.allocate(Entry.self, capacity: capacity)
        if let old = list.pointee.base {
            buffer.moveInitialize(from: old, count: Int(list.pointee.count))
            keepSpare(old, capacity: Int(list.pointee.capacity))
        }
        list.pointee.base = buffer
        list.pointee.capacity = Int32(capacity)
    }

    /// List capacities are 16 << k; spare buffers are kept by k.
    private static func spareCapacity(_ k: Int) -> Int { 16 << k }

    private func keepSpare(_ buffer: UnsafeMutablePointer<Entry>, capacity: Int) {
        let k = Int.bitWidth - 1 - (capacity / 16).leadingZeroBitCount
        if k >= 0 && k < spareBuffers.count && Self.spareCapacity(k) == capacity {
            spareBuffers[k].append(buffer)
        } else {
            LargeAllocation.deallocate(buffer)
        }
    }

    /// Inserts into the sorted bottom after every entry with time <= e.time
    /// (FIFO among equals). Usually an append; the bottom is one small bucket.
    private func insertBottom(_ e: Entry) {
        let list = bottom
        var n = Int(list.pointee.count)
        if bottomHead == n {
            list.pointee.count = 0
            bottomHead = 0
            n = 0
        } else if n == Int(list.pointee.capacity) && bottomHead > 0 {
            let p = list.pointee.base.unsafelyUnwrapped
            p.moveInitialize(from: p + bottomHead, count: n - bottomHead)
            n -= bottomHead
            bottomHead = 0
            list.pointee.count = Int32(n)
        }
        if n == Int(list.pointee.capacity) { grow(list) }
        let p = list.pointee.base.unsafelyUnwrapped
        var lo = bottomHead
        if n > bottomHead && p[n - 1].time > e.time {
            lo = bottomInsertionPoint(e.time, count: n)
            if n - lo > Self.bottomShiftLimit && tombstones > 0 && bottomFilterCooldown == 0 {
                // A timer re-armed on every packet leaves a tombstone in the
                // bottom each time; an early insert would shift all of them.
                let removed = filter(bottom, from: bottomHead)
                tombstones &-= removed
                bottomFilters &+= 1
                bottomFilterCooldown = removed * 2 < n - bottomHead ? Self.bottomShiftLimit : 0
                n = Int(list.pointee.count)
                lo = bottomInsertionPoint(e.time, count: n)
            } else if bottomFilterCooldown > 0 {
                bottomFilterCooldown &-= 1
            }
            (p + lo + 1).moveInitialize(from: p + lo, count: n - lo)
        } else {
            lo = n
        }
        p[lo] = e
        list.pointee.count = Int32(n + 1)
    }

    /// Where an entry at `time` goes in the bottom: after every entry with time <= it.
    @inline(__always)
    private func bottomInsertionPoint(_ time: Int64, count n: Int) -> Int {
        let p = bottom.pointee.base.unsafelyUnwrapped
        var lo = bottomHead, hi = n
        while lo < hi {
            let mid = (lo + hi) >> 1
            if p[mid].time <= time { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Called with an empty bottom and something queued: moves the next
    /// non-empty bucket (spreading `top` or over-full buckets into finer
    /// rungs on the way) into the bottom and sorts it.
    private func refill() {
        bottom.pointee.count = 0
        bottomHead = 0
        while true {
            if depth == 0 {
                let n = Int(top.pointee.count)
                if n == 0 { return }
                if n <= Self.leafMax {
                    takeBucket(top)
                    sortBottom()
                    bottomLast = max(bottomLast, bottom.pointee.base.unsafelyUnwrapped[n - 1].time)
                    return
                }
                spreadTop(count: n)
                continue
            }
            let r = rungs + (depth - 1)
            let buckets = r.pointee.buckets.unsafelyUnwrapped
            let nb = r.pointee.bucketCount
            var b = r.pointee.current
            while b < nb && buckets[b].count == 0 { b += 1 }
            if b == nb {
                r.pointee.current = nb
                depth -= 1
                continue
            }
            r.pointee.current = b + 1
            let shift = r.pointee.shift
            // The bucket holds an entry, so its start is a representable time.
            let start = r.pointee.base &+ Int64(bitPattern: UInt64(b) &<< shift)
            let n = Int(buckets[b].count)
            if n > Self.leafMax && shift > 0 {
                spawnRung(from: buckets + b, count: n, start: start, parentShift: shift)
                continue
            }
            if shift > 0 && shift <= Self.countingSortMaxShift {
                countingSortIntoBottom(buckets + b, start: start, shift: shift)
            } else {
                takeBucket(buckets + b)
                // Width 1: all times equal, and the list is already in FIFO order.
                if shift > 0 { sortBottom() }
            }
            // The next bucket's slots too, so they arrive while this one runs.
            if b + 1 < nb { prefetchSlots(of: buckets + b + 1) }
            let lastOffset = (UInt64(1) &<< shift) &- 1
            bottomLast = lastOffset > UInt64(bitPattern: Int64.max &- start) ? Int64.max : start &+ Int64(bitPattern: lastOffset)
            return
        }
    }

    /// Copies `list` into the (empty) bottom. Copying, not swapping buffers:
    /// a swap would hand a small buffer to a bucket that needs a large one
    /// next epoch, and regrowing it costs more than this small copy.
    @inline(__always)
    private func takeBucket(_ list: UnsafeMutablePointer<EntryList>) {
        let n = list.pointee.count
        while bottom.pointee.capacity < n { grow(bottom) }
        bottom.pointee.base.unsafelyUnwrapped.update(from: list.pointee.base.unsafelyUnwrapped, count: Int(n))
        bottom.pointee.count = n
        list.pointee.count = 0
        bottomHead = 0
        prefetchSlots(of: bottom)
    }

    /// Prefetches the slot of every entry in `list`: dispatch reads each
    /// event's slot, and slots are scattered over the table, so without this
    /// every event would wait for one cache miss.
    @inline(__always)
    private func prefetchSlots(of list: UnsafeMutablePointer<EntryList>) {
        guard let p = list.pointee.base else { return }
        for k in 0..<Int(list.pointee.count) { prefetch(slots + Int(p[k].slot)) }
    }

    /// A leaf this narrow (2^shift ns) is sorted by counting: its times take
    /// so few values that one pass to count and one to place them beat an
    /// insertion sort, which mispredicts about once per entry.
    private static let countingSortMaxShift: UInt64 = 6

    /// Copies `list`, whose times lie in [start, start + 2^shift), into the
    /// (empty) bottom sorted by time, stably: a counting sort on the offset.
    private func countingSortIntoBottom(_ list: UnsafeMutablePointer<EntryList>, start: Int64, shift: UInt64) {
        let n = Int(list.pointee.count)
        while Int(bottom.pointee.capacity) < n { grow(bottom) }
        let src = list.pointee.base.unsafelyUnwrapped
        let dst = bottom.pointee.base.unsafelyUnwrapped
        let width = 1 << Int(shift)
        let position = sortCounts
        position.update(repeating: 0, count: width)
        for k in 0..<n {
            let offset = UInt64(bitPattern: src[k].time &- start)
            assert(offset < UInt64(width), "entry outside its bucket")
            position[Int(truncatingIfNeeded: offset)] &+= 1
        }
        var sum: Int32 = 0
        for v in 0..<width {
            let c = position[v]
            position[v] = sum
            sum &+= c
        }
        for k in 0..<n {
            let e = src[k]
            let v = Int(truncatingIfNeeded: e.time &- start)
            dst[Int(position[v])] = e
            position[v] &+= 1
        }
        bottom.pointee.count = Int32(n)
        list.pointee.count = 0
        bottomHead = 0
        prefetchSlots(of: bottom)
    }

    /// Stable insertion sort by time: the bottom holds one small bucket.
    private func sortBottom() {
        let p = bottom.pointee.base.unsafelyUnwrapped
        let n = Int(bottom.pointee.count)
        var i = 1
        while i < n {
            let x = p[i]
            var j = i
            while j > 0 && p[j - 1].time > x.time {
                p[j] = p[j - 1]
                j -= 1
            }
            p[j] = x
            i += 1
        }
    }

    /// Buckets for a new rung at `depth` (headers allocated once per depth).
    private func rungBuckets(at d: Int) -> UnsafeMutablePointer<EntryList> {
        if let b = rungs[d].buckets { return b }
        let b = UnsafeMutablePointer<EntryList>.allocate(capacity: 1 << Self.maxBucketsLog2)
        b.initialize(repeating: EntryList(), count: 1 << Self.maxBucketsLog2)
        rungs[d].buckets = b
        return b
    }

    /// log2 of the bucket count for `n` entries: about `leafTarget` per bucket.
    @inline(__always)
    private static func bucketBits(for n: Int, cap: Int) -> Int {
        let want = max(1, n / leafTarget)
        return min(cap, Int.bitWidth - (want - 1).leadingZeroBitCount)
    }

    /// Spreads `top` over a new rung 0 that spans exactly its time range.
    private func spreadTop(count n: Int) {
        let p = top.pointee.base.unsafelyUnwrapped
        var lo = Int64.max, hi = Int64.min
        for k in 0..<n {
            lo = min(lo, p[k].time)
            hi = max(hi, p[k].time)
        }
        let span = UInt64(bitPattern: hi &- lo)
        let bits = Self.bucketBits(for: n, cap: Self.maxBucketsLog2)
        // Smallest shift that puts `hi` into bucket 2^bits - 1 or earlier.
        let shift = UInt64(max(0, (UInt64.bitWidth - span.leadingZeroBitCount) - bits))
        let buckets = rungBuckets(at: 0)
        rungs[0].base = lo
        rungs[0].shift = shift
        rungs[0].bucketCount = Int(span &>> shift) + 1
        rungs[0].current = 0
        for k in 0..<n {
            let b = UInt64(bitPattern: p[k].time &- lo) &>> shift
            append(p[k], to: buckets + Int(b))
        }
        top.pointee.count = 0
        depth = 1
    }

    /// Spreads an over-full bucket over a finer child rung covering exactly its range.
    private func spawnRung(from list: UnsafeMutablePointer<EntryList>, count n: Int, start: Int64, parentShift: UInt64) {
        let bits = min(UInt64(Self.bucketBits(for: n, cap: Self.maxBucketsLog2)), parentShift)
        let shift = parentShift - bits
        let d = depth
        let buckets = rungBuckets(at: d)
        rungs[d].base = start
        rungs[d].shift = shift
        rungs[d].bucketCount = 1 << Int(bits)
        rungs[d].current = 0
        let p = list.pointee.base.unsafelyUnwrapped
        for k in 0..<n {
            let b = UInt64(bitPattern: p[k].time &- start) &>> shift
            append(p[k], to: buckets + Int(b))
        }
        list.pointee.count = 0
        // A large buffer goes to the spares: this bucket gets nothing more
        // until its rung is rebuilt, while buckets ahead are filling up.
        if list.pointee.capacity >= Self.spareThreshold, let b = list.pointee.base {
            keepSpare(b, capacity: Int(list.pointee.capacity))
            list.pointee.base = nil
            list.pointee.capacity = 0
        }
        depth = d + 1
    }

    /// Drops tombstones once they outnumber live entries (and a floor, so
    /// small queues do not compact all the time): the cost of each pass is
    /// covered by the cancels and re-arms that made the garbage.
    @inline(__always)
    private func compactIfNeeded() {
        if tombstones > 1024 && tombstones > liveCount { compact() }
    }

    private func compact() {
        filter(bottom, from: bottomHead)
        filter(top, from: 0)
        for d in 0..<depth {
            let r = rungs[d]
            for b in r.current..<r.bucketCount { filter(r.buckets.unsafelyUnwrapped + b, from: 0) }
        }
        tombstones = 0
    }

    /// Removes dead entries from `list[from...]`, keeping the order; returns how many.
    @discardableResult
    private func filter(_ list: UnsafeMutablePointer<EntryList>, from start: Int) -> Int {
        let n = Int(list.pointee.count)
        guard n > start, let p = list.pointee.base else { return 0 }
        var w = start
        for k in start..<n where slots[Int(p[k].slot)].generation == p[k].generation {
            p[w] = p[k]
            w += 1
        }
        list.pointee.count = Int32(w)
        return n - w
    }
}

/// A re-armable one-shot timer (QUIC's loss and idle timers). At most one queue
/// entry exists per timer whatever the number of re-arms. The timer does not
/// keep its scheduler alive; once the scheduler is gone, arming does nothing.
public final class Timer {
    // Weak, not unowned: a scheduler's deinit releases the actions, which may
    // release the owner of this timer and so run this deinit mid-teardown.
    private weak var scheduler: Scheduler?
    private let slot: TimerSlot

    fileprivate init(scheduler: Scheduler, slot: TimerSlot) {
        self.scheduler = scheduler
        self.slot = slot
    }

    deinit { scheduler?.release(slot) }

    /// Fires the timer's action at `time` (replacing any earlier arming).
    /// A time in the past is clamped to `now`.
    public func arm(at time: SimTime) { scheduler?.arm(slot, at: time) }
    public func arm(after delay: SimDuration) {
        guard let s = scheduler else { return }
        s.arm(slot, at: s.now + delay)
    }
    public func cancel() { scheduler?.cancel(slot) }
    /// When the timer will fire, or nil when it is not armed.
    public var deadline: SimTime? { scheduler?.deadline(of: slot) }
    public var isArmed: Bool { deadline != nil }
}

/// A timer's place in its scheduler (`Scheduler.makeTimerSlot`): what a
/// `Timer` holds, without the object.
public struct TimerSlot: Sendable {
    fileprivate let slot: Int32
}

/// `Timer` clashes with Foundation's `Timer` in any file that imports both
/// modules; this name does not.
public typealias SimTimer = Timer
