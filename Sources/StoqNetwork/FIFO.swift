/// An array-backed first-in-first-out queue: amortized O(1) without the
/// O(n) `removeFirst` of a plain array.
struct FIFO<Element> {
    // Optional slots let `popFirst` move an element out instead of copying it,
    // which saves a retain/release of the packet payload on every hop.
    private var items: [Element?] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }
    var first: Element? { isEmpty ? nil : items[head] }

    mutating func append(_ element: Element) { items.append(element) }

    mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        var element: Element?
        swap(&element, &items[head])
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 256 && head * 2 >= items.count {
            // Compact once the dead prefix dominates, so memory stays bounded.
            items.removeFirst(head)
            head = 0
        }
        return element
    }

    mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        head = 0
    }
}
