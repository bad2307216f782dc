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

#include "config.h"
#include "types.h"

typedef struct {
    lc_dtype dtype;   /* compute and output type; bias has it too */
    ptrdiff_t m, n, k;
    lc_operand a;     /* m x k */
    lc_operand b;     /* k x n */
    const void *bias; /* n contiguous values, or NULL */
    void *c;          /* m x n, rows ldc elements apart, columns contiguous */
    ptrdiff_t ldc;
    int accumulate;   /* chains continue from C (no bias) instead of starting anew */
    int nthreads;     /* upper bound; small problems use fewer */
    const lc_config *config;
} lc_gemm_args;

/* Returns 0, or -1 if a packing buffer could not be allocated, in which case
 * C has not been written. Safe to call from many threads at once. The
 * result does not depend on the path, the blocking or the thread count. */
int lc_gemm(const lc_gemm_args *g);

/* The packing buffers lc_gemm takes for g, in bytes (for error messages). */
size_t lc_gemm_workspace_bytes(const lc_gemm_args *g);

/* The path lc_gemm takes ("empty", "fill", "direct" or "blocked") and the
 * threads it would use: for tests and benchmarks. */
const char *lc_gemm_path(const lc_gemm_args *g, int *threads_used);

/* The planner's limits, reported by _build_config() so that tests read
 * them instead of copying them. */
typedef struct {
    double serial_flops;    /* below this, one thread and no OpenMP region */
    size_t copy_max_bytes;  /* the direct path copies A only up to this size */
    size_t direct_parallel_bytes; /* the direct path splits B only from here */
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
