/*
 * AArch64 Advanced SIMD (NEON) kernels: packed register tiles float32 6x16
 * and float64 6x8 (24 q-register accumulators, C row-major, vectors along
 * j), direct tiles of up to 6 rows x 4 vectors, and transposing packers.
 * Compiled only for aarch64 (elsewhere this file is empty), where Advanced
 * SIMD is part of the base architecture, so no target pragma is needed.
 *
 * The arithmetic: every step is FMLA (by element), acc + b * a[lane] with
 * one rounding, exactly VFMADD's, one output element per lane and p in
 * order (kernels.h). So every element is the same chain as on AVX-512,
 * AVX2 and the portable kernel, and the bits are equal. Linux starts
 * threads with FPCR's default IEEE modes (no flush to zero, no default-NaN,
 * round to nearest), the modes x86 runs with; gemm.c hands the caller's
 * modes to the OpenMP workers on both architectures.
 *
 * Why 6 rows x 4 vectors: AArch64 has 32 q-registers. Per p the tile loads
 * 4 vectors of B and its 6 values of A (float32: one q and one d register;
 * float64: three q registers) and issues 24 FMLAs: 24 accumulators + 4 + 2
 * (or 3) = 30 (31) registers, no spills, 6 or 7 loads per 24 FMAs. The
 * shape is the AVX2 tile's (6 rows x 2 ymm = 6 x 16 floats) with the vector
 * halved and doubled in count: the panels, the planner's model (kc for L1,
 * mc for L2) and its row tables need nothing new. BLIS's NEON tiles
 * (8x12 on ThunderX2 / Altra, 12x8 on Apple M1) use the same 24
 * accumulators; their shape carries more B per A, ours fits the x86 tiles'
 * row count, which the direct path and the pack routines are built around.
 * Edges: NEON has no masked loads, so a partial vector of C, the bias or
 * (in the direct tile) B is read and written lane by lane, never past nr.
 */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include "../common.h"
#include "../half.h"
#include "kernels.h"

#define MR 6        /* packed tile rows, both types */
#define NR_F32 16
#define NR_F64 8
#define DMR 6       /* direct tile rows */
#define DVECS 4     /* direct tile vectors */

/* Partial vectors: the first n lanes (1 <= n), zeros past them; a vector
 * of n >= lanes is whole. Lane loads and stores never touch memory past
 * element n - 1. */
LC_ALWAYS_INLINE float32x4_t
load_f32(const float *p, int n)
{
    if (n >= 4) {
        return vld1q_f32(p);
    }
    float32x4_t v = vld1q_lane_f32(p, vdupq_n_f32(0.0f), 0);
    if (n >= 2) {
        v = vld1q_lane_f32(p + 1, v, 1);
    }
    if (n >= 3) {
        v = vld1q_lane_f32(p + 2, v, 2);
    }
    return v;
}

LC_ALWAYS_INLINE void
store_f32(float *p, float32x4_t v, int n)
{
    if (n >= 4) {
        vst1q_f32(p, v);
        return;
    }
    vst1q_lane_f32(p, v, 0);
    if (n >= 2) {
        vst1q_lane_f32(p + 1, v, 1);
    }
    if (n >= 3) {
        vst1q_lane_f32(p + 2, v, 2);
    }
}

LC_ALWAYS_INLINE float64x2_t
load_f64(const double *p, int n)
{
    return n >= 2 ? vld1q_f64(p) : vld1q_lane_f64(p, vdupq_n_f64(0.0), 0);
}

LC_ALWAYS_INLINE void
store_f64(double *p, float64x2_t v, int n)
{
    if (n >= 2) {
        vst1q_f64(p, v);
    }
    else {
        vst1q_lane_f64(p, v, 0);
    }
}

/* Any NaN as the canonical quiet NaN (kernels.h), before it is stored. */
LC_ALWAYS_INLINE float32x4_t
canon_f32(float32x4_t v)
{
    return vbslq_f32(vceqq_f32(v, v), v, vreinterpretq_f32_u32(vdupq_n_u32(0x7FC00000u)));
}

LC_ALWAYS_INLINE float64x2_t
canon_f64(float64x2_t v)
{
    return vbslq_f64(vceqq_f64(v, v), v,
                     vreinterpretq_f64_u64(vdupq_n_u64(0x7FF8000000000000ull)));
}

/* One row of FMAs of the packed tile: acc[i][v] += b[v] * a[i], with a[i]
 * lane LANE of register AV (FN: the _lane or _laneq form). Rows past ROWS
 * and vectors past VECS are compile-time constants and vanish. */
#define ROW_FMAS(i, FN, AV, LANE)                                                       \
    if (ROWS > (i)) {                                                                   \
        if (VECS > 0) acc[i][0] = FN(acc[i][0], bv0, AV, LANE);                        \
        if (VECS > 1) acc[i][1] = FN(acc[i][1], bv1, AV, LANE);                        \
        if (VECS > 2) acc[i][2] = FN(acc[i][2], bv2, AV, LANE);                        \
        if (VECS > 3) acc[i][3] = FN(acc[i][3], bv3, AV, LANE);                        \
    }

/* The start of each chain and the store of the results, shared by the
 * packed and the direct tiles: LOAD/STORE/CANON of the type, L lanes, and
 * lanes(v) the valid lanes of vector v. */
#define TILE_START(V, LOAD, L, ROWS_LIVE)                                               \
    _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++)                              \
    {                                                                                   \
        _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++)                          \
        {                                                                               \
            const int n = nr - L * v;                                                   \
            acc[i][v] = start == LC_START_C && (ROWS_LIVE) ? LOAD(c + i * ldc + L * v, n) \
                        : start == LC_START_BIAS           ? LOAD(bias + L * v, n)      \
                                                           : ZERO;                      \
        }                                                                               \
    }
#define TILE_STORE(STORE, CANON, L, ROWS_LIVE)                                          \
    _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++)                              \
    {                                                                                   \
        if (ROWS_LIVE) {                                                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++)                      \
            {                                                                           \
                STORE(c + i * ldc + L * v, CANON(acc[i][v]), nr - L * v);               \
            }                                                                           \
        }                                                                               \
    }

/*
 * Packed tiles. ROWS (2, 4 or 6) rows of A are computed and VECS (1 to 4)
 * vectors of B, compile-time constants, so a short or narrow edge tile
 * runs only the FMAs it needs; the panels are zero-padded, so the rows
 * past mr compute zeros that are never stored.
 */
LC_ALWAYS_INLINE void
tile_body_f32(const int ROWS, const int VECS, ptrdiff_t kc, const float *a, const float *b,
              float *c, ptrdiff_t ldc, int mr, int nr, const float *bias, int start)
{
    const float32x4_t ZERO = vdupq_n_f32(0.0f);
    float32x4_t acc[MR][4];
    TILE_START(float32x4_t, load_f32, 4, i < mr)
    float32x4_t bv0 = ZERO, bv1 = ZERO, bv2 = ZERO, bv3 = ZERO;
    _Pragma("GCC unroll 2") for (ptrdiff_t p = 0; p < kc; p++)
    {
        if (VECS > 0) bv0 = vld1q_f32(b);
        if (VECS > 1) bv1 = vld1q_f32(b + 4);
        if (VECS > 2) bv2 = vld1q_f32(b + 8);
        if (VECS > 3) bv3 = vld1q_f32(b + 12);
        const float32x4_t a03 = vld1q_f32(a);
        ROW_FMAS(0, vfmaq_laneq_f32, a03, 0)
        ROW_FMAS(1, vfmaq_laneq_f32, a03, 1)
        ROW_FMAS(2, vfmaq_laneq_f32, a03, 2)
        ROW_FMAS(3, vfmaq_laneq_f32, a03, 3)
        if (ROWS > 4) {
            const float32x2_t a45 = vld1_f32(a + 4);
            ROW_FMAS(4, vfmaq_lane_f32, a45, 0)
            ROW_FMAS(5, vfmaq_lane_f32, a45, 1)
        }
        a += MR;
        b += NR_F32;
    }
    TILE_STORE(store_f32, canon_f32, 4, i < mr)
}

LC_ALWAYS_INLINE void
tile_body_f64(const int ROWS, const int VECS, ptrdiff_t kc, const double *a, const double *b,
              double *c, ptrdiff_t ldc, int mr, int nr, const double *bias, int start)
{
    const float64x2_t ZERO = vdupq_n_f64(0.0);
    float64x2_t acc[MR][4];
    TILE_START(float64x2_t, load_f64, 2, i < mr)
    float64x2_t bv0 = ZERO, bv1 = ZERO, bv2 = ZERO, bv3 = ZERO;
    _Pragma("GCC unroll 2") for (ptrdiff_t p = 0; p < kc; p++)
    {
        if (VECS > 0) bv0 = vld1q_f64(b);
        if (VECS > 1) bv1 = vld1q_f64(b + 2);
        if (VECS > 2) bv2 = vld1q_f64(b + 4);
        if (VECS > 3) bv3 = vld1q_f64(b + 6);
        const float64x2_t a01 = vld1q_f64(a);
        ROW_FMAS(0, vfmaq_laneq_f64, a01, 0)
        ROW_FMAS(1, vfmaq_laneq_f64, a01, 1)
        if (ROWS > 2) {
            const float64x2_t a23 = vld1q_f64(a + 2);
            ROW_FMAS(2, vfmaq_laneq_f64, a23, 0)
            ROW_FMAS(3, vfmaq_laneq_f64, a23, 1)
        }
        if (ROWS > 4) {
            const float64x2_t a45 = vld1q_f64(a + 4);
            ROW_FMAS(4, vfmaq_laneq_f64, a45, 0)
            ROW_FMAS(5, vfmaq_laneq_f64, a45, 1)
        }
        a += MR;
        b += NR_F64;
    }
    TILE_STORE(store_f64, canon_f64, 2, i < mr)
}

/* The tile's entry: the vectors nr needs, and the rows mr needs (2, 4, 6). */
#define PACKED_TILE_CASES(S, R, kc, a, b, c, ldc, mr, nr, bias, start)                 \
    switch (vecs) {                                                                     \
    case 1: tile_body_##S(R, 1, kc, a, b, c, ldc, mr, nr, bias, start); break;          \
    case 2: tile_body_##S(R, 2, kc, a, b, c, ldc, mr, nr, bias, start); break;          \
    case 3: tile_body_##S(R, 3, kc, a, b, c, ldc, mr, nr, bias, start); break;          \
    default: tile_body_##S(R, 4, kc, a, b, c, ldc, mr, nr, bias, start); break;         \
    }
#define PACKED_TILE(T, S, L, NAME)                                                      \
    static void NAME(ptrdiff_t kc, const void *a, const void *b, void *c, ptrdiff_t ldc, \
                     int mr, int nr, const void *bias, int start)                       \
    {                                                                                   \
        const int vecs = (nr + L - 1) / L;                                              \
        if (mr > 4) {                                                                   \
            PACKED_TILE_CASES(S, 6, kc, a, b, c, ldc, mr, nr, bias, start)              \
        }                                                                               \
        else if (mr > 2) {                                                              \
            PACKED_TILE_CASES(S, 4, kc, a, b, c, ldc, mr, nr, bias, start)              \
        }                                                                               \
        else {                                                                          \
            PACKED_TILE_CASES(S, 2, kc, a, b, c, ldc, mr, nr, bias, start)              \
        }                                                                               \
    }

PACKED_TILE(float, f32, 4, tile_neon_f32_6x16)
PACKED_TILE(double, f64, 2, tile_neon_f64_6x8)

/*
 * Direct tiles: A is read where it lies, one scalar per (i, p) multiplied
 * in by FMLA by element, so ROWS must be exactly mr (a row past it may not
 * exist). B rows are read where they lie too: whole vectors, and with
 * FULL == 0 the last vector lane by lane (never past nr). The next tile's
 * columns of the same B row are prefetched (the driver sweeps j innermost
 * but one, and B's rows are too far apart for the hardware prefetchers).
 */
#define DIRECT_TILE_BODY(T, S, V, L, LOAD, STORE, CANON, DUP, FMA_N)                  \
    LC_ALWAYS_INLINE void direct_body_##S(const int ROWS, const int VECS, const int FULL, \
                                          ptrdiff_t kc, const T *a, ptrdiff_t lda,      \
                                          ptrdiff_t pa, const T *b, ptrdiff_t ldb, T *c, \
                                          ptrdiff_t ldc, int nr, const T *bias, int start) \
    {                                                                                   \
        const V ZERO = DUP(0);                                                          \
        const int last = nr - L * (VECS - 1); /* lanes of the last vector */            \
        V acc[DMR][DVECS];                                                              \
        TILE_START(V, LOAD, L, 1)                                                       \
        _Pragma("GCC unroll 1") for (ptrdiff_t p = 0; p < kc; p++)                      \
        {                                                                               \
            const T *bp = b + p * ldb;                                                  \
            V bv[DVECS];                                                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++)                      \
            {                                                                           \
                bv[v] = FULL || v < VECS - 1 ? LOAD(bp + L * v, L) : LOAD(bp + L * v, last); \
            }                                                                           \
            __builtin_prefetch(bp + L * VECS * 4, 0, 2);                                \
            _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++)                      \
            {                                                                           \
                const T ai = a[i * lda + p * pa];                                       \
                _Pragma("GCC unroll 4") for (int v = 0; v < VECS; v++)                  \
                {                                                                       \
                    acc[i][v] = FMA_N(acc[i][v], bv[v], ai);                            \
                }                                                                       \
                /* Loads of A stay with their row: hoisted, 6 of them beside 24    \
                 * accumulators and 4 of B took 34 registers and spilled two. */  \
                __asm__ volatile("" ::: "memory");                                      \
            }                                                                           \
        }                                                                               \
        TILE_STORE(STORE, CANON, L, 1)                                                  \
    }

DIRECT_TILE_BODY(float, f32, float32x4_t, 4, load_f32, store_f32, canon_f32, vdupq_n_f32,
                 vfmaq_n_f32)
DIRECT_TILE_BODY(double, f64, float64x2_t, 2, load_f64, store_f64, canon_f64, vdupq_n_f64,
                 vfmaq_n_f64)

/* One call sweeps all n columns: whole tiles of DVECS vectors, then the
 * last, partial one (1 to DVECS vectors, the last of them maybe partial);
 * each with the exact number of rows. */
#define DIRECT_SWEEP(S, R, L)                                                           \
    case R:                                                                             \
        for (; j + DVECS * L <= n; j += DVECS * L) {                                    \
            direct_body_##S(R, DVECS, 1, kc, a, lda, pa, b + j, ldb, c + j, ldc,        \
                            DVECS * L, bias ? bias + j : NULL, start);                  \
        }                                                                               \
        switch ((int)((n - j + L - 1) / L)) {                                           \
        case 1: direct_body_##S(R, 1, 0, kc, a, lda, pa, b + j, ldb, c + j, ldc,        \
                                (int)(n - j), bias ? bias + j : NULL, start); break;    \
        case 2: direct_body_##S(R, 2, 0, kc, a, lda, pa, b + j, ldb, c + j, ldc,        \
                                (int)(n - j), bias ? bias + j : NULL, start); break;    \
        case 3: direct_body_##S(R, 3, 0, kc, a, lda, pa, b + j, ldb, c + j, ldc,        \
                                (int)(n - j), bias ? bias + j : NULL, start); break;    \
        case 4: direct_body_##S(R, 4, 0, kc, a, lda, pa, b + j, ldb, c + j, ldc,        \
                                (int)(n - j), bias ? bias + j : NULL, start); break;    \
        default: break;                                                                 \
        }                                                                               \
        break;
#define DIRECT_DISPATCH(T, S, L)                                                        \
    static void direct_neon_##S(ptrdiff_t kc, const void *a_, ptrdiff_t lda,            \
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

DIRECT_DISPATCH(float, f32, 4)
DIRECT_DISPATCH(double, f64, 2)

/*
 * Transposing packs on 4x4 (float32) and 2x2 (float64) register blocks:
 * rows g.. of the panel are loaded along p (a short row or block lane by
 * lane), transposed with TRN1/TRN2, and stored as R-wide rows of the panel
 * (the first R - g lanes).
 */
LC_ALWAYS_INLINE void
transpose_4x4_f32(float32x4_t r[4])
{
    const float32x4_t t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);
    const float32x4_t t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
    const float64x2_t u0 = vreinterpretq_f64_f32(t0), u1 = vreinterpretq_f64_f32(t1);
    const float64x2_t u2 = vreinterpretq_f64_f32(t2), u3 = vreinterpretq_f64_f32(t3);
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(u0, u2));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(u1, u3));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(u0, u2));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(u1, u3));
}

static void
pack_neon_f32(ptrdiff_t kc, int R, const void *const *rows_, void *dst_)
{
    const float *const *rows = (const float *const *)rows_;
    float *dst = dst_;
    for (int g = 0; g < R; g += 4) {
        const int nrow = R - g < 4 ? R - g : 4;
        for (ptrdiff_t p = 0; p < kc; p += 4) {
            const int nk = kc - p < 4 ? (int)(kc - p) : 4;
            float32x4_t r[4];
            for (int i = 0; i < 4; i++) {
                const float *src = i < nrow ? rows[g + i] : NULL;
                r[i] = src ? load_f32(src + p, nk) : vdupq_n_f32(0.0f);
            }
            transpose_4x4_f32(r);
            for (int j = 0; j < nk; j++) {
                store_f32(dst + (p + j) * R + g, r[j], nrow);
            }
        }
    }
}

static void
pack_neon_f64(ptrdiff_t kc, int R, const void *const *rows_, void *dst_)
{
    const double *const *rows = (const double *const *)rows_;
    double *dst = dst_;
    for (int g = 0; g < R; g += 2) {
        const int nrow = R - g < 2 ? R - g : 2;
        const double *s0 = rows[g], *s1 = nrow > 1 ? rows[g + 1] : NULL;
        for (ptrdiff_t p = 0; p < kc; p += 2) {
            const int nk = kc - p < 2 ? (int)(kc - p) : 2;
            const float64x2_t r0 = s0 ? load_f64(s0 + p, nk) : vdupq_n_f64(0.0);
            const float64x2_t r1 = s1 ? load_f64(s1 + p, nk) : vdupq_n_f64(0.0);
            store_f64(dst + p * R + g, vtrn1q_f64(r0, r1), nrow);
            if (nk > 1) {
                store_f64(dst + (p + 1) * R + g, vtrn2q_f64(r0, r1), nrow);
            }
        }
    }
}

/* ------------------------------------------------------------------------
 * Half-precision conversions (kernels.h): widening 4 values a vector
 * (FCVTL for float16, a 16-bit shift for bfloat16), exact; the tail and the
 * narrowing through half.h's integer rounding, which needs no FPCR rounding
 * mode and flushes nothing (FCVTN would round as FPCR says).
 */
static void
widen_f16_neon(ptrdiff_t n, const void *src, float *dst)
{
    const uint16_t *h = src;
    ptrdiff_t i = 0;
    for (; i + 4 <= n; i += 4) {
        vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))));
    }
    lc_widen_f16_scalar(n - i, h + i, dst + i);
}

static void
widen_bf16_neon(ptrdiff_t n, const void *src, float *dst)
{
    const uint16_t *h = src;
    ptrdiff_t i = 0;
    for (; i + 4 <= n; i += 4) {
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(h + i), 16)));
    }
    lc_widen_bf16_scalar(n - i, h + i, dst + i);
}

const lc_kernel_set lc_kernels_neon = {
    .name = "neon",
    .arch = "aarch64",
    .f32 = {.mr = MR, .nr = NR_F32, .dmr = DMR, .dnr = DVECS * 4, .tile = tile_neon_f32_6x16,
            .direct = direct_neon_f32, .pack_transpose = pack_neon_f32},
    .f64 = {.mr = MR, .nr = NR_F64, .dmr = DMR, .dnr = DVECS * 2, .tile = tile_neon_f64_6x8,
            .direct = direct_neon_f64, .pack_transpose = pack_neon_f64},
    .f16 = {.widen = widen_f16_neon, .narrow = lc_narrow_f16_scalar},
    .bf16 = {.widen = widen_bf16_neon, .narrow = lc_narrow_bf16_scalar},
};

#else
typedef int lc_no_neon_kernels; /* ISO C wants a non-empty unit */
#endif /* __aarch64__ */
