/*
 * linearc's GEMM: C (m x n) = A (m x k) @ B (k x n), where every element of
 * C is one chain of fused multiply-adds in the order of k, starting from 0,
 * from the bias, or from the value C holds (kernels.h). y = x @ W.T + b is
 * A = x, B = W.T; the backward products use the same code on other strided
 * views. Operands come as strided views of float32 or float64 data; packing
 * absorbs the strides and the conversion to the compute type. Nothing here
 * knows about Python.
 */
#ifndef LINEARC_GEMM_H
#define LINEARC_GEMM_H

#include <stddef.h>

#include "gemm_args.h"

/* Returns 0, or -1 if a packing buffer could not be allocated, in which case
 * C has not been written. Safe to call from many threads at once. The
 * result does not depend on the path, the blocking or the thread count. */
int lc_gemm(const lc_gemm_args *g);

/* The packing buffers lc_gemm takes for g, in bytes (for error messages). */
size_t lc_gemm_workspace_bytes(const lc_gemm_args *g);

/* Every decision lc_gemm would make for g (gemm_args.h). */
lc_gemm_plan lc_gemm_make_plan(const lc_gemm_args *g);

/* "empty", "fill", "direct" or "blocked". */
const char *lc_gemm_path_name(lc_gemm_path path);

/* The planner's fixed limits (those of the context are per CPU), reported
 * by _build_config() so that tests read them instead of copying them. */
typedef struct {
    size_t copy_max_bytes;     /* the direct path copies A only up to this size */
    int row_tiles_per_thread;  /* blocked: fewer tiles of rows per thread, and
                                * the team shares A's packed block */
} lc_gemm_limits;

lc_gemm_limits lc_gemm_planner_limits(void);

/*
 * Column sums in row order: for every j < n,
 *   acc = accumulate ? c[j] : 0;  acc += a(i, j) for i = 0, 1, ..., m-1
 * rounded in `dtype` at every step (a's values rounded to dtype first),
 * then c[j] = acc, a NaN stored as the canonical one (kernels.h). The bias
 * gradient. Needs no memory of its own; c must not overlap a.
 */
void lc_sum_rows(const lc_operand *a, ptrdiff_t m, ptrdiff_t n, lc_dtype dtype,
                 int accumulate, void *c);

#endif
