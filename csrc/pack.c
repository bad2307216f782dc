/*
 * Packers. Three layouts of the source come up: rows contiguous along k
 * (x and W in the forward pass), columns contiguous (W read as W^T in the
 * backward pass), and anything else (strided, negative, broadcast, offset
 * tables). The first two get loops the compiler can keep simple; all three
 * convert the element type on the way.
 */
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "pack.h"

static atomic_ullong packed_bytes;

unsigned long long
lc_packed_bytes(void)
{
    return atomic_load_explicit(&packed_bytes, memory_order_relaxed);
}

LC_ALWAYS_INLINE double
load_elem(const char *p, lc_dtype t)
{
    return t == LC_F32 ? (double)*(const float *)p : *(const double *)p;
}

LC_ALWAYS_INLINE void
store_elem(void *dst, ptrdiff_t idx, lc_dtype t, double v)
{
    if (t == LC_F32) {
        ((float *)dst)[idx] = (float)v;
    }
    else {
        ((double *)dst)[idx] = v;
    }
}

LC_ALWAYS_INLINE const char *
row_ptr(const lc_operand *op, ptrdiff_t i)
{
    return op->data + (op->row_off ? op->row_off[i] : i * op->rs);
}

LC_ALWAYS_INLINE ptrdiff_t
col_offset(const lc_operand *op, ptrdiff_t j)
{
    return op->col_off ? op->col_off[j] : j * op->cs;
}

/* Panel of R rows whose elements run contiguously along k. */
LC_ALWAYS_INLINE void
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

/* A panel whose R rows each run contiguously along k (x in the forward
 * pass): the kernel set's register transposes when the type stays, else a
 * loop per type pair; rows past `valid` are zeros. */
static void
pack_rows_along_k(const lc_operand *op, ptrdiff_t base, int valid, ptrdiff_t k0, ptrdiff_t kc,
                  int R, lc_dtype to, char *panel, lc_pack_fn transpose)
{
    const size_t es = lc_dtype_size(op->type);
    const char *src[LC_MAX_NR > LC_MAX_MR ? LC_MAX_NR : LC_MAX_MR];
    for (int i = 0; i < R; i++) {
        src[i] = i < valid ? row_ptr(op, base + i) + k0 * (ptrdiff_t)es : NULL;
    }
    if (op->type == to && transpose != NULL) {
        transpose(kc, R, (const void *const *)src, panel);
    }
    else if (valid < R) {
        for (ptrdiff_t p = 0; p < kc; p++) {
            for (int i = 0; i < R; i++) {
                const double v = i < valid ? load_elem(src[i] + p * (ptrdiff_t)es, op->type) : 0.0;
                store_elem(panel, p * R + i, to, v);
            }
        }
    }
    else if (op->type == LC_F32) {
        if (to == LC_F32) {
            pack_panel_kcontig(src, kc, R, LC_F32, LC_F32, panel);
        }
        else {
            pack_panel_kcontig(src, kc, R, LC_F32, LC_F64, panel);
        }
    }
    else if (to == LC_F64) {
        pack_panel_kcontig(src, kc, R, LC_F64, LC_F64, panel);
    }
    else {
        pack_panel_kcontig(src, kc, R, LC_F64, LC_F32, panel);
    }
}

/* Copies one k step of a panel: `bytes` is R lanes of one type, and the
 * usual sizes are spelled as constants so that the copy is inlined (a libc
 * call per 64-128 bytes cost as much as the copy). */
LC_ALWAYS_INLINE void
copy_lanes(char *d, const char *s, size_t bytes)
{
    switch (bytes) {
    case 256: memcpy(d, s, 256); break;
    case 128: memcpy(d, s, 128); break;
    case 112: memcpy(d, s, 112); break;
    case 64: memcpy(d, s, 64); break;
    case 48: memcpy(d, s, 48); break;
    case 24: memcpy(d, s, 24); break;
    default: memcpy(d, s, bytes);
    }
}

/* Panels whose R lanes are adjacent in memory (W.T's columns in the
 * forward pass, x^T's in the weight gradient): for each p, one contiguous
 * run over all the panels' lanes, read in order and dealt out to the
 * panels (zeros past `rows`). Reading a whole run at a time, not one
 * panel's lanes over every p, keeps the reads sequential: a panel's own
 * lanes are a row stride apart, often a page, beyond the prefetchers. */
static void
pack_adjacent_lanes(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t k0,
                    ptrdiff_t kc, int R, char *dst)
{
    const size_t es = lc_dtype_size(op->type), lane_bytes = (size_t)R * es;
    const ptrdiff_t whole = rows / R, rest = rows - whole * R;
    for (ptrdiff_t p = 0; p < kc; p++) {
        const char *src = op->data + r0 * (ptrdiff_t)es + col_offset(op, k0 + p);
        char *d = dst + (size_t)p * lane_bytes;
        for (ptrdiff_t q = 0; q < whole; q++) {
            copy_lanes(d + (size_t)(q * kc) * lane_bytes, src + (size_t)q * lane_bytes,
                       lane_bytes);
        }
        if (rest > 0) {
            d += (size_t)(whole * kc) * lane_bytes;
            memcpy(d, src + (size_t)whole * lane_bytes, (size_t)rest * es);
            memset(d + (size_t)rest * es, 0, (size_t)(R - rest) * es);
        }
    }
}

/* Anything else: strides, offset tables, conversions, one element at a time. */
static void
pack_any(const lc_operand *op, ptrdiff_t base, int valid, ptrdiff_t k0, ptrdiff_t kc, int R,
         lc_dtype to, char *panel)
{
    for (ptrdiff_t p = 0; p < kc; p++) {
        const ptrdiff_t co = col_offset(op, k0 + p);
        for (int i = 0; i < R; i++) {
            const double v = i < valid ? load_elem(row_ptr(op, base + i) + co, op->type) : 0.0;
            store_elem(panel, p * R + i, to, v);
        }
    }
}

void
lc_pack_panels(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t k0,
               ptrdiff_t kc, int R, lc_dtype to, void *dst, lc_pack_fn transpose)
{
    const size_t es_from = lc_dtype_size(op->type), es_to = lc_dtype_size(to);
    const ptrdiff_t panels = (rows + R - 1) / R;
    atomic_fetch_add_explicit(&packed_bytes, (unsigned long long)(panels * R * kc) * es_to,
                              memory_order_relaxed);
    const int along_k = !op->col_off && op->cs == (ptrdiff_t)es_from;
    const int adjacent = !op->row_off && op->rs == (ptrdiff_t)es_from && op->type == to;
    if (adjacent && !along_k) {
        pack_adjacent_lanes(op, r0, rows, k0, kc, R, dst);
        return;
    }
    for (ptrdiff_t q = 0; q < panels; q++) {
        char *panel = (char *)dst + (size_t)(q * kc * R) * es_to;
        const ptrdiff_t base = r0 + q * R;
        const int valid = (int)LC_MIN((ptrdiff_t)R, rows - q * R);
        if (along_k) {
            pack_rows_along_k(op, base, valid, k0, kc, R, to, panel, transpose);
        }
        else {
            pack_any(op, base, valid, k0, kc, R, to, panel);
        }
    }
}

void
lc_pack_rows(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t k,
             lc_dtype to, void *dst)
{
    atomic_fetch_add_explicit(&packed_bytes, (unsigned long long)(rows * k) * lc_dtype_size(to),
                              memory_order_relaxed);
    for (ptrdiff_t i = 0; i < rows; i++) {
        const char *src = row_ptr(op, r0 + i);
        for (ptrdiff_t p = 0; p < k; p++) {
            store_elem(dst, i * k + p, to, load_elem(src + col_offset(op, p), op->type));
        }
    }
}
