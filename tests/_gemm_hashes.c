/*
 * The GEMM core's results as hashes, for comparing kernel sets and
 * architectures bit for bit (.ci/arm64.sh builds this for x86-64 and for
 * aarch64, runs it under every kernel set each can run, the aarch64 build
 * under qemu-aarch64, and compares the lines).
 *
 *   cc -O3 -std=c11 -ffp-contract=off -fopenmp -DLINEARC_HAVE_OPENMP -Icsrc \
 *      -o /tmp/gemm_hashes tests/_gemm_hashes.c csrc/gemm.c csrc/gemm_blocked.c csrc/gemm_half.c \
 *      csrc/pack.c csrc/workspace.c csrc/dispatch.c csrc/config.c csrc/cpu.c \
 *      csrc/threads.c csrc/kernels/[a-z]*.c -lm -lpthread
 *   LINEARC_ISA=neon /tmp/gemm_hashes [quick]
 *
 * Prints one line per case: the block sizes (the context's defaults, tiny
 * blocks, or wide ones: set through LINEARC_BLOCKING_F32 / _F64, which this
 * program sets itself), the product (fwd: x @ W.T + bias, fwdnb: no bias,
 * gi: G @ W with B read across its rows, wg: X^T @ G continued from C, sum:
 * the bias gradient's column sums), the dtype (float16 and bfloat16 too:
 * half operands in float32 chains), m n k, the thread count, and
 * a 64-bit FNV-1a hash of C's bytes. Operands are deterministic (a fixed
 * generator), with NaNs (signed, with payloads), infinities and zeros
 * sprinkled into one case in three, and another third scaled so that the
 * products, the bias and C are subnormal (a flush to zero changes them).
 * The last line is "cases N". The kernel set's name goes to stderr, so
 * that the lines of two sets can be diffed.
 *
 * Shapes reach every path and edge: rows 1 to 40 (every partial tile of
 * 2, 3, 4 and 6 rows, the direct path's row counts), columns that are not a
 * multiple of any vector, K across the tiny and the default K blocks, and a
 * few hundred rows with K up to 3000.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dispatch.h"
#include "gemm.h"
#include "half.h"
#include "rng.h"

static lc_rng rng; /* linearc's own generator: the same values on every machine */

static uint64_t
next_u64(void)
{
    return lc_rng_next(&rng);
}

/* A value in (-8, 8) with a spread of exponents, so that the chains round
 * at every step; with specials, some are NaN, inf or zero. */
static double
value(int specials)
{
    const uint64_t r = next_u64();
    if (specials && (r & 63) == 0) {
        switch ((r >> 6) % 5) {
        case 0: {
            double nan;
            const uint64_t bits = 0xFFF8000000012345ull; /* negative, payload */
            memcpy(&nan, &bits, sizeof nan);
            return nan;
        }
        case 1: return 1.0 / 0.0;
        case 2: return -1.0 / 0.0;
        case 3: return 0.0;
        default: return -0.0;
        }
    }
    const double u = (double)(r >> 11) / 9007199254740992.0 - 0.5;
    return u * (double)(1 << ((r >> 6) % 5)) / 2.0;
}

/* scale: 1, or a power of two that puts the values (or their products)
 * in the subnormal range, where a flush to zero would show. */
static void
fill(void *p, long count, lc_dtype t, int specials, double scale)
{
    for (long i = 0; i < count; i++) {
        lc_element_store(p, i, t, value(specials) * scale);
    }
}

static uint64_t
fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 0x100000001B3ull;
    }
    return h;
}

static long cases;

static const char *
type_name(lc_dtype t)
{
    static const char *const names[] = {"f32", "f64", "f16", "bf16"};
    return names[t];
}

/* One shape, every product, one dtype and thread count. A half dtype's
 * operands, bias and results (fwd, gi) are half, its weight gradient (wg)
 * and column sums float32, all computed in float32 chains. */
static void
run_shape(const lc_context *ctx, const char *blocks, lc_dtype t, long m, long n, long k,
          int threads)
{
    const lc_dtype ct = lc_compute_type(t);
    const size_t es = lc_dtype_size(t), ces = lc_dtype_size(ct);
    /* One case in three with specials, one in three in the subnormal
     * range: operands whose products are subnormal, and starts (bias, C)
     * of that size (float16's: subnormal halves, its products cannot reach
     * float32's subnormals). (Both kinds occur among the quick run's
     * shapes.) */
    const int specials = (m * 7 + n * 3 + k) % 3 == 0;
    const int tiny = (m * 7 + n * 3 + k) % 3 == 1;
    const double s1 = !tiny ? 1.0 : t == LC_F64 ? 0x1p-530 : t == LC_F16 ? 0x1p-12 : 0x1p-70;
    const double s2 = s1 * s1;
    lc_rng_seed(&rng, (uint64_t)(m * 1000003 + n * 1009 + k) * 2 + (t == LC_F64) +
                          7 * (uint64_t)lc_is_half(t) + (t == LC_BF16));
    /* x: m x k; w: n x k; g: m x n; xt: k x m (x as the weight gradient
     * reads it: X^T with X stored k x m); c: m x n (of the compute type
     * for the weight gradient). */
    void *x = malloc((size_t)(m * k) * es), *w = malloc((size_t)(n * k) * es);
    void *bias = malloc((size_t)n * es), *c = malloc((size_t)(m * n) * ces);
    void *c0 = malloc((size_t)(m * n) * ces);
    if (!x || !w || !bias || !c || !c0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    fill(x, m * k, t, specials, s1);
    fill(w, n * k, t, specials, s1);
    fill(bias, n, t, specials, lc_is_half(t) ? s1 : s2);
    fill(c0, m * n, ct, specials, s2);
    const ptrdiff_t e = (ptrdiff_t)es;
    static const char *const names[] = {"fwd", "fwdnb", "gi", "wg"};
    for (int which = 0; which < 4; which++) {
        lc_gemm_args g = {.dtype = ct, .m = m, .n = n, .k = k, .c = c, .ldc = n,
                          .nthreads = threads, .ctx = ctx, .bias_type = t,
                          .c_type = which < 3 ? t : ct};
        memcpy(c, c0, (size_t)(m * n) * ces);
        if (which <= 1) { /* y = x @ W.T (+ bias): B(p, j) = w[j * k + p] */
            g.a = (lc_operand){.data = x, .type = t, .rs = k * e, .cs = e};
            g.b = (lc_operand){.data = w, .type = t, .rs = e, .cs = k * e};
            g.bias = which == 0 ? bias : NULL;
        }
        else if (which == 2) { /* x (as G, m x k) @ w (as W, k x n, rows n apart) */
            g.a = (lc_operand){.data = x, .type = t, .rs = k * e, .cs = e};
            g.b = (lc_operand){.data = w, .type = t, .rs = n * e, .cs = e};
        }
        else { /* C += X^T @ G: A(i, p) = x[p * m + i], B(p, j) = w[p * n + j] */
            g.a = (lc_operand){.data = x, .type = t, .rs = e, .cs = m * e};
            g.b = (lc_operand){.data = w, .type = t, .rs = n * e, .cs = e};
            g.accumulate = 1;
        }
        if (lc_gemm(&g) < 0) {
            fprintf(stderr, "lc_gemm failed (out of memory)\n");
            exit(2);
        }
        printf("%s %s %s %ld %ld %ld t%d %016llx\n", blocks, names[which], type_name(t), m, n,
               k, threads,
               (unsigned long long)fnv1a(c, (size_t)(m * n) * lc_dtype_size(lc_c_type(&g))));
        cases++;
    }
    if (threads == 1) { /* the bias gradient: column sums of w as k x n */
        const lc_operand a = {.data = w, .type = t, .rs = n * e, .cs = e};
        memcpy(c, c0, (size_t)n * ces);
        lc_sum_rows(&a, k, n, ct, 1, c);
        printf("%s sum %s %ld %ld t1 %016llx\n", blocks, type_name(t), k, n,
               (unsigned long long)fnv1a(c, (size_t)n * ces));
        cases++;
    }
    free(x);
    free(w);
    free(bias);
    free(c);
    free(c0);
}

int
main(int argc, char **argv)
{
    const int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    /* name, LINEARC_BLOCKING_F32, LINEARC_BLOCKING_F64 (NULL: the defaults) */
    static const char *const blockings[][3] = {
        {"default", NULL, NULL},
        {"tiny", "7,24,96,3,1,0", "5,28,48,2,1,0"},
        {"tinydirect", "7,24,96,3,1,1000", "5,28,48,2,1,1000"},
        {"wide", "3000,960,8192,900,64,1000", "3000,980,8192,900,64,1000"},
    };
    static const long small_nk[][2] = {{5, 3}, {17, 130}, {70, 9}, {33, 40}};
    static const long big[][3] = {{300, 129, 515}, {97, 100, 3000}, {256, 256, 256},
                                  {41, 1000, 70}, {500, 30, 700}};
    const char *isa = getenv("LINEARC_ISA");
    const char *why = NULL;
    const lc_kernel_set *ks = lc_select_kernels(isa, &why);
    if (ks == NULL) {
        fprintf(stderr, "LINEARC_ISA=%s: %s\n", isa ? isa : "", why);
        return 2;
    }
    fprintf(stderr, "kernel set %s (%s)\n", ks->name, ks->arch);
    const int nblock = quick ? 2 : (int)(sizeof blockings / sizeof blockings[0]);
    for (int bi = 0; bi < nblock; bi++) {
        if (blockings[bi][1] != NULL) {
            setenv("LINEARC_BLOCKING_F32", blockings[bi][1], 1);
            setenv("LINEARC_BLOCKING_F64", blockings[bi][2], 1);
        }
        else {
            unsetenv("LINEARC_BLOCKING_F32");
            unsetenv("LINEARC_BLOCKING_F64");
        }
        lc_context ctx;
        const char *bad = "";
        if (lc_context_make(ks, &ctx, &why) < 0 ||
            lc_context_apply_environment(&ctx, &bad, &why) < 0) {
            fprintf(stderr, "%s: %s\n", bad, why);
            return 2;
        }
        for (int ti = 0; ti < 4; ti++) {
            const lc_dtype t = (lc_dtype)ti; /* f32, f64, f16, bf16 */
            for (long m = 1; m <= 40; m++) {
                for (size_t s = 0; s < sizeof small_nk / sizeof small_nk[0]; s++) {
                    /* quick: every remainder of the tiles' rows (1-8),
                     * and a few taller. */
                    if (quick && ((m > 8 && m != 13 && m != 23 && m != 40) || s > 1)) {
                        continue;
                    }
                    run_shape(&ctx, blockings[bi][0], t, m, small_nk[s][0], small_nk[s][1],
                              1 + (int)(m % 2));
                }
            }
            for (size_t s = 0; s < sizeof big / sizeof big[0]; s++) {
                if (quick && s > 1) {
                    continue;
                }
                for (int threads = 1; threads <= 2; threads++) {
                    run_shape(&ctx, blockings[bi][0], t, big[s][0], big[s][1], big[s][2],
                              threads);
                }
            }
        }
    }
    printf("cases %ld\n", cases);
    return 0;
}
