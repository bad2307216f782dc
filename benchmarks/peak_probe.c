/*
 * peak_probe.c: measure the FMA-throughput peak of this CPU in GFLOP/s.
 *
 * Each thread runs 16 independent chains of fused multiply-adds that live in
 * registers only (no loads or stores inside the loop), so the rate is bound
 * by the FMA units alone: 16 chains cover the FMA latency (about 4 cycles)
 * times the number of FMA pipes (2) with room to spare.
 *
 * Built by benchmarks/bench.py at run time:
 *     cc -O2 -march=native -fopenmp peak_probe.c -o peak_probe
 * Usage:
 *     peak_probe ISA DTYPE THREADS SECONDS
 *     ISA in {avx512, avx2}, DTYPE in {float32, float64}
 * Prints "gflops <best CPU-time rate> wall <best wall-clock rate>" over the
 * trials on success; exits with 2 when the CPU lacks the ISA.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAINS 16

typedef double (*kernel_fn)(long iters);

/* One kernel per (instruction set, type): W is the vector width (256 or
 * 512), T the type suffix of the intrinsics (ps, pd). Each chain converges
 * towards c / (1 - m) = 1: no overflow, no denormals. The kernel returns a
 * sum of the accumulators so the compiler must keep every FMA. */
#define DEFINE_KERNEL(NAME, TARGET, VEC, SCALAR, W, T)                           \
    __attribute__((target(TARGET))) static double NAME(long iters)              \
    {                                                                           \
        const VEC m = _mm##W##_set1_##T((SCALAR)0.999);                         \
        const VEC c = _mm##W##_set1_##T((SCALAR)0.001);                         \
        VEC acc[CHAINS];                                                        \
        _Pragma("GCC unroll 16") for (int i = 0; i < CHAINS; i++) {             \
            acc[i] = _mm##W##_set1_##T((SCALAR)(0.5 + i * 0.01));               \
        }                                                                       \
        for (long it = 0; it < iters; it++) {                                   \
            _Pragma("GCC unroll 16") for (int i = 0; i < CHAINS; i++) {         \
                acc[i] = _mm##W##_fmadd_##T(acc[i], m, c);                      \
            }                                                                   \
        }                                                                       \
        VEC s = _mm##W##_set1_##T((SCALAR)0);                                   \
        _Pragma("GCC unroll 16") for (int i = 0; i < CHAINS; i++) {             \
            s = _mm##W##_add_##T(s, acc[i]);                                    \
        }                                                                       \
        SCALAR lanes[sizeof(VEC) / sizeof(SCALAR)];                             \
        memcpy(lanes, &s, sizeof(lanes));                                       \
        double total = 0.0;                                                     \
        for (size_t i = 0; i < sizeof(lanes) / sizeof(SCALAR); i++) {           \
            total += lanes[i];                                                  \
        }                                                                       \
        return total;                                                           \
    }

DEFINE_KERNEL(kernel_avx512_f32, "avx512f", __m512, float, 512, ps)
DEFINE_KERNEL(kernel_avx512_f64, "avx512f", __m512d, double, 512, pd)
DEFINE_KERNEL(kernel_avx2_f32, "avx2,fma", __m256, float, 256, ps)
DEFINE_KERNEL(kernel_avx2_f64, "avx2,fma", __m256d, double, 256, pd)

static double
thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs the kernel on `threads` threads at once (they start together after a
 * barrier). Returns the wall time, and in *cpu_rate the sum over threads of
 * iterations per second of each thread's own CPU time: on a shared host a
 * thread that is descheduled for a while lowers the wall-clock rate but not
 * the rate of the cycles it did get, which is what the hardware peak is. */
static double
run(kernel_fn kernel, long iters, int threads, double *cpu_rate, double *sink)
{
    double t0 = 0.0, t1 = 0.0, total = 0.0, rate = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : total, rate)
    {
#pragma omp barrier
#pragma omp master
        t0 = omp_get_wtime();
        double c0 = thread_cpu_seconds();
        total += kernel(iters);
        rate += (double)iters / (thread_cpu_seconds() - c0);
#pragma omp barrier
#pragma omp master
        t1 = omp_get_wtime();
    }
    *sink += total;
    *cpu_rate = rate;
    return t1 - t0;
}

int
main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr,
                "usage: %s avx512|avx2 float32|float64 THREADS SECONDS\n",
                argv[0]);
        return 1;
    }
    const char *isa = argv[1], *dtype = argv[2];
    int threads = atoi(argv[3]);
    double seconds = atof(argv[4]);
    int f64 = strcmp(dtype, "float64") == 0;
    if (!f64 && strcmp(dtype, "float32") != 0) {
        fprintf(stderr, "unknown dtype %s\n", dtype);
        return 1;
    }
    if (threads < 1 || seconds <= 0.0) {
        fprintf(stderr, "THREADS must be >= 1 and SECONDS > 0\n");
        return 1;
    }

    kernel_fn kernel;
    int bytes;
    __builtin_cpu_init();
    if (strcmp(isa, "avx512") == 0) {
        if (!__builtin_cpu_supports("avx512f")) {
            printf("unsupported\n");
            return 2;
        }
        kernel = f64 ? kernel_avx512_f64 : kernel_avx512_f32;
        bytes = 64;
    }
    else if (strcmp(isa, "avx2") == 0) {
        if (!__builtin_cpu_supports("avx2")
                || !__builtin_cpu_supports("fma")) {
            printf("unsupported\n");
            return 2;
        }
        kernel = f64 ? kernel_avx2_f64 : kernel_avx2_f32;
        bytes = 32;
    }
    else {
        fprintf(stderr, "unknown isa %s\n", isa);
        return 1;
    }
    /* flops per loop iteration: CHAINS FMAs of (bytes / element size) lanes,
     * two flops each. */
    double flops_per_iter = 2.0 * CHAINS * (bytes / (f64 ? 8 : 4));

    /* Calibrate: grow the iteration count until one run takes >= 20 ms, which
     * also wakes the threads and lets the clock settle. */
    double sink = 0.0, cpu_rate = 0.0;
    long iters = 1L << 14;
    double t = run(kernel, iters, threads, &cpu_rate, &sink);
    while (t < 0.02) {
        iters *= 2;
        t = run(kernel, iters, threads, &cpu_rate, &sink);
    }
    /* Trials of about 50 ms each within the time budget; keep the best, as
     * neighbours on a shared host only ever slow us down. */
    long trial_iters = (long)(iters * (0.05 / t)) + 1;
    int trials = (int)(seconds / 0.05);
    if (trials < 3) {
        trials = 3;
    }
    double best = 0.0, best_wall = 0.0;
    for (int i = 0; i < trials; i++) {
        t = run(kernel, trial_iters, threads, &cpu_rate, &sink);
        double wall = flops_per_iter * (double)trial_iters * threads / t / 1e9;
        double rate = flops_per_iter * cpu_rate / 1e9;
        if (rate > best) {
            best = rate;
        }
        if (wall > best_wall) {
            best_wall = wall;
        }
    }
    /* Printing the sink to stderr-only keeps the work observable. */
    if (sink == 12345.678) {
        fprintf(stderr, "%f\n", sink);
    }
    printf("gflops %.3f wall %.3f\n", best, best_wall);
    return 0;
}
