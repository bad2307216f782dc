/*
 * AVX2 + FMA microkernels: float32 6x16 and float64 6x8 register tiles
 * (12 ymm accumulators, C row-major, vectors along N) and few-rows dot
 * kernels. Edges use vmaskmov loads and stores.
 */
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <stdint.h>

#include "kernels.h"
#include "dot_driver.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#define MR_F32 6
#define NR_F32 16
#define MR_F64 6
#define NR_F64 8

/* Lane l of the mask is set when l < n (lanes of 32 bits). */
ALWAYS_INLINE __m256i
mask_f32(int n)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
}

/* Lane l of the mask is set when l < n (lanes of 64 bits). */
ALWAYS_INLINE __m256i
mask_f64(int n)
{
    const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), lanes);
}

static void
tile_avx2_f32_6x16(ptrdiff_t kc, const float *a, const float *b, float *c,
                   ptrdiff_t ldc, int mr, int nr, const float *bias,
                   int flags)
{
    const __m256i m0 = mask_f32(nr), m1 = mask_f32(nr - 8);
    __m256 c0[MR_F32], c1[MR_F32];
    __m256 init0 = _mm256_setzero_ps(), init1 = _mm256_setzero_ps();
    if (flags & LC_KF_BIAS) {
        init0 = _mm256_maskload_ps(bias, m0);
        init1 = _mm256_maskload_ps(bias + 8, m1);
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR_F32; i++) {
        c0[i] = init0;
        c1[i] = init1;
    }
#pragma GCC unroll 4
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_load_ps(b);
        const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR_F32; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
        a += MR_F32;
        b += NR_F32;
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR_F32; i++) {
        if (i < mr) {
            float *ci = c + i * ldc;
            if (!(flags & LC_KF_OVERWRITE)) {
                c0[i] = _mm256_add_ps(c0[i], _mm256_maskload_ps(ci, m0));
                c1[i] = _mm256_add_ps(c1[i], _mm256_maskload_ps(ci + 8, m1));
            }
            _mm256_maskstore_ps(ci, m0, c0[i]);
            _mm256_maskstore_ps(ci + 8, m1, c1[i]);
        }
    }
}

static void
tile_avx2_f64_6x8(ptrdiff_t kc, const double *a, const double *b, double *c,
                  ptrdiff_t ldc, int mr, int nr, const double *bias,
                  int flags)
{
    const __m256i m0 = mask_f64(nr), m1 = mask_f64(nr - 4);
    __m256d c0[MR_F64], c1[MR_F64];
    __m256d init0 = _mm256_setzero_pd(), init1 = _mm256_setzero_pd();
    if (flags & LC_KF_BIAS) {
        init0 = _mm256_maskload_pd(bias, m0);
        init1 = _mm256_maskload_pd(bias + 4, m1);
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR_F64; i++) {
        c0[i] = init0;
        c1[i] = init1;
    }
#pragma GCC unroll 4
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m256d b0 = _mm256_load_pd(b);
        const __m256d b1 = _mm256_load_pd(b + 4);
#pragma GCC unroll 6
        for (int i = 0; i < MR_F64; i++) {
            const __m256d ai = _mm256_broadcast_sd(a + i);
            c0[i] = _mm256_fmadd_pd(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_pd(ai, b1, c1[i]);
        }
        a += MR_F64;
        b += NR_F64;
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR_F64; i++) {
        if (i < mr) {
            double *ci = c + i * ldc;
            if (!(flags & LC_KF_OVERWRITE)) {
                c0[i] = _mm256_add_pd(c0[i], _mm256_maskload_pd(ci, m0));
                c1[i] = _mm256_add_pd(c1[i], _mm256_maskload_pd(ci + 4, m1));
            }
            _mm256_maskstore_pd(ci, m0, c0[i]);
            _mm256_maskstore_pd(ci + 4, m1, c1[i]);
        }
    }
}

/* Fixed reduction trees: high half onto low half, then pairs. */
ALWAYS_INLINE float
reduce_add_f32(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

ALWAYS_INLINE double
reduce_add_f64(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

/* See avx512.c: one accumulator per (x row, w row), fixed lane reduction. */
ALWAYS_INLINE void
dot_tile_avx2_f32(int MI, int NJ, ptrdiff_t k, const float *x, ptrdiff_t ldx,
                  const float *w, ptrdiff_t ldw, float *y, ptrdiff_t ldy,
                  const float *bias, int flags)
{
    __m256 acc[4][4];
    for (int i = 0; i < MI; i++) {
        for (int j = 0; j < NJ; j++) {
            acc[i][j] = _mm256_setzero_ps();
        }
    }
    ptrdiff_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 wv[4];
        for (int j = 0; j < NJ; j++) {
            wv[j] = _mm256_loadu_ps(w + j * ldw + p);
        }
        for (int i = 0; i < MI; i++) {
            const __m256 xv = _mm256_loadu_ps(x + i * ldx + p);
            for (int j = 0; j < NJ; j++) {
                acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
            }
        }
    }
    if (p < k) {
        const __m256i m = mask_f32((int)(k - p));
        __m256 wv[4];
        for (int j = 0; j < NJ; j++) {
            wv[j] = _mm256_maskload_ps(w + j * ldw + p, m);
        }
        for (int i = 0; i < MI; i++) {
            const __m256 xv = _mm256_maskload_ps(x + i * ldx + p, m);
            for (int j = 0; j < NJ; j++) {
                acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < MI; i++) {
        for (int j = 0; j < NJ; j++) {
            float v = reduce_add_f32(acc[i][j]);
            if (flags & LC_KF_BIAS) {
                v += bias[j];
            }
            float *yij = y + i * ldy + j;
            *yij = (flags & LC_KF_OVERWRITE) ? v : *yij + v;
        }
    }
}

ALWAYS_INLINE void
dot_tile_avx2_f64(int MI, int NJ, ptrdiff_t k, const double *x, ptrdiff_t ldx,
                  const double *w, ptrdiff_t ldw, double *y, ptrdiff_t ldy,
                  const double *bias, int flags)
{
    __m256d acc[4][4];
    for (int i = 0; i < MI; i++) {
        for (int j = 0; j < NJ; j++) {
            acc[i][j] = _mm256_setzero_pd();
        }
    }
    ptrdiff_t p = 0;
    for (; p + 4 <= k; p += 4) {
        __m256d wv[4];
        for (int j = 0; j < NJ; j++) {
            wv[j] = _mm256_loadu_pd(w + j * ldw + p);
        }
        for (int i = 0; i < MI; i++) {
            const __m256d xv = _mm256_loadu_pd(x + i * ldx + p);
            for (int j = 0; j < NJ; j++) {
                acc[i][j] = _mm256_fmadd_pd(xv, wv[j], acc[i][j]);
            }
        }
    }
    if (p < k) {
        const __m256i m = mask_f64((int)(k - p));
        __m256d wv[4];
        for (int j = 0; j < NJ; j++) {
            wv[j] = _mm256_maskload_pd(w + j * ldw + p, m);
        }
        for (int i = 0; i < MI; i++) {
            const __m256d xv = _mm256_maskload_pd(x + i * ldx + p, m);
            for (int j = 0; j < NJ; j++) {
                acc[i][j] = _mm256_fmadd_pd(xv, wv[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < MI; i++) {
        for (int j = 0; j < NJ; j++) {
            double v = reduce_add_f64(acc[i][j]);
            if (flags & LC_KF_BIAS) {
                v += bias[j];
            }
            double *yij = y + i * ldy + j;
            *yij = (flags & LC_KF_OVERWRITE) ? v : *yij + v;
        }
    }
}

DOT_DRIVER(dot_avx2_f32, float, dot_tile_avx2_f32)
DOT_DRIVER(dot_avx2_f64, double, dot_tile_avx2_f64)

const lc_kernel_set lc_kernels_avx2 = {
    .name = "avx2",
    .f32 = {.mr = MR_F32, .nr = NR_F32, .kc = 256, .mc = 144, .nc = 4096},
    .f64 = {.mr = MR_F64, .nr = NR_F64, .kc = 256, .mc = 72, .nc = 2048},
    .tile_f32 = tile_avx2_f32_6x16,
    .tile_f64 = tile_avx2_f64_6x8,
    .dot_f32 = dot_avx2_f32,
    .dot_f64 = dot_avx2_f64,
};
