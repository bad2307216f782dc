/*
 * AVX-512 (F, BW, DQ, VL) kernels: packed register tiles float32 6x64 and
 * float64 6x32 (24 zmm accumulators, C row-major, vectors along j), direct
 * tiles of up to 6 rows x 4 vectors for few-row products, and transposing
 * packers. Compiled for this target by the pragma below, so the file builds
 * with any compiler flags and runs only when dispatch.c has seen the
 * features. Every element is one FMA chain in p order (kernels.h).
 *
 * Why 6 rows of 4 vectors rather than the usual 12 x 2 (BLIS's skx
 * 32x12, transposed): per k step the tile loads 4 vectors of B and
 * broadcasts 6 values of A for its 24 FMAs, 10 loads where 12 x 2 needs 14,
 * and its 6 rows of C take 6 ways of an L1 set when C's rows are a power
 * of two apart (12 x 2 took all 12 ways of Sapphire Rapids' L1 and more than
 * Zen 4's 8, so every K block's reload of C evicted the packed panels).
 * Measured on a Xeon (Sapphire/Emerald Rapids), one core, tile alone, C
 * rows 4096 floats apart: 12x32 172-179 GFLOP/s, 6x64 187-192 (4112 apart:
 * 182 and 186); float64 with rows 2048 apart: 14x16 80, 6x32 94.
 */
/* x86-64 only: elsewhere this file compiles to nothing (no immintrin.h,
 * no target pragma), and dispatch.c does not name this set. */
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#include <immintrin.h>
#include <stdint.h>

#include "../common.h"
#include "../half.h"
#include "kernels.h"

#define MR_F32 6
#define NR_F32 64
#define MR_F64 6
#define NR_F64 32
#define TVECS 4  /* packed tile vectors */
#define DMR 6    /* direct tile rows */
#define DVECS 4  /* direct tile vectors */

LC_ALWAYS_INLINE __mmask16
mask16(int n)
{
    if (n >= 16) {
        return (__mmask16)0xFFFF;
    }
    return n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

LC_ALWAYS_INLINE __mmask8
mask8(int n)
{
    if (n >= 8) {
        return (__mmask8)0xFF;
    }
    return n <= 0 ? (__mmask8)0 : (__mmask8)((1u << n) - 1u);
}

/*
 * One body for both element types: V is the vector type, L its lanes, and
 * these name its operations.
 */
#define V_F32 __m512
#define V_F64 __m512d
#define LOADM_F32(m, p) _mm512_maskz_loadu_ps((m), (p))
#define LOADM_F64(m, p) _mm512_maskz_loadu_pd((m), (p))
#define LOADA_F32(p) _mm512_load_ps(p)
#define LOADA_F64(p) _mm512_load_pd(p)
#define STOREM_F32(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define STOREM_F64(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define SET1_F32(x) _mm512_set1_ps(x)
#define SET1_F64(x) _mm512_set1_pd(x)
#define ZERO_F32() _mm512_setzero_ps()
#define ZERO_F64() _mm512_setzero_pd()
#define FMA_F32(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define FMA_F64(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define MASK_F32(n) mask16(n)
#define MASK_F64(n) mask8(n)
#define MASKT_F32 __mmask16
#define MASKT_F64 __mmask8
/* Any NaN as the canonical quiet NaN (kernels.h), before it is stored. */
#define CANON_F32(v)                                                                   \
    _mm512_mask_mov_ps((v), _mm512_cmp_ps_mask((v), (v), _CMP_UNORD_Q),                 \
                       _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000)))
#define CANON_F64(v)                                                                   \
    _mm512_mask_mov_pd((v), _mm512_cmp_pd_mask((v), (v), _CMP_UNORD_Q),                 \
                       _mm512_castsi512_pd(_mm512_set1_epi64(0x7FF8000000000000LL)))

/*
 * The register tiles. A body is a function of compile-time ROWS (rows of A
 * used) and VECS (vectors of B used), so an edge tile with few rows or
 * columns runs only the FMAs it needs; the packed panels are zero-padded,
 * so the rows past mr compute zeros that are never stored.
 */
#define PACKED_TILE_BODY(T, S, MR, NR)                                                  \
    LC_ALWAYS_INLINE void tile_body_##S(const int ROWS, const int VECS, ptrdiff_t kc,   \
                                        const T *a, const T *b, T *c, ptrdiff_t ldc,    \
                                        int mr, int nr, const T *bias, int start)       \
    {                                                                                   \
        enum { L = 64 / sizeof(T) };                                                    \
        MASKT_##S m[TVECS];                                                             \
        V_##S acc[MR][TVECS];                                                           \
        _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                        \
            m[v] = MASK_##S(nr - L * v);                                                \
        }                                                                               \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++)                          \
        {                                                                               \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                    \
                acc[i][v] = start == LC_START_C && i < mr                               \
                                ? LOADM_##S(m[v], c + i * ldc + L * v)                  \
                            : start == LC_START_BIAS ? LOADM_##S(m[v], bias + L * v)    \
                                                     : ZERO_##S();                      \
            }                                                                           \
        }                                                                               \
        _Pragma("GCC unroll 4") for (ptrdiff_t p = 0; p < kc; p++)                      \
        {                                                                               \
            V_##S bv[TVECS];                                                            \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                    \
                bv[v] = LOADA_##S(b + L * v);                                           \
            }                                                                           \
            _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++)                      \
            {                                                                           \
                const V_##S ai = SET1_##S(a[i]);                                        \
                _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                \
                    acc[i][v] = FMA_##S(ai, bv[v], acc[i][v]);                          \
                }                                                                       \
            }                                                                           \
            a += MR;                                                                    \
            b += NR;                                                                    \
        }                                                                               \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++)                          \
        {                                                                               \
            if (i < mr) {                                                               \
                _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                \
                    STOREM_##S(c + i * ldc + L * v, m[v], CANON_##S(acc[i][v]));        \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }

PACKED_TILE_BODY(float, F32, MR_F32, NR_F32)
PACKED_TILE_BODY(double, F64, MR_F64, NR_F64)

/* The tile's entry: the vectors nr needs, and all 6 rows or 3 for a short
 * edge. */
#define PACKED_TILE(T, S, L, NAME)                                                      \
    static void NAME(ptrdiff_t kc, const void *a, const void *b, void *c, ptrdiff_t ldc, \
                     int mr, int nr, const void *bias, int start)                       \
    {                                                                                   \
        const int rows6 = mr > 3;                                                       \
        switch ((nr + L - 1) / L) {                                                     \
        case 1: rows6 ? tile_body_##S(6, 1, kc, a, b, c, ldc, mr, nr, bias, start)      \
                      : tile_body_##S(3, 1, kc, a, b, c, ldc, mr, nr, bias, start);     \
                break;                                                                  \
        case 2: rows6 ? tile_body_##S(6, 2, kc, a, b, c, ldc, mr, nr, bias, start)      \
                      : tile_body_##S(3, 2, kc, a, b, c, ldc, mr, nr, bias, start);     \
                break;                                                                  \
        case 3: rows6 ? tile_body_##S(6, 3, kc, a, b, c, ldc, mr, nr, bias, start)      \
                      : tile_body_##S(3, 3, kc, a, b, c, ldc, mr, nr, bias, start);     \
                break;                                                                  \
        default: rows6 ? tile_body_##S(6, 4, kc, a, b, c, ldc, mr, nr, bias, start)     \
                       : tile_body_##S(3, 4, kc, a, b, c, ldc, mr, nr, bias, start);    \
                break;                                                                  \
        }                                                                               \
    }

PACKED_TILE(float, F32, 16, tile_avx512_f32_6x64)
PACKED_TILE(double, F64, 8, tile_avx512_f64_6x32)

/*
 * Direct tiles: A is read where it lies, one broadcast per (i, p), so ROWS
 * must be exactly mr (a row past it may not exist); B rows are read with
 * masked loads, which never touch memory past nr. The next tile's columns
 * of the same B rows are prefetched: the driver sweeps j innermost but one,
 * and B's rows are too far apart for the hardware prefetchers.
 */
#define DIRECT_TILE_BODY(T, S)                                                          \
    LC_ALWAYS_INLINE void direct_body_##S(const int ROWS, const int VECS, ptrdiff_t kc,  \
                                          const T *a, ptrdiff_t lda, ptrdiff_t pa,      \
                                          const T *b, ptrdiff_t ldb, T *c, ptrdiff_t ldc, \
                                          int nr, const T *bias, int start)             \
    {                                                                                   \
        enum { L = 64 / sizeof(T) };                                                    \
        MASKT_##S m[DVECS];                                                             \
        V_##S acc[DMR][DVECS];                                                          \
        _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) { \
            m[v] = MASK_##S(nr - L * v);                                                \
        }                                                                               \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) {                        \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                    \
                acc[i][v] = start == LC_START_C      ? LOADM_##S(m[v], c + i * ldc + L * v) \
                            : start == LC_START_BIAS ? LOADM_##S(m[v], bias + L * v)    \
                                                     : ZERO_##S();                      \
            }                                                                           \
        }                                                                               \
        _Pragma("GCC unroll 2") for (ptrdiff_t p = 0; p < kc; p++)                      \
        {                                                                               \
            const T *bp = b + p * ldb;                                                  \
            V_##S bv[DVECS];                                                            \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                    \
                bv[v] = LOADM_##S(m[v], bp + L * v);                                    \
                __builtin_prefetch(bp + L * (VECS * 4 + v), 0, 2);                          \
            }                                                                           \
            _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) {                    \
                const V_##S ai = SET1_##S(a[i * lda + p * pa]);                         \
                _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                \
                    acc[i][v] = FMA_##S(ai, bv[v], acc[i][v]);                          \
                }                                                                       \
            }                                                                           \
        }                                                                               \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++) {                        \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++) {                    \
                STOREM_##S(c + i * ldc + L * v, m[v], CANON_##S(acc[i][v]));           \
            }                                                                           \
        }                                                                               \
    }

DIRECT_TILE_BODY(float, F32)
DIRECT_TILE_BODY(double, F64)

/* One call sweeps all n columns: full tiles of DVECS vectors, then the
 * last, partial one (1 to DVECS vectors, the last of them masked); each
 * with the exact number of rows. */
#define DIRECT_SWEEP(S, R, L)                                                           \
    case R:                                                                             \
        for (; j + DVECS * L <= n; j += DVECS * L) {                                    \
            direct_body_##S(R, DVECS, kc, a, lda, pa, b + j, ldb, c + j, ldc,           \
                            DVECS * L, bias ? bias + j : NULL, start);                  \
        }                                                                               \
        switch ((int)((n - j + L - 1) / L)) {                                           \
        case 1: direct_body_##S(R, 1, kc, a, lda, pa, b + j, ldb, c + j, ldc,           \
                                (int)(n - j), bias ? bias + j : NULL, start); break;    \
        case 2: direct_body_##S(R, 2, kc, a, lda, pa, b + j, ldb, c + j, ldc,           \
                                (int)(n - j), bias ? bias + j : NULL, start); break;    \
        case 3: direct_body_##S(R, 3, kc, a, lda, pa, b + j, ldb, c + j, ldc,           \
                                (int)(n - j), bias ? bias + j : NULL, start); break;    \
        case 4: direct_body_##S(R, 4, kc, a, lda, pa, b + j, ldb, c + j, ldc,           \
                                (int)(n - j), bias ? bias + j : NULL, start); break;    \
        default: break;                                                                 \
        }                                                                               \
        break;
#define DIRECT_DISPATCH(T, S, L)                                                        \
    static void direct_avx512_##S(ptrdiff_t kc, const void *a_, ptrdiff_t lda,          \
                                  ptrdiff_t pa, const void *b_, ptrdiff_t ldb, void *c_, \
                                  ptrdiff_t ldc, int mr, ptrdiff_t n, const void *bias_, \
                                  int start)                                            \
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

DIRECT_DISPATCH(float, F32, 16)
DIRECT_DISPATCH(double, F64, 8)

/*
 * Transposing packs. A 16x16 (float32) or 8x8 (float64) block of rows is
 * loaded, transposed in registers (unpack within 128-bit lanes, then two
 * rounds of 128-bit lane shuffles) and stored as R-wide rows of the panel.
 */
LC_ALWAYS_INLINE void
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

LC_ALWAYS_INLINE void
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
pack_avx512_f32(ptrdiff_t kc, int R, const void *const *rows_, void *dst_)
{
    const float *const *rows = (const float *const *)rows_;
    float *dst = dst_;
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
pack_avx512_f64(ptrdiff_t kc, int R, const void *const *rows_, void *dst_)
{
    const double *const *rows = (const double *const *)rows_;
    double *dst = dst_;
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

/* ------------------------------------------------------------------------
 * Half-precision conversions (kernels.h), 16 values a vector; a tail of
 * fewer goes through masked loads and stores. float16 by vcvtph2ps /
 * vcvtps2ph with the rounding in the instruction (round to nearest even
 * whatever MXCSR says); bfloat16 in integer arithmetic, a 16-bit shift to
 * widen and half.h's rounding to narrow (AVX512-BF16's vcvtneps2bf16 would
 * flush subnormals).
 */
LC_ALWAYS_INLINE __m256i
load_halves(const uint16_t *src, ptrdiff_t n)
{
    return n >= 16 ? _mm256_loadu_si256((const __m256i *)src)
                   : _mm256_maskz_loadu_epi16(mask16((int)n), src);
}

LC_ALWAYS_INLINE void
store_halves(uint16_t *dst, __m256i h, ptrdiff_t n)
{
    if (n >= 16) {
        _mm256_storeu_si256((__m256i *)dst, h);
    }
    else {
        _mm256_mask_storeu_epi16(dst, mask16((int)n), h);
    }
}

LC_ALWAYS_INLINE __m512
load_floats(const float *src, ptrdiff_t n)
{
    return n >= 16 ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(mask16((int)n), src);
}

LC_ALWAYS_INLINE void
store_floats(float *dst, __m512 v, ptrdiff_t n)
{
    if (n >= 16) {
        _mm512_storeu_ps(dst, v);
    }
    else {
        _mm512_mask_storeu_ps(dst, mask16((int)n), v);
    }
}

static void
widen_f16_avx512(ptrdiff_t n, const void *src, float *dst)
{
    for (ptrdiff_t i = 0; i < n; i += 16) {
        store_floats(dst + i, _mm512_cvtph_ps(load_halves((const uint16_t *)src + i, n - i)),
                     n - i);
    }
}

static void
widen_bf16_avx512(ptrdiff_t n, const void *src, float *dst)
{
    for (ptrdiff_t i = 0; i < n; i += 16) {
        const __m512i w = _mm512_cvtepu16_epi32(load_halves((const uint16_t *)src + i, n - i));
        store_floats(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)), n - i);
    }
}

static void
narrow_f16_avx512(ptrdiff_t n, const float *src, void *dst)
{
    for (ptrdiff_t i = 0; i < n; i += 16) {
        const __m512 v = load_floats(src + i, n - i);
        __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        h = _mm256_mask_mov_epi16(h, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q),
                                  _mm256_set1_epi16((short)LC_F16_NAN));
        store_halves((uint16_t *)dst + i, h, n - i);
    }
}

static void
narrow_bf16_avx512(ptrdiff_t n, const float *src, void *dst)
{
    const __m512i bias = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1);
    for (ptrdiff_t i = 0; i < n; i += 16) {
        const __m512 v = load_floats(src + i, n - i);
        const __m512i x = _mm512_castps_si512(v);
        const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(x, 16), one);
        const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(x, bias), odd), 16);
        __m256i h = _mm512_cvtepi32_epi16(r);
        h = _mm256_mask_mov_epi16(h, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q),
                                  _mm256_set1_epi16((short)LC_BF16_NAN));
        store_halves((uint16_t *)dst + i, h, n - i);
    }
}

const lc_kernel_set lc_kernels_avx512 = {
    .name = "avx512",
    .arch = "x86-64",
    .f32 = {.mr = MR_F32, .nr = NR_F32, .dmr = DMR, .dnr = DVECS * 16,
            .tile = tile_avx512_f32_6x64, .direct = direct_avx512_F32,
            .pack_transpose = pack_avx512_f32},
    .f64 = {.mr = MR_F64, .nr = NR_F64, .dmr = DMR, .dnr = DVECS * 8,
            .tile = tile_avx512_f64_6x32, .direct = direct_avx512_F64,
            .pack_transpose = pack_avx512_f64},
    .f16 = {.widen = widen_f16_avx512, .narrow = narrow_f16_avx512},
    .bf16 = {.widen = widen_bf16_avx512, .narrow = narrow_bf16_avx512},
};

#else
typedef int lc_no_x86_kernels; /* ISO C wants a non-empty unit */
#endif /* __x86_64__ */
