/*
 * Packers: strided float32/float64 views in, dense micro-panels of the
 * compute type out. The layouts and conversions live here; the kernel set
 * only lends its register-transpose pack for the common layout. Every byte
 * packed is counted, so tests can check that threads share their packing.
 */
#ifndef LINEARC_PACK_H
#define LINEARC_PACK_H

#include "kernels/kernels.h"
#include "types.h"

/* What the kernel set lends the packers (either may be NULL): its
 * transposing pack of the compute type, for the layout where op's rows are
 * contiguous along k, and, for a half operand, its widening to float32. */
typedef struct {
    lc_pack_fn transpose;
    lc_widen_fn widen;
} lc_packer;

/*
 * Rows [r0, r0 + rows) and columns [k0, k0 + kc) of op, as micro-panels of
 * R rows each: dst[(q * kc + p) * R + i] = op(r0 + q * R + i, k0 + p), with
 * zeros for the rows past `rows` in the last panel. dst is of type `to`
 * (LC_F32 or LC_F64; a half operand packs to LC_F32).
 */
void lc_pack_panels(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t k0,
                    ptrdiff_t kc, int R, lc_dtype to, void *dst, const lc_packer *pk);

/* Rows [r0, r0 + rows) of op, all k columns, as a dense row-major matrix
 * (row stride k) of type `to`; `widen` (or NULL) for a half operand. */
void lc_pack_rows(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t k,
                  lc_dtype to, void *dst, lc_widen_fn widen);

/* Bytes written by the two functions above since the process started. */
unsigned long long lc_packed_bytes(void);

#endif
