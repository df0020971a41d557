/// A binary min-heap of in-flight packets by arrival time, for link
/// directions whose jitter lets packets overtake each other. Equal arrivals
/// leave in admission order, so runs are deterministic.
struct ArrivalHeap<Element> {
    private var items: [(arrival: Int64, order: UInt64, element: Element)] = []
    private var admitted: UInt64 = 0

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var firstArrival: Int64? { items.first?.arrival }

    mutating func insert(_ element: Element, arrival: Int64) {
        items.append((arrival, admitted, element))
        admitted &+= 1
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard precedes(i, parent) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func popFirst() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let first = items.removeLast().element
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && precedes(l, m) { m = l }
            if r < items.count && precedes(r, m) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return first
    }

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    private func precedes(_ a: Int, _ b: Int) -> Bool {
        (items[a].arrival, items[a].order) < (items[b].arrival, items[b].order)
    }
}
