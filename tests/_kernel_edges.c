/*
 * Every kernel of a kernel set, called directly at every edge, with each
 * operand placed flush against a guard page (PROT_NONE) so that a load or a
 * store one element past its end faults, and the memory around C (row gaps
 * included) checked for stray writes. Each result is compared bit for bit
 * with a scalar fma chain (kernels.h's arithmetic): values include
 * subnormals (and products and sums that are subnormal, so a flush to zero
 * shows), NaNs with payloads of both signs, infinities and signed zeros.
 * The float16/bfloat16 conversions likewise, against half.h's.
 *
 *   cc -O2 -std=c11 -ffp-contract=off -Icsrc -o /tmp/kernel_edges \
 *      tests/_kernel_edges.c csrc/dispatch.c csrc/kernels/[a-z]*.c -lm -lpthread
 *   /tmp/kernel_edges [set ...]          (default: every set this CPU runs)
 *
 * .ci/arm64.sh builds it for aarch64 and runs it under qemu-aarch64 (neon,
 * generic); tests/test_kernel_edges.py runs it natively. Prints
 * "N passed, 0 failed" and exits 0, or names the first cases that differ
 * and exits 1; a fault kills it (a non-zero exit either way).
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dispatch.h"
#include "half.h"
#include "rng.h"

static size_t page;

/* A region of `bytes` with a PROT_NONE page on each side; `place` puts a
 * buffer of n bytes flush against the upper guard (aligned down to align). */
typedef struct {
    unsigned char *lo; /* first usable byte */
    size_t bytes;
    unsigned char *mark; /* sentinel bytes from here to the end */
} arena;

static arena
arena_new(size_t bytes)
{
    bytes = (bytes + page - 1) / page * page;
    unsigned char *m = mmap(NULL, bytes + 2 * page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m, page, PROT_NONE) != 0 ||
        mprotect(m + page + bytes, page, PROT_NONE) != 0) {
        perror("mmap/mprotect");
        exit(2);
    }
    return (arena){m + page, bytes, m + page};
}

static void *
place(arena *ar, size_t n, size_t align)
{
    const uintptr_t end = (uintptr_t)(ar->lo + ar->bytes);
    if (n + align + 256 > ar->bytes) {
        fprintf(stderr, "arena too small\n");
        exit(2);
    }
    const uintptr_t at = (end - n) / align * align;
    /* Sentinels from 256 bytes below the buffer to the guard page. */
    ar->mark = (unsigned char *)at - 256;
    memset(ar->mark, 0xA5, (size_t)(end - (uintptr_t)ar->mark));
    return (void *)at;
}

/* ---- values ---------------------------------------------------------------- */
static lc_rng rng; /* linearc's own generator, seeded in main() */

static uint64_t
next_u64(void)
{
    return lc_rng_next(&rng);
}

/* Mostly ordinary values; with `tiny`, values near the subnormal range so
 * that products and chains are subnormal; some specials. */
static double
value(int f64, int tiny)
{
    const uint64_t r = next_u64();
    const double u = (double)(r >> 11) / 9007199254740992.0 - 0.5;
    switch (r % 29) {
    case 0: {
        const uint64_t bits = 0xFFF8000000012345ull; /* negative NaN, payload */
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return 0.0;
    case 4: return -0.0;
    case 5: return f64 ? 4.9406564584124654e-324 * (double)(1 + (r >> 40) % 1000)
                       : 1.40129846e-45 * (double)(1 + (r >> 40) % 1000); /* subnormal */
    default: break;
    }
    if (tiny) { /* products of two of these are subnormal or near it */
        return u * (f64 ? 0x1p-510 : 0x1p-62);
    }
    return u * 8.0;
}

static void
fill(void *p, long n, int f64, int tiny)
{
    for (long i = 0; i < n; i++) {
        const double v = value(f64, tiny);
        if (f64) {
            ((double *)p)[i] = v;
        }
        else {
            float x = (float)v;
            if (v != v) { /* keep a float payload NaN, negative */
                const uint32_t bits = 0xFFC01234u;
                memcpy(&x, &bits, sizeof x);
            }
            ((float *)p)[i] = x;
        }
    }
}

static double
get(const void *p, long i, int f64)
{
    return f64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

/* The reference chain: acc = start; acc = fma(a_p, b_p, acc), rounded to
 * the type at every step; NaN canonical. */
static void
reference(int f64, long kc, const void *a, long as, const void *b, long bs, double start,
          void *out)
{
    if (f64) {
        double acc = start;
        for (long p = 0; p < kc; p++) {
            acc = fma(((const double *)a)[p * as], ((const double *)b)[p * bs], acc);
        }
        *(double *)out = acc != acc ? NAN : acc;
    }
    else {
        float acc = (float)start;
        for (long p = 0; p < kc; p++) {
            acc = fmaf(((const float *)a)[p * as], ((const float *)b)[p * bs], acc);
        }
        *(float *)out = acc != acc ? NAN : acc;
    }
}

static long passed, failed;

static void
report(const char *what, const char *set, int f64, int mr, long n, long kc, int start,
       const char *detail)
{
    if (failed++ < 20) {
        fprintf(stderr, "FAIL %s %s %s mr=%d n=%ld kc=%ld start=%d: %s\n", set, what,
                f64 ? "f64" : "f32", mr, n, kc, start, detail);
    }
}

/* The sentinel bytes around C (from 256 bytes below it to the guard page)
 * must be intact but for C's rows, whose gaps (cols..ldc) count as outside. */
static int
untouched(const arena *ar, const unsigned char *c, long rows, long cols, long ldc, size_t es)
{
    for (const unsigned char *q = ar->mark; q < ar->lo + ar->bytes; q++) {
        int inside = 0;
        if (q >= c && q < c + (size_t)((rows - 1) * ldc + cols) * es) {
            const size_t e = (size_t)(q - c) / es;
            inside = (long)(e % (size_t)ldc) < cols;
        }
        if (!inside && *q != 0xA5) {
            return 0;
        }
    }
    return 1;
}

static arena ar_a, ar_b, ar_c, ar_bias, ar_rows[LC_MAX_NR];

static const char *
compare(int f64, const void *c, long ldc, int mr, long n, const void *want)
{
    const size_t es = f64 ? 8 : 4;
    for (int i = 0; i < mr; i++) {
        for (long j = 0; j < n; j++) {
            if (memcmp((const char *)c + (size_t)(i * ldc + j) * es,
                       (const char *)want + (size_t)(i * n + j) * es, es) != 0) {
                static char msg[128];
                snprintf(msg, sizeof msg, "C(%d, %ld) = %a, the chain gives %a", i, j,
                         get(c, i * ldc + j, f64), get(want, i * n + j, f64));
                return msg;
            }
        }
    }
    return NULL;
}

static void
check_tile(const char *set, const lc_kernel_ops *ops, int f64, size_t align, int mr, int nr,
           long kc, int start, int tiny, long ldc)
{
    const size_t es = f64 ? 8 : 4;
    const int MR = ops->mr, NR = ops->nr;
    void *a = place(&ar_a, (size_t)(kc * MR) * es, align);
    void *b = place(&ar_b, (size_t)(kc * NR) * es, align);
    void *bias = start == LC_START_BIAS ? place(&ar_bias, (size_t)nr * es, es) : NULL;
    unsigned char *c = place(&ar_c, (size_t)((mr - 1) * ldc + nr) * es, es);
    /* Panels: zero past mr and nr (the packers' padding). */
    memset(a, 0, (size_t)(kc * MR) * es);
    memset(b, 0, (size_t)(kc * NR) * es);
    for (long p = 0; p < kc; p++) {
        fill((char *)a + (size_t)(p * MR) * es, mr, f64, tiny);
        fill((char *)b + (size_t)(p * NR) * es, nr, f64, tiny);
    }
    if (bias) {
        fill(bias, nr, f64, tiny);
    }
    for (int i = 0; i < mr; i++) {
        fill(c + (size_t)(i * ldc) * es, nr, f64, tiny);
    }
    double want[16 * 64];
    unsigned char wantb[16 * 64 * 8];
    (void)want;
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++) {
            const double s = start == LC_START_C      ? get(c, i * ldc + j, f64)
                             : start == LC_START_BIAS ? get(bias, j, f64)
                                                      : 0.0;
            reference(f64, kc, (char *)a + (size_t)i * es, MR, (char *)b + (size_t)j * es, NR,
                      s, wantb + (size_t)(i * nr + j) * es);
        }
    }
    ops->tile(kc, a, b, c, ldc, mr, nr, bias, start);
    const char *bad = compare(f64, c, ldc, mr, nr, wantb);
    if (bad == NULL && !untouched(&ar_c, c, mr, nr, ldc, es)) {
        bad = "a write outside C's rows";
    }
    if (bad) {
        report("tile", set, f64, mr, nr, kc, start, bad);
    }
    else {
        passed++;
    }
}

static void
check_direct(const char *set, const lc_kernel_ops *ops, int f64, int mr, long n, long kc,
             int start, int tiny, int transposed, long ldc)
{
    const size_t es = f64 ? 8 : 4;
    /* A: mr x kc, row-major (lda = kc, pa = 1) or p-major (lda = 1, pa = mr). */
    const long lda = transposed ? 1 : kc, pa = transposed ? mr : 1;
    void *a = place(&ar_a, (size_t)(mr * kc) * es, es);
    void *b = place(&ar_b, (size_t)(kc * n) * es, es); /* ldb = n */
    void *bias = start == LC_START_BIAS ? place(&ar_bias, (size_t)n * es, es) : NULL;
    unsigned char *c = place(&ar_c, (size_t)((mr - 1) * ldc + n) * es, es);
    fill(a, mr * kc, f64, tiny);
    fill(b, kc * n, f64, tiny);
    if (bias) {
        fill(bias, n, f64, tiny);
    }
    for (int i = 0; i < mr; i++) {
        fill(c + (size_t)(i * ldc) * es, n, f64, tiny);
    }
    static unsigned char wantb[16 * 200 * 8];
    for (int i = 0; i < mr; i++) {
        for (long j = 0; j < n; j++) {
            const double s = start == LC_START_C      ? get(c, i * ldc + j, f64)
                             : start == LC_START_BIAS ? get(bias, j, f64)
                                                      : 0.0;
            reference(f64, kc, (char *)a + (size_t)(i * lda) * es, pa,
                      (char *)b + (size_t)j * es, n, s, wantb + (size_t)(i * n + j) * es);
        }
    }
    ops->direct(kc, a, lda, pa, b, n, c, ldc, mr, n, bias, start);
    const char *bad = compare(f64, c, ldc, mr, n, wantb);
    if (bad == NULL && !untouched(&ar_c, c, mr, n, ldc, es)) {
        bad = "a write outside C's rows";
    }
    if (bad) {
        report(transposed ? "direct(p-major A)" : "direct", set, f64, mr, n, kc, start, bad);
    }
    else {
        passed++;
    }
}

static void
check_pack(const char *set, const lc_kernel_ops *ops, int f64, size_t align, int R, long kc,
           unsigned nulls)
{
    const size_t es = f64 ? 8 : 4;
    const void *rows[LC_MAX_NR];
    for (int i = 0; i < R; i++) {
        rows[i] = NULL;
        if (!(nulls >> i & 1)) {
            void *r = place(&ar_rows[i], (size_t)kc * es, es);
            fill(r, kc, f64, 0);
            rows[i] = r;
        }
    }
    void *dst = place(&ar_c, (size_t)(kc * R) * es, align);
    ops->pack_transpose(kc, R, rows, dst);
    const char *bad = NULL;
    for (long p = 0; p < kc && !bad; p++) {
        for (int i = 0; i < R && !bad; i++) {
            const char *got = (const char *)dst + (size_t)(p * R + i) * es;
            const double zero = 0.0;
            const float zerof = 0.0f;
            const void *want = rows[i] ? (const char *)rows[i] + (size_t)p * es
                                       : f64 ? (const void *)&zero : (const void *)&zerof;
            if (memcmp(got, want, es) != 0) {
                bad = "a packed value differs";
            }
        }
    }
    if (bad == NULL && !untouched(&ar_c, dst, 1, kc * R, kc * R, es)) {
        bad = "a write outside the panel";
    }
    if (bad) {
        report("pack", set, f64, R, (long)nulls, kc, 0, bad);
    }
    else {
        passed++;
    }
}

/* The half conversions of one set at every length up to 70 and at once
 * over every half value / a spread of float32 ones, source and destination
 * flush against guard pages, against half.h's scalar ones bit for bit;
 * the destination's surroundings must be untouched. */
static void
check_half(const char *set, const lc_half_ops *h, int bfloat)
{
    static uint16_t all[65536];
    static float wide[65536], floats[4096];
    static uint16_t narrow_ref[4096];
    for (int i = 0; i < 65536; i++) {
        all[i] = (uint16_t)i;
    }
    for (int i = 0; i < 4096; i++) { /* ties, subnormal halves, overflow, NaNs */
        uint32_t x = (uint32_t)lc_rng_next(&rng);
        x = i % 3 == 0 ? x : i % 3 == 1 ? (x & 0x8000FFFFu) | 0x33000000u | ((x >> 8) % 0x06000000u)
                                        : (x & 0x807FE000u) | 0x47000000u | 0x1000u;
        floats[i] = lc_f32_from_bits(x);
        narrow_ref[i] = lc_f32_to_half(floats[i], bfloat);
    }
    h->widen(65536, all, wide);
    for (int i = 0; i < 65536; i++) {
        if (lc_f32_bits(wide[i]) != lc_f32_bits(lc_half_to_f32(all[i], bfloat))) {
            report("widen", set, 0, 0, i, 0, bfloat, "differs from half.h");
            return;
        }
    }
    for (long n = 0; n <= 70; n++) {
        uint16_t *src = place(&ar_a, (size_t)n * 2, 2);
        memcpy(src, all + 0x3BF0 + n * 7, (size_t)n * 2);
        float *dst = place(&ar_c, (size_t)n * 4, 4);
        h->widen(n, src, dst);
        int ok = untouched(&ar_c, (unsigned char *)dst, 1, n, n, 4);
        for (long i = 0; i < n; i++) {
            ok &= lc_f32_bits(dst[i]) == lc_f32_bits(lc_half_to_f32(src[i], bfloat));
        }
        float *from = place(&ar_b, (size_t)n * 4, 4);
        memcpy(from, floats + n * 13, (size_t)n * 4);
        uint16_t *to = place(&ar_c, (size_t)n * 2, 2);
        h->narrow(n, from, to);
        ok &= untouched(&ar_c, (unsigned char *)to, 1, n, n, 2);
        for (long i = 0; i < n; i++) {
            ok &= to[i] == narrow_ref[n * 13 + i];
        }
        if (ok) {
            passed++;
        }
        else {
            report(bfloat ? "bf16 convert" : "f16 convert", set, 0, 0, n, 0, 0,
                   "differs from half.h or wrote outside");
        }
    }
}

static void
check_set(const lc_kernel_set *ks)
{
    /* The x86 sets load packed panels with aligned loads (the contract's
     * 64 bytes); elsewhere panels go flush against the guard page. */
    const size_t panel_align = strcmp(ks->arch, "x86-64") == 0 ? 64 : 0;
    static const long kcs[] = {1, 2, 3, 4, 5, 7, 17};
    static const int starts[] = {LC_START_ZERO, LC_START_BIAS, LC_START_C};
    for (int f64 = 0; f64 <= 1; f64++) {
        const lc_kernel_ops *ops = f64 ? &ks->f64 : &ks->f32;
        const size_t es = f64 ? 8 : 4;
        const size_t align = panel_align ? panel_align : es;
        for (int mr = 1; mr <= ops->mr; mr++) {
            for (int nr = 1; nr <= ops->nr; nr++) {
                for (size_t k = 0; k < sizeof kcs / sizeof kcs[0]; k++) {
                    for (int s = 0; s < 3; s++) {
                        const int tiny = (mr + nr + (int)k) % 2;
                        check_tile(ks->name, ops, f64, align, mr, nr, kcs[k], starts[s], tiny,
                                   nr);
                        if (s == 2 && k == 2) { /* gaps between rows of C */
                            check_tile(ks->name, ops, f64, align, mr, nr, kcs[k], starts[s],
                                       tiny, nr + 3);
                        }
                    }
                }
            }
        }
        for (int mr = 1; mr <= ops->dmr; mr++) {
            for (long n = 1; n <= 2 * ops->dnr + 3; n++) {
                for (size_t k = 0; k < sizeof kcs / sizeof kcs[0]; k++) {
                    for (int s = 0; s < 3; s++) {
                        const int tiny = (mr + (int)n + (int)k) % 2;
                        check_direct(ks->name, ops, f64, mr, n, kcs[k], starts[s], tiny,
                                     (int)(n + k) % 2, n);
                        if (s == 2 && k == 1) {
                            check_direct(ks->name, ops, f64, mr, n, kcs[k], starts[s], tiny,
                                         0, n + 5);
                        }
                    }
                }
            }
        }
        if (ops->pack_transpose != NULL) {
            const int Rs[2] = {ops->mr, ops->nr};
            for (int r = 0; r < 2; r++) {
                for (long kc = 1; kc <= 11; kc++) {
                    for (unsigned nulls = 0; nulls < 3; nulls++) {
                        /* no NULL row; the last row NULL; every other row NULL */
                        const unsigned mask = nulls == 0   ? 0u
                                              : nulls == 1 ? 1u << (Rs[r] - 1)
                                                           : 0xAAAAAAAAu;
                        check_pack(ks->name, ops, f64, align, Rs[r], kc, mask);
                    }
                }
            }
        }
        (void)es;
    }
    check_half(ks->name, &ks->f16, 0);
    check_half(ks->name, &ks->bf16, 1);
}

int
main(int argc, char **argv)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    lc_rng_seed(&rng, 0x243F6A8885A308D3ull);
    ar_a = arena_new(1 << 15);
    ar_b = arena_new(1 << 15);
    ar_c = arena_new(1 << 15);
    ar_bias = arena_new(1 << 12);
    for (int i = 0; i < LC_MAX_NR; i++) {
        ar_rows[i] = arena_new(1 << 12);
    }
    static const char *const all[] = {"avx512", "avx2", "neon", "generic"};
    const char *const *names = argc > 1 ? (const char *const *)argv + 1 : all;
    const int count = argc > 1 ? argc - 1 : 4;
    for (int i = 0; i < count; i++) {
        const char *why = NULL;
        const lc_kernel_set *ks = lc_select_kernels(names[i], &why);
        if (ks == NULL) {
            if (argc > 1) {
                fprintf(stderr, "%s: %s\n", names[i], why);
                return 2;
            }
            continue; /* not this CPU's or not this build's */
        }
        const long before = passed + failed;
        check_set(ks);
        fprintf(stderr, "kernel set %s (%s): %ld cases\n", ks->name, ks->arch,
                passed + failed - before);
    }
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : passed ? 0 : 1;
}
