/*
 * bandwidth_probe.c: measure the read bandwidth from memory in GB/s.
 *
 * Streams a buffer much bigger than the last-level cache (8 times the L3
 * read from sysfs, at least 256 MiB; 1 GiB when the L3 size is unknown) with
 * the widest vector loads the CPU has (AVX-512, else AVX2, else SSE2), each
 * thread summing its own contiguous part, which it also wrote first so that
 * its pages are local. The rate of a pass is the buffer size over the wall
 * time between two barriers; the best pass of the trials is kept, as
 * neighbours on a shared host only ever slow us down.
 *
 * Built by benchmarks/bench.py at run time:
 *     cc -O3 -fopenmp bandwidth_probe.c -o bandwidth_probe
 * Usage:
 *     bandwidth_probe [--mib N] [--trials N] THREADS [THREADS...]
 * Prints "buffer_mib N isa NAME", then "threads T gbs RATE" a thread count.
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Four independent accumulators of 64-bit integers (integer addition is
 * associative, so gcc -O3 vectorises the loop without -ffast-math), built
 * three times by target_clones and picked for this CPU when it loads: the
 * loads are as wide as the CPU allows. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static uint64_t sum_words(const uint64_t *p, size_t n)
{
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
    }
    return (a0 + a1) + (a2 + a3);
}

/* Size of the first level-3 cache of cpu0 in bytes, 0 when unknown. */
static size_t l3_bytes(void)
{
    char path[96], text[32];
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof(path),
                 "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            return 0;
        }
        int level = fgets(text, sizeof(text), f) ? atoi(text) : 0;
        fclose(f);
        if (level != 3) {
            continue;
        }
        snprintf(path, sizeof(path),
                 "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        f = fopen(path, "r");
        if (f == NULL || fgets(text, sizeof(text), f) == NULL) {
            if (f) fclose(f);
            return 0;
        }
        fclose(f);
        char *end;
        size_t size = strtoul(text, &end, 10);
        return *end == 'M' ? size << 20 : *end == 'K' ? size << 10 : size;
    }
    return 0;
}

/* Each of the `threads` threads sums its own part; returns the wall time of
 * the pass and adds the sums to *sink so that no load can be dropped. */
static double pass(uint64_t *buf, size_t n, int threads, int touch,
                   uint64_t *sink)
{
    double t0 = 0.0, t1 = 0.0;
    uint64_t total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        int id = omp_get_thread_num();
        /* parts of whole 64-element groups, so every load stays aligned */
        size_t groups = n / 64, per = groups / (size_t)threads;
        size_t lo = per * (size_t)id * 64;
        size_t hi = id == threads - 1 ? groups * 64 : lo + per * 64;
        if (touch) {
            for (size_t i = lo; i < hi; i++) {
                buf[i] = 1;
            }
        }
#pragma omp barrier
#pragma omp master
        t0 = omp_get_wtime();
        total += sum_words(buf + lo, hi - lo);
#pragma omp barrier
#pragma omp master
        t1 = omp_get_wtime();
    }
    *sink += total;
    return t1 - t0;
}

int main(int argc, char **argv)
{
    size_t mib = 0;
    int trials = 10, first = 1;
    while (first + 1 < argc && strncmp(argv[first], "--", 2) == 0) {
        if (strcmp(argv[first], "--mib") == 0) {
            mib = strtoul(argv[first + 1], NULL, 10);
        } else if (strcmp(argv[first], "--trials") == 0) {
            trials = atoi(argv[first + 1]);
        } else {
            break;
        }
        first += 2;
    }
    if (first >= argc || trials < 1) {
        fprintf(stderr, "usage: %s [--mib N] [--trials N] THREADS...\n",
                argv[0]);
        return 1;
    }
    if (mib == 0) {
        size_t l3 = l3_bytes();
        mib = l3 ? (8 * l3) >> 20 : 1024;
        mib = mib < 256 ? 256 : mib;
    }
    __builtin_cpu_init();  /* to name the clone target_clones picks */
    const char *isa = __builtin_cpu_supports("avx512f") ? "avx512"
        : __builtin_cpu_supports("avx2") ? "avx2" : "sse2";
    size_t n = (mib << 20) / sizeof(uint64_t);
    uint64_t *buf = aligned_alloc(64, n * sizeof(uint64_t));
    if (buf == NULL) {
        fprintf(stderr, "cannot allocate %zu MiB\n", mib);
        return 1;
    }
    printf("buffer_mib %zu isa %s\n", mib, isa);
    uint64_t sink = 0;
    for (int a = first; a < argc; a++) {
        int threads = atoi(argv[a]);
        if (threads < 1) {
            fprintf(stderr, "THREADS must be >= 1\n");
            return 1;
        }
        /* the first pass writes every thread's own part (first touch) */
        pass(buf, n, threads, 1, &sink);
        double best = 0.0, bytes = (double)(n / 64 * 64) * sizeof(uint64_t);
        for (int i = 0; i < trials; i++) {
            double rate = bytes / pass(buf, n, threads, 0, &sink) / 1e9;
            best = rate > best ? rate : best;
        }
        printf("threads %d gbs %.2f\n", threads, best);
    }
    if (sink == 12345) {  /* keeps the sums, hence the loads, alive */
        fprintf(stderr, "%llu\n", (unsigned long long)sink);
    }
    free(buf);
    return 0;
}
