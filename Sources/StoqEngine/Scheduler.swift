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
/// Events at the same instant run in the order they were scheduled (a sequence
/// number breaks ties). Cancelling removes the event from the queue at once, so
/// timers that are re-armed on every packet never pile up.
///
/// The queue has two tiers (a one-rung ladder queue). Events before
/// `nearLimit` sit in a small 4-ary heap; later ones are appended unsorted to
/// time buckets of a ring (or to an overflow list beyond the ring) and enter
/// the heap one bucket at a time. With 10^6 pending events the heap then stays
/// cache-sized instead of ten levels deep. Small queues never leave the heap.
/// Every entry keeps a back-pointer, so cancel and re-arm are O(1) anywhere.
///
/// Not thread-safe: one scheduler belongs to one thread.
public final class Scheduler {
    /// One queue entry: 16 bytes, so the four children of a node in the 4-ary
    /// heap share one 64-byte cache line. The tie-breaking sequence number lives
    /// in the slot because it is only read when two times are equal.
    @usableFromInline
    struct Entry {
        var time: Int64
        var slot: Int32
        var unused: Int32 = 0
    }

    /// A growable, unordered array of entries: one ring bucket or the overflow.
    struct EntryList {
        var base: UnsafeMutablePointer<Entry>? = nil
        var count = 0
        var capacity = 0
    }

    @usableFromInline
    enum Action {
        case empty
        case closure(() -> Void)
        case object(any EventAction)
        /// Timer slots stay allocated while the `Timer` lives.
        case timer(() -> Void)
    }

    public private(set) var now: SimTime
    /// Events executed since creation.
    public private(set) var eventsExecuted: UInt64 = 0

    // The heap and the slot table are raw buffers rather than Arrays: the hot
    // loops then pay neither bounds checks nor uniqueness checks per access.
    private var heapBase: UnsafeMutableRawPointer
    private var heap: UnsafeMutablePointer<Entry>
    private var heapCount = 0
    private var heapCapacity: Int

    /// Everything about one event or timer, kept together: the hold model
    /// touches a cold slot once per event, so one cache miss instead of five.
    struct Slot {
        var action: Action
        var sequence: UInt64 = 0
        /// Position in the heap or in the entry list named by `tier`; -1: not queued.
        var position: Int32 = -1
        /// `heapTier`, or an index into `lists` (`overflowTier` or bucket + 1).
        var tier: Int32 = Scheduler.heapTier
        var generation: UInt32 = 0
    }

    private var slots: UnsafeMutablePointer<Slot>            // initialized below slotCount
    private var freeSlots: UnsafeMutablePointer<Int32>
    private var slotCount = 0
    private var freeCount = 0
    private var slotCapacity: Int

    // Far tier. Invariant: every heap entry is earlier than `nearLimit`, and
    // every far entry is at or after it, so the heap minimum is the global one.
    private static let heapTier: Int32 = -1, overflowTier: Int32 = 0
    /// The heap spills into the far tier once it holds this many entries.
    private static let spillThreshold = 4096
    /// Average entries per bucket aimed at when the ring is (re)built.
    private static let bucketTarget = 32
    private var farEnabled = false
    private var nearLimit = Int64.max
    /// lists[0] is the overflow, lists[1 + b] ring bucket b. One buffer, reached
    /// through a pointer, so appends need no dynamic exclusivity checks.
    private var lists: UnsafeMutablePointer<EntryList>
    private var ringCount = 0
    private var currentBucket = 0           // buckets before it are consumed
    private var ringBase: Int64 = 0
    private var bucketWidth: UInt64 = 1
    private var farCount = 0
    private var farCountAtRebuild = 0

    private var nextSequence: UInt64 = 0
    /// Set by `stop()`; read by `run` and by `RealTimeDriver`.
    var stopRequested = false

    public init(start: SimTime = .zero) {
        now = start
        heapCapacity = 64
        (heapBase, heap) = Self.allocateHeap(capacity: heapCapacity)
        slotCapacity = 64
        slots = .allocate(capacity: slotCapacity)
        freeSlots = .allocate(capacity: slotCapacity)
        lists = .allocate(capacity: 1)
        lists.initialize(to: EntryList())
    }

    deinit {
        // Releasing actions may run arbitrary deinits (a Timer's among them);
        // they find no scheduler through their weak reference, so this is safe.
        heapCount = 0
        slots.deinitialize(count: slotCount)
        slots.deallocate()
        freeSlots.deallocate()
        heapBase.deallocate()
        for l in 0...ringCount { lists[l].base?.deallocate() }
        lists.deallocate()
    }

    /// Number of events waiting in the queue (armed timers included).
    public var pendingCount: Int { heapCount + farCount }

    /// Time of the earliest pending event, if any.
    public var nextEventTime: SimTime? {
        firstTime().map { SimTime(nanosecondsSinceStart: $0) }
    }

    // MARK: Scheduling

    /// Schedules `action` at `time`. A time in the past is clamped to `now`.
    @discardableResult
    public func schedule(at time: SimTime, _ action: @escaping () -> Void) -> EventHandle {
        enqueue(.closure(action), at: time)
    }

    @discardableResult
    public func schedule(after delay: SimDuration, _ action: @escaping () -> Void) -> EventHandle {
        enqueue(.closure(action), at: now + delay)
    }

    /// Schedules `action.fire(in:)` at `time` (clamped to `now`). The scheduler
    /// holds `action` strongly until the event runs or is cancelled.
    @discardableResult
    public func schedule(at time: SimTime, action: any EventAction) -> EventHandle {
        enqueue(.object(action), at: time)
    }

    @discardableResult
    public func schedule(after delay: SimDuration, action: any EventAction) -> EventHandle {
        enqueue(.object(action), at: now + delay)
    }

    @inline(__always)
    private func enqueue(_ action: Action, at time: SimTime) -> EventHandle {
        let slot = allocateSlot(action)
        insert(slot: slot, time: max(time, now).nanosecondsSinceStart)
        return EventHandle(slot: slot, generation: slots[Int(slot)].generation)
    }

    /// Removes a pending event. Returns false if it already ran or was cancelled.
    @discardableResult
    public func cancel(_ handle: EventHandle) -> Bool {
        let i = Int(handle.slot)
        guard i >= 0, i < slotCount, slots[i].generation == handle.generation,
              slots[i].position >= 0 else { return false }
        if case .timer = slots[i].action { return false }
        unqueue(handle.slot)
        releaseSlot(handle.slot)
        return true
    }

    /// Asks the running loop (`run`, `runUntilIdle` or a `RealTimeDriver`) to
    /// return after the current event. A loop clears the request when it
    /// starts, so calling this while nothing runs has no effect.
    public func stop() { stopRequested = true }

    // MARK: Running

    /// Runs events in time order until the queue is empty, `stop()` is called,
    /// or the next event lies after `end` (then `now` becomes `end`). Events
    /// at exactly `end` run. Must not be called from inside an event.
    @discardableResult
    public func run(until end: SimTime = .distantFuture) -> RunOutcome {
        stopRequested = false
        let endNs = end.nanosecondsSinceStart
        while let first = firstTime() {
            if first > endNs {
                if end > now { now = end }
                return .reachedEndTime
            }
            runFirst()
            if stopRequested {
                stopRequested = false
                return .stopped
            }
        }
        if end != .distantFuture, end > now { now = end }
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
        var target = time
        if let next = nextEventTime, next < target { target = next }
        if target > now { now = target }
    }

    /// Time of the earliest event, refilling the heap from the far tier first.
    @inline(__always)
    private func firstTime() -> Int64? {
        if heapCount == 0 {
            if farCount == 0 { return nil }
            refill()
        }
        return heap[0].time
    }

    /// Runs the earliest event; the caller has made sure (`firstTime`) that it is in the heap.
    @inline(__always)
    private func runFirst() {
        let first = heap[0]
        now = SimTime(nanosecondsSinceStart: first.time)
        removeRoot()
        eventsExecuted &+= 1
        let s = Int(first.slot)
        switch slots[s].action {
        case .timer(let body):
            body()
        case .closure, .object:
            // Take the action out and free the slot before running it, so the
            // body may schedule into the same slot and its handle is already stale.
            var action = Action.empty
            swap(&action, &slots[s].action)
            retireSlot(first.slot)
            switch action {
            case .closure(let body): body()
            case .object(let object): object.fire(in: self)
            case .empty, .timer: break
            }
        case .empty:
            preconditionFailure("queued event without an action")
        }
    }

    // MARK: Timers

    /// Makes a re-armable timer. The timer keeps one queue entry at most:
    /// re-arming moves it, cancelling removes it.
    public func makeTimer(_ action: @escaping () -> Void) -> Timer {
        Timer(scheduler: self, slot: allocateSlot(.timer(action)))
    }

    fileprivate func armTimer(slot: Int32, at time: SimTime) {
        let t = max(time, now).nanosecondsSinceStart
        let hi = Int(slots[Int(slot)].position)
        if hi < 0 {
            insert(slot: slot, time: t)
            return
        }
        if slots[Int(slot)].tier != Self.heapTier || (farEnabled && t >= nearLimit) {
            // Changes tier (or bucket): take it out and queue it afresh.
            unqueue(slot)
            insert(slot: slot, time: t)
            return
        }
        // Re-arm in place: a fresh sequence number keeps FIFO order among
        // events scheduled for the same instant, and no second entry appears.
        let old = heap[hi].time
        heap[hi].time = t
        slots[Int(slot)].sequence = nextSequence
        nextSequence &+= 1
        if t < old { siftUp(hi) } else { siftDown(hi) }
    }

    fileprivate func disarmTimer(slot: Int32) {
        if slots[Int(slot)].position >= 0 { unqueue(slot) }
    }

    fileprivate func timerDeadline(slot: Int32) -> SimTime? {
        let hi = Int(slots[Int(slot)].position)
        if hi < 0 { return nil }
        let tier = slots[Int(slot)].tier
        let t = tier == Self.heapTier ? heap[hi].time : lists[Int(tier)].base![hi].time
        return SimTime(nanosecondsSinceStart: t)
    }

    fileprivate func releaseTimer(slot: Int32) {
        disarmTimer(slot: slot)
        releaseSlot(slot)
    }

    // MARK: Slots

    @inline(__always)
    private func allocateSlot(_ action: Action) -> Int32 {
        if freeCount > 0 {
            freeCount -= 1
            let s = freeSlots[freeCount]
            slots[Int(s)].action = action   // replaces .empty: releases nothing
            return s
        }
        if slotCount == slotCapacity { growSlots() }
        let s = slotCount
        slotCount += 1
        (slots + s).initialize(to: Slot(action: action))
        return Int32(s)
    }

    /// Frees a slot that is no longer queued. The old action is released last,
    /// once the tables are consistent, because its deinit may call back in.
    private func releaseSlot(_ s: Int32) {
        var old = Action.empty
        swap(&old, &slots[Int(s)].action)
        retireSlot(s)
        _ = old
    }

    /// Bookkeeping half of `releaseSlot` for a slot whose action is already `.empty`.
    @inline(__always)
    private func retireSlot(_ s: Int32) {
        let i = Int(s)
        slots[i].position = -1
        slots[i].generation &+= 1
        freeSlots[freeCount] = s
        freeCount += 1
    }

    private func growSlots() {
        let newCapacity = slotCapacity * 2
        slots = Self.grow(slots, count: slotCount, to: newCapacity)
        freeSlots = Self.grow(freeSlots, count: freeCount, to: newCapacity)
        slotCapacity = newCapacity
    }

    private static func grow<T>(_ old: UnsafeMutablePointer<T>, count: Int, to capacity: Int) -> UnsafeMutablePointer<T> {
        let new = UnsafeMutablePointer<T>.allocate(capacity: capacity)
        new.moveInitialize(from: old, count: count)
        old.deallocate()
        return new
    }

    // MARK: Far tier

    @inline(__always)
    private func appendFar(_ e: Entry, tier: Int32) {
        let list = lists + Int(tier)
        if list.pointee.count == list.pointee.capacity { grow(list) }
        let pos = list.pointee.count
        list.pointee.base![pos] = e
        list.pointee.count = pos + 1
        slots[Int(e.slot)].tier = tier
        slots[Int(e.slot)].position = Int32(truncatingIfNeeded: pos)
        farCount += 1
    }

    private func grow(_ list: UnsafeMutablePointer<EntryList>) {
        let capacity = max(16, list.pointee.capacity * 2)
        list.pointee.base = Self.grow(list.pointee.base ?? .allocate(capacity: 0), count: list.pointee.count, to: capacity)
        list.pointee.capacity = capacity
    }

    /// The ring bucket for a time at or after `nearLimit`, or the overflow when
    /// the time lies beyond the ring. (A consumed bucket can only come out when
    /// `nearLimit` saturated at Int64.max; the overflow keeps FIFO order then.)
    @inline(__always)
    private func farTier(for time: Int64) -> Int32 {
        // time >= nearLimit >= ringBase, so the difference fits in UInt64.
        let b = UInt64(bitPattern: time &- ringBase) / bucketWidth
        return b < UInt64(ringCount) && b >= UInt64(currentBucket) ? Int32(truncatingIfNeeded: b + 1) : Self.overflowTier
    }

    /// First time of bucket `k`, saturating at Int64.max.
    private func bucketStart(_ k: Int) -> Int64 {
        let off = UInt64(k).multipliedReportingOverflow(by: bucketWidth)
        let room = UInt64(bitPattern: Int64.max &- ringBase)
        return off.overflow || off.partialValue > room ? Int64.max : ringBase &+ Int64(bitPattern: off.partialValue)
    }

    /// The heap grew large: move everything to the far tier and build a ring.
    private func spill() {
        farEnabled = true
        for i in 0..<heapCount { appendFar(heap[i], tier: Self.overflowTier) }
        heapCount = 0
        rebuildRing()
    }

    /// Called with an empty heap: moves the next non-empty bucket into it,
    /// rebuilding the ring from the overflow when the ring is used up.
    private func refill() {
        while heapCount == 0 && farCount > 0 {
            if currentBucket == ringCount {
                rebuildRing()
                continue
            }
            let b = currentBucket
            currentBucket += 1
            let previousLimit = nearLimit
            nearLimit = bucketStart(currentBucket)
            let bucket = lists + 1 + b
            let n = bucket.pointee.count
            if n == 0 { continue }
            // A bucket far denser than planned (the ring was sized for fewer
            // events): re-level everything once the far tier has doubled.
            if n > 8 * Self.bucketTarget && bucketWidth > 1 && farCount > 2 * farCountAtRebuild {
                currentBucket = b
                nearLimit = previousLimit
                relevel()
                continue
            }
            bucket.pointee.count = 0
            farCount -= n
            let entries = bucket.pointee.base!
            for k in 0..<n { pushHeap(entries[k]) }
        }
    }

    /// Moves every far entry to the overflow and rebuilds the ring from it.
    private func relevel() {
        for b in currentBucket..<ringCount {
            let list = lists[1 + b]
            farCount -= list.count
            for k in 0..<list.count { appendFar(list.base![k], tier: Self.overflowTier) }
            lists[1 + b].count = 0
        }
        rebuildRing()
    }

    /// Spreads the overflow over a fresh ring sized to it: about
    /// `bucketTarget` entries per bucket, spanning earliest to latest time.
    private func rebuildRing() {
        let n = lists[0].count
        guard n > 0 else { return }
        var lo = Int64.max, hi = Int64.min
        for k in 0..<n { lo = min(lo, lists[0].base![k].time); hi = max(hi, lists[0].base![k].time) }
        let buckets = max(1, min(n / Self.bucketTarget, 1 << 20))
        if buckets != ringCount {
            let old = lists
            for l in 1..<(1 + ringCount) { old[l].base?.deallocate() }
            lists = .allocate(capacity: 1 + buckets)
            lists.initialize(to: old[0])
            (lists + 1).initialize(repeating: EntryList(), count: buckets)
            old.deallocate()
            ringCount = buckets
        }
        let entries = lists[0].base!
        ringBase = lo
        // Wide enough that `hi` falls into the last bucket: every entry fits.
        bucketWidth = max(1, UInt64(bitPattern: hi &- lo) / UInt64(buckets) &+ 1)
        currentBucket = 0
        nearLimit = lo
        lists[0].count = 0
        farCount -= n
        // Re-reads the overflow's storage while appending: nothing goes back
        // to the overflow, and the ring lists have their own storage.
        for k in 0..<n { appendFar(entries[k], tier: farTier(for: entries[k].time)) }
        farCountAtRebuild = farCount
    }

    // MARK: 4-ary heap ordered by (time, sequence)

    /// Logical index 0 is the root; children of i are 4i+1 ... 4i+4. The buffer
    /// is offset by three entries so that every group of siblings starts on a
    /// 64-byte boundary.
    private static func allocateHeap(capacity: Int) -> (UnsafeMutableRawPointer, UnsafeMutablePointer<Entry>) {
        let base = UnsafeMutableRawPointer.allocate(byteCount: (capacity + 3) * MemoryLayout<Entry>.stride,
                                                    alignment: 64)
        let heap = (base + 3 * MemoryLayout<Entry>.stride).bindMemory(to: Entry.self, capacity: capacity)
        return (base, heap)
    }

    private func growHeap() {
        let newCapacity = heapCapacity * 2
        let (base, new) = Self.allocateHeap(capacity: newCapacity)
        new.moveInitialize(from: heap, count: heapCount)
        heapBase.deallocate()
        heapBase = base
        heap = new
        heapCapacity = newCapacity
    }

    @inline(__always)
    private func before(_ a: Entry, _ b: Entry) -> Bool {
        a.time < b.time || (a.time == b.time && slots[Int(a.slot)].sequence < slots[Int(b.slot)].sequence)
    }

    @inline(__always)
    private func place(_ e: Entry, at i: Int) {
        heap[i] = e
        slots[Int(e.slot)].position = Int32(truncatingIfNeeded: i)
    }

    /// Queues a slot with a fresh sequence number in whichever tier `time` belongs to.
    @inline(__always)
    private func insert(slot: Int32, time: Int64) {
        slots[Int(slot)].sequence = nextSequence
        nextSequence &+= 1
        let e = Entry(time: time, slot: slot)
        if !farEnabled || time < nearLimit {
            pushHeap(e)
            if !farEnabled && heapCount >= Self.spillThreshold { spill() }
        } else {
            appendFar(e, tier: farTier(for: time))
        }
    }

    @inline(__always)
    private func pushHeap(_ e: Entry) {
        if heapCount == heapCapacity { growHeap() }
        let i = heapCount
        heapCount += 1
        heap[i] = e
        slots[Int(e.slot)].tier = Self.heapTier
        siftUp(i)
    }

    /// Takes a queued slot's entry out of whichever tier holds it.
    private func unqueue(_ slot: Int32) {
        let pos = Int(slots[Int(slot)].position)
        let tier = slots[Int(slot)].tier
        if tier == Self.heapTier {
            remove(at: pos)
            return
        }
        slots[Int(slot)].position = -1
        farCount -= 1
        // Unordered list: fill the gap with the last entry.
        let list = lists + Int(tier)
        let last = list.pointee.count - 1
        list.pointee.count = last
        if pos < last {
            let moved = list.pointee.base![last]
            list.pointee.base![pos] = moved
            slots[Int(moved.slot)].position = Int32(truncatingIfNeeded: pos)
        }
    }

    private func remove(at i: Int) {
        slots[Int(heap[i].slot)].position = -1
        heapCount -= 1
        guard i < heapCount else { return }
        let last = heap[heapCount]
        heap[i] = last
        if i > 0 && before(last, heap[(i - 1) >> 2]) { siftUp(i) } else { siftDown(i) }
    }

    /// Pop without comparing the refill element on the way down (Floyd's
    /// bottom-up trick): the last entry almost always belongs near the leaves,
    /// so walk the hole down along minimal children, then sift the last entry
    /// up from there. Saves a compare and a mispredicted branch per level.
    private func removeRoot() {
        slots[Int(heap[0].slot)].position = -1
        heapCount -= 1
        let n = heapCount
        guard n > 0 else { return }
        let last = heap[n]
        var hole = 0
        while true {
            let c = 4 &* hole &+ 1
            if c >= n { break }
            let (m, me) = minChild(first: c, count: n)
            place(me, at: hole)
            hole = m
        }
        heap[hole] = last
        siftUp(hole)
    }

    /// The smallest of the children starting at `c` (at most four, all below `n`).
    @inline(__always)
    private func minChild(first c: Int, count n: Int) -> (Int, Entry) {
        var m = c
        var me = heap[c]
        if c &+ 3 < n {
            // Full group: fixed compare tree, no loop bookkeeping.
            let e1 = heap[c &+ 1], e2 = heap[c &+ 2], e3 = heap[c &+ 3]
            var m2 = c &+ 2
            var me2 = e2
            if before(e1, me) { m = c &+ 1; me = e1 }
            if before(e3, me2) { m2 = c &+ 3; me2 = e3 }
            if before(me2, me) { m = m2; me = me2 }
        } else {
            var k = c &+ 1
            while k < n {
                let ek = heap[k]
                if before(ek, me) { m = k; me = ek }
                k &+= 1
            }
        }
        return (m, me)
    }

    private func siftUp(_ start: Int) {
        var i = start
        let e = heap[i]
        while i > 0 {
            let p = (i - 1) >> 2
            let pe = heap[p]
            guard before(e, pe) else { break }
            place(pe, at: i)
            i = p
        }
        place(e, at: i)
    }

    private func siftDown(_ start: Int) {
        var i = start
        let e = heap[i]
        let n = heapCount
        while true {
            let c = 4 &* i &+ 1
            if c >= n { break }
            let (m, me) = minChild(first: c, count: n)
            guard before(me, e) else { break }
            place(me, at: i)
            i = m
        }
        place(e, at: i)
    }
}

/// A re-armable one-shot timer (QUIC's loss and idle timers). At most one queue
/// entry exists per timer whatever the number of re-arms. The timer does not
/// keep its scheduler alive; once the scheduler is gone, arming does nothing.
public final class Timer {
    // Weak, not unowned: a scheduler's deinit releases the actions, which may
    // release the owner of this timer and so run this deinit mid-teardown.
    private weak var scheduler: Scheduler?
    private let slot: Int32

    fileprivate init(scheduler: Scheduler, slot: Int32) {
        self.scheduler = scheduler
        self.slot = slot
    }

    deinit { scheduler?.releaseTimer(slot: slot) }

    /// Fires the timer's action at `time` (replacing any earlier arming).
    /// A time in the past is clamped to `now`.
    public func arm(at time: SimTime) { scheduler?.armTimer(slot: slot, at: time) }
    public func arm(after delay: SimDuration) {
        guard let s = scheduler else { return }
        s.armTimer(slot: slot, at: s.now + delay)
    }
    public func cancel() { scheduler?.disarmTimer(slot: slot) }
    /// When the timer will fire, or nil when it is not armed.
    public var deadline: SimTime? { scheduler?.timerDeadline(slot: slot) }
    public var isArmed: Bool { deadline != nil }
}

/// `Timer` clashes with Foundation's `Timer` in any file that imports both
/// modules; this name does not.
public typealias SimTimer = Timer
