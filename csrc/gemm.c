/*
 * The GEMM driver: the plan (path, threads, blocks), the team of threads,
 * the fill and the few-row direct paths, and the bias gradient's column
 * sums; the packed path is gemm_blocked.c. No intrinsics here: the tiles
 * come from the context's kernel set, the numbers from config.c.
 *
 * Determinism: every element is one chain of FMAs in k order (kernels.h),
 * carried between K blocks in its rounded form, so the result is the same
 * bits for any path, block size, thread count and kernel set.
 *
 * Half types (float16, bfloat16) are storage only: operands are widened to
 * float32 as they are packed (or, for the direct path's B, a block at a
 * time), a half bias is widened once, and a half C gets a float32 home
 * where its chains run across K blocks, each result rounded once into C at
 * the end (half.h's rounding, in the kernel set's vector form).
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
#include "half.h"
#include "gemm_parts.h"
#include "pack.h"
#include "threads.h"
#include "workspace.h"

/* The direct path copies A (when A needs converting) into at most this
 * many bytes. */
#define COPY_MAX_BYTES ((size_t)4 << 20)
/* The blocked path gives each thread its own rows of A when there are at
 * least this many register tiles of rows per thread; otherwise the team
 * shares A's packed block and splits the tiles in two dimensions. */
#define ROW_TILES_PER_THREAD 4

lc_gemm_limits
lc_gemm_planner_limits(void)
{
    return (lc_gemm_limits){COPY_MAX_BYTES, ROW_TILES_PER_THREAD};
}

/* ------------------------------------------------------------------------
 * The plan.
 */

int
lc_clamp_threads(int want, ptrdiff_t units)
{
    const ptrdiff_t limit = units < INT32_MAX ? units : INT32_MAX;
    want = want > limit ? (int)limit : want;
    return want < 1 ? 1 : want;
}

int
lc_usable_threads(int requested)
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

/* K blocks of at most `target` steps, as even as steps of 8 allow, so that
 * a K just past a multiple of the target does not leave a short last block
 * (its round trip of C costs as much as a full block's); a K up to `max`
 * stays one block. */
static ptrdiff_t
balanced_kc(ptrdiff_t k, ptrdiff_t target, ptrdiff_t max)
{
    if (k <= max) {
        return k;
    }
    const ptrdiff_t blocks = (k + target - 1) / target;
    const ptrdiff_t even = (ptrdiff_t)lc_round_up((size_t)((k + blocks - 1) / blocks), 8);
    return LC_MIN(even, max);
}

/* The direct path's K block. Several tiles of rows: each reuses a K block
 * of B from cache, so the block (kc x the thread's columns) stays within
 * direct_block_bytes, and kc_direct. One tile of rows and a big B (a
 * GEMV): B streams from memory a few rows at a time. Else the whole chain
 * in one pass. */
static ptrdiff_t
direct_kc(const lc_gemm_args *g, const lc_gemm_plan *plan, const lc_params *bl,
          const lc_kernel_ops *ops, size_t b_bytes)
{
    const ptrdiff_t row_tiles = (g->m + ops->dmr - 1) / ops->dmr;
    const ptrdiff_t col_tiles = (g->n + ops->dnr - 1) / ops->dnr;
    ptrdiff_t target = g->k;
    if (row_tiles > 1) {
        const ptrdiff_t cols = plan->split_rows
                                   ? g->n
                                   : (col_tiles + plan->threads - 1) / plan->threads * ops->dnr;
        const ptrdiff_t fit = bl->direct_block_bytes /
                              (ptrdiff_t)((size_t)LC_MIN(cols, g->n) * lc_dtype_size(g->dtype));
        target = LC_MIN((ptrdiff_t)bl->kc_direct, LC_MAX(fit / 8 * 8, (ptrdiff_t)16));
    }
    else if (col_tiles > 1 && b_bytes > (size_t)bl->parallel_bytes) {
        target = bl->kc_stream;
    }
    return balanced_kc(g->k, target, target);
}

/* Whether B is a half operand the direct path can widen a block at a time:
 * rows of contiguous half values. */
static int
half_b_rows(const lc_gemm_args *g)
{
    return lc_is_half(g->b.type) && g->dtype == LC_F32 && g->b.row_off == NULL &&
           g->b.col_off == NULL && g->b.cs == 2 && g->b.rs % 2 == 0;
}

/* The direct path over a half B: K blocks whose kc x DNR float32 block fits
 * direct_block_bytes, and columns in chunks whose widened block does too;
 * each thread's buffer follows A's copy in the workspace. */
static void
plan_widen_b(const lc_gemm_args *g, lc_gemm_plan *plan, const lc_params *bl,
             const lc_kernel_ops *ops)
{
    const ptrdiff_t block = (ptrdiff_t)bl->direct_block_bytes / (ptrdiff_t)sizeof(float);
    const ptrdiff_t kc_cap = LC_MAX(block / ops->dnr / 8 * 8, (ptrdiff_t)8);
    if (plan->kc > kc_cap) {
        plan->kc = balanced_kc(g->k, kc_cap, kc_cap);
    }
    const ptrdiff_t col_tiles = (g->n + ops->dnr - 1) / ops->dnr;
    const ptrdiff_t cols = plan->split_rows
                               ? g->n
                               : LC_MIN((col_tiles + plan->threads - 1) / plan->threads * ops->dnr,
                                        g->n);
    const ptrdiff_t fit = LC_MAX(block / plan->kc / ops->dnr * ops->dnr, (ptrdiff_t)ops->dnr);
    plan->widen_b = 1;
    plan->b_cols = LC_MIN(cols, fit);
    plan->ws_bytes = lc_round_up(plan->ws_bytes, LC_ALIGN) +
                     (size_t)plan->threads *
                         lc_round_up((size_t)(plan->kc * plan->b_cols) * sizeof(float), LC_ALIGN);
}

static int
plan_direct(const lc_gemm_args *g, lc_gemm_plan *plan, int nthreads, double flops)
{
    const size_t es = lc_dtype_size(g->dtype);
    const lc_kernel_ops *ops = lc_context_ops(g->ctx, g->dtype);
    const lc_params *bl = lc_context_params(g->ctx, g->dtype);
    const int widen_b = half_b_rows(g);
    if ((g->m > bl->direct_rows && g->n > bl->direct_cols) ||
        (!widen_b && (!affine_in(&g->b, g->dtype) || g->b.cs != (ptrdiff_t)es))) {
        return 0;
    }
    plan->copy_a = !affine_in(&g->a, g->dtype);
    plan->ws_bytes = plan->copy_a ? (size_t)g->m * (size_t)g->k * es : 0;
    if (plan->ws_bytes > COPY_MAX_BYTES) {
        return 0;
    }
    plan->path = LC_PATH_DIRECT;
    const size_t b_bytes = (size_t)g->n * (size_t)g->k * es;
    const ptrdiff_t col_tiles = (g->n + ops->dnr - 1) / ops->dnr;
    const ptrdiff_t row_tiles = (g->m + ops->dmr - 1) / ops->dmr;
    const double serial = (double)bl->serial_flops;
    if (flops >= serial || (b_bytes >= (size_t)bl->parallel_bytes && flops >= serial / 8)) {
        plan->split_rows = col_tiles < nthreads && row_tiles > col_tiles;
        plan->threads = lc_clamp_threads(nthreads, plan->split_rows ? row_tiles : col_tiles);
    }
    plan->kc = direct_kc(g, plan, bl, ops, b_bytes);
    if (widen_b) {
        plan_widen_b(g, plan, bl, ops);
    }
    return 1;
}

static void
plan_blocked(const lc_gemm_args *g, lc_gemm_plan *plan, int nthreads, double flops)
{
    const lc_kernel_ops *ops = lc_context_ops(g->ctx, g->dtype);
    const lc_params *bl = lc_context_params(g->ctx, g->dtype);
    plan->path = LC_PATH_BLOCKED;
    plan->kc = balanced_kc(g->k, (ptrdiff_t)bl->kc, (ptrdiff_t)bl->kc_max);
    plan->nc = LC_MIN((ptrdiff_t)lc_round_up((size_t)g->n, (size_t)ops->nr), (ptrdiff_t)bl->nc);
    const ptrdiff_t row_tiles = (g->m + ops->mr - 1) / ops->mr;
    const ptrdiff_t tiles = row_tiles * ((plan->nc + ops->nr - 1) / ops->nr);
    if (flops >= (double)bl->serial_flops) {
        plan->threads = lc_clamp_threads(nthreads, tiles);
    }
    plan->shared_a = plan->threads > 1 && row_tiles < (ptrdiff_t)ROW_TILES_PER_THREAD * plan->threads;
    if (plan->shared_a) {
        plan->mc = row_tiles * ops->mr;
    }
    else {
        const ptrdiff_t rows_each = (row_tiles + plan->threads - 1) / plan->threads * ops->mr;
        plan->mc = LC_MIN(rows_each, (ptrdiff_t)bl->mc);
    }
    plan->ws_bytes = lc_blocked_workspace(g, plan);
}

lc_gemm_plan
lc_gemm_make_plan(const lc_gemm_args *g)
{
    if (g->m > 0 && g->n > 0 && g->k > 0 &&
        (lc_is_half(g->c_type) || (g->bias != NULL && lc_is_half(g->bias_type)))) {
        return lc_half_plan(g);
    }
    return lc_float_plan(g);
}

lc_gemm_plan
lc_float_plan(const lc_gemm_args *g)
{
    lc_gemm_plan plan = {.path = LC_PATH_EMPTY, .threads = 1};
    if (g->m == 0 || g->n == 0) {
        return plan;
    }
    if (g->k == 0) {
        plan.path = LC_PATH_FILL;
        return plan;
    }
    const int nthreads = lc_usable_threads(g->nthreads);
    const double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    if (!plan_direct(g, &plan, nthreads, flops)) {
        plan_blocked(g, &plan, nthreads, flops);
    }
    return plan;
}

const char *
lc_gemm_path_name(lc_gemm_path path)
{
    static const char *const names[] = {"empty", "fill", "direct", "blocked"};
    return names[path];
}

size_t
lc_gemm_workspace_bytes(const lc_gemm_args *g)
{
    return lc_gemm_make_plan(g).ws_bytes;
}

/* ------------------------------------------------------------------------
 * Running on a team of threads.
 */

/* fn(t, T) on every thread of a team of plan->threads (or fewer, if OpenMP
 * grants fewer: the work is divided among those who come). Each worker
 * takes the caller's floating-point environment (rounding, flush-to-zero),
 * so that the bits do not depend on which thread computed them, and gets
 * its own back at the end: the pool's threads are shared with whoever else
 * uses this OpenMP runtime (torch does), who must not inherit our caller's
 * modes. A region may create the pool's threads (the first on a thread, or
 * a bigger team), and a new thread starts with its creator's environment:
 * the caller's thread enters the region under the default one, so that
 * what a new worker keeps as its own is not our caller's modes either. */
void
lc_run_team(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws, lc_team_fn fn)
{
    if (plan->threads == 1) {
        fn(g, plan, ws, 0, 1);
        return;
    }
#ifdef LINEARC_HAVE_OPENMP
    fenv_t env;
    fegetenv(&env);
    fesetenv(FE_DFL_ENV);
#pragma omp parallel num_threads(plan->threads)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        fenv_t own;
        if (t != 0) {
            fegetenv(&own);
        }
        fesetenv(&env); /* the caller's thread too: its own, with its flags */
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

/* k == 0: every chain is empty: C = bias (or 0), or C stays. A bias of
 * another type (a half bias, a float32 or half C) is converted. */
static void
fill_output(const lc_gemm_args *g)
{
    const lc_dtype ct = lc_c_type(g), bt = lc_bias_type(g);
    const size_t es = lc_dtype_size(ct);
    for (ptrdiff_t i = 0; i < g->m && !g->accumulate; i++) {
        char *row = (char *)g->c + i * g->ldc * (ptrdiff_t)es; /* ldc < 0: out[::-1] */
        if (g->bias == NULL) {
            memset(row, 0, (size_t)g->n * es);
            continue;
        }
        if (bt == ct && !lc_is_half(ct)) {
            memcpy(row, g->bias, (size_t)g->n * es);
        }
        else { /* (half.h's rounding gives the canonical half NaN) */
            const size_t bes = lc_dtype_size(bt);
            for (ptrdiff_t j = 0; j < g->n; j++) {
                lc_element_store(row, j, ct, lc_element_load((const char *)g->bias + j * bes, bt));
            }
        }
        if (!lc_is_half(ct)) {
            canonical_nans(row, g->n, ct);
        }
    }
}

/* The direct path over a half B (plan_widen_b), on rows [m0, m1) and
 * columns [n0, n1): for each chunk of columns and K block, the block of B
 * is widened into the thread's float32 buffer, then every tile of rows
 * runs on it. The chains carry between K blocks through C, float32 here. */
static void
direct_widening(const lc_gemm_args *g, const lc_gemm_plan *plan, const float *a,
                ptrdiff_t lda, ptrdiff_t pa, float *block, ptrdiff_t m0, ptrdiff_t m1,
                ptrdiff_t n0, ptrdiff_t n1)
{
    const lc_kernel_ops *ops = lc_context_ops(g->ctx, g->dtype);
    const lc_widen_fn widen = lc_context_half(g->ctx, g->b.type)->widen;
    float *c = g->c;
    for (ptrdiff_t jc = n0; jc < n1; jc += plan->b_cols) {
        const ptrdiff_t cols = LC_MIN(plan->b_cols, n1 - jc);
        const float *bias = g->bias ? (const float *)g->bias + jc : NULL;
        for (ptrdiff_t pc = 0; pc < g->k; pc += plan->kc) {
            const ptrdiff_t kc = LC_MIN(plan->kc, g->k - pc);
            for (ptrdiff_t p = 0; p < kc; p++) {
                widen(cols, g->b.data + (pc + p) * g->b.rs + jc * 2, block + p * cols);
            }
            const int start = pc == 0 ? first_start(g) : LC_START_C;
            for (ptrdiff_t i = m0; i < m1; i += ops->dmr) {
                ops->direct(kc, a + i * lda + pc * pa, lda, pa, block, cols,
                            c + i * g->ldc + jc, g->ldc, (int)LC_MIN((ptrdiff_t)ops->dmr, m1 - i),
                            cols, bias, start);
            }
        }
    }
}

/* Direct path, thread t of T: columns of C split in DNR-wide units. A is
 * g->a in place or its dense copy in ws. Each kernel call sweeps the
 * thread's columns for a few rows of A and a K block of B (plan->kc), so B
 * streams through in order: once when A has a single tile of rows,
 * otherwise from L2 once per tile of rows. */
static void
direct_part(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws, int t, int T)
{
    const size_t es = lc_dtype_size(g->dtype);
    const lc_kernel_ops *ops = lc_context_ops(g->ctx, g->dtype);
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
    if (plan->widen_b) { /* each thread's buffer after A's copy */
        const size_t a_bytes = plan->copy_a ? (size_t)(g->m * g->k) * es : 0;
        const size_t b_bytes = (size_t)(plan->kc * plan->b_cols) * sizeof(float);
        float *block = (float *)((char *)ws + lc_round_up(a_bytes, LC_ALIGN) +
                                 (size_t)t * lc_round_up(b_bytes, LC_ALIGN));
        direct_widening(g, plan, (const float *)a, lda, pa, block, m0, m1, n0, n1);
        return;
    }
    const char *bias = g->bias ? (const char *)g->bias + (size_t)n0 * es : NULL;
    /* Strides may be negative (x[::-1], out[::-1]): offsets are signed. */
    const ptrdiff_t ses = (ptrdiff_t)es;
    for (ptrdiff_t pc = 0; pc < g->k; pc += plan->kc) {
        const ptrdiff_t kc = LC_MIN(plan->kc, g->k - pc);
        const int start = pc == 0 ? first_start(g) : LC_START_C;
        for (ptrdiff_t i = m0; i < m1; i += ops->dmr) {
            ops->direct(kc, a + (i * lda + pc * pa) * ses, lda, pa,
                        g->b.data + (pc * ldb + n0) * ses, ldb,
                        (char *)g->c + (i * g->ldc + n0) * ses, g->ldc,
                        (int)LC_MIN((ptrdiff_t)ops->dmr, m1 - i), n1 - n0, bias, start);
        }
    }
}

void
lc_run_plan(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws)
{
    if (plan->path == LC_PATH_FILL) {
        fill_output(g);
    }
    else if (plan->path == LC_PATH_DIRECT) {
        if (plan->copy_a) {
            const lc_half_ops *half = lc_context_half(g->ctx, g->a.type);
            lc_pack_rows(&g->a, 0, g->m, g->k, g->dtype, ws, half ? half->widen : NULL);
        }
        lc_run_team(g, plan, ws, direct_part);
    }
    else if (plan->path == LC_PATH_BLOCKED) {
        lc_run_team(g, plan, ws, lc_blocked_part);
    }
}

int
lc_gemm(const lc_gemm_args *g)
{
    const lc_gemm_plan plan = lc_gemm_make_plan(g);
    lc_workspace *ws = NULL;
    if (plan.path == LC_PATH_EMPTY) {
        return 0;
    }
    if (plan.ws_bytes > 0 && lc_workspace_acquire(1, plan.ws_bytes, &ws) < 0) {
        return -1;
    }
    if (plan.home_rows > 0) {
        lc_half_run(g, &plan, ws->data);
    }
    else {
        lc_run_plan(g, &plan, ws ? ws->data : NULL);
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
    return lc_element_load(op->data + (op->row_off ? op->row_off[i] : i * op->rs) +
                               (op->col_off ? op->col_off[j] : j * op->cs),
                           op->type);
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
