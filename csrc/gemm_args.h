/*
 * The GEMM's arguments and its plan: the types gemm.h's functions take and
 * give, apart so that the driver's internal header (gemm_parts.h) can use
 * them without including the API.
 */
#ifndef LINEARC_GEMM_ARGS_H
#define LINEARC_GEMM_ARGS_H

#include <stddef.h>

#include "config.h"
#include "types.h"

typedef struct {
    lc_dtype dtype;   /* compute type (LC_F32 or LC_F64); C's and bias's too,
                       * unless c_type / bias_type name a half type */
    ptrdiff_t m, n, k;
    lc_operand a;     /* m x k */
    lc_operand b;     /* k x n */
    const void *bias; /* n contiguous values, or NULL */
    void *c;          /* m x n, rows ldc elements apart, columns contiguous */
    ptrdiff_t ldc;
    int accumulate;   /* chains continue from C (no bias) instead of starting anew */
    int nthreads;     /* upper bound; small problems use fewer */
    const lc_context *ctx;
    /* LC_F16 or LC_BF16 (dtype LC_F32 then): C, or the bias, holds that half
     * type. The chains still run in float32, carried between K blocks in a
     * float32 home, and each result is rounded once, to nearest even, when
     * it is stored; a half C cannot be accumulated into. Any other value
     * (the 0 an initializer leaves): of dtype. Operands a and b may be of
     * any type: the packers widen them. */
    lc_dtype c_type, bias_type;
} lc_gemm_args;

/* C's and the bias's element types. */
static inline lc_dtype
lc_c_type(const lc_gemm_args *g)
{
    return lc_is_half(g->c_type) ? g->c_type : g->dtype;
}

static inline lc_dtype
lc_bias_type(const lc_gemm_args *g)
{
    return lc_is_half(g->bias_type) ? g->bias_type : g->dtype;
}

/* Every decision lc_gemm makes for a problem, from its shape and the
 * context alone: for tests, benchmarks and the tuner. */
typedef enum { LC_PATH_EMPTY, LC_PATH_FILL, LC_PATH_DIRECT, LC_PATH_BLOCKED } lc_gemm_path;

typedef struct {
    lc_gemm_path path;
    int threads;
    int copy_a;       /* direct: A is first copied, dense, in the compute type */
    int split_rows;   /* direct: threads split the rows (too few columns) */
    int shared_a;     /* blocked: the team packs A's block together */
    ptrdiff_t kc;     /* the K block (both paths), balanced over K */
    ptrdiff_t nc;     /* blocked: the N block */
    ptrdiff_t mc;     /* blocked: rows of A per packed block (per thread) */
    int widen_b;      /* direct: B is half; each thread widens blocks of it
                       * (kc x b_cols) into float32 before its tiles read them */
    ptrdiff_t b_cols;
    ptrdiff_t home_rows; /* a half C: the rows of the float32 home, where
                          * the chains run before their one rounding */
    size_t ws_bytes;  /* workspace, all threads together */
} lc_gemm_plan;

#endif
