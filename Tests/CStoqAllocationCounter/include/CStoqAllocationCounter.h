#ifndef CSTOQ_ALLOCATION_COUNTER_H
#define CSTOQ_ALLOCATION_COUNTER_H
#include <stdint.h>

/// Heap allocations (malloc, calloc, realloc) made by the calling thread
/// since it started. The test binary's malloc family is interposed by this
/// target, so every allocation in the process — Swift, ngtcp2, GnuTLS — counts.
uint64_t cstoq_thread_allocations(void);

#endif
