/*
 * AVX2 + FMA kernels: packed register tiles float32 6x16 and float64 6x8
 * (12 ymm accumulators, C row-major, vectors along j), direct tiles of up to
 * 6 rows x 2 vectors, and transposing packers. Edges use vmaskmov loads and
 * stores, which never touch memory outside the mask. Every element is one
 * FMA chain in p order (kernels.h), so the bits match the other sets.
 */
/* x86-64 only: elsewhere this file compiles to nothing (no immintrin.h,
 * no target pragma), and dispatch.c does not name this set. */
#if defined(__x86_64__)
#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>
#include <stdint.h>

#include "../common.h"
#include "../half.h"
#include "kernels.h"

#define MR 6   /* packed tile rows, both types */
#define DMR 6  /* direct tile rows */
#define VECS_MAX 2

/* Lane l of the mask is set when l < n (lanes of 32 bits). */
LC_ALWAYS_INLINE __m256i
mask_f32(int n)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
}

/* Lane l of the mask is set when l < n (lanes of 64 bits). */
LC_ALWAYS_INLINE __m256i
mask_f64(int n)
{
    const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), lanes);
}

/* One body for both element types (see avx512.c). */
#define V_F32 __m256
#define V_F64 __m256d
#define LOADM_F32(m, p) _mm256_maskload_ps((p), (m))
#define LOADM_F64(m, p) _mm256_maskload_pd((p), (m))
#define LOADA_F32(p) _mm256_load_ps(p)
#define LOADA_F64(p) _mm256_load_pd(p)
#define STOREM_F32(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define STOREM_F64(p, m, v) _mm256_maskstore_pd((p), (m), (v))
#define SET1_F32(x) _mm256_set1_ps(x)
#define SET1_F64(x) _mm256_set1_pd(x)
#define ZERO_F32() _mm256_setzero_ps()
#define ZERO_F64() _mm256_setzero_pd()
#define FMA_F32(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define FMA_F64(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define MASK_F32(n) mask_f32(n)
#define MASK_F64(n) mask_f64(n)
/* Any NaN as the canonical quiet NaN (kernels.h), before it is stored. */
#define CANON_F32(v)                                                                   \
    _mm256_blendv_ps((v), _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000)),           \
                     _mm256_cmp_ps((v), (v), _CMP_UNORD_Q))
#define CANON_F64(v)                                                                   \
    _mm256_blendv_pd((v), _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FF8000000000000LL)), \
                     _mm256_cmp_pd((v), (v), _CMP_UNORD_Q))

/* Plain loads and stores where a vector is whole: AMD runs vmaskmov much
 * slower, and the tiles and direct tiles load and store C once per K block. */
#define LOADU_F32(p) _mm256_loadu_ps(p)
#define LOADU_F64(p) _mm256_loadu_pd(p)
#define STOREU_F32(p, v) _mm256_storeu_ps((p), (v))
#define STOREU_F64(p, v) _mm256_storeu_pd((p), (v))
/* A vector of C or the bias, whole (FULL) or under mask m. */
#define LOAD_EDGE(S, FULL, m, p) ((FULL) ? LOADU_##S(p) : LOADM_##S((m), (p)))
#define STORE_EDGE(S, FULL, p, m, v) ((FULL) ? STOREU_##S((p), (v)) : STOREM_##S((p), (m), (v)))

/*
 * The packed tile: all MR rows are computed (the panels are zero-padded),
 * only the first mr are loaded from and stored to C. FULL: all NR columns.
 */
#define PACKED_TILE(T, S)                                                               \
    LC_ALWAYS_INLINE void tile_body_##S(const int FULL, ptrdiff_t kc, const T *a,       \
                                        const T *b, T *c, ptrdiff_t ldc, int mr, int nr,  \
                                        const T *bias, int start)                       \
    {                                                                                   \
        enum { L = 32 / sizeof(T), NR = 2 * L };                                        \
        const __m256i m[2] = {MASK_##S(nr), MASK_##S(nr - L)};                          \
        V_##S acc[MR][2];                                                               \
        _Pragma("GCC unroll 6") for (int i = 0; i < MR; i++)                            \
        {                                                                               \
            for (int v = 0; v < 2; v++) {                                               \
                acc[i][v] = start == LC_START_ZERO || (start == LC_START_C && i >= mr)   \
                                ? ZERO_##S()                                            \
                            : start == LC_START_C ? LOAD_EDGE(S, FULL, m[v], c + i * ldc + L * v) \
                                                  : LOAD_EDGE(S, FULL, m[v], bias + L * v); \
            }                                                                           \
        }                                                                               \
        _Pragma("GCC unroll 4") for (ptrdiff_t p = 0; p < kc; p++)                      \
        {                                                                               \
            const V_##S b0 = LOADA_##S(b), b1 = LOADA_##S(b + L);                       \
            _Pragma("GCC unroll 6") for (int i = 0; i < MR; i++)                        \
            {                                                                           \
                const V_##S ai = SET1_##S(a[i]);                                        \
                acc[i][0] = FMA_##S(ai, b0, acc[i][0]);                                 \
                acc[i][1] = FMA_##S(ai, b1, acc[i][1]);                                 \
            }                                                                           \
            a += MR;                                                                    \
            b += NR;                                                                    \
        }                                                                               \
        _Pragma("GCC unroll 6") for (int i = 0; i < MR; i++)                            \
        {                                                                               \
            if (i < mr) {                                                               \
                for (int v = 0; v < 2; v++) {                                           \
                    STORE_EDGE(S, FULL, c + i * ldc + L * v, m[v], CANON_##S(acc[i][v]));          \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    static void tile_avx2_##S(ptrdiff_t kc, const void *a, const void *b, void *c,      \
                              ptrdiff_t ldc, int mr, int nr, const void *bias, int start) \
    {                                                                                   \
        if (nr == 64 / (int)sizeof(T)) {                                                \
            tile_body_##S(1, kc, a, b, c, ldc, mr, nr, bias, start);                    \
        }                                                                               \
        else {                                                                          \
            tile_body_##S(0, kc, a, b, c, ldc, mr, nr, bias, start);                    \
        }                                                                               \
    }

PACKED_TILE(float, F32)
PACKED_TILE(double, F64)

/* Direct tiles: ROWS is exactly mr (see avx512.c). With FULL, every
 * vector is whole. */
#define DIRECT_TILE_BODY(T, S)                                                          \
    LC_ALWAYS_INLINE void direct_body_##S(const int ROWS, const int VECS, const int FULL, \
                                          ptrdiff_t kc, const T *a, ptrdiff_t lda,      \
                                          ptrdiff_t pa, const T *b, ptrdiff_t ldb, T *c, \
                                          ptrdiff_t ldc, int nr, const T *bias, int start) \
    {                                                                                   \
        enum { L = 32 / sizeof(T) };                                                    \
        __m256i m[VECS_MAX];                                                            \
        V_##S acc[DMR][VECS_MAX];                                                       \
        _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                        \
            m[v] = MASK_##S(nr - L * v);                                                \
        }                                                                               \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) {                        \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                    \
                acc[i][v] = start == LC_START_ZERO ? ZERO_##S()                          \
                            : start == LC_START_C ? LOAD_EDGE(S, FULL, m[v], c + i * ldc + L * v) \
                                                  : LOAD_EDGE(S, FULL, m[v], bias + L * v); \
            }                                                                           \
        }                                                                               \
        _Pragma("GCC unroll 2") for (ptrdiff_t p = 0; p < kc; p++)                      \
        {                                                                               \
            const T *bp = b + p * ldb;                                                  \
            V_##S bv[VECS_MAX];                                                         \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                    \
                bv[v] = LOAD_EDGE(S, FULL, m[v], bp + L * v);                           \
            }                                                                           \
            __builtin_prefetch(bp + L * VECS * 4, 0, 2);                                \
            _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) {                    \
                const V_##S ai = SET1_##S(a[i * lda + p * pa]);                         \
                _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                \
                    acc[i][v] = FMA_##S(ai, bv[v], acc[i][v]);                          \
                }                                                                       \
            }                                                                           \
        }                                                                               \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) {                        \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                    \
                STORE_EDGE(S, FULL, c + i * ldc + L * v, m[v], CANON_##S(acc[i][v]));              \
            }                                                                           \
        }                                                                               \
    }

DIRECT_TILE_BODY(float, F32)
DIRECT_TILE_BODY(double, F64)

/* One call sweeps all n columns in tiles of two vectors (see avx512.c). */
#define DIRECT_SWEEP(S, R, L)                                                           \
    case R:                                                                             \
        for (; j + 2 * L <= n; j += 2 * L) {                                            \
            direct_body_##S(R, 2, 1, kc, a, lda, pa, b + j, ldb, c + j, ldc, 2 * L,     \
                            bias ? bias + j : NULL, start);                             \
        }                                                                               \
        if (n - j > L) {                                                                \
            direct_body_##S(R, 2, 0, kc, a, lda, pa, b + j, ldb, c + j, ldc, (int)(n - j), \
                            bias ? bias + j : NULL, start);                             \
        }                                                                               \
        else if (n > j) {                                                               \
            direct_body_##S(R, 1, 0, kc, a, lda, pa, b + j, ldb, c + j, ldc, (int)(n - j), \
                            bias ? bias + j : NULL, start);                             \
        }                                                                               \
        break;
#define DIRECT_DISPATCH(T, S, L)                                                        \
    static void direct_avx2_##S(ptrdiff_t kc, const void *a_, ptrdiff_t lda,            \
                                ptrdiff_t pa, const void *b_, ptrdiff_t ldb, void *c_,  \
                                ptrdiff_t ldc, int mr, ptrdiff_t n, const void *bias_,  \
                                int start)                                              \
    {                                                                                   \
        const T *a = a_, *b = b_, *bias = bias_;                                        \
        T *c = c_;                                                                      \
        ptrdiff_t j = 0;                                                                \
        switch (mr) {                                                                   \
            DIRECT_SWEEP(S, 1, L) DIRECT_SWEEP(S, 2, L) DIRECT_SWEEP(S, 3, L)           \
            DIRECT_SWEEP(S, 4, L) DIRECT_SWEEP(S, 5, L) DIRECT_SWEEP(S, 6, L)           \
        default: break;                                                                 \
        }                                                                               \
    }

DIRECT_DISPATCH(float, F32, 8)
DIRECT_DISPATCH(double, F64, 4)

/* Transposing packs on 8x8 (float32) and 4x4 (float64) register blocks. */
LC_ALWAYS_INLINE void
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

LC_ALWAYS_INLINE void
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
pack_avx2_f32(ptrdiff_t kc, int R, const void *const *rows_, void *dst_)
{
    const float *const *rows = (const float *const *)rows_;
    float *dst = dst_;
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
pack_avx2_f64(ptrdiff_t kc, int R, const void *const *rows_, void *dst_)
{
    const double *const *rows = (const double *const *)rows_;
    double *dst = dst_;
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

/* ------------------------------------------------------------------------
 * Half-precision conversions (kernels.h), 8 values a vector, a tail of
 * fewer through half.h's scalar ones (the same bits). float16 by F16C with
 * the rounding in the instruction (nearest even whatever MXCSR says);
 * bfloat16 in integer arithmetic, as half.h rounds.
 */
static void
widen_f16_avx2(ptrdiff_t n, const void *src, float *dst)
{
    const uint16_t *h = src;
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    }
    lc_widen_f16_scalar(n - i, h + i, dst + i);
}

static void
widen_bf16_avx2(ptrdiff_t n, const void *src, float *dst)
{
    const uint16_t *h = src;
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    lc_widen_bf16_scalar(n - i, h + i, dst + i);
}

/* The 8 lanes of 32 bits (each below 2^16) as 8 of 16, in order. */
LC_ALWAYS_INLINE __m128i
pack_lanes(__m256i r)
{
    return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

static void
narrow_f16_avx2(ptrdiff_t n, const float *src, void *dst)
{
    uint16_t *h = dst;
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(src + i);
        const __m128i r = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m128i nan = pack_lanes(
            _mm256_srli_epi32(_mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)), 16));
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm_blendv_epi8(r, _mm_set1_epi16((short)LC_F16_NAN), nan));
    }
    lc_narrow_f16_scalar(n - i, src + i, h + i);
}

static void
narrow_bf16_avx2(ptrdiff_t n, const float *src, void *dst)
{
    uint16_t *h = dst;
    const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1);
    const __m256i nan_value = _mm256_set1_epi32(LC_BF16_NAN);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(src + i);
        const __m256i x = _mm256_castps_si256(v);
        const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(x, 16), one);
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, bias), odd), 16);
        r = _mm256_blendv_epi8(r, nan_value, _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
        _mm_storeu_si128((__m128i *)(h + i), pack_lanes(r));
    }
    lc_narrow_bf16_scalar(n - i, src + i, h + i);
}

const lc_kernel_set lc_kernels_avx2 = {
    .name = "avx2",
    .arch = "x86-64",
    .f32 = {.mr = MR, .nr = 16, .dmr = DMR, .dnr = 16, .tile = tile_avx2_F32,
            .direct = direct_avx2_F32, .pack_transpose = pack_avx2_f32},
    .f64 = {.mr = MR, .nr = 8, .dmr = DMR, .dnr = 8, .tile = tile_avx2_F64,
            .direct = direct_avx2_F64, .pack_transpose = pack_avx2_f64},
    .f16 = {.widen = widen_f16_avx2, .narrow = narrow_f16_avx2},
    .bf16 = {.widen = widen_bf16_avx2, .narrow = narrow_bf16_avx2},
};

#else
typedef int lc_no_x86_kernels; /* ISO C wants a non-empty unit */
#endif /* __x86_64__ */
