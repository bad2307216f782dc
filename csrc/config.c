/*
 * The context that follows from this CPU's caches (config.h); the CPU and
 * its caches are read in cpu.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "config.h"

/* ------------------------------------------------------------------------
 * The parameters: names, limits, defaults.
 */
const char *const lc_param_names[LC_PARAMS_COUNT] = {
    "kc", "kc_max", "mc", "nc", "kc_direct", "kc_stream", "direct_rows", "direct_cols",
    "serial_flops", "parallel_bytes", "direct_block_bytes",
};

long *
lc_param(lc_params *p, int i)
{
    long *const fields[LC_PARAMS_COUNT] = {
        &p->kc, &p->kc_max, &p->mc, &p->nc, &p->kc_direct, &p->kc_stream, &p->direct_rows,
        &p->direct_cols, &p->serial_flops, &p->parallel_bytes, &p->direct_block_bytes,
    };
    return fields[i];
}

const char *
lc_origin_name(lc_origin o)
{
    static const char *const names[] = {"default", "model", "measured", "tuned", "environment"};
    return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}

/* Beyond these a buffer would outgrow any cache and the pool's bound. */
#define KC_LIMIT 8192
#define MC_LIMIT 65536
#define NC_LIMIT 65536
#define PANEL_LIMIT ((long)256 << 20) /* bytes of one packed B panel, or A block */
#define BYTES_LIMIT ((long)1 << 40)

const char *
lc_params_check(const lc_params *p, const lc_kernel_ops *ops, size_t es)
{
    if (p->kc < 1 || p->kc > KC_LIMIT || p->kc_max < p->kc || p->kc_max > KC_LIMIT) {
        return "kc must be in [1, 8192] and kc_max in [kc, 8192]";
    }
    if (p->mc < ops->mr || p->mc > MC_LIMIT || p->mc % ops->mr != 0) {
        return "mc must be a multiple of the tile's rows, at most 65536";
    }
    if (p->nc < ops->nr || p->nc > NC_LIMIT || p->nc % ops->nr != 0) {
        return "nc must be a multiple of the tile's columns, at most 65536";
    }
    if (p->kc_max * p->nc * (long)es > PANEL_LIMIT) {
        return "a kc_max x nc panel of B must fit in 256 MiB";
    }
    /* Each thread packs its own mc x kc_max block of A. */
    if ((int64_t)p->mc * p->kc_max * (int64_t)es > PANEL_LIMIT) {
        return "an mc x kc_max block of A must fit in 256 MiB";
    }
    if (p->kc_direct < 1 || p->kc_direct > KC_LIMIT || p->kc_stream < 1 ||
        p->kc_stream > KC_LIMIT) {
        return "kc_direct and kc_stream must be in [1, 8192]";
    }
    if (p->direct_rows < 0 || p->direct_cols < 0 || p->serial_flops < 0 ||
        p->parallel_bytes < 0 || p->serial_flops > BYTES_LIMIT ||
        p->parallel_bytes > BYTES_LIMIT || p->direct_block_bytes < 1 ||
        p->direct_block_bytes > BYTES_LIMIT ||
        p->direct_rows > BYTES_LIMIT || p->direct_cols > BYTES_LIMIT) {
        return "direct_rows, direct_cols, serial_flops, parallel_bytes and "
               "direct_block_bytes must be in [0, 2**40] (direct_block_bytes at least 1)";
    }
    return NULL;
}

/* kc_max from kc: a quarter more, so that K just past kc stays one block
 * (kc 352: K up to 440). */
static long
kc_max_for(long kc)
{
    return LC_MIN((long)lc_round_up((size_t)(kc + kc / 4), 8), (long)KC_LIMIT);
}

/* The limits that do not depend on the CPU's caches. */
static void
set_defaults(lc_params *p, size_t es)
{
    /* A parallel region costs 1-60 us, more than a product this small. */
    p->serial_flops = 4000000;
    /* A bandwidth-bound direct product wants the second core's loads. */
    p->parallel_bytes = 256 * 1024;
    /* Rows of 256 bytes: B stays in L1 while x streams through once. */
    p->direct_cols = (long)(256 / es);
    p->kc_stream = 8;
    for (int i = 0; i < LC_PARAMS_COUNT; i++) {
        p->origin[i] = LC_FROM_DEFAULT;
    }
    p->measured = NULL;
}

/* ------------------------------------------------------------------------
 * The cache model.
 */

/* Ways of `k` that `bytes` of one stream occupy. */
static int
ways_for(const lc_cache *k, double bytes)
{
    const double way = (double)k->sets * k->line;
    const int w = (int)((bytes + way - 1) / way);
    return w < 1 ? 1 : w;
}

/*
 * The least kc that keeps a tile's round trip through C (2 MR NR elements
 * per K block: every K block starts the chains from C and stores them
 * back) within 5% of its reads of A and B (kc (MR + NR)).
 */
static long
kc_for_c_round_trip(int mr, int nr)
{
    return (long)lc_round_up((size_t)(40 * mr * nr / (mr + nr)), 8);
}

/* The largest K block the model asks for. Longer ones gained at most 2-3%
 * with AVX-512's tiles on Sapphire Rapids and lost 10% with AVX2's, whose
 * panel of B then took half the columns (the 32 MiB below). */
#define KC_MODEL_MAX 1024
/* The bytes of one packed panel of B the model allows (two are kept with a
 * team), so that a wide layer does not make the pool hold hundreds of MiB. */
#define B_PANEL_MODEL_BYTES ((size_t)32 << 20)

/*
 * The model. Low et al. keep an MR x kc micro-panel of A and a kc x NR one
 * of B in L1 (one way left for C); that gave kc 80-352 here, and measured
 * GEMMs disagree on both CPUs linearc has run on: Zen 4's best kc was 1024
 * (float32) and 512 (float64), Sapphire Rapids' 2048, 9-24% faster than
 * the L1 model's on square, MLP and medium layers (bench and gemm_harness,
 * 2 threads). Their L2 feeds a streaming B micro-panel at the tile's rate,
 * while every K block costs the tile a round trip of C and a new start of
 * its FMA chains, and the team a barrier. So here kc fills an eighth of L2
 * with the B micro-panel (at least the L1 model's and the C round trip's
 * floor, at most 1024); mc makes the mc x kc block of A fill the ways of L2
 * that B's micro-panel and C leave, at most half of L2; nc the ways of L3
 * the cores' A blocks leave, with the kc x nc panel of B at most 32 MiB.
 */
static void
apply_model(const lc_cpu *cpu, const lc_kernel_ops *ops, size_t es, lc_params *b)
{
    const lc_cache *l1 = &cpu->l1d, *l2 = &cpu->l2, *l3 = &cpu->l3;
    const double ratio = (double)ops->nr / ops->mr;
    int a_ways = (int)((l1->ways - 1) / (1.0 + ratio));
    a_ways = a_ways < 1 ? 1 : a_ways;
    const long kc_l1 =
        (long)((size_t)a_ways * (size_t)l1->sets * (size_t)l1->line / ((size_t)ops->mr * es));
    const long kc_l2 = (long)(l2->size / 8 / ((size_t)ops->nr * es));
    b->kc = LC_MAX(LC_MAX(kc_l1, kc_l2), kc_for_c_round_trip(ops->mr, ops->nr));
    b->kc = LC_MIN(LC_MAX(b->kc / 8 * 8, 32L), (long)KC_MODEL_MAX);
    b->kc_max = kc_max_for(b->kc);
    const int b_ways2 = ways_for(l2, (double)b->kc * ops->nr * (double)es);
    const int a_ways2 = LC_MAX(l2->ways - 1 - b_ways2, 1);
    b->mc = (long)((size_t)a_ways2 * (size_t)l2->sets * (size_t)l2->line / ((size_t)b->kc * es));
    /* At most half of L2, as BLIS's and OpenBLAS's hand-set values leave
     * room for the B micro-panels and C streaming through. */
    b->mc = LC_MIN(b->mc, (long)(l2->size / 2 / ((size_t)b->kc * es)));
    b->mc = LC_MAX(b->mc / ops->mr * ops->mr, (long)ops->mr);
    const int a_ways3 = ways_for(l3, (double)b->mc * (double)b->kc * (double)es *
                                         LC_MAX(l3->sharing, 1));
    const int b_ways3 = LC_MAX(l3->ways - 1 - a_ways3, 1);
    b->nc = (long)((size_t)b_ways3 * (size_t)l3->sets * (size_t)l3->line / ((size_t)b->kc * es));
    b->nc = LC_MIN(b->nc, (long)(B_PANEL_MODEL_BYTES / ((size_t)b->kc * es)));
    b->nc = LC_MIN(LC_MAX(b->nc / ops->nr * ops->nr, (long)ops->nr), 16384L);
    /* Direct path: a kc x DNR block of B in half of L1. */
    b->kc_direct = (long)(l1->size / 2 / ((size_t)ops->dnr * es));
    b->kc_direct = LC_MAX(b->kc_direct / 8 * 8, kc_for_c_round_trip(ops->dmr, ops->dnr));
    b->kc_direct = LC_MIN(b->kc_direct, 256L);
    /* A direct sweep reads a kc x (a thread's columns) block of B once per
     * tile of rows: a quarter of L2 keeps it there. Sapphire Rapids, float64,
     * 2 threads: the best kc_direct was 208 at 256 columns, 104 at 1024 and
     * about 48 at 3072, which this rule gives within a step. */
    b->direct_block_bytes = (long)(l2->size / 4);
    /* Wide direct tiles (AVX-512) load B once per 4 vectors of FMAs and
     * beat packing for a few hundred rows; narrow ones only for a few. */
    b->direct_rows = ops->dnr * (int)es >= 256 ? 256 : 64;
    /* kc .. kc_direct, direct_rows, direct_block_bytes */
    static const int modelled[] = {0, 1, 2, 3, 4, 6, 10};
    for (size_t i = 0; i < sizeof modelled / sizeof modelled[0]; i++) {
        b->origin[modelled[i]] = LC_FROM_MODEL;
    }
}

/* ------------------------------------------------------------------------
 * Values measured on known CPUs, which replace the model's where they are
 * given (0 keeps the model's). Each row says where it was measured.
 */
typedef struct {
    const char *vendor;
    int family, model_lo, model_hi;
    size_t l1d, l2; /* the caches' sizes, 0 for any: a hypervisor may mask the
                     * model number, not what the CPU has */
    const char *isa;
    lc_dtype dtype;
    long kc, mc, nc, kc_direct, kc_stream, direct_rows;
    const char *source;
} measured_params;

static const measured_params measured[] = {
    /* Intel Xeon, Sapphire / Emerald Rapids cores (family 6; KVM showed
     * model 167 where 207 is real, hence the match on the caches): 2 KVM
     * cores, L1d 48 KiB 12-way, L2 2 MiB 16-way. _time_gemm, 2 threads,
     * interleaved medians, 2026-12-04, 6x64 / 6x32 tiles: kc 224-2048 x mc
     * 60-1170 on 2048^3, (4096, 768) -> 3072 and 4096^3; one K block of up
     * to 2048 ran 9-24% faster than kc 224 (2-3% faster than 1024) and a
     * big mc 2-7% faster than the L2 model's; direct against blocked at
     * 16-256 rows of (m, k) -> n for k = n = 256 to 1024: the direct path
     * wins up to 128 rows (float32) and about 96 (float64). float32 2048^3
     * 315-336 GFLOP/s (MKL 321), float64 154-161 (MKL 163-165). */
    {"GenuineIntel", 6, 0, 255, 48 << 10, 2 << 20, "avx512", LC_F32, 2048, 1170, 4096, 0, 0, 128,
     "measured on an Intel Xeon (Sapphire/Emerald Rapids, family 6, model 167 under KVM), "
     "_time_gemm, 2026-12-04"},
    {"GenuineIntel", 6, 0, 255, 48 << 10, 2 << 20, "avx512", LC_F64, 2048, 630, 2048, 0, 0, 96,
     "measured on an Intel Xeon (Sapphire/Emerald Rapids, family 6, model 167 under KVM), "
     "_time_gemm, 2026-12-04"},
    /* AMD Zen 4 (family 25, models 16-31: EPYC Genoa): 2 KVM cores, L1d
     * 32 KiB 8-way, L2 1 MiB 8-way, L3 32 MiB; a zmm FMA issues as two
     * 256-bit halves, so AVX-512 and AVX2 share a peak (117 GFLOP/s float32
     * per core). benchmarks/gemm_harness.c, 2 threads, medians, 2026-11-27:
     * KC 256-1024 x MC 4 values x NC 1024-8192 on (256, 1024) -> 1024,
     * (4096, 768) -> 3072 and 2048^3; kc_direct 64-512 and kc_stream 1-16
     * on 1-256 rows; direct_rows from direct vs blocked at 16-2048 rows.
     * AVX-512 float32 reaches 216 GFLOP/s (92%) on 2048^3, float64 102.
     * Measured with the 12x32 / 14x16 AVX-512 tiles linearc had then; the
     * 6-row tiles that replaced them (kernels/avx512.c) keep these values,
     * float64's mc rounded to 54, until the tuner or a session on Zen 4
     * measures them again. */
    {"AuthenticAMD", 25, 16, 31, 0, 0, "avx512", LC_F32, 1024, 96, 2048, 256, 8, 256,
     "measured on AMD EPYC Zen 4 (family 25, model 17), gemm_harness, 2026-11-27"},
    {"AuthenticAMD", 25, 16, 31, 0, 0, "avx512", LC_F64, 512, 54, 1024, 256, 8, 256,
     "measured on AMD EPYC Zen 4 (family 25, model 17), gemm_harness, 2026-11-27"},
    {"AuthenticAMD", 25, 16, 31, 0, 0, "avx2", LC_F32, 1024, 72, 2048, 256, 8, 64,
     "measured on AMD EPYC Zen 4 (family 25, model 17), gemm_harness, 2026-11-27"},
    {"AuthenticAMD", 25, 16, 31, 0, 0, "avx2", LC_F64, 512, 72, 1024, 256, 8, 64,
     "measured on AMD EPYC Zen 4 (family 25, model 17), gemm_harness, 2026-11-27"},
    /* AMD Zen 5 (family 26): EPYC, 2 KVM cores, L1d 48 KiB, L2 1 MiB.
     * benchmarks/gemm_harness.c, 2 threads, 2026-11-26, KC swept 256-1024,
     * MC 48-240, on 4096^3, (4096, 768) -> 3072 and (256, 1024) -> 1024,
     * with the 12x32 / 14x16 AVX-512 tiles (float64's mc rounded to 54 for
     * the 6-row tile). */
    {"AuthenticAMD", 26, 0, 255, 0, 0, "avx512", LC_F32, 512, 120, 4096, 0, 0, 32,
     "measured on AMD EPYC Zen 5 (family 26), gemm_harness, 2026-11-26"},
    {"AuthenticAMD", 26, 0, 255, 0, 0, "avx512", LC_F64, 384, 54, 2048, 0, 0, 32,
     "measured on AMD EPYC Zen 5 (family 26), gemm_harness, 2026-11-26"},
    {"AuthenticAMD", 26, 0, 255, 0, 0, "avx2", LC_F32, 512, 144, 4096, 0, 0, 32,
     "measured on AMD EPYC Zen 5 (family 26), gemm_harness, 2026-11-26"},
    {"AuthenticAMD", 26, 0, 255, 0, 0, "avx2", LC_F64, 384, 72, 2048, 0, 0, 32,
     "measured on AMD EPYC Zen 5 (family 26), gemm_harness, 2026-11-26"},
};

static int
apply_measured(const lc_cpu *cpu, const lc_kernel_set *ks, lc_dtype t, lc_params *p,
               const char **why)
{
    const lc_kernel_ops *ops = t == LC_F32 ? &ks->f32 : &ks->f64;
    for (size_t r = 0; r < sizeof measured / sizeof measured[0]; r++) {
        const measured_params *m = &measured[r];
        if (strcmp(m->vendor, cpu->vendor) != 0 || m->family != cpu->family ||
            cpu->model < m->model_lo || cpu->model > m->model_hi ||
            (m->l1d && m->l1d != cpu->l1d.size) || (m->l2 && m->l2 != cpu->l2.size) ||
            strcmp(m->isa, ks->name) != 0 || m->dtype != t) {
            continue;
        }
        const long given[] = {m->kc, 0, m->mc, m->nc, m->kc_direct, m->kc_stream,
                              m->direct_rows};
        lc_params next = *p;
        for (int i = 0; i < (int)(sizeof given / sizeof given[0]); i++) {
            if (given[i] != 0) {
                *lc_param(&next, i) = given[i];
                next.origin[i] = LC_FROM_MEASURED;
            }
        }
        if (next.origin[1] < next.origin[0]) {
            next.kc_max = kc_max_for(next.kc);
            next.origin[1] = next.origin[0];
        }
        next.measured = m->source;
        if ((*why = lc_params_check(&next, ops, lc_dtype_size(t))) != NULL) {
            return -1;
        }
        *p = next;
    }
    return 0;
}

const char *
lc_measured_table_check(const lc_kernel_set *const *sets, int count)
{
    for (size_t r = 0; r < sizeof measured / sizeof measured[0]; r++) {
        const measured_params *m = &measured[r];
        int named = 0;
        for (int s = 0; s < count; s++) {
            if (strcmp(sets[s]->name, m->isa) != 0) {
                continue;
            }
            named = 1;
            const lc_kernel_ops *ops = m->dtype == LC_F32 ? &sets[s]->f32 : &sets[s]->f64;
            const size_t es = lc_dtype_size(m->dtype);
            if (m->mc % ops->mr != 0 || m->nc % ops->nr != 0 || m->kc < 1 ||
                m->kc > KC_LIMIT || kc_max_for(m->kc) * m->nc * (long)es > PANEL_LIMIT ||
                (int64_t)kc_max_for(m->kc) * m->mc * (int64_t)es > PANEL_LIMIT) {
                return m->source;
            }
        }
        if (!named) {
            return m->source;
        }
    }
    return NULL;
}

int
lc_context_make(const lc_kernel_set *kernels, lc_context *ctx, const char **why)
{
    const lc_cpu *cpu = lc_cpu_info();
    ctx->kernels = kernels;
    set_defaults(&ctx->f32, 4);
    set_defaults(&ctx->f64, 8);
    apply_model(cpu, &kernels->f32, 4, &ctx->f32);
    apply_model(cpu, &kernels->f64, 8, &ctx->f64);
    ctx->f32_model = ctx->f32;
    ctx->f64_model = ctx->f64;
    if ((*why = lc_params_check(&ctx->f32, &kernels->f32, 4)) != NULL ||
        (*why = lc_params_check(&ctx->f64, &kernels->f64, 8)) != NULL) {
        return -1;
    }
    return apply_measured(cpu, kernels, LC_F32, &ctx->f32, why) < 0 ||
                   apply_measured(cpu, kernels, LC_F64, &ctx->f64, why) < 0
               ? -1
               : 0;
}

int
lc_context_update(lc_context *ctx, lc_dtype t, const long value[LC_PARAMS_COUNT],
                  const int given[LC_PARAMS_COUNT], lc_origin origin, const char **why)
{
    lc_params *p = t == LC_F32 ? &ctx->f32 : &ctx->f64;
    lc_params next = *p;
    for (int i = 0; i < LC_PARAMS_COUNT; i++) {
        /* A field a stronger source (the environment) set keeps its value. */
        if (given[i] && next.origin[i] <= origin) {
            *lc_param(&next, i) = value[i];
            next.origin[i] = origin;
        }
    }
    /* kc_max follows a kc given without it (unless a stronger source set
     * kc_max), and any kc that a weaker source's kc_max would not hold. */
    if ((given[0] && !given[1] && next.origin[1] <= origin) ||
        next.origin[1] < next.origin[0]) {
        next.kc_max = kc_max_for(next.kc);
        next.origin[1] = next.origin[0];
    }
    if ((*why = lc_params_check(&next, lc_context_ops(ctx, t), lc_dtype_size(t))) != NULL) {
        return -1;
    }
    *p = next;
    return 0;
}

/* The numbers of "kc,mc,nc[,kc_direct[,kc_stream[,direct_rows]]]": at least
 * 3 and at most 6 integers in [0, 2**24], comma separated. Returns how many,
 * or -1. */
static int
parse_blocking(const char *text, long v[6])
{
    int n = 0;
    const char *p = text;
    while (n < 6) {
        char *end;
        errno = 0;
        v[n] = strtol(p, &end, 10);
        if (end == p || errno != 0 || v[n] < 0 || v[n] > (1L << 24)) {
            return -1;
        }
        n++;
        if (*end == '\0') {
            return n >= 3 ? n : -1;
        }
        if (*end != ',') {
            return -1;
        }
        p = end + 1;
    }
    return -1;
}

/* name = "kc,mc,nc[,kc_direct[,kc_stream[,direct_rows]]]" for one type;
 * mc and nc are rounded down to the tile. */
static int
apply_environment(lc_context *ctx, lc_dtype t, const char *name, const char **why)
{
    const char *text = getenv(name);
    if (text == NULL || text[0] == '\0') {
        return 0;
    }
    const lc_kernel_ops *ops = lc_context_ops(ctx, t);
    long v[6] = {0, 0, 0, 0, 0, 0};
    const int n = parse_blocking(text, v);
    if (n < 0 || v[0] < 1 || v[1] < ops->mr || v[2] < ops->nr || (n >= 4 && v[3] < 1) ||
        (n >= 5 && v[4] < 1)) {
        *why = "must be \"kc,mc,nc[,kc_direct[,kc_stream[,direct_rows]]]\": integers up to "
               "2**24 with kc >= 1, mc >= MR, nc >= NR, kc_direct and kc_stream >= 1";
        return -1;
    }
    v[1] = v[1] / ops->mr * ops->mr;
    v[2] = v[2] / ops->nr * ops->nr;
    static const int field[6] = {0, 2, 3, 4, 5, 6}; /* kc, mc, nc, kc_direct, ... */
    lc_params next = *lc_context_params(ctx, t);
    for (int i = 0; i < n; i++) {
        *lc_param(&next, field[i]) = v[i];
        next.origin[field[i]] = LC_FROM_ENV;
    }
    next.kc_max = kc_max_for(next.kc);
    next.origin[1] = LC_FROM_ENV;
    if ((*why = lc_params_check(&next, ops, lc_dtype_size(t))) != NULL) {
        return -1;
    }
    *(t == LC_F32 ? &ctx->f32 : &ctx->f64) = next;
    return 0;
}

int
lc_context_apply_environment(lc_context *ctx, const char **bad, const char **why)
{
    *bad = "LINEARC_BLOCKING_F32";
    if (apply_environment(ctx, LC_F32, *bad, why) < 0) {
        return -1;
    }
    *bad = "LINEARC_BLOCKING_F64";
    return apply_environment(ctx, LC_F64, *bad, why);
}
