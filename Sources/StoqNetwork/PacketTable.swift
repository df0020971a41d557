/// The headers (`Packet`) of every packet inside a `Network`, by index, from
/// send to delivery or drop. Link queues hold the 4-byte index and the few
/// fields a hop needs (`InFlight`), so a hop that neither delivers, drops nor
/// is observed never reads the header, and a queue entry is a fraction of a
/// cache line instead of two lines.
///
/// Freed indexes are reused last-in first-out: the next packet sent takes the
/// header line the last delivery has just read, still in cache.
final class PacketTable {
    struct Index: Equatable {
        fileprivate let raw: UInt32
    }

    private var headers: UnsafeMutablePointer<Packet>
    private var capacity: Int
    private var used = 0
    private var free: [UInt32] = []

    init() {
        capacity = 1024
        headers = .allocate(capacity: capacity)
    }

    deinit {
        // Packets are plain values (the payload is borrowed from the slab).
        headers.deallocate()
    }

    func insert(_ packet: Packet) -> Index {
        let i: Int
        if let reused = free.popLast() {
            i = Int(reused)
        } else {
            if used == capacity { grow() }
            i = used
            used += 1
        }
        (headers + i).initialize(to: packet)
        return Index(raw: UInt32(i))
    }

    subscript(index: Index) -> Packet {
        unsafeAddress { UnsafePointer(headers + Int(index.raw)) }
    }

    /// Frees `index` and returns its packet, whose payload the caller releases.
    func remove(_ index: Index) -> Packet {
        free.append(index.raw)
        return (headers + Int(index.raw)).move()
    }

    private func grow() {
        precondition(capacity < Int(UInt32.max) / 2, "too many packets in the network at once")
        let new = UnsafeMutablePointer<Packet>.allocate(capacity: capacity * 2)
        new.moveInitialize(from: headers, count: used)
        headers.deallocate()
        headers = new
        capacity *= 2
    }
}
