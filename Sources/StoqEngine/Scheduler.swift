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

    // Slot table as parallel columns so the back-pointer writes done on every
    // heap move touch a dense Int32 array.
    private var slotHeapIndex: UnsafeMutablePointer<Int32>     // -1: not queued
    private var slotSequence: UnsafeMutablePointer<UInt64>
    private var slotGeneration: UnsafeMutablePointer<UInt32>
    private var slotAction: UnsafeMutablePointer<Action>      // initialized below slotCount
    private var freeSlots: UnsafeMutablePointer<Int32>
    private var slotCount = 0
    private var freeCount = 0
    private var slotCapacity: Int

    private var nextSequence: UInt64 = 0
    /// Set by `stop()`; read by `run` and by `RealTimeDriver`.
    var stopRequested = false

    public init(start: SimTime = .zero) {
        now = start
        heapCapacity = 64
        (heapBase, heap) = Self.allocateHeap(capacity: heapCapacity)
        slotCapacity = 64
        slotHeapIndex = .allocate(capacity: slotCapacity)
        slotSequence = .allocate(capacity: slotCapacity)
        slotGeneration = .allocate(capacity: slotCapacity)
        slotAction = .allocate(capacity: slotCapacity)
        freeSlots = .allocate(capacity: slotCapacity)
    }

    deinit {
        // Releasing actions may run arbitrary deinits (a Timer's among them);
        // they find no scheduler through their weak reference, so this is safe.
        heapCount = 0
        slotAction.deinitialize(count: slotCount)
        slotAction.deallocate()
        slotHeapIndex.deallocate()
        slotSequence.deallocate()
        slotGeneration.deallocate()
        freeSlots.deallocate()
        heapBase.deallocate()
    }

    /// Number of events waiting in the queue (armed timers included).
    public var pendingCount: Int { heapCount }

    /// Time of the earliest pending event, if any.
    public var nextEventTime: SimTime? {
        heapCount == 0 ? nil : SimTime(nanosecondsSinceStart: heap[0].time)
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
        push(slot: slot, time: max(time, now).nanosecondsSinceStart)
        return EventHandle(slot: slot, generation: slotGeneration[Int(slot)])
    }

    /// Removes a pending event. Returns false if it already ran or was cancelled.
    @discardableResult
    public func cancel(_ handle: EventHandle) -> Bool {
        let i = Int(handle.slot)
        guard i >= 0, i < slotCount, slotGeneration[i] == handle.generation,
              slotHeapIndex[i] >= 0 else { return false }
        if case .timer = slotAction[i] { return false }
        remove(at: Int(slotHeapIndex[i]))
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
        while heapCount > 0 {
            if heap[0].time > endNs {
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
        guard heapCount > 0 else { return false }
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

    @inline(__always)
    private func runFirst() {
        let first = heap[0]
        now = SimTime(nanosecondsSinceStart: first.time)
        removeRoot()
        eventsExecuted &+= 1
        let s = Int(first.slot)
        switch slotAction[s] {
        case .timer(let body):
            body()
        case .closure, .object:
            // Take the action out and free the slot before running it, so the
            // body may schedule into the same slot and its handle is already stale.
            let action = (slotAction + s).move()
            (slotAction + s).initialize(to: .empty)
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
        let hi = Int(slotHeapIndex[Int(slot)])
        if hi < 0 {
            push(slot: slot, time: t)
            return
        }
        // Re-arm in place: a fresh sequence number keeps FIFO order among
        // events scheduled for the same instant, and no second entry appears.
        let old = heap[hi].time
        heap[hi].time = t
        slotSequence[Int(slot)] = nextSequence
        nextSequence &+= 1
        if t < old { siftUp(hi) } else { siftDown(hi) }
    }

    fileprivate func disarmTimer(slot: Int32) {
        let hi = Int(slotHeapIndex[Int(slot)])
        if hi >= 0 { remove(at: hi) }
    }

    fileprivate func timerDeadline(slot: Int32) -> SimTime? {
        let hi = Int(slotHeapIndex[Int(slot)])
        return hi < 0 ? nil : SimTime(nanosecondsSinceStart: heap[hi].time)
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
            slotAction[Int(s)] = action   // replaces .empty: releases nothing
            return s
        }
        if slotCount == slotCapacity { growSlots() }
        let s = slotCount
        slotCount += 1
        slotHeapIndex[s] = -1
        slotGeneration[s] = 0
        slotSequence[s] = 0
        (slotAction + s).initialize(to: action)
        return Int32(s)
    }

    /// Frees a slot that is no longer queued. The old action is released last,
    /// once the tables are consistent, because its deinit may call back in.
    private func releaseSlot(_ s: Int32) {
        let old = (slotAction + Int(s)).move()
        (slotAction + Int(s)).initialize(to: .empty)
        retireSlot(s)
        _ = old
    }

    /// Bookkeeping half of `releaseSlot` for a slot whose action is already `.empty`.
    @inline(__always)
    private func retireSlot(_ s: Int32) {
        let i = Int(s)
        slotHeapIndex[i] = -1
        slotGeneration[i] &+= 1
        freeSlots[freeCount] = s
        freeCount += 1
    }

    private func growSlots() {
        let newCapacity = slotCapacity * 2
        slotHeapIndex = Self.grow(slotHeapIndex, count: slotCount, to: newCapacity)
        slotSequence = Self.grow(slotSequence, count: slotCount, to: newCapacity)
        slotGeneration = Self.grow(slotGeneration, count: slotCount, to: newCapacity)
        slotAction = Self.grow(slotAction, count: slotCount, to: newCapacity)
        freeSlots = Self.grow(freeSlots, count: freeCount, to: newCapacity)
        slotCapacity = newCapacity
    }

    private static func grow<T>(_ old: UnsafeMutablePointer<T>, count: Int, to capacity: Int) -> UnsafeMutablePointer<T> {
        let new = UnsafeMutablePointer<T>.allocate(capacity: capacity)
        new.moveInitialize(from: old, count: count)
        old.deallocate()
        return new
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
        a.time < b.time || (a.time == b.time && slotSequence[Int(a.slot)] < slotSequence[Int(b.slot)])
    }

    @inline(__always)
    private func place(_ e: Entry, at i: Int) {
        heap[i] = e
        slotHeapIndex[Int(e.slot)] = Int32(truncatingIfNeeded: i)
    }

    @inline(__always)
    private func push(slot: Int32, time: Int64) {
        if heapCount == heapCapacity { growHeap() }
        slotSequence[Int(slot)] = nextSequence
        nextSequence &+= 1
        let i = heapCount
        heapCount += 1
        heap[i] = Entry(time: time, slot: slot)
        siftUp(i)
    }

    private func remove(at i: Int) {
        slotHeapIndex[Int(heap[i].slot)] = -1
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
        slotHeapIndex[Int(heap[0].slot)] = -1
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
