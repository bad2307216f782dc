/*
 * The base types every layer of the C code shares: element types and the
 * strided matrix view the GEMM reads. Pure C, no Python.
 */
#ifndef LINEARC_TYPES_H
#define LINEARC_TYPES_H

#include <stddef.h>

/* Element types. The two half types are storage only: their products are
 * computed in float32 chains (lc_compute_type), each value widened exactly
 * on the way in and each result rounded once (to nearest even) on the way
 * out. */
typedef enum { LC_F32 = 0, LC_F64 = 1, LC_F16 = 2, LC_BF16 = 3 } lc_dtype;

static inline size_t
lc_dtype_size(lc_dtype t)
{
    return t == LC_F64 ? 8 : t == LC_F32 ? 4 : 2;
}

static inline int
lc_is_half(lc_dtype t)
{
    return t == LC_F16 || t == LC_BF16;
}

/* The type a layer of type t computes its chains in. */
static inline lc_dtype
lc_compute_type(lc_dtype t)
{
    return t == LC_F64 ? LC_F64 : LC_F32;
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

/* The same view, rows and columns exchanged: B (k x n) seen as B^T (n x k). */
static inline lc_operand
lc_operand_transposed(const lc_operand *op)
{
    return (lc_operand){.data = op->data, .type = op->type, .rs = op->cs, .cs = op->rs,
                        .row_off = op->col_off, .col_off = op->row_off};
}

#endif
