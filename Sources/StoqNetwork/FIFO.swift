/// A first-in-first-out ring of plain values whose header (buffer, head,
/// count) lives inline in its owner: a link direction reads its queue's head
/// without first loading an array's header from another cache line, and a
/// pop moves nothing else.
///
/// Storage is manual, so the value must not be copied (a copy would share the
/// buffer): keep it in place in its owner and call `deallocate()` once when
/// the owner goes away. Elements must be trivial (no references), which lets
/// `removeAll` and `deallocate` skip deinitialising them.
struct FIFO<Element> {
    private var buffer: UnsafeMutablePointer<Element>? = nil
    private var head = 0
    private(set) var count = 0
    /// Capacity - 1; capacities are powers of two, so wrapping is a mask.
    private var mask = -1

    init() {
        assert(_isPOD(Element.self), "FIFO holds trivial values only")
    }

    var isEmpty: Bool { count == 0 }
    var first: Element? { count == 0 ? nil : buffer.unsafelyUnwrapped[head] }

    @inline(__always)
    mutating func append(_ element: Element) {
        if count == mask &+ 1 { grow() }
        buffer.unsafelyUnwrapped[(head &+ count) & mask] = element
        count &+= 1
    }

    @inline(__always)
    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = buffer.unsafelyUnwrapped[head]
        head = (head &+ 1) & mask
        count &-= 1
        return element
    }

    mutating func removeAll() {
        head = 0
        count = 0
    }

    mutating func deallocate() {
        buffer?.deallocate()
        buffer = nil
        head = 0
        count = 0
        mask = -1
    }

    /// Doubles the ring (16 at first), unwrapping it to start at 0.
    private mutating func grow() {
        let capacity = mask &+ 1
        let newCapacity = max(16, capacity * 2)
        let new = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        if let old = buffer {
            let tail = capacity - head
            new.moveInitialize(from: old + head, count: min(tail, count))
            if count > tail { (new + tail).moveInitialize(from: old, count: count - tail) }
            old.deallocate()
        }
        buffer = new
        head = 0
        mask = newCapacity - 1
    }
}
