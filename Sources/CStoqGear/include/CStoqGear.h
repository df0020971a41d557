#ifndef CSTOQ_GEAR_H
#define CSTOQ_GEAR_H
#include <stdint.h>

/* FastCDC's two-byte step, first half: (h << 2) + gearShifted[b].
 *
 * Why C: the empty asm makes the table entry a value the compiler cannot see
 * into, so it cannot fold the load into the add. Swift's LLVM otherwise emits
 * a shift and a load-add (two dependent ALU ops, a 2-cycle chain per step);
 * with the load kept apart the step is one LEA (1 cycle), which is what GCC
 * gives C and what sets the chunker's speed on one core (the hash is one
 * chain of dependent adds). Inlined into the Swift loop; no call remains. */
static inline __attribute__((always_inline))
uint64_t stoq_gear_roll_two(uint64_t h, const uint64_t *gearShifted, uint8_t b) {
    uint64_t g = gearShifted[b];
    __asm__("" : "+r"(g));
    return (h << 2) + g;
}

#endif
