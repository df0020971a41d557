#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Allocation for the scheduler's big tables (the slot table, the event
/// lists). A table of a million events spans thousands of 4 KiB pages that
/// dispatch visits in random order, so on Linux a table of 2 MiB or more is
/// aligned for and advised to use transparent huge pages: one TLB entry then
/// covers 512 times as much. Memory from here must go back through `free`.
enum LargeAllocation {
    static let hugePageBytes = 2 << 20

    static func allocate<T>(_ type: T.Type, capacity: Int) -> UnsafeMutablePointer<T> {
        let bytes = max(1, capacity) * MemoryLayout<T>.stride
        var raw: UnsafeMutableRawPointer? = nil
        if bytes >= hugePageBytes {
            let rounded = (bytes + hugePageBytes - 1) & ~(hugePageBytes - 1)
            if posix_memalign(&raw, hugePageBytes, rounded) == 0, let raw {
                #if os(Linux)
                _ = madvise(raw, rounded, MADV_HUGEPAGE)
                #endif
                return raw.bindMemory(to: T.self, capacity: capacity)
            }
        }
        guard posix_memalign(&raw, max(16, MemoryLayout<T>.alignment), bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        return raw.bindMemory(to: T.self, capacity: capacity)
    }

    static func deallocate<T>(_ pointer: UnsafeMutablePointer<T>) {
        free(pointer)
    }
}
