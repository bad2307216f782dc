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


/* Transposing packs on 8x8 (float32) and 4x4 (float64) register blocks. */
ALWAYS_INLINE void
transpose_8x8_ps(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) {
        __m256 *tt = t + 4 * h, *uu = u + 4 * h;
        uu[0] = _mm256_shuffle_ps(tt[0], tt[2], _MM_SHUFFLE(1, 0, 1, 0));
        uu[1] = _mm256_shuffle_ps(tt[0], tt[2], _MM_SHUFFLE(3, 2, 3, 2));
        uu[2] = _mm256_shuffle_ps(tt[1], tt[3], _MM_SHUFFLE(1, 0, 1, 0));
        uu[3] = _mm256_shuffle_ps(tt[1], tt[3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[c + 4], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(u[c], u[c + 4], 0x31);
    }
}

ALWAYS_INLINE void
transpose_4x4_pd(__m256d r[4])
{
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

static void
pack_avx2_f32(ptrdiff_t kc, int R, const float *const *rows, float *dst)
{
    for (int g = 0; g < R; g += 8) {
        const __m256i lanes = mask_f32(R - g);
        const int nrow = R - g < 8 ? R - g : 8;
        for (ptrdiff_t p = 0; p < kc; p += 8) {
            const int nk = kc - p < 8 ? (int)(kc - p) : 8;
            const __m256i km = mask_f32(nk);
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                const float *src = i < nrow ? rows[g + i] : NULL;
                r[i] = src ? _mm256_maskload_ps(src + p, km) : _mm256_setzero_ps();
            }
            transpose_8x8_ps(r);
            for (int j = 0; j < nk; j++) {
                _mm256_maskstore_ps(dst + (p + j) * R + g, lanes, r[j]);
            }
        }
    }
}

static void
pack_avx2_f64(ptrdiff_t kc, int R, const double *const *rows, double *dst)
{
    for (int g = 0; g < R; g += 4) {
        const __m256i lanes = mask_f64(R - g);
        const int nrow = R - g < 4 ? R - g : 4;
        for (ptrdiff_t p = 0; p < kc; p += 4) {
            const int nk = kc - p < 4 ? (int)(kc - p) : 4;
            const __m256i km = mask_f64(nk);
            __m256d r[4];
            for (int i = 0; i < 4; i++) {
                const double *src = i < nrow ? rows[g + i] : NULL;
                r[i] = src ? _mm256_maskload_pd(src + p, km) : _mm256_setzero_pd();
            }
            transpose_4x4_pd(r);
            for (int j = 0; j < nk; j++) {
                _mm256_maskstore_pd(dst + (p + j) * R + g, lanes, r[j]);
            }
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
    .f32 = {.mr = MR_F32, .nr = NR_F32, .kc = 512, .mc = 144, .nc = 4096},
    .f64 = {.mr = MR_F64, .nr = NR_F64, .kc = 384, .mc = 72, .nc = 2048},
    .tile_f32 = tile_avx2_f32_6x16,
    .tile_f64 = tile_avx2_f64_6x8,
    .dot_f32 = dot_avx2_f32,
    .dot_f64 = dot_avx2_f64,
    .pack_f32 = pack_avx2_f32,
    .pack_f64 = pack_avx2_f64,
};
