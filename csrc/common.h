/* Small helpers shared by the C files: no types, no Python. */
#ifndef LINEARC_COMMON_H
#define LINEARC_COMMON_H

#include <stddef.h>

#define LC_ALWAYS_INLINE static inline __attribute__((always_inline))

/* Packing buffers and parameters start on cache lines (and so on any SIMD
 * vector boundary). */
#define LC_ALIGN 64

#define LC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LC_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline size_t
lc_round_up(size_t v, size_t to)
{
    return (v + to - 1) / to * to;
}

#endif
