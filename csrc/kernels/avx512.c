/*
 * AVX-512 (F, BW, DQ, VL) microkernels: float32 12x32 and float64 14x16
 * register tiles (24 and 28 zmm accumulators, C row-major, vectors along N),
 * and few-rows dot kernels. Compiled for this target by the pragma below, so
 * the file builds with any compiler flags and runs only when dispatch.c has
 * seen the features.
 */
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#include <immintrin.h>
#include <stdint.h>

#include "kernels.h"
#include "dot_driver.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#define MR_F32 12
#define NR_F32 32
#define MR_F64 14
#define NR_F64 16

ALWAYS_INLINE __mmask16
mask16(int n)
{
    if (n >= 16) {
        return (__mmask16)0xFFFF;
    }
    return n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

ALWAYS_INLINE __mmask8
mask8(int n)
{
    if (n >= 8) {
        return (__mmask8)0xFF;
    }
    return n <= 0 ? (__mmask8)0 : (__mmask8)((1u << n) - 1u);
}

/*
 * The register tiles. Each body is a function of compile-time ROWS (rows of
 * A used) and VECS (vectors of B used), so an edge tile with few rows or
 * columns runs only the FMAs it needs: Linear(128, 128) on 16 rows, say, is
 * a 12-row tile and a 4-row tile, not two 12-row ones. Every accumulator
 * sums in the same p order in every variant, so results do not depend on it.
 */
ALWAYS_INLINE void
tile_f32_body(const int ROWS, const int VECS, ptrdiff_t kc, const float *a,
              const float *b, float *c, ptrdiff_t ldc, int mr, int nr,
              const float *bias, int flags)
{
    const __mmask16 m[2] = {mask16(nr), mask16(nr - 16)};
    __m512 acc[MR_F32][2], init[2];
    /* C comes from L3 or memory: start fetching it now, so it is in L1
     * when the k loop ends (the loop takes about a microsecond). */
#pragma GCC unroll 12
    for (int i = 0; i < ROWS; i++) {
        if (i < mr) {
            __builtin_prefetch(c + i * ldc, 1, 3);
            __builtin_prefetch(c + i * ldc + 16 * VECS - 1, 1, 3);
        }
    }
    for (int v = 0; v < VECS; v++) {
        /* Masked loads never touch bias past its end. */
        init[v] = (flags & LC_KF_BIAS) ? _mm512_maskz_loadu_ps(m[v], bias + 16 * v)
                                       : _mm512_setzero_ps();
    }
#pragma GCC unroll 12
    for (int i = 0; i < ROWS; i++) {
        for (int v = 0; v < VECS; v++) {
            acc[i][v] = init[v];
        }
    }
#pragma GCC unroll 4
    for (ptrdiff_t p = 0; p < kc; p++) {
        __m512 bv[2];
        for (int v = 0; v < VECS; v++) {
            bv[v] = _mm512_load_ps(b + 16 * v);
        }
#pragma GCC unroll 12
        for (int i = 0; i < ROWS; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            for (int v = 0; v < VECS; v++) {
                acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
        }
        a += MR_F32;
        b += NR_F32;
    }
#pragma GCC unroll 12
    for (int i = 0; i < ROWS; i++) {
        if (i < mr) {
            float *ci = c + i * ldc;
            for (int v = 0; v < VECS; v++) {
                if (!(flags & LC_KF_OVERWRITE)) {
                    acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_maskz_loadu_ps(m[v], ci + 16 * v));
                }
                _mm512_mask_storeu_ps(ci + 16 * v, m[v], acc[i][v]);
            }
        }
    }
}

ALWAYS_INLINE void
tile_f64_body(const int ROWS, const int VECS, ptrdiff_t kc, const double *a,
              const double *b, double *c, ptrdiff_t ldc, int mr, int nr,
              const double *bias, int flags)
{
    const __mmask8 m[2] = {mask8(nr), mask8(nr - 8)};
    __m512d acc[MR_F64][2], init[2];
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; i++) {
        if (i < mr) {
            __builtin_prefetch(c + i * ldc, 1, 3);
            __builtin_prefetch(c + i * ldc + 8 * VECS - 1, 1, 3);
        }
    }
    for (int v = 0; v < VECS; v++) {
        init[v] = (flags & LC_KF_BIAS) ? _mm512_maskz_loadu_pd(m[v], bias + 8 * v)
                                       : _mm512_setzero_pd();
    }
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; i++) {
        for (int v = 0; v < VECS; v++) {
            acc[i][v] = init[v];
        }
    }
#pragma GCC unroll 4
    for (ptrdiff_t p = 0; p < kc; p++) {
        __m512d bv[2];
        for (int v = 0; v < VECS; v++) {
            bv[v] = _mm512_load_pd(b + 8 * v);
        }
#pragma GCC unroll 14
        for (int i = 0; i < ROWS; i++) {
            const __m512d ai = _mm512_set1_pd(a[i]);
            for (int v = 0; v < VECS; v++) {
                acc[i][v] = _mm512_fmadd_pd(ai, bv[v], acc[i][v]);
            }
        }
        a += MR_F64;
        b += NR_F64;
    }
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; i++) {
        if (i < mr) {
            double *ci = c + i * ldc;
            for (int v = 0; v < VECS; v++) {
                if (!(flags & LC_KF_OVERWRITE)) {
                    acc[i][v] = _mm512_add_pd(acc[i][v], _mm512_maskz_loadu_pd(m[v], ci + 8 * v));
                }
                _mm512_mask_storeu_pd(ci + 8 * v, m[v], acc[i][v]);
            }
        }
    }
}

static void
tile_avx512_f32_12x32(ptrdiff_t kc, const float *a, const float *b, float *c,
                      ptrdiff_t ldc, int mr, int nr, const float *bias,
                      int flags)
{
    if (nr > 16) {
        if (mr > 8) {
            tile_f32_body(12, 2, kc, a, b, c, ldc, mr, nr, bias, flags);
        }
        else if (mr > 4) {
            tile_f32_body(8, 2, kc, a, b, c, ldc, mr, nr, bias, flags);
        }
        else {
            tile_f32_body(4, 2, kc, a, b, c, ldc, mr, nr, bias, flags);
        }
    }
    else if (mr > 8) {
        tile_f32_body(12, 1, kc, a, b, c, ldc, mr, nr, bias, flags);
    }
    else if (mr > 4) {
        tile_f32_body(8, 1, kc, a, b, c, ldc, mr, nr, bias, flags);
    }
    else {
        tile_f32_body(4, 1, kc, a, b, c, ldc, mr, nr, bias, flags);
    }
}

static void
tile_avx512_f64_14x16(ptrdiff_t kc, const double *a, const double *b,
                      double *c, ptrdiff_t ldc, int mr, int nr,
                      const double *bias, int flags)
{
    if (nr > 8) {
        if (mr > 8) {
            tile_f64_body(14, 2, kc, a, b, c, ldc, mr, nr, bias, flags);
        }
        else if (mr > 4) {
            tile_f64_body(8, 2, kc, a, b, c, ldc, mr, nr, bias, flags);
        }
        else {
            tile_f64_body(4, 2, kc, a, b, c, ldc, mr, nr, bias, flags);
        }
    }
    else if (mr > 8) {
        tile_f64_body(14, 1, kc, a, b, c, ldc, mr, nr, bias, flags);
    }
    else if (mr > 4) {
        tile_f64_body(8, 1, kc, a, b, c, ldc, mr, nr, bias, flags);
    }
    else {
        tile_f64_body(4, 1, kc, a, b, c, ldc, mr, nr, bias, flags);
    }
}

/*
 * Transposing packs. A 16x16 (float32) or 8x8 (float64) block of rows is
 * loaded, transposed in registers (unpack within 128-bit lanes, then two
 * rounds of 128-bit lane shuffles) and stored as R-wide rows of the panel.
 */
ALWAYS_INLINE void
transpose_16x16_ps(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* r[4g + c], 128-bit lane L: column 4L + c of rows 4g..4g+3. */
    for (int c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        t[c + 4] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
        t[c + 8] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        t[c + 12] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0xDD);
        r[c + 4] = _mm512_shuffle_f32x4(t[c + 4], t[c + 12], 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(t[c + 4], t[c + 12], 0xDD);
    }
}

ALWAYS_INLINE void
transpose_8x8_pd(__m512d r[8])
{
    __m512d t[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    /* t[2g + c], lane L: column 2L + c of rows 2g, 2g+1. */
    __m512d s[8];
    for (int c = 0; c < 2; c++) {
        s[c] = _mm512_shuffle_f64x2(t[c], t[2 + c], 0x88);
        s[c + 2] = _mm512_shuffle_f64x2(t[c], t[2 + c], 0xDD);
        s[c + 4] = _mm512_shuffle_f64x2(t[4 + c], t[6 + c], 0x88);
        s[c + 6] = _mm512_shuffle_f64x2(t[4 + c], t[6 + c], 0xDD);
    }
    for (int c = 0; c < 2; c++) {
        r[c] = _mm512_shuffle_f64x2(s[c], s[c + 4], 0x88);
        r[c + 4] = _mm512_shuffle_f64x2(s[c], s[c + 4], 0xDD);
        r[c + 2] = _mm512_shuffle_f64x2(s[c + 2], s[c + 6], 0x88);
        r[c + 6] = _mm512_shuffle_f64x2(s[c + 2], s[c + 6], 0xDD);
    }
}

static void
pack_avx512_f32(ptrdiff_t kc, int R, const float *const *rows, float *dst)
{
    for (int g = 0; g < R; g += 16) {
        const __mmask16 lanes = mask16(R - g);
        const int nrow = R - g < 16 ? R - g : 16;
        for (ptrdiff_t p = 0; p < kc; p += 16) {
            const int nk = kc - p < 16 ? (int)(kc - p) : 16;
            const __mmask16 km = mask16(nk);
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                const float *src = i < nrow ? rows[g + i] : NULL;
                /* Sixteen row streams are too many for the hardware
                 * prefetchers: ask for each row's data 256 bytes ahead. */
                if (src) {
                    __builtin_prefetch(src + p + 64, 0, 3);
                }
                r[i] = src ? _mm512_maskz_loadu_ps(km, src + p) : _mm512_setzero_ps();
            }
            transpose_16x16_ps(r);
            for (int j = 0; j < nk; j++) {
                _mm512_mask_storeu_ps(dst + (p + j) * R + g, lanes, r[j]);
            }
        }
    }
}

static void
pack_avx512_f64(ptrdiff_t kc, int R, const double *const *rows, double *dst)
{
    for (int g = 0; g < R; g += 8) {
        const __mmask8 lanes = mask8(R - g);
        const int nrow = R - g < 8 ? R - g : 8;
        for (ptrdiff_t p = 0; p < kc; p += 8) {
            const int nk = kc - p < 8 ? (int)(kc - p) : 8;
            const __mmask8 km = mask8(nk);
            __m512d r[8];
            for (int i = 0; i < 8; i++) {
                const double *src = i < nrow ? rows[g + i] : NULL;
                if (src) {
                    __builtin_prefetch(src + p + 32, 0, 3);
                }
                r[i] = src ? _mm512_maskz_loadu_pd(km, src + p) : _mm512_setzero_pd();
            }
            transpose_8x8_pd(r);
            for (int j = 0; j < nk; j++) {
                _mm512_mask_storeu_pd(dst + (p + j) * R + g, lanes, r[j]);
            }
        }
    }
}


/*
 * Small-M transposed tiles (see kernels.h): acc[j][v] holds column j of C
 * for the rows of vector v; the store transposes them back into rows with the
 * packers' register transposes.
 */
#define TILET_NW 14 /* 28 accumulators with two vectors of rows */

ALWAYS_INLINE void
tilet_f32_body(const int MV, ptrdiff_t kc, const float *xp, int R, const float *w,
               ptrdiff_t ldw, float *c, ptrdiff_t ldc, int mr, int nw,
               const float *bias, int flags)
{
    const float *wr[TILET_NW];
    __m512 acc[TILET_NW][2];
    for (int j = 0; j < TILET_NW; j++) {
        /* Rows past the edge repeat the last one: read, never stored. */
        const int jj = j < nw ? j : nw - 1;
        wr[j] = w + jj * ldw;
        const __m512 init = (flags & LC_KF_BIAS) ? _mm512_set1_ps(bias[jj]) : _mm512_setzero_ps();
        for (int v = 0; v < MV; v++) {
            acc[j][v] = init;
        }
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        __m512 xv[2];
        for (int v = 0; v < MV; v++) {
            xv[v] = _mm512_load_ps(xp + p * R + 16 * v);
        }
#pragma GCC unroll 14
        for (int j = 0; j < TILET_NW; j++) {
            const __m512 wb = _mm512_set1_ps(wr[j][p]);
            for (int v = 0; v < MV; v++) {
                acc[j][v] = _mm512_fmadd_ps(wb, xv[v], acc[j][v]);
            }
        }
    }
    const __mmask16 cols = mask16(nw);
    for (int v = 0; v < MV; v++) {
        __m512 r[16];
        for (int j = 0; j < 16; j++) {
            r[j] = j < TILET_NW ? acc[j][v] : _mm512_setzero_ps();
        }
        transpose_16x16_ps(r); /* r[l]: row 16v + l, columns 0..15 */
        for (int l = 0; l < 16 && 16 * v + l < mr; l++) {
            float *ci = c + (16 * v + l) * ldc;
            if (!(flags & LC_KF_OVERWRITE)) {
                r[l] = _mm512_add_ps(r[l], _mm512_maskz_loadu_ps(cols, ci));
            }
            _mm512_mask_storeu_ps(ci, cols, r[l]);
        }
    }
}

ALWAYS_INLINE void
tilet_f64_body(const int MV, ptrdiff_t kc, const double *xp, int R, const double *w,
               ptrdiff_t ldw, double *c, ptrdiff_t ldc, int mr, int nw,
               const double *bias, int flags)
{
    const double *wr[TILET_NW];
    __m512d acc[TILET_NW][2];
    for (int j = 0; j < TILET_NW; j++) {
        const int jj = j < nw ? j : nw - 1;
        wr[j] = w + jj * ldw;
        const __m512d init = (flags & LC_KF_BIAS) ? _mm512_set1_pd(bias[jj]) : _mm512_setzero_pd();
        for (int v = 0; v < MV; v++) {
            acc[j][v] = init;
        }
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        __m512d xv[2];
        for (int v = 0; v < MV; v++) {
            xv[v] = _mm512_load_pd(xp + p * R + 8 * v);
        }
#pragma GCC unroll 14
        for (int j = 0; j < TILET_NW; j++) {
            const __m512d wb = _mm512_set1_pd(wr[j][p]);
            for (int v = 0; v < MV; v++) {
                acc[j][v] = _mm512_fmadd_pd(wb, xv[v], acc[j][v]);
            }
        }
    }
    for (int v = 0; v < MV; v++) {
        for (int j0 = 0; j0 < TILET_NW; j0 += 8) {
            const __mmask8 cols = mask8(nw - j0);
            __m512d r[8];
            for (int j = 0; j < 8; j++) {
                r[j] = j0 + j < TILET_NW ? acc[j0 + j][v] : _mm512_setzero_pd();
            }
            transpose_8x8_pd(r); /* r[l]: row 8v + l, columns j0..j0+7 */
            for (int l = 0; l < 8 && 8 * v + l < mr; l++) {
                double *ci = c + (8 * v + l) * ldc + j0;
                if (!(flags & LC_KF_OVERWRITE)) {
                    r[l] = _mm512_add_pd(r[l], _mm512_maskz_loadu_pd(cols, ci));
                }
                _mm512_mask_storeu_pd(ci, cols, r[l]);
            }
        }
    }
}

static void
tilet_avx512_f32(ptrdiff_t kc, const float *xp, int R, const float *w, ptrdiff_t ldw,
                 float *c, ptrdiff_t ldc, int mr, int nw, const float *bias, int flags)
{
    if (R > 16) {
        tilet_f32_body(2, kc, xp, R, w, ldw, c, ldc, mr, nw, bias, flags);
    }
    else {
        tilet_f32_body(1, kc, xp, R, w, ldw, c, ldc, mr, nw, bias, flags);
    }
}

static void
tilet_avx512_f64(ptrdiff_t kc, const double *xp, int R, const double *w, ptrdiff_t ldw,
                 double *c, ptrdiff_t ldc, int mr, int nw, const double *bias, int flags)
{
    if (R > 8) {
        tilet_f64_body(2, kc, xp, R, w, ldw, c, ldc, mr, nw, bias, flags);
    }
    else {
        tilet_f64_body(1, kc, xp, R, w, ldw, c, ldc, mr, nw, bias, flags);
    }
}


/*
 * Dot kernels. Each (row of x, row of w) pair owns one vector accumulator:
 * lane l sums the products at p = l (mod lanes) in p order, the K tail comes
 * in through a masked load, and one fixed reduction tree adds the lanes. The
 * result of a pair therefore does not depend on MI or NJ, the tile it is in.
 */
ALWAYS_INLINE void
dot_tile_avx512_f32(int MI, int NJ, ptrdiff_t k, const float *x, ptrdiff_t ldx,
                    const float *w, ptrdiff_t ldw, float *y, ptrdiff_t ldy,
                    const float *bias, int flags)
{
    __m512 acc[4][4];
    for (int i = 0; i < MI; i++) {
        for (int j = 0; j < NJ; j++) {
            acc[i][j] = _mm512_setzero_ps();
        }
    }
    ptrdiff_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 wv[4];
        for (int j = 0; j < NJ; j++) {
            wv[j] = _mm512_loadu_ps(w + j * ldw + p);
        }
        for (int i = 0; i < MI; i++) {
            const __m512 xv = _mm512_loadu_ps(x + i * ldx + p);
            for (int j = 0; j < NJ; j++) {
                acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
            }
        }
    }
    if (p < k) {
        const __mmask16 m = mask16((int)(k - p));
        __m512 wv[4];
        for (int j = 0; j < NJ; j++) {
            wv[j] = _mm512_maskz_loadu_ps(m, w + j * ldw + p);
        }
        for (int i = 0; i < MI; i++) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + i * ldx + p);
            for (int j = 0; j < NJ; j++) {
                acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < MI; i++) {
        for (int j = 0; j < NJ; j++) {
            float v = _mm512_reduce_add_ps(acc[i][j]);
            if (flags & LC_KF_BIAS) {
                v += bias[j];
            }
            float *yij = y + i * ldy + j;
            *yij = (flags & LC_KF_OVERWRITE) ? v : *yij + v;
        }
    }
}

ALWAYS_INLINE void
dot_tile_avx512_f64(int MI, int NJ, ptrdiff_t k, const double *x,
                    ptrdiff_t ldx, const double *w, ptrdiff_t ldw, double *y,
                    ptrdiff_t ldy, const double *bias, int flags)
{
    __m512d acc[4][4];
    for (int i = 0; i < MI; i++) {
        for (int j = 0; j < NJ; j++) {
            acc[i][j] = _mm512_setzero_pd();
        }
    }
    ptrdiff_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m512d wv[4];
        for (int j = 0; j < NJ; j++) {
            wv[j] = _mm512_loadu_pd(w + j * ldw + p);
        }
        for (int i = 0; i < MI; i++) {
            const __m512d xv = _mm512_loadu_pd(x + i * ldx + p);
            for (int j = 0; j < NJ; j++) {
                acc[i][j] = _mm512_fmadd_pd(xv, wv[j], acc[i][j]);
            }
        }
    }
    if (p < k) {
        const __mmask8 m = mask8((int)(k - p));
        __m512d wv[4];
        for (int j = 0; j < NJ; j++) {
            wv[j] = _mm512_maskz_loadu_pd(m, w + j * ldw + p);
        }
        for (int i = 0; i < MI; i++) {
            const __m512d xv = _mm512_maskz_loadu_pd(m, x + i * ldx + p);
            for (int j = 0; j < NJ; j++) {
                acc[i][j] = _mm512_fmadd_pd(xv, wv[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < MI; i++) {
        for (int j = 0; j < NJ; j++) {
            double v = _mm512_reduce_add_pd(acc[i][j]);
            if (flags & LC_KF_BIAS) {
                v += bias[j];
            }
            double *yij = y + i * ldy + j;
            *yij = (flags & LC_KF_OVERWRITE) ? v : *yij + v;
        }
    }
}

DOT_DRIVER(dot_avx512_f32, float, dot_tile_avx512_f32)
DOT_DRIVER(dot_avx512_f64, double, dot_tile_avx512_f64)

const lc_kernel_set lc_kernels_avx512 = {
    .name = "avx512",
    /* Measured on Zen 5 (benchmarks/, 2 threads): KC 512 / 384 keep C's
     * round trips rare; the B micro-panel then spills from L1 to L2, which
     * costs less. 87-89% of peak on 4096^3 and (4096, 768) -> 3072. */
    .f32 = {.mr = MR_F32, .nr = NR_F32, .kc = 512, .mc = 120, .nc = 4096},
    .f64 = {.mr = MR_F64, .nr = NR_F64, .kc = 384, .mc = 56, .nc = 2048},
    .tile_f32 = tile_avx512_f32_12x32,
    .tile_f64 = tile_avx512_f64_14x16,
    .dot_f32 = dot_avx512_f32,
    .dot_f64 = dot_avx512_f64,
    .pack_f32 = pack_avx512_f32,
    .pack_f64 = pack_avx512_f64,
    .tilet_f32 = tilet_avx512_f32,
    .tilet_f64 = tilet_avx512_f64,
    .tilet_lanes_f32 = 16,
    .tilet_lanes_f64 = 8,
    .tilet_nw = TILET_NW,
};
