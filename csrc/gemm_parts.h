/*
 * What the GEMM driver's two files share: gemm.c (the plan, the team, the
 * fill and direct paths) and gemm_blocked.c (the packed path). Internal to
 * the driver; nothing else includes it.
 */
#ifndef LINEARC_GEMM_PARTS_H
#define LINEARC_GEMM_PARTS_H

#include "common.h"
#include "gemm_args.h"

/* Part t of T of `units` units of `unit` elements, clipped to `size`. */
static inline void
split_range(ptrdiff_t size, ptrdiff_t unit, int t, int T, ptrdiff_t *lo, ptrdiff_t *hi)
{
    const ptrdiff_t units = (size + unit - 1) / unit;
    *lo = LC_MIN(units * t / T * unit, size);
    *hi = LC_MIN(units * (t + 1) / T * unit, size);
}

/* Every thread of the team waits here for the others. */
static inline void
team_barrier(int T)
{
#ifdef LINEARC_HAVE_OPENMP
    if (T > 1) {
#pragma omp barrier
    }
#else
    (void)T;
#endif
}

/* Where the chains of the first K block start. */
static inline int
first_start(const lc_gemm_args *g)
{
    return g->accumulate ? LC_START_C : g->bias ? LC_START_BIAS : LC_START_ZERO;
}

/* The packed path's workspace for g under plan (whose other fields are
 * set), all threads together. */
size_t lc_blocked_workspace(const lc_gemm_args *g, const lc_gemm_plan *plan);

/* Thread t of T's part of the packed path. */
void lc_blocked_part(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws, int t, int T);

#endif
