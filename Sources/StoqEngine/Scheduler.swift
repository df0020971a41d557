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

/// The discrete-event scheduler: an event is a time plus a closure (ns-3's
/// `Simulator::Schedule`), and everything else is built on that.
///
/// Events at the same instant run in the order they were scheduled (a sequence
/// number breaks ties). Cancelling removes the event from the queue at once, so
/// timers that are re-armed on every packet never pile up.
public final class Scheduler {
    /// One queue entry. `slot` points at the closure and the back-pointer that
    /// lets cancel and re-arm find the entry in O(1).
    @usableFromInline
    struct Entry {
        var time: Int64
        var sequence: UInt64
        var slot: Int32
    }

    @usableFromInline
    struct Slot {
        var action: (() -> Void)?
        var heapIndex: Int32 = -1       // -1: not queued
        var generation: UInt32 = 0
        var isTimer = false             // timer slots stay allocated while the timer lives
    }

    public private(set) var now: SimTime
    /// Events executed since creation.
    public private(set) var eventsExecuted: UInt64 = 0

    @usableFromInline var heap: [Entry] = []
    @usableFromInline var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    private var nextSequence: UInt64 = 0
    private var stopRequested = false

    public init(start: SimTime = .zero) {
        now = start
    }

    /// Number of events waiting in the queue (armed timers included).
    public var pendingCount: Int { heap.count }

    /// Time of the earliest pending event, if any.
    public var nextEventTime: SimTime? {
        heap.isEmpty ? nil : SimTime(nanosecondsSinceStart: heap[0].time)
    }

    // MARK: Scheduling

    /// Schedules `action` at `time`. A time in the past is clamped to `now`.
    @discardableResult
    public func schedule(at time: SimTime, _ action: @escaping () -> Void) -> EventHandle {
        let slot = allocateSlot(action: action, isTimer: false)
        push(slot: slot, time: max(time, now).nanosecondsSinceStart)
        return EventHandle(slot: slot, generation: slots[Int(slot)].generation)
    }

    @discardableResult
    public func schedule(after delay: SimDuration, _ action: @escaping () -> Void) -> EventHandle {
        schedule(at: now + delay, action)
    }

    /// Removes a pending event. Returns false if it already ran or was cancelled.
    @discardableResult
    public func cancel(_ handle: EventHandle) -> Bool {
        let i = Int(handle.slot)
        guard i < slots.count, slots[i].generation == handle.generation, !slots[i].isTimer,
              slots[i].heapIndex >= 0 else { return false }
        remove(at: Int(slots[i].heapIndex))
        releaseSlot(handle.slot)
        return true
    }

    /// Asks the running loop to return after the current event.
    public func stop() { stopRequested = true }

    // MARK: Running

    /// Runs events in time order until the queue is empty, `stop()` is called,
    /// or the next event lies after `end` (then `now` becomes `end`).
    @discardableResult
    public func run(until end: SimTime = .distantFuture) -> RunOutcome {
        stopRequested = false
        let endNs = end.nanosecondsSinceStart
        while let first = heap.first {
            if first.time > endNs {
                if end > now { now = end }
                return .reachedEndTime
            }
            runFirst()
            if stopRequested { return .stopped }
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
        guard !heap.isEmpty else { return false }
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
        removeFirst()
        let i = Int(first.slot)
        let action = slots[i].action!
        if !slots[i].isTimer { releaseSlot(first.slot) }
        eventsExecuted &+= 1
        action()
    }

    // MARK: Timers

    /// Makes a re-armable timer. The timer keeps one queue entry at most:
    /// re-arming moves it, cancelling removes it.
    public func makeTimer(_ action: @escaping () -> Void) -> Timer {
        Timer(scheduler: self, slot: allocateSlot(action: action, isTimer: true))
    }

    fileprivate func armTimer(slot: Int32, at time: SimTime) {
        let t = max(time, now).nanosecondsSinceStart
        let hi = Int(slots[Int(slot)].heapIndex)
        if hi < 0 {
            push(slot: slot, time: t)
        } else {
            // Re-arm in place: a fresh sequence number keeps FIFO order among
            // events scheduled for the same instant.
            let old = heap[hi].time
            heap[hi].time = t
            heap[hi].sequence = nextSequence
            nextSequence &+= 1
            if t < old { siftUp(hi) } else { siftDown(hi) }
        }
    }

    fileprivate func disarmTimer(slot: Int32) {
        let hi = Int(slots[Int(slot)].heapIndex)
        if hi >= 0 { remove(at: hi) }
    }

    fileprivate func timerDeadline(slot: Int32) -> SimTime? {
        let hi = Int(slots[Int(slot)].heapIndex)
        return hi < 0 ? nil : SimTime(nanosecondsSinceStart: heap[hi].time)
    }

    fileprivate func releaseTimer(slot: Int32) {
        disarmTimer(slot: slot)
        releaseSlot(slot)
    }

    // MARK: Slots

    private func allocateSlot(action: @escaping () -> Void, isTimer: Bool) -> Int32 {
        if let s = freeSlots.popLast() {
            slots[Int(s)].action = action
            slots[Int(s)].isTimer = isTimer
            return s
        }
        slots.append(Slot(action: action, isTimer: isTimer))
        return Int32(slots.count - 1)
    }

    private func releaseSlot(_ s: Int32) {
        let i = Int(s)
        slots[i].action = nil
        slots[i].heapIndex = -1
        slots[i].isTimer = false
        slots[i].generation &+= 1
        freeSlots.append(s)
    }

    // MARK: Binary heap ordered by (time, sequence)

    @inline(__always)
    private static func before(_ a: Entry, _ b: Entry) -> Bool {
        a.time < b.time || (a.time == b.time && a.sequence < b.sequence)
    }

    private func push(slot: Int32, time: Int64) {
        heap.append(Entry(time: time, sequence: nextSequence, slot: slot))
        nextSequence &+= 1
        let i = heap.count - 1
        slots[Int(slot)].heapIndex = Int32(i)
        siftUp(i)
    }

    private func removeFirst() {
        remove(at: 0)
    }

    private func remove(at i: Int) {
        slots[Int(heap[i].slot)].heapIndex = -1
        let last = heap.removeLast()
        guard i < heap.count else { return }
        heap[i] = last
        slots[Int(last.slot)].heapIndex = Int32(i)
        if i > 0 && Self.before(last, heap[(i - 1) / 2]) { siftUp(i) } else { siftDown(i) }
    }

    private func siftUp(_ start: Int) {
        var i = start
        let e = heap[i]
        while i > 0 {
            let p = (i - 1) / 2
            guard Self.before(e, heap[p]) else { break }
            heap[i] = heap[p]
            slots[Int(heap[i].slot)].heapIndex = Int32(i)
            i = p
        }
        heap[i] = e
        slots[Int(e.slot)].heapIndex = Int32(i)
    }

    private func siftDown(_ start: Int) {
        var i = start
        let e = heap[i]
        let n = heap.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            var c = l
            if l + 1 < n && Self.before(heap[l + 1], heap[l]) { c = l + 1 }
            guard Self.before(heap[c], e) else { break }
            heap[i] = heap[c]
            slots[Int(heap[i].slot)].heapIndex = Int32(i)
            i = c
        }
        heap[i] = e
        slots[Int(e.slot)].heapIndex = Int32(i)
    }
}

/// A re-armable one-shot timer (QUIC's loss and idle timers). At most one queue
/// entry exists per timer whatever the number of re-arms.
public final class Timer {
    private unowned let scheduler: Scheduler
    private let slot: Int32

    fileprivate init(scheduler: Scheduler, slot: Int32) {
        self.scheduler = scheduler
        self.slot = slot
    }

    deinit { scheduler.releaseTimer(slot: slot) }

    /// Fires the timer's action at `time` (replacing any earlier arming).
    public func arm(at time: SimTime) { scheduler.armTimer(slot: slot, at: time) }
    public func arm(after delay: SimDuration) { arm(at: scheduler.now + delay) }
    public func cancel() { scheduler.disarmTimer(slot: slot) }
    /// When the timer will fire, or nil when it is not armed.
    public var deadline: SimTime? { scheduler.timerDeadline(slot: slot) }
    public var isArmed: Bool { deadline != nil }
}
