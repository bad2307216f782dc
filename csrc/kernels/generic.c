/*
 * Portable kernels in plain C11: the fallback for CPUs without AVX2+FMA,
 * LINEARC_ISA=generic, and the definition of the arithmetic on any other
 * architecture. Every step is fma()/fmaf(), which C requires to round once,
 * and the build turns contraction off (-ffp-contract=off), so these give
 * the same bits as the SIMD kernels.
 *
 * One body serves both element types: GENERIC_KERNELS(T, FMA, MR, NR)
 * defines the packed tile and the direct tile of type T.
 */
#include <math.h>

#include "../half.h"
#include "kernels.h"

#define GEN_MR 4
#define GEN_NR 8

/* acc[i][j] for a tile: from zero, the bias or C. */
#define GENERIC_START(T, MR, NR)                                                        \
    T acc[MR][NR];                                                                      \
    for (int i = 0; i < MR; i++) {                                                      \
        for (int j = 0; j < NR; j++) {                                                  \
            const int live = i < mr && j < nr;                                          \
            acc[i][j] = !live                    ? (T)0                                 \
                        : start == LC_START_C    ? c[i * ldc + j]                       \
                        : start == LC_START_BIAS ? bias[j]                              \
                                                 : (T)0;                                \
        }                                                                               \
    }

/* Any NaN is stored as the canonical quiet NaN (kernels.h); C's NAN is
 * that NaN, and converts to double's. */
#define GENERIC_STORE(MR, NR)                                                           \
    for (int i = 0; i < mr; i++) {                                                      \
        for (int j = 0; j < nr; j++) {                                                  \
            c[i * ldc + j] = acc[i][j] != acc[i][j] ? NAN : acc[i][j];                  \
        }                                                                               \
    }

#define GENERIC_KERNELS(T, SUFFIX, FMA, MR, NR)                                         \
    static void tile_generic_##SUFFIX(ptrdiff_t kc, const void *a_, const void *b_,     \
                                      void *c_, ptrdiff_t ldc, int mr, int nr,          \
                                      const void *bias_, int start)                     \
    {                                                                                   \
        const T *a = a_, *b = b_, *bias = bias_;                                        \
        T *c = c_;                                                                      \
        GENERIC_START(T, MR, NR)                                                        \
        for (ptrdiff_t p = 0; p < kc; p++) {                                            \
            for (int i = 0; i < MR; i++) {                                              \
                for (int j = 0; j < NR; j++) {                                          \
                    acc[i][j] = FMA(a[p * MR + i], b[p * NR + j], acc[i][j]);           \
                }                                                                       \
            }                                                                           \
        }                                                                               \
        GENERIC_STORE(MR, NR)                                                           \
    }                                                                                   \
                                                                                        \
    static void direct_tile_##SUFFIX(ptrdiff_t kc, const T *a, ptrdiff_t lda,           \
                                     ptrdiff_t pa, const T *b, ptrdiff_t ldb, T *c,     \
                                     ptrdiff_t ldc, int mr, int nr, const T *bias,      \
                                     int start)                                         \
    {                                                                                   \
        GENERIC_START(T, MR, NR)                                                        \
        for (ptrdiff_t p = 0; p < kc; p++) {                                            \
            for (int i = 0; i < mr; i++) {                                              \
                for (int j = 0; j < nr; j++) {                                          \
                    acc[i][j] = FMA(a[i * lda + p * pa], b[p * ldb + j], acc[i][j]);    \
                }                                                                       \
            }                                                                           \
        }                                                                               \
        GENERIC_STORE(MR, NR)                                                           \
    }                                                                                   \
                                                                                        \
    static void direct_generic_##SUFFIX(ptrdiff_t kc, const void *a, ptrdiff_t lda,     \
                                        ptrdiff_t pa, const void *b_, ptrdiff_t ldb,    \
                                        void *c_, ptrdiff_t ldc, int mr, ptrdiff_t n,   \
                                        const void *bias_, int start)                   \
    {                                                                                   \
        const T *b = b_, *bias = bias_;                                                 \
        T *c = c_;                                                                      \
        for (ptrdiff_t j = 0; j < n; j += NR) {                                         \
            direct_tile_##SUFFIX(kc, a, lda, pa, b + j, ldb, c + j, ldc, mr,            \
                                 (int)(n - j < NR ? n - j : NR), bias ? bias + j : NULL, \
                                 start);                                                \
        }                                                                               \
    }

GENERIC_KERNELS(float, f32, fmaf, GEN_MR, GEN_NR)
GENERIC_KERNELS(double, f64, fma, GEN_MR, GEN_NR)

const lc_kernel_set lc_kernels_generic = {
    .name = "generic",
    .arch = "any",
    .f32 = {.mr = GEN_MR, .nr = GEN_NR, .dmr = GEN_MR, .dnr = GEN_NR,
            .tile = tile_generic_f32, .direct = direct_generic_f32},
    .f64 = {.mr = GEN_MR, .nr = GEN_NR, .dmr = GEN_MR, .dnr = GEN_NR,
            .tile = tile_generic_f64, .direct = direct_generic_f64},
    .f16 = {.widen = lc_widen_f16_scalar, .narrow = lc_narrow_f16_scalar},
    .bf16 = {.widen = lc_widen_bf16_scalar, .narrow = lc_narrow_bf16_scalar},
};
