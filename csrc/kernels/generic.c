/*
 * Portable microkernels in plain C11: the fallback for CPUs without AVX2+FMA
 * (and LINEARC_ISA=generic). Fixed-size tiles let the compiler keep the
 * accumulators in registers and vectorize with the baseline ISA (SSE2).
 */
#include "kernels.h"

#define GEN_MR_F32 4
#define GEN_NR_F32 8
#define GEN_MR_F64 4
#define GEN_NR_F64 4

static void
tile_generic_f32_4x8(ptrdiff_t kc, const float *a, const float *b, float *c,
                     ptrdiff_t ldc, int mr, int nr, const float *bias,
                     int flags)
{
    float acc[GEN_MR_F32][GEN_NR_F32];
    for (int i = 0; i < GEN_MR_F32; i++) {
        for (int j = 0; j < GEN_NR_F32; j++) {
            acc[i][j] = ((flags & LC_KF_BIAS) && j < nr) ? bias[j] : 0.0f;
        }
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        for (int i = 0; i < GEN_MR_F32; i++) {
            for (int j = 0; j < GEN_NR_F32; j++) {
                acc[i][j] += a[i] * b[j];
            }
        }
        a += GEN_MR_F32;
        b += GEN_NR_F32;
    }
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < nr; j++) {
            ci[j] = (flags & LC_KF_OVERWRITE) ? acc[i][j] : ci[j] + acc[i][j];
        }
    }
}

static void
tile_generic_f64_4x4(ptrdiff_t kc, const double *a, const double *b,
                     double *c, ptrdiff_t ldc, int mr, int nr,
                     const double *bias, int flags)
{
    double acc[GEN_MR_F64][GEN_NR_F64];
    for (int i = 0; i < GEN_MR_F64; i++) {
        for (int j = 0; j < GEN_NR_F64; j++) {
            acc[i][j] = ((flags & LC_KF_BIAS) && j < nr) ? bias[j] : 0.0;
        }
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        for (int i = 0; i < GEN_MR_F64; i++) {
            for (int j = 0; j < GEN_NR_F64; j++) {
                acc[i][j] += a[i] * b[j];
            }
        }
        a += GEN_MR_F64;
        b += GEN_NR_F64;
    }
    for (int i = 0; i < mr; i++) {
        double *ci = c + i * ldc;
        for (int j = 0; j < nr; j++) {
            ci[j] = (flags & LC_KF_OVERWRITE) ? acc[i][j] : ci[j] + acc[i][j];
        }
    }
}

/* Dot products in plain sequential order, four partial sums per product. */
static void
dot_generic_f32(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *x,
                ptrdiff_t ldx, const float *w, ptrdiff_t ldw, float *y,
                ptrdiff_t ldy, const float *bias, int flags)
{
    for (ptrdiff_t j = 0; j < n; j++) {
        const float *wj = w + j * ldw;
        for (ptrdiff_t i = 0; i < m; i++) {
            const float *xi = x + i * ldx;
            float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            ptrdiff_t p = 0;
            for (; p + 4 <= k; p += 4) {
                for (int l = 0; l < 4; l++) {
                    s[l] += xi[p + l] * wj[p + l];
                }
            }
            for (; p < k; p++) {
                s[0] += xi[p] * wj[p];
            }
            float v = (s[0] + s[1]) + (s[2] + s[3]);
            if (flags & LC_KF_BIAS) {
                v += bias[j];
            }
            float *yij = y + i * ldy + j;
            *yij = (flags & LC_KF_OVERWRITE) ? v : *yij + v;
        }
    }
}

static void
dot_generic_f64(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *x,
                ptrdiff_t ldx, const double *w, ptrdiff_t ldw, double *y,
                ptrdiff_t ldy, const double *bias, int flags)
{
    for (ptrdiff_t j = 0; j < n; j++) {
        const double *wj = w + j * ldw;
        for (ptrdiff_t i = 0; i < m; i++) {
            const double *xi = x + i * ldx;
            double s[4] = {0.0, 0.0, 0.0, 0.0};
            ptrdiff_t p = 0;
            for (; p + 4 <= k; p += 4) {
                for (int l = 0; l < 4; l++) {
                    s[l] += xi[p + l] * wj[p + l];
                }
            }
            for (; p < k; p++) {
                s[0] += xi[p] * wj[p];
            }
            double v = (s[0] + s[1]) + (s[2] + s[3]);
            if (flags & LC_KF_BIAS) {
                v += bias[j];
            }
            double *yij = y + i * ldy + j;
            *yij = (flags & LC_KF_OVERWRITE) ? v : *yij + v;
        }
    }
}

const lc_kernel_set lc_kernels_generic = {
    .name = "generic",
    .f32 = {.mr = GEN_MR_F32, .nr = GEN_NR_F32, .kc = 256, .mc = 256, .nc = 2048},
    .f64 = {.mr = GEN_MR_F64, .nr = GEN_NR_F64, .kc = 256, .mc = 128, .nc = 2048},
    .tile_f32 = tile_generic_f32_4x8,
    .tile_f64 = tile_generic_f64_4x4,
    .dot_f32 = dot_generic_f32,
    .dot_f64 = dot_generic_f64,
};
