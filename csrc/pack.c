/*
 * Packers. Three layouts of the source come up: rows contiguous along k
 * (x and W in the forward pass), columns contiguous (W read as W^T in the
 * backward pass), and anything else (strided, negative, broadcast, offset
 * tables). The first two get loops the compiler can keep simple; all three
 * convert the element type on the way: float32 <-> float64 in C, float16
 * and bfloat16 widened to float32 by the kernel set's vector conversions
 * where runs are contiguous, by half.h's elsewhere (the same bits).
 */
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "half.h"
#include "pack.h"

static atomic_ullong packed_bytes;

unsigned long long
lc_packed_bytes(void)
{
    return atomic_load_explicit(&packed_bytes, memory_order_relaxed);
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
                lc_element_store(dst, p * R + i, to, lc_element_load(rows[i] + p * es, from));
            }
        }
    }
}

#define PACK_ROWS_MAX (LC_MAX_NR > LC_MAX_MR ? LC_MAX_NR : LC_MAX_MR)
/* Half rows are widened this many steps of k at a time, then transposed. */
#define WIDEN_STEPS 64

/* The same panel from rows of float16/bfloat16: each row's next steps
 * widened into a float32 block on the stack (16 KiB at most), which the
 * transposing pack then reads as rows of float32. */
static void
pack_half_rows_along_k(const char *const *src, int valid, ptrdiff_t kc, int R, float *panel,
                       const lc_packer *pk)
{
    float block[PACK_ROWS_MAX][WIDEN_STEPS];
    const void *rows[PACK_ROWS_MAX];
    for (ptrdiff_t p0 = 0; p0 < kc; p0 += WIDEN_STEPS) {
        const ptrdiff_t steps = LC_MIN((ptrdiff_t)WIDEN_STEPS, kc - p0);
        for (int i = 0; i < R; i++) {
            rows[i] = i < valid ? block[i] : NULL;
            if (i < valid) {
                pk->widen(steps, src[i] + p0 * 2, block[i]);
            }
        }
        float *dst = panel + p0 * R; /* 64-byte aligned: WIDEN_STEPS * 4 bytes a row */
        if (pk->transpose != NULL) {
            pk->transpose(steps, R, rows, dst);
            continue;
        }
        for (ptrdiff_t p = 0; p < steps; p++) {
            for (int i = 0; i < R; i++) {
                dst[p * R + i] = i < valid ? block[i][p] : 0.0f;
            }
        }
    }
}

/* A panel whose R rows each run contiguously along k (x in the forward
 * pass): the kernel set's register transposes when the type stays (or is
 * a half type, widened first), else a loop per type pair; rows past
 * `valid` are zeros. */
static void
pack_rows_along_k(const lc_operand *op, ptrdiff_t base, int valid, ptrdiff_t k0, ptrdiff_t kc,
                  int R, lc_dtype to, char *panel, const lc_packer *pk)
{
    const size_t es = lc_dtype_size(op->type);
    const lc_pack_fn transpose = pk->transpose;
    const char *src[PACK_ROWS_MAX];
    for (int i = 0; i < R; i++) {
        src[i] = i < valid ? row_ptr(op, base + i) + k0 * (ptrdiff_t)es : NULL;
    }
    if (lc_is_half(op->type) && pk->widen != NULL && to == LC_F32) {
        pack_half_rows_along_k(src, valid, kc, R, (float *)panel, pk);
    }
    else if (op->type == to && transpose != NULL) {
        transpose(kc, R, (const void *const *)src, panel);
    }
    else if (valid < R) {
        for (ptrdiff_t p = 0; p < kc; p++) {
            for (int i = 0; i < R; i++) {
                const double v = i < valid ? lc_element_load(src[i] + p * (ptrdiff_t)es, op->type) : 0.0;
                lc_element_store(panel, p * R + i, to, v);
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

/* The same from float16/bfloat16 lanes, widened to float32 on the way. */
static void
pack_adjacent_half_lanes(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t k0,
                         ptrdiff_t kc, int R, float *dst, lc_widen_fn widen)
{
    const ptrdiff_t whole = rows / R, rest = rows - whole * R;
    for (ptrdiff_t p = 0; p < kc; p++) {
        const char *src = op->data + r0 * 2 + col_offset(op, k0 + p);
        float *d = dst + p * R;
        for (ptrdiff_t q = 0; q < whole; q++) {
            widen(R, src + q * R * 2, d + q * kc * R);
        }
        if (rest > 0) {
            d += whole * kc * R;
            widen(rest, src + whole * R * 2, d);
            memset(d + rest, 0, (size_t)(R - rest) * sizeof(float));
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
            const double v = i < valid ? lc_element_load(row_ptr(op, base + i) + co, op->type) : 0.0;
            lc_element_store(panel, p * R + i, to, v);
        }
    }
}

void
lc_pack_panels(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t k0,
               ptrdiff_t kc, int R, lc_dtype to, void *dst, const lc_packer *pk)
{
    const size_t es_from = lc_dtype_size(op->type), es_to = lc_dtype_size(to);
    const ptrdiff_t panels = (rows + R - 1) / R;
    atomic_fetch_add_explicit(&packed_bytes, (unsigned long long)(panels * R * kc) * es_to,
                              memory_order_relaxed);
    const int along_k = !op->col_off && op->cs == (ptrdiff_t)es_from;
    const int adjacent = !op->row_off && op->rs == (ptrdiff_t)es_from;
    const int widening = lc_is_half(op->type) && to == LC_F32 && pk->widen != NULL;
    if (adjacent && !along_k && op->type == to) {
        pack_adjacent_lanes(op, r0, rows, k0, kc, R, dst);
        return;
    }
    if (adjacent && !along_k && widening) {
        pack_adjacent_half_lanes(op, r0, rows, k0, kc, R, dst, pk->widen);
        return;
    }
    for (ptrdiff_t q = 0; q < panels; q++) {
        char *panel = (char *)dst + (size_t)(q * kc * R) * es_to;
        const ptrdiff_t base = r0 + q * R;
        const int valid = (int)LC_MIN((ptrdiff_t)R, rows - q * R);
        if (along_k) {
            pack_rows_along_k(op, base, valid, k0, kc, R, to, panel, pk);
        }
        else {
            pack_any(op, base, valid, k0, kc, R, to, panel);
        }
    }
}

void
lc_pack_rows(const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t k,
             lc_dtype to, void *dst, lc_widen_fn widen)
{
    atomic_fetch_add_explicit(&packed_bytes, (unsigned long long)(rows * k) * lc_dtype_size(to),
                              memory_order_relaxed);
    const int widening = lc_is_half(op->type) && to == LC_F32 && widen != NULL &&
                         !op->col_off && op->cs == 2;
    for (ptrdiff_t i = 0; i < rows; i++) {
        const char *src = row_ptr(op, r0 + i);
        if (widening) {
            widen(k, src, (float *)dst + i * k);
            continue;
        }
        for (ptrdiff_t p = 0; p < k; p++) {
            lc_element_store(dst, i * k + p, to, lc_element_load(src + col_offset(op, p), op->type));
        }
    }
}
