// Interposes malloc, calloc and realloc for the test binary (a definition in
// the executable wins over glibc's for every library) and counts calls per
// thread, then forwards to glibc's own implementations. Test-only: it exists
// so a test can assert that the packet path allocates nothing per packet.
#include <stddef.h>
#include "CStoqAllocationCounter.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);

// Initial-exec TLS in the executable: reading it never allocates.
static __thread uint64_t allocations;

void *malloc(size_t size) {
    allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    allocations++;
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    allocations++;
    return __libc_realloc(pointer, size);
}

uint64_t cstoq_thread_allocations(void) { return allocations; }
