/*
 * The GEMM alone, without Python: for tuning kernels and block sizes.
 *
 *   cc -O3 -std=gnu11 -fopenmp -DLINEARC_HAVE_OPENMP -Icsrc -o /tmp/gemm_harness
 *      benchmarks/gemm_harness.c csrc/gemm.c csrc/pack.c csrc/workspace.c
 *      csrc/dispatch.c csrc/kernels/[a-z]*.c
 *   /tmp/gemm_harness M N K [f|d] [threads]
 *
 * Environment: LINEARC_ISA picks the kernel set; KC, MC, NC override its
 * block sizes (both dtypes), which is how the values in csrc/kernels/ were
 * chosen. Prints the best time of several runs and its GFLOP/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
#include "gemm.h"

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

int
main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s M N K [f|d] [threads]\n", argv[0]);
        return 2;
    }
    const long m = atol(argv[1]), n = atol(argv[2]), k = atol(argv[3]);
    const int f64 = argc > 4 && argv[4][0] == 'd';
    const int threads = argc > 5 ? atoi(argv[5]) : 2;
    const char *why = NULL;
    const lc_kernel_set *chosen = lc_select_kernels(getenv("LINEARC_ISA"), &why);
    if (chosen == NULL) {
        fprintf(stderr, "LINEARC_ISA: %s\n", why);
        return 2;
    }
    lc_kernel_set ks = *chosen;
    if (getenv("KC")) {
        ks.f32.kc = ks.f64.kc = atoi(getenv("KC"));
    }
    if (getenv("MC")) {
        ks.f32.mc = ks.f64.mc = atoi(getenv("MC"));
    }
    if (getenv("NC")) {
        ks.f32.nc = ks.f64.nc = atoi(getenv("NC"));
    }
    const size_t es = f64 ? 8 : 4;
    const lc_dtype t = f64 ? LC_F64 : LC_F32;
    void *a = malloc((size_t)(m * k) * es), *b = malloc((size_t)(n * k) * es);
    void *c = malloc((size_t)(m * n) * es), *bias = calloc((size_t)n, es);
    fill(a, m * k, f64, 7);
    fill(b, n * k, f64, 5);
    lc_gemm_args g = {
        .dtype = t, .m = m, .n = n, .k = k,
        .a = {.data = a, .type = t, .rs = (ptrdiff_t)(k * (long)es), .cs = (ptrdiff_t)es},
        .b = {.data = b, .type = t, .rs = (ptrdiff_t)(k * (long)es), .cs = (ptrdiff_t)es},
        .bias = bias, .c = c, .ldc = n, .nthreads = threads, .kernels = &ks,
    };
    const double flops = 2.0 * (double)m * (double)n * (double)k;
    const int reps = flops < 1e7 ? 20000 : flops < 1e9 ? 50 : 5;
    double best = 1e30;
    lc_gemm(&g); /* warm-up: buffers, pages, thread pool */
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        lc_gemm(&g);
        t0 = now() - t0;
        best = t0 < best ? t0 : best;
    }
    printf("%s %ldx%ldx%ld %s threads=%d KC=%d: %.3f ms, %.1f GFLOP/s\n", ks.name, m, n, k,
           f64 ? "f64" : "f32", threads, f64 ? ks.f64.kc : ks.f32.kc, best * 1e3,
           flops / best / 1e9);
    free(a);
    free(b);
    free(c);
    free(bias);
    return 0;
}
