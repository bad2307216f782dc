/*
 * The GEMM alone, without Python: for tuning kernels and block sizes.
 *
 *   cc -O3 -std=c11 -ffp-contract=off -fopenmp -DLINEARC_HAVE_OPENMP -Icsrc \
 *      -o /tmp/gemm_harness benchmarks/gemm_harness.c csrc/gemm.c csrc/gemm_blocked.c csrc/gemm_half.c \
 *      csrc/pack.c csrc/workspace.c csrc/dispatch.c csrc/config.c csrc/threads.c \
 *      csrc/kernels/[a-z]*.c -lm
 *   /tmp/gemm_harness M N K [f|d] [threads] [layout]
 *
 * layout: "fwd" (A = x, B = W.T as the layer stores it; the default),
 * "gi" (B = W: the grad_input product) or "wg" (A = X^T, B = G: the
 * weight_grad product, chains continuing from C).
 * Environment: LINEARC_ISA picks the kernel set; LINEARC_BLOCKING_F32 /
 * LINEARC_BLOCKING_F64 = "kc,mc,nc[,kc_direct]" override its block sizes,
 * which is how the measured rows of csrc/config.c were chosen. Prints the
 * median and best of several runs, GFLOP/s and the bytes packed per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dispatch.h"
#include "gemm.h"
#include "pack.h"

static double
now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void
fill(void *p, long count, int f64, int mod)
{
    for (long i = 0; i < count; i++) {
        if (f64) {
            ((double *)p)[i] = 0.1 * (double)(i % mod);
        }
        else {
            ((float *)p)[i] = 0.1f * (float)(i % mod);
        }
    }
}

static int
compare(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The operands of one of the three products linearc runs, all dense. */
static lc_gemm_args
product(const char *layout, lc_dtype t, long m, long n, long k, void *a, void *b, void *bias)
{
    const ptrdiff_t es = (ptrdiff_t)lc_dtype_size(t);
    lc_gemm_args g = {.dtype = t, .m = m, .n = n, .k = k, .ldc = n};
    if (strcmp(layout, "gi") == 0) { /* C = G (m x k) @ W (k x n), W.T stored n x k */
        g.a = (lc_operand){.data = a, .type = t, .rs = k * es, .cs = es};
        g.b = (lc_operand){.data = b, .type = t, .rs = es, .cs = k * es};
    }
    else if (strcmp(layout, "wg") == 0) { /* C += X^T (X: k x m) @ G (k x n) */
        g.a = (lc_operand){.data = a, .type = t, .rs = es, .cs = m * es};
        g.b = (lc_operand){.data = b, .type = t, .rs = n * es, .cs = es};
        g.accumulate = 1;
    }
    else { /* C = x (m x k) @ W.T (k x n) + bias */
        g.a = (lc_operand){.data = a, .type = t, .rs = k * es, .cs = es};
        g.b = (lc_operand){.data = b, .type = t, .rs = n * es, .cs = es};
        g.bias = bias;
    }
    return g;
}

int
main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s M N K [f|d] [threads] [fwd|gi|wg]\n", argv[0]);
        return 2;
    }
    const long m = atol(argv[1]), n = atol(argv[2]), k = atol(argv[3]);
    const int f64 = argc > 4 && argv[4][0] == 'd';
    const int threads = argc > 5 ? atoi(argv[5]) : 2;
    const char *layout = argc > 6 ? argv[6] : "fwd";
    const char *why = NULL;
    const lc_kernel_set *ks = lc_select_kernels(getenv("LINEARC_ISA"), &why);
    lc_context ctx;
    const char *bad = "";
    if (ks == NULL || lc_context_make(ks, &ctx, &why) < 0 ||
        lc_context_apply_environment(&ctx, &bad, &why) < 0) {
        fprintf(stderr, "%s %s\n", bad, why);
        return 2;
    }
    const size_t es = f64 ? 8 : 4;
    const lc_dtype t = f64 ? LC_F64 : LC_F32;
    void *a = malloc((size_t)(m * k) * es), *b = malloc((size_t)(n * k) * es);
    void *c = calloc((size_t)(m * n), es), *bias = calloc((size_t)n, es);
    fill(a, m * k, f64, 7);
    fill(b, n * k, f64, 5);
    lc_gemm_args g = product(layout, t, m, n, k, a, b, bias);
    g.c = c;
    g.nthreads = threads;
    g.ctx = &ctx;
    const double flops = 2.0 * (double)m * (double)n * (double)k;
    const int reps = flops < 1e7 ? 2001 : flops < 1e9 ? 51 : 7;
    double *times = malloc(sizeof(double) * (size_t)reps);
    lc_gemm(&g); /* warm-up: buffers, pages, thread pool */
    const unsigned long long packed0 = lc_packed_bytes();
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        lc_gemm(&g);
        times[r] = now() - t0;
    }
    const double packed = (double)(lc_packed_bytes() - packed0) / reps;
    qsort(times, (size_t)reps, sizeof(double), compare);
    const lc_params *bl = lc_context_params(&ctx, t);
    const lc_gemm_plan plan = lc_gemm_make_plan(&g);
    const char *path = lc_gemm_path_name(plan.path);
    const int used = plan.threads;
    printf("%s %s %ldx%ldx%ld %s %s threads=%d KC=%ld MC=%ld NC=%ld: median %.3f ms "
           "(%.1f GFLOP/s), best %.3f ms (%.1f GFLOP/s), packed %.2f MB/call\n",
           ks->name, layout, m, n, k, f64 ? "f64" : "f32", path, used, bl->kc, bl->mc, bl->nc,
           times[reps / 2] * 1e3, flops / times[reps / 2] / 1e9, times[0] * 1e3,
           flops / times[0] / 1e9, packed / 1e6);
    free(times);
    free(a);
    free(b);
    free(c);
    free(bias);
    return 0;
}
