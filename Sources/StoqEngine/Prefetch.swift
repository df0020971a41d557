/// LLVM's prefetch intrinsic, reached through its symbol name: Swift has no
/// public prefetch, and a plain load would hold up the pipeline until the
/// miss is served. (address, 0 = read / 1 = write, locality 0...3, 1 = data cache)
@_silgen_name("llvm.prefetch.p0")
func _llvmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)

/// Asks for the cache line holding `address` without waiting for it.
@inline(__always)
func prefetch(_ address: UnsafeRawPointer) {
    _llvmPrefetch(address, 0, 3, 1)
}

/// Asks for the cache line holding `address`, to be written: `prefetchw` on
/// targets that have it, a plain prefetch on baseline x86-64 (still the point:
/// the line is there when the store comes).
@inline(__always)
func prefetchForWrite(_ address: UnsafeRawPointer) {
    _llvmPrefetch(address, 1, 3, 1)
}
