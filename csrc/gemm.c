/*
 * The GEMM driver: the plan (path and threads), the Goto/BLIS loops around
 * the kernels, packing shared between threads, and the few-row direct path.
 * No intrinsics here: the tiles and packers come from the configuration's
 * kernel set, the block sizes from config.c.
 *
 * Determinism: every element is one chain of FMAs in k order (kernels.h),
 * carried through C between K blocks, so the result is the same bits for
 * any path, block size, thread count and kernel set.
 *
 * Threads (blocked path): for each (N block, K block) the team packs the
 * kc x nc panel of B together, once, and shares it (a barrier before use and
 * one after). Each thread then packs the rows of A it computes, or, when A
 * has too few rows to split, the team packs all of A's block together too
 * and splits the tiles in two dimensions. Nothing is packed twice, so the
 * packing does not grow with the thread count (docs/design.md, "Threads").
 */
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef LINEARC_HAVE_OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "gemm.h"
#include "pack.h"
#include "threads.h"
#include "workspace.h"

/* Below this many flops a problem runs on the calling thread alone: a
 * parallel region costs 1-60 us, more than the work. */
#define SERIAL_FLOPS 4.0e6
/* It copies A (when A needs converting) into at most this many bytes. */
#define COPY_MAX_BYTES ((size_t)4 << 20)
/* It splits B's columns between threads only when B is at least this big:
 * a bandwidth-bound product needs the second core's loads sooner. */
#define DIRECT_PARALLEL_BYTES ((size_t)256 * 1024)
/* The blocked path gives each thread its own rows of A when there are at
 * least this many register tiles of rows per thread; otherwise the team
 * shares A's packed block and splits the tiles in two dimensions. */
#define ROW_TILES_PER_THREAD 4

lc_gemm_limits
lc_gemm_planner_limits(void)
{
    return (lc_gemm_limits){SERIAL_FLOPS, COPY_MAX_BYTES, DIRECT_PARALLEL_BYTES};
}

/* ------------------------------------------------------------------------
 * The plan.
 */
typedef enum { PATH_EMPTY, PATH_FILL, PATH_DIRECT, PATH_BLOCKED } gemm_path;

typedef struct {
    gemm_path path;
    int threads;
    int copy_a;       /* direct: A is first copied, dense, in the compute type */
    int split_rows;   /* direct: threads split the rows (too few columns) */
    int shared_a;     /* blocked: the team packs A's block together */
    ptrdiff_t kc, nc; /* blocked: the K and N blocks of this problem */
    ptrdiff_t mc;     /* blocked: rows of A per packed block (per thread) */
    size_t ws_bytes;  /* workspace, all threads together */
} gemm_plan;

/* Where the blocked path's packed buffers sit in its workspace. With more
 * than one thread there are two of everything the team shares, used by
 * alternate K blocks: a thread may pack block p + 1 while another still
 * computes block p, so one barrier per block suffices. */
typedef struct {
    size_t b_bytes, a_bytes; /* one B panel; one A block */
    int copies;              /* 2 with a team, else 1 */
    size_t a_offset;         /* the first A block */
    size_t total;
} packed_layout;

static packed_layout layout_of(const lc_gemm_args *g, const gemm_plan *plan);

static int
clamp_threads(int want, ptrdiff_t units)
{
    const ptrdiff_t limit = units < INT32_MAX ? units : INT32_MAX;
    want = want > limit ? (int)limit : want;
    return want < 1 ? 1 : want;
}

static int
usable_threads(int requested)
{
#ifndef LINEARC_HAVE_OPENMP
    (void)requested;
    return 1;
#else
    if (lc_in_forked_child()) {
        return 1; /* GNU OpenMP's pool did not survive the fork */
    }
    return requested > LC_MAX_THREADS ? LC_MAX_THREADS : requested;
#endif
}

/* Whether an operand can be read in place at element strides. */
static int
affine_in(const lc_operand *op, lc_dtype t)
{
    const ptrdiff_t es = (ptrdiff_t)lc_dtype_size(t);
    return op->type == t && op->row_off == NULL && op->col_off == NULL && op->rs % es == 0 &&
           op->cs % es == 0;
}

static int
plan_direct(const lc_gemm_args *g, gemm_plan *plan, int nthreads, double flops)
{
    const size_t es = lc_dtype_size(g->dtype);
    const lc_kernel_ops *ops = lc_config_ops(g->config, g->dtype);
    const lc_blocking *bl = lc_config_blocking(g->config, g->dtype);
    if ((g->m > bl->direct_rows && g->n > bl->direct_cols) || !affine_in(&g->b, g->dtype) ||
        g->b.cs != (ptrdiff_t)es) {
        return 0;
    }
    plan->copy_a = !affine_in(&g->a, g->dtype);
    plan->ws_bytes = plan->copy_a ? (size_t)g->m * (size_t)g->k * es : 0;
    if (plan->ws_bytes > COPY_MAX_BYTES) {
        return 0;
    }
    plan->path = PATH_DIRECT;
    const size_t b_bytes = (size_t)g->n * (size_t)g->k * es;
    const ptrdiff_t col_tiles = (g->n + ops->dnr - 1) / ops->dnr;
    const ptrdiff_t row_tiles = (g->m + ops->dmr - 1) / ops->dmr;
    if (flops >= SERIAL_FLOPS || (b_bytes >= DIRECT_PARALLEL_BYTES && flops >= SERIAL_FLOPS / 8)) {
        plan->split_rows = col_tiles < nthreads && row_tiles > col_tiles;
        plan->threads = clamp_threads(nthreads, plan->split_rows ? row_tiles : col_tiles);
    }
    return 1;
}

static void
plan_blocked(const lc_gemm_args *g, gemm_plan *plan, int nthreads, double flops)
{
    const lc_kernel_ops *ops = lc_config_ops(g->config, g->dtype);
    const lc_blocking *bl = lc_config_blocking(g->config, g->dtype);
    plan->path = PATH_BLOCKED;
    plan->kc = LC_MIN(g->k, (ptrdiff_t)bl->kc);
    plan->nc = LC_MIN((ptrdiff_t)lc_round_up((size_t)g->n, (size_t)ops->nr), (ptrdiff_t)bl->nc);
    const ptrdiff_t row_tiles = (g->m + ops->mr - 1) / ops->mr;
    const ptrdiff_t tiles = row_tiles * ((plan->nc + ops->nr - 1) / ops->nr);
    if (flops >= SERIAL_FLOPS) {
        plan->threads = clamp_threads(nthreads, tiles);
    }
    plan->shared_a = plan->threads > 1 && row_tiles < (ptrdiff_t)ROW_TILES_PER_THREAD * plan->threads;
    if (plan->shared_a) {
        plan->mc = row_tiles * ops->mr;
    }
    else {
        const ptrdiff_t rows_each = (row_tiles + plan->threads - 1) / plan->threads * ops->mr;
        plan->mc = LC_MIN(rows_each, (ptrdiff_t)bl->mc);
    }
    plan->ws_bytes = layout_of(g, plan).total;
}

static gemm_plan
make_plan(const lc_gemm_args *g)
{
    gemm_plan plan = {.path = PATH_EMPTY, .threads = 1};
    if (g->m == 0 || g->n == 0) {
        return plan;
    }
    if (g->k == 0) {
        plan.path = PATH_FILL;
        return plan;
    }
    const int nthreads = usable_threads(g->nthreads);
    const double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    if (!plan_direct(g, &plan, nthreads, flops)) {
        plan_blocked(g, &plan, nthreads, flops);
    }
    return plan;
}

const char *
lc_gemm_path(const lc_gemm_args *g, int *threads_used)
{
    static const char *const names[] = {"empty", "fill", "direct", "blocked"};
    const gemm_plan plan = make_plan(g);
    if (threads_used) {
        *threads_used = plan.threads;
    }
    return names[plan.path];
}

size_t
lc_gemm_workspace_bytes(const lc_gemm_args *g)
{
    return make_plan(g).ws_bytes;
}

/* ------------------------------------------------------------------------
 * Running on a team of threads.
 */

/* Part t of T of `units` units of `unit` elements, clipped to `size`. */
static void
split_range(ptrdiff_t size, ptrdiff_t unit, int t, int T, ptrdiff_t *lo, ptrdiff_t *hi)
{
    const ptrdiff_t units = (size + unit - 1) / unit;
    *lo = LC_MIN(units * t / T * unit, size);
    *hi = LC_MIN(units * (t + 1) / T * unit, size);
}

static void
team_barrier(int T)
{
#ifdef LINEARC_HAVE_OPENMP
    if (T > 1) {
#pragma omp barrier
    }
#else
    (void)T;
#endif
}

typedef void (*team_fn)(const lc_gemm_args *g, const gemm_plan *plan, void *ws, int t, int T);

/* fn(t, T) on every thread of a team of plan->threads (or fewer, if OpenMP
 * grants fewer: the work is divided among those who come). Each worker
 * takes the caller's floating-point environment (rounding, flush-to-zero),
 * so that the bits do not depend on which thread computed them, and gets
 * its own back at the end: the pool's threads are shared with whoever else
 * uses this OpenMP runtime (torch does), who must not inherit our caller's
 * modes. */
static void
run_team(const lc_gemm_args *g, const gemm_plan *plan, void *ws, team_fn fn)
{
    if (plan->threads == 1) {
        fn(g, plan, ws, 0, 1);
        return;
    }
#ifdef LINEARC_HAVE_OPENMP
    fenv_t env;
    fegetenv(&env);
#pragma omp parallel num_threads(plan->threads)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        fenv_t own;
        if (t != 0) {
            fegetenv(&own);
            fesetenv(&env);
        }
        fn(g, plan, ws, t, T);
        if (t != 0) {
            fesetenv(&own);
        }
    }
#else
    fn(g, plan, ws, 0, 1);
#endif
}

/* ------------------------------------------------------------------------
 * The paths.
 */

/* Any NaN among c[0], ..., c[n-1] made the canonical quiet NaN, as the
 * kernels store it (kernels.h). */
static void
canonical_nans(void *c, ptrdiff_t n, lc_dtype dtype)
{
    if (dtype == LC_F32) {
        float *v = c;
        for (ptrdiff_t j = 0; j < n; j++) {
            v[j] = v[j] != v[j] ? NAN : v[j];
        }
    }
    else {
        double *v = c;
        for (ptrdiff_t j = 0; j < n; j++) {
            v[j] = v[j] != v[j] ? (double)NAN : v[j];
        }
    }
}

/* k == 0: every chain is empty: C = bias (or 0), or C stays. */
static void
fill_output(const lc_gemm_args *g)
{
    const size_t es = lc_dtype_size(g->dtype);
    for (ptrdiff_t i = 0; i < g->m && !g->accumulate; i++) {
        char *row = (char *)g->c + (size_t)(i * g->ldc) * es;
        if (g->bias != NULL) {
            memcpy(row, g->bias, (size_t)g->n * es);
            canonical_nans(row, g->n, g->dtype);
        }
        else {
            memset(row, 0, (size_t)g->n * es);
        }
    }
}

static int
first_start(const lc_gemm_args *g)
{
    return g->accumulate ? LC_START_C : g->bias ? LC_START_BIAS : LC_START_ZERO;
}

/* Direct path, thread t of T: columns of C split in DNR-wide units. A is
 * g->a in place or its dense copy in ws. Each kernel call sweeps the
 * thread's columns for a few rows of A and a K block of B, so B streams
 * through in order: once when A has a single tile of rows, otherwise from
 * L2 once per tile of rows. */
static void
direct_part(const lc_gemm_args *g, const gemm_plan *plan, void *ws, int t, int T)
{
    const size_t es = lc_dtype_size(g->dtype);
    const lc_kernel_ops *ops = lc_config_ops(g->config, g->dtype);
    const lc_blocking *bl = lc_config_blocking(g->config, g->dtype);
    /* One tile of rows and a B that fits in cache (or a single tile of
     * columns): the whole chain in one pass. One tile of rows and a big B:
     * B streams from memory, a few of its rows at a time. Else B's K blocks
     * are reused from cache by every tile of rows. */
    const size_t b_bytes = (size_t)g->k * (size_t)g->n * es;
    const ptrdiff_t kcd = g->m > ops->dmr                                    ? bl->kc_direct
                          : g->n > ops->dnr && b_bytes > DIRECT_PARALLEL_BYTES ? bl->kc_stream
                                                                              : g->k;
    const char *a = plan->copy_a ? (const char *)ws : g->a.data;
    const ptrdiff_t lda = plan->copy_a ? g->k : g->a.rs / (ptrdiff_t)es;
    const ptrdiff_t pa = plan->copy_a ? 1 : g->a.cs / (ptrdiff_t)es;
    const ptrdiff_t ldb = g->b.rs / (ptrdiff_t)es;
    /* Threads take columns while there are enough, else rows. */
    ptrdiff_t n0 = 0, n1 = g->n, m0 = 0, m1 = g->m;
    if (plan->split_rows) {
        split_range(g->m, ops->dmr, t, T, &m0, &m1);
    }
    else {
        split_range(g->n, ops->dnr, t, T, &n0, &n1);
    }
    if (n0 >= n1 || m0 >= m1) {
        return;
    }
    const char *bias = g->bias ? (const char *)g->bias + (size_t)n0 * es : NULL;
    for (ptrdiff_t pc = 0; pc < g->k; pc += kcd) {
        const ptrdiff_t kc = LC_MIN(kcd, g->k - pc);
        const int start = pc == 0 ? first_start(g) : LC_START_C;
        for (ptrdiff_t i = m0; i < m1; i += ops->dmr) {
            ops->direct(kc, a + (size_t)(i * lda + pc * pa) * es, lda, pa,
                        g->b.data + (size_t)(pc * ldb + n0) * es, ldb,
                        (char *)g->c + (size_t)(i * g->ldc + n0) * es, g->ldc,
                        (int)LC_MIN((ptrdiff_t)ops->dmr, m1 - i), n1 - n0, bias, start);
        }
    }
}

static packed_layout
layout_of(const lc_gemm_args *g, const gemm_plan *plan)
{
    const size_t es = lc_dtype_size(g->dtype);
    packed_layout lay = {
        .b_bytes = lc_round_up((size_t)(plan->nc * plan->kc) * es, LC_ALIGN),
        .a_bytes = lc_round_up((size_t)(plan->mc * plan->kc) * es, LC_ALIGN),
        .copies = plan->threads > 1 ? 2 : 1,
    };
    lay.a_offset = (size_t)lay.copies * lay.b_bytes;
    const size_t a_blocks = plan->shared_a ? (size_t)lay.copies : (size_t)plan->threads;
    lay.total = lay.a_offset + a_blocks * lay.a_bytes;
    return lay;
}

/* Blocked path: the packed panel of B and block of A that thread t uses
 * for the K block numbered `block`. */
typedef struct {
    char *b_panel;
    char *a_block; /* this thread's, or the team's shared one */
} packed_buffers;

static packed_buffers
buffers_of(const lc_gemm_args *g, const gemm_plan *plan, void *ws, int t, ptrdiff_t block)
{
    const packed_layout lay = layout_of(g, plan);
    const size_t which = (size_t)(block % lay.copies);
    packed_buffers p = {(char *)ws + which * lay.b_bytes, (char *)ws + lay.a_offset};
    p.a_block += (plan->shared_a ? which : (size_t)t) * lay.a_bytes;
    return p;
}

/* The panels [q0, q1) of R lanes of `op` (rows r0.. of an rows-row view),
 * columns [pc, pc + kc), into dst (panel q at q * R * kc elements). */
static void
pack_share(const lc_gemm_args *g, const lc_operand *op, ptrdiff_t r0, ptrdiff_t rows, int R,
           ptrdiff_t pc, ptrdiff_t kc, char *dst, int t, int T)
{
    const size_t es = lc_dtype_size(g->dtype);
    ptrdiff_t q0, q1;
    split_range((rows + R - 1) / R, 1, t, T, &q0, &q1);
    if (q0 < q1) {
        lc_pack_panels(op, r0 + q0 * R, LC_MIN(rows - q0 * R, (q1 - q0) * R), pc, kc, R,
                       g->dtype, dst + (size_t)(q0 * R * kc) * es,
                       lc_config_ops(g->config, g->dtype)->pack_transpose);
    }
}

/* Asks for the rows of C's tile at (i, j) while the tile before it is
 * computed: the kernels' chains start from C, so its lines are wanted in
 * cache when the kernel begins, and a tile's rows are too far apart for
 * the hardware prefetchers. Into L2 only: the packed panels streaming
 * through L1 during the tile before would evict them from there
 * (locality 3, into L1, measured no gain; 1 gained 2-3% on cold C). */
static void
prefetch_tile(const lc_gemm_args *g, ptrdiff_t i, ptrdiff_t rows, ptrdiff_t j, int cols)
{
    const size_t es = lc_dtype_size(g->dtype);
    const char *c = (const char *)g->c + (size_t)(i * g->ldc + j) * es;
    const size_t last = (size_t)(cols - 1) * es;
    for (ptrdiff_t r = 0; r < rows; r++, c += (size_t)g->ldc * es) {
        __builtin_prefetch(c, 1, 1);
        __builtin_prefetch(c + last, 1, 1);
    }
}

/* Tiles [i0, i1) x [j0, j1) of C (in elements, within the current blocks),
 * from the packed A block (starting at row a_row0) and B panel. */
static void
run_tiles(const lc_gemm_args *g, const packed_buffers *p, ptrdiff_t kc, int start,
          ptrdiff_t a_row0, ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t jc, ptrdiff_t j0,
          ptrdiff_t j1)
{
    const size_t es = lc_dtype_size(g->dtype);
    const lc_kernel_ops *ops = lc_config_ops(g->config, g->dtype);
    for (ptrdiff_t j = j0; j < j1; j += ops->nr) {
        const int nr = (int)LC_MIN((ptrdiff_t)ops->nr, j1 - j);
        const char *bp = p->b_panel + (size_t)((j - jc) * kc) * es;
        const char *bias = g->bias ? (const char *)g->bias + (size_t)j * es : NULL;
        for (ptrdiff_t i = i0; i < i1; i += ops->mr) {
            /* The next tile down, or the first of the next column. */
            if (i + ops->mr < i1) {
                prefetch_tile(g, i + ops->mr, LC_MIN((ptrdiff_t)ops->mr, i1 - i - ops->mr), j, nr);
            }
            else if (j + ops->nr < j1) {
                prefetch_tile(g, i0, LC_MIN((ptrdiff_t)ops->mr, i1 - i0), j + ops->nr,
                              (int)LC_MIN((ptrdiff_t)ops->nr, j1 - j - ops->nr));
            }
            ops->tile(kc, p->a_block + (size_t)((i - a_row0) * kc) * es, bp,
                      (char *)g->c + (size_t)(i * g->ldc + j) * es, g->ldc,
                      (int)LC_MIN((ptrdiff_t)ops->mr, i1 - i), nr, bias, start);
        }
    }
}

/* Thread t's share of the tiles of one (N block, K block) when the team
 * shares A: a contiguous run of the (row tile, column tile) grid, column
 * tiles outermost so that each B micro-panel serves consecutive tiles. */
static void
shared_a_tiles(const lc_gemm_args *g, const packed_buffers *p, ptrdiff_t kc, int start,
               ptrdiff_t jc, ptrdiff_t nc, int t, int T)
{
    const lc_kernel_ops *ops = lc_config_ops(g->config, g->dtype);
    const ptrdiff_t it = (g->m + ops->mr - 1) / ops->mr, jt = (nc + ops->nr - 1) / ops->nr;
    ptrdiff_t lo, hi;
    split_range(it * jt, 1, t, T, &lo, &hi);
    for (ptrdiff_t q = lo; q < hi; q++) {
        const ptrdiff_t i = q % it * ops->mr, j = jc + q / it * ops->nr;
        if (q + 1 < hi) { /* run_tiles sees one tile: no next one to ask for */
            const ptrdiff_t i2 = (q + 1) % it * ops->mr, j2 = jc + (q + 1) / it * ops->nr;
            prefetch_tile(g, i2, LC_MIN((ptrdiff_t)ops->mr, g->m - i2), j2,
                          (int)LC_MIN((ptrdiff_t)ops->nr, jc + nc - j2));
        }
        run_tiles(g, p, kc, start, 0, i, LC_MIN(i + ops->mr, g->m), jc, j,
                  LC_MIN(j + ops->nr, jc + nc));
    }
}

/* Thread t's own rows of A, block by block: pack, then all their tiles. */
static void
own_rows_tiles(const lc_gemm_args *g, const gemm_plan *plan, const packed_buffers *p,
               ptrdiff_t pc, ptrdiff_t kc, int start, ptrdiff_t jc, ptrdiff_t nc, int t, int T)
{
    const lc_kernel_ops *ops = lc_config_ops(g->config, g->dtype);
    ptrdiff_t m0, m1;
    split_range(g->m, ops->mr, t, T, &m0, &m1);
    for (ptrdiff_t ic = m0; ic < m1; ic += plan->mc) {
        const ptrdiff_t mc = LC_MIN(plan->mc, m1 - ic);
        lc_pack_panels(&g->a, ic, mc, pc, kc, ops->mr, g->dtype, p->a_block,
                       ops->pack_transpose);
        run_tiles(g, p, kc, start, ic, ic, ic + mc, jc, jc, jc + nc);
    }
}

static void
blocked_part(const lc_gemm_args *g, const gemm_plan *plan, void *ws, int t, int T)
{
    const lc_kernel_ops *ops = lc_config_ops(g->config, g->dtype);
    const lc_operand bt = lc_operand_transposed(&g->b);
    ptrdiff_t block = 0;
    for (ptrdiff_t jc = 0; jc < g->n; jc += plan->nc) {
        const ptrdiff_t nc = LC_MIN(plan->nc, g->n - jc);
        for (ptrdiff_t pc = 0; pc < g->k; pc += plan->kc, block++) {
            const ptrdiff_t kc = LC_MIN(plan->kc, g->k - pc);
            const int start = pc == 0 ? first_start(g) : LC_START_C;
            const packed_buffers p = buffers_of(g, plan, ws, t, block);
            /* Everyone has finished block - 2, whose buffers these are:
             * they passed the barrier of block - 1 after computing it. */
            pack_share(g, &bt, jc, nc, ops->nr, pc, kc, p.b_panel, t, T);
            if (plan->shared_a) {
                pack_share(g, &g->a, 0, g->m, ops->mr, pc, kc, p.a_block, t, T);
            }
            team_barrier(T); /* the shared panels of this block are complete */
            if (plan->shared_a) {
                shared_a_tiles(g, &p, kc, start, jc, nc, t, T);
            }
            else {
                own_rows_tiles(g, plan, &p, pc, kc, start, jc, nc, t, T);
            }
        }
    }
}

int
lc_gemm(const lc_gemm_args *g)
{
    const gemm_plan plan = make_plan(g);
    lc_workspace *ws = NULL;
    if (plan.path == PATH_EMPTY) {
        return 0;
    }
    if (plan.path == PATH_FILL) {
        fill_output(g);
        return 0;
    }
    if (plan.ws_bytes > 0 && lc_workspace_acquire(1, plan.ws_bytes, &ws) < 0) {
        return -1;
    }
    if (plan.path == PATH_DIRECT) {
        if (plan.copy_a) {
            lc_pack_rows(&g->a, 0, g->m, g->k, g->dtype, ws->data);
        }
        run_team(g, &plan, ws ? ws->data : NULL, direct_part);
    }
    else {
        run_team(g, &plan, ws->data, blocked_part);
    }
    if (ws != NULL) {
        lc_workspace_release(1, &ws);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Column sums (the bias gradient).
 */
static double
element(const lc_operand *op, ptrdiff_t i, ptrdiff_t j)
{
    const char *p = op->data + (op->row_off ? op->row_off[i] : i * op->rs) +
                    (op->col_off ? op->col_off[j] : j * op->cs);
    return op->type == LC_F32 ? (double)*(const float *)p : *(const double *)p;
}

/* acc[j] += a(i, j) for i in order. Dense rows of the compute type (the
 * common case: grad_output as given) go through a plain loop the compiler
 * vectorises across j, each column's sum still in row order; any other
 * layout or type through the general accessor. */
#define SUM_ROWS(T)                                                                             \
    do {                                                                                        \
        T *restrict acc = c;                                                                    \
        for (ptrdiff_t i = 0; i < m; i++) {                                                     \
            if (dense) {                                                                        \
                const T *restrict row = (const T *)(a->data + i * a->rs);                       \
                for (ptrdiff_t j = 0; j < n; j++) {                                             \
                    acc[j] += row[j];                                                           \
                }                                                                               \
            }                                                                                   \
            else {                                                                              \
                for (ptrdiff_t j = 0; j < n; j++) {                                             \
                    acc[j] += (T)element(a, i, j);                                              \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    } while (0)

void
lc_sum_rows(const lc_operand *a, ptrdiff_t m, ptrdiff_t n, lc_dtype dtype, int accumulate,
            void *c)
{
    const int dense = a->type == dtype && a->row_off == NULL && a->col_off == NULL &&
                      a->cs == (ptrdiff_t)lc_dtype_size(dtype);
    if (!accumulate) {
        memset(c, 0, (size_t)n * lc_dtype_size(dtype));
    }
    if (dtype == LC_F32) {
        SUM_ROWS(float);
    }
    else {
        SUM_ROWS(double);
    }
    canonical_nans(c, n, dtype);
}
