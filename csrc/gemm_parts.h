/*
 * What the GEMM driver's files share: gemm.c (the plan, the team, the fill
 * and direct paths), gemm_blocked.c (the packed path) and gemm_half.c (half
 * results and biases). Internal to the driver; nothing else includes it.
 */
#ifndef LINEARC_GEMM_PARTS_H
#define LINEARC_GEMM_PARTS_H

#include "common.h"
#include "gemm_args.h"
#include "pack.h"

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

/* What the kernel set lends the packers of operand op. */
static inline lc_packer
lc_packer_for(const lc_gemm_args *g, const lc_operand *op)
{
    const lc_half_ops *half = lc_context_half(g->ctx, op->type);
    return (lc_packer){lc_context_ops(g->ctx, g->dtype)->pack_transpose,
                       half != NULL ? half->widen : NULL};
}

/* gemm.c's pieces that gemm_half.c runs on. A thread count OpenMP can
 * give (1 without it, or in a forked child), and at most `units`. */
int lc_usable_threads(int requested);
int lc_clamp_threads(int want, ptrdiff_t units);

/* fn(t, T) on every thread of a team of plan->threads, under the caller's
 * floating-point environment (gemm.c says why). */
typedef void (*lc_team_fn)(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws, int t,
                           int T);
void lc_run_team(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws, lc_team_fn fn);

/* The plan of a product whose C and bias are of its compute type, and its
 * direct or packed path (or fill) in ws (plan->ws_bytes). */
lc_gemm_plan lc_float_plan(const lc_gemm_args *g);
void lc_run_plan(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws);

/* A product with a half C or bias (gemm_half.c): its plan (home_rows > 0),
 * and the product in ws. */
lc_gemm_plan lc_half_plan(const lc_gemm_args *g);
void lc_half_run(const lc_gemm_args *g, const lc_gemm_plan *plan, char *ws);

/* The packed path's workspace for g under plan (whose other fields are
 * set), all threads together. */
size_t lc_blocked_workspace(const lc_gemm_args *g, const lc_gemm_plan *plan);

/* Thread t of T's part of the packed path. */
void lc_blocked_part(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws, int t, int T);

#endif
