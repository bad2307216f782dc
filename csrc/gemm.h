/*
 * linearc's GEMM: C (m x n) = A (m x k) @ B^T + bias, with B given as n x k,
 * which is y = x @ W.T + b when A is x and B is W. Operands come as strided
 * views of float32 or float64 data; packing absorbs the strides and the
 * conversion to the compute type. Nothing here knows about Python.
 */
#ifndef LINEARC_GEMM_H
#define LINEARC_GEMM_H

#include <stddef.h>

#include "kernels/kernels.h"

typedef enum { LC_F32 = 0, LC_F64 = 1 } lc_dtype;

static inline size_t
lc_dtype_size(lc_dtype t)
{
    return t == LC_F32 ? 4 : 8;
}

/*
 * A read-only matrix view. Element (i, j) is at
 *   data + (row_off ? row_off[i] : i * rs) + (col_off ? col_off[j] : j * cs)
 * (all in bytes), of element type `type`. The offset tables describe views
 * whose rows (or columns) come from several array axes that do not collapse
 * into one stride.
 */
typedef struct {
    const char *data;
    lc_dtype type;
    ptrdiff_t rs, cs;
    const ptrdiff_t *row_off;
    const ptrdiff_t *col_off;
} lc_operand;

typedef struct {
    lc_dtype dtype;     /* compute and output type; bias has it too */
    ptrdiff_t m, n, k;
    lc_operand a;       /* m x k */
    lc_operand b;       /* n x k */
    const void *bias;   /* n contiguous values, or NULL */
    void *c;            /* m x n, rows ldc elements apart, columns contiguous */
    ptrdiff_t ldc;
    int accumulate;     /* C += A B^T (+ bias) instead of C = A B^T (+ bias) */
    int nthreads;       /* upper bound; small problems use one */
    const lc_kernel_set *kernels;
} lc_gemm_args;

/* Returns 0, or -1 if a packing buffer could not be allocated, in which case
 * C has not been written. Safe to call from many threads at once. */
int lc_gemm(const lc_gemm_args *g);

/* The path lc_gemm takes ("empty", "fill", "dot", "rows" or "blocked")
 * and the threads it would use: for tests and benchmarks. */
const char *lc_gemm_path(const lc_gemm_args *g, int *threads_used);

/* Threads: the largest count this build can use (1 without OpenMP), and
 * whether this process is a fork() child of a process that ran OpenMP
 * (GNU OpenMP's pool does not survive fork, so such a child runs serial). */
int lc_max_threads(void);
int lc_in_forked_child(void);
void lc_threads_init(void);

#endif
