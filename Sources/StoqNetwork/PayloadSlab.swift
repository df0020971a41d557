/// The payload bytes of every packet inside a `Network`: copied in once when
/// a node sends, read in place by observers and the receiving socket, and
/// released at delivery or drop. Slots come in power-of-two sizes (128 B up)
/// and are recycled through one free list per size, so once the slab has
/// grown to the network's peak occupancy, carrying a packet allocates nothing.
///
/// One network-wide slab rather than a ring per link direction: a packet
/// crosses several links, and a ring per direction would copy it at every hop;
/// packets also leave out of order (drops, deliveries at different nodes),
/// which a slab handles and a ring cannot.
final class PayloadSlab {
    /// Size class in the top bits, slot index within the class below.
    struct Slot: Equatable {
        fileprivate let raw: UInt32
    }

    private static let smallestShift = 7
    private static let indexBits: UInt32 = 26
    /// Bytes per chunk (at least one slot): slots are allocated a chunk at a time.
    private static let chunkBytes = 1 << 18

    private struct SizeClass {
        let shift: Int
        /// log2 of slots per chunk.
        let slotsPerChunkShift: Int
        var chunks: [UnsafeMutableRawPointer] = []
        var free: [UInt32] = []
        var slots: UInt32 = 0

        init(shift: Int) {
            self.shift = shift
            slotsPerChunkShift = max(0, PayloadSlab.chunkBytes.trailingZeroBitCount - shift)
        }

        func address(_ index: UInt32) -> UnsafeMutableRawPointer {
            chunks[Int(index >> UInt32(slotsPerChunkShift))] + Int(index & ((1 << UInt32(slotsPerChunkShift)) - 1)) << shift
        }

        mutating func take() -> UInt32 {
            if let index = free.popLast() { return index }
            if slots >> UInt32(slotsPerChunkShift) == UInt32(chunks.count) {
                chunks.append(.allocate(byteCount: 1 << (shift + slotsPerChunkShift), alignment: 16))
            }
            slots += 1
            return slots - 1
        }
    }

    private var classes: [SizeClass] = []

    /// Bytes held in slots, free ones included (for memory accounting).
    var capacityBytes: Int { classes.reduce(0) { $0 + $1.chunks.count << ($1.shift + $1.slotsPerChunkShift) } }

    deinit {
        for c in classes { for chunk in c.chunks { chunk.deallocate() } }
    }

    /// Copies `bytes` into a free slot; returns the slot and where the bytes now are.
    func store(_ bytes: UnsafeRawBufferPointer) -> (Slot, UnsafeRawBufferPointer) {
        let size = max(bytes.count, 1)
        let shift = max(Self.smallestShift, Int.bitWidth - (size - 1).leadingZeroBitCount)
        let c = shift - Self.smallestShift
        while classes.count <= c { classes.append(SizeClass(shift: Self.smallestShift + classes.count)) }
        let index = classes[c].take()
        precondition(index < 1 << Self.indexBits, "more than 2^26 packets of one size in the network at once")
        let at = classes[c].address(index)
        if let base = bytes.baseAddress { at.copyMemory(from: base, byteCount: bytes.count) }
        return (Slot(raw: UInt32(c) << Self.indexBits | index), UnsafeRawBufferPointer(start: at, count: bytes.count))
    }

    /// Returns `slot` to its free list; its bytes may be overwritten from now on.
    func release(_ slot: Slot) {
        classes[Int(slot.raw >> Self.indexBits)].free.append(slot.raw & ((1 << Self.indexBits) - 1))
    }
}
