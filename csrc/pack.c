/*
 * Packers. Three layouts of the source come up: rows contiguous along k
 * (x and W in the forward pass), columns contiguous (W read as W^T in the
 * backward pass), and anything else (strided, negative, broadcast, offset
 * tables). The first two get loops the compiler can keep simple; all three
 * convert the element type on the way.
 */
#include <string.h>

#include "pack.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE double
load_elem(const char *p, lc_dtype t)
{
    return t == LC_F32 ? (double)*(const float *)p : *(const double *)p;
}

ALWAYS_INLINE void
store_elem(void *dst, ptrdiff_t idx, lc_dtype t, double v)
{
    if (t == LC_F32) {
        ((float *)dst)[idx] = (float)v;
    }
    else {
        ((double *)dst)[idx] = v;
    }
}

ALWAYS_INLINE const char *
row_ptr(const lc_operand *op, ptrdiff_t i)
{
    return op->data + (op->row_off ? op->row_off[i] : i * op->rs);
}

ALWAYS_INLINE ptrdiff_t
col_offset(const lc_operand *op, ptrdiff_t j)
{
    return op->col_off ? op->col_off[j] : j * op->cs;
}

/* Panel of R rows whose elements run contiguously along k. */
ALWAYS_INLINE void
pack_panel_kcontig(const char *const *rows, ptrdiff_t kc, int R, lc_dtype from,
                   lc_dtype to, void *dst)
{
    if (from == LC_F32 && to == LC_F32) {
        float *d = dst;
        for (ptrdiff_t p = 0; p < kc; p++) {
            for (int i = 0; i < R; i++) {
                d[p * R + i] = ((const float *)rows[i])[p];
            }
        }
    }
    else if (from == LC_F64 && to == LC_F64) {
        double *d = dst;
        for (ptrdiff_t p = 0; p < kc; p++) {
            for (int i = 0; i < R; i++) {
                d[p * R + i] = ((const double *)rows[i])[p];
            }
        }
    }
    else {
        const size_t es = lc_dtype_size(from);
        for (ptrdiff_t p = 0; p < kc; p++) {
            for (int i = 0; i < R; i++) {
                store_elem(dst, p * R + i, to, load_elem(rows[i] + p * es, from));
            }
        }
    }
}

void
lc_pack_panels(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows,
               ptrdiff_t k0, ptrdiff_t kc, int R, lc_dtype to, void *dst,
               const lc_kernel_set *kernels)
{
    const size_t es_from = lc_dtype_size(op->type), es_to = lc_dtype_size(to);
    const int kcontig = !op->col_off && op->cs == (ptrdiff_t)es_from;
    const int rcontig = !op->row_off && op->rs == (ptrdiff_t)es_from;

    for (ptrdiff_t q = 0; q * R < rows; q++) {
        char *panel = (char *)dst + (size_t)(q * kc * R) * es_to;
        const ptrdiff_t base = r0 + q * R;
        const int valid = (int)(rows - q * R < R ? rows - q * R : R);

        if (kcontig) {
            const char *src[LC_MAX_NR > LC_MAX_MR ? LC_MAX_NR : LC_MAX_MR];
            const ptrdiff_t koff = k0 * (ptrdiff_t)es_from;
            for (int i = 0; i < R; i++) {
                src[i] = i < valid ? row_ptr(op, base + i) + koff : NULL;
            }
            if (op->type == to && to == LC_F32 && kernels->pack_f32) {
                kernels->pack_f32(kc, R, (const float *const *)src, (float *)panel);
            }
            else if (op->type == to && to == LC_F64 && kernels->pack_f64) {
                kernels->pack_f64(kc, R, (const double *const *)src, (double *)panel);
            }
            else if (valid == R) {
                /* Full panels: one specialized loop per type pair. */
                if (op->type == LC_F32 && to == LC_F32) {
                    pack_panel_kcontig(src, kc, R, LC_F32, LC_F32, panel);
                }
                else if (op->type == LC_F64 && to == LC_F64) {
                    pack_panel_kcontig(src, kc, R, LC_F64, LC_F64, panel);
                }
                else if (op->type == LC_F64) {
                    pack_panel_kcontig(src, kc, R, LC_F64, LC_F32, panel);
                }
                else {
                    pack_panel_kcontig(src, kc, R, LC_F32, LC_F64, panel);
                }
            }
            else {
                /* The last, partial panel: zero rows below the edge. */
                for (ptrdiff_t p = 0; p < kc; p++) {
                    for (int i = 0; i < R; i++) {
                        double v = i < valid ? load_elem(src[i] + p * es_from, op->type) : 0.0;
                        store_elem(panel, p * R + i, to, v);
                    }
                }
            }
        }
        else if (rcontig && op->type == to) {
            /* W read as W^T: each p gives `valid` adjacent values. */
            for (ptrdiff_t p = 0; p < kc; p++) {
                const char *src = op->data + base * (ptrdiff_t)es_from + col_offset(op, k0 + p);
                char *d = panel + (size_t)(p * R) * es_to;
                memcpy(d, src, (size_t)valid * es_to);
                memset(d + (size_t)valid * es_to, 0, (size_t)(R - valid) * es_to);
            }
        }
        else {
            for (ptrdiff_t p = 0; p < kc; p++) {
                const ptrdiff_t co = col_offset(op, k0 + p);
                for (int i = 0; i < R; i++) {
                    double v = i < valid ? load_elem(row_ptr(op, base + i) + co, op->type) : 0.0;
                    store_elem(panel, p * R + i, to, v);
                }
            }
        }
    }
}

int
lc_rows_are_dense(const lc_operand *op, lc_dtype type)
{
    return op->type == type && !op->col_off && op->cs == (ptrdiff_t)lc_dtype_size(type);
}

void
lc_pack_rows(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t k,
             lc_dtype to, void *dst)
{
    for (ptrdiff_t i = 0; i < rows; i++) {
        const char *src = row_ptr(op, r0 + i);
        for (ptrdiff_t p = 0; p < k; p++) {
            store_elem(dst, i * k + p, to, load_elem(src + col_offset(op, p), op->type));
        }
    }
}
