/*
 * The GEMM driver: path choice, cache blocking (Goto/BLIS five loops),
 * packing calls and the static split between threads. No intrinsics here:
 * the register tiles and dot kernels come from the kernel set in the args.
 *
 * Determinism: the k sum of an output element never crosses threads, and the
 * path and the K blocks depend on the shape only, so a result is bit-identical
 * for every thread count.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#ifdef LINEARC_HAVE_OPENMP
#include <omp.h>
#endif

#include "gemm.h"
#include "pack.h"
#include "workspace.h"

#define LC_ALIGN 64
#define LC_MAX_THREADS 64

/* Below this many flops a problem runs on the calling thread alone: a
 * parallel region costs 1-60 us, more than the work. */
#define LC_SERIAL_FLOPS (4.0e6)
/* The dot path splits W across threads only when W is at least this big. */
#define LC_DOT_PARALLEL_BYTES ((size_t)256 * 1024)
/* The dot and rows paths copy x into a workspace of at most this size;
 * bigger few-row problems take the blocked path. */
#define LC_DOT_MAX_COPY_BYTES ((size_t)4 << 20)

static atomic_int openmp_used;
static atomic_int forked_child;

static void
on_fork_prepare(void)
{
    lc_workspace_atfork_prepare();
}

static void
on_fork_parent(void)
{
    lc_workspace_atfork_parent();
}

static void
on_fork_child(void)
{
    lc_workspace_atfork_child();
    if (atomic_load(&openmp_used)) {
        atomic_store(&forked_child, 1);
    }
}

static void
register_fork_handlers(void)
{
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

void
lc_threads_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handlers);
}

int
lc_in_forked_child(void)
{
    return atomic_load(&forked_child);
}

int
lc_max_threads(void)
{
#ifdef LINEARC_HAVE_OPENMP
    if (atomic_load(&forked_child)) {
        return 1;
    }
    int n = omp_get_max_threads();
    return n < 1 ? 1 : (n > LC_MAX_THREADS ? LC_MAX_THREADS : n);
#else
    return 1;
#endif
}

static size_t
round_up(size_t v, size_t to)
{
    return (v + to - 1) / to * to;
}

static const lc_blocking *
blocking_of(const lc_gemm_args *g)
{
    return g->dtype == LC_F32 ? &g->kernels->f32 : &g->kernels->f64;
}

/* Packing buffers no bigger than this problem's blocks, so that small
 * GEMMs keep the pool small: the A block (64-byte aligned) and the B panel. */
static size_t
packed_a_bytes(const lc_gemm_args *g, const lc_blocking *bl)
{
    const size_t kc = (size_t)(g->k < bl->kc ? g->k : bl->kc);
    const size_t mc = g->m < bl->mc ? round_up((size_t)g->m, (size_t)bl->mr) : (size_t)bl->mc;
    return round_up(mc * kc * lc_dtype_size(g->dtype), LC_ALIGN);
}

static size_t
packed_b_bytes(const lc_gemm_args *g, const lc_blocking *bl)
{
    const size_t kc = (size_t)(g->k < bl->kc ? g->k : bl->kc);
    const size_t nc = g->n < bl->nc ? round_up((size_t)g->n, (size_t)bl->nr) : (size_t)bl->nc;
    return nc * kc * lc_dtype_size(g->dtype);
}

/* ------------------------------------------------------------------------
 * Plans: which path, how many threads, how to split.
 */
typedef enum { PATH_EMPTY, PATH_FILL, PATH_DOT, PATH_ROWS, PATH_BLOCKED } gemm_path;

typedef struct {
    gemm_path path;
    int threads;
    int split_n;        /* blocked: split the output by columns (else rows) */
    int copy_x;         /* dot: rows of A are copied to a dense buffer first */
    int rows_r;         /* rows: height of the one packed panel of A */
    size_t ws_bytes;    /* workspace per thread */
} gemm_plan;

static int
dot_path_fits(const lc_gemm_args *g, int *copy_x)
{
    const size_t es = lc_dtype_size(g->dtype);
    const lc_operand *b = &g->b;
    if (g->m > LC_DOT_MAX_ROWS || !lc_rows_are_dense(b, g->dtype) ||
        b->row_off != NULL || b->rs % (ptrdiff_t)es != 0) {
        return 0;
    }
    if ((size_t)g->m * (size_t)g->k * es > LC_DOT_MAX_COPY_BYTES) {
        return 0;
    }
    const lc_operand *a = &g->a;
    *copy_x = !(lc_rows_are_dense(a, g->dtype) && a->row_off == NULL &&
                a->rs % (ptrdiff_t)es == 0);
    return 1;
}

/* A few more rows than the dot path takes, W contiguous along k: x goes into
 * one packed panel and W is read in place, which saves packing W (most of
 * the time of a (16, 128) -> 128 layer). R is the panel's height. */
static int
rows_path_fits(const lc_gemm_args *g, int *R)
{
    const size_t es = lc_dtype_size(g->dtype);
    const int f32 = g->dtype == LC_F32;
    const int lanes = f32 ? g->kernels->tilet_lanes_f32 : g->kernels->tilet_lanes_f64;
    const int have = f32 ? g->kernels->tilet_f32 != NULL : g->kernels->tilet_f64 != NULL;
    const lc_operand *b = &g->b;
    if (!have || g->m <= LC_DOT_MAX_ROWS || g->m > 2 * lanes ||
        !lc_rows_are_dense(b, g->dtype) || b->row_off != NULL || b->rs % (ptrdiff_t)es != 0) {
        return 0;
    }
    *R = g->m <= lanes ? lanes : 2 * lanes;
    return (size_t)*R * (size_t)g->k * es <= LC_DOT_MAX_COPY_BYTES;
}

static int
clamp_threads(int want, int limit)
{
    if (want > limit) {
        want = limit;
    }
    return want < 1 ? 1 : want;
}

static gemm_plan
make_plan(const lc_gemm_args *g)
{
    gemm_plan plan = {PATH_EMPTY, 1, 0, 0, 0, 0};
    const size_t es = lc_dtype_size(g->dtype);
    int nthreads = g->nthreads;
    if (nthreads > LC_MAX_THREADS) {
        nthreads = LC_MAX_THREADS;
    }
    if (nthreads > 1 && lc_max_threads() == 1) {
        nthreads = 1; /* serial build, or a fork child */
    }
    if (g->m == 0 || g->n == 0) {
        return plan;
    }
    if (g->k == 0) {
        plan.path = PATH_FILL;
        return plan;
    }
    const double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    if (dot_path_fits(g, &plan.copy_x)) {
        plan.path = PATH_DOT;
        const size_t w_bytes = (size_t)g->n * (size_t)g->k * es;
        if (w_bytes >= LC_DOT_PARALLEL_BYTES && flops >= LC_SERIAL_FLOPS / 8) {
            plan.threads = clamp_threads(nthreads, (int)(g->n / 4));
        }
        plan.ws_bytes = plan.copy_x ? (size_t)g->m * (size_t)g->k * es : 0;
        return plan;
    }
    if (rows_path_fits(g, &plan.rows_r)) {
        plan.path = PATH_ROWS;
        if (flops >= LC_SERIAL_FLOPS) {
            const ptrdiff_t nw = g->kernels->tilet_nw;
            const ptrdiff_t tiles = (g->n + nw - 1) / nw;
            plan.threads = clamp_threads(nthreads, (int)(tiles < INT32_MAX ? tiles : INT32_MAX));
        }
        plan.ws_bytes = (size_t)plan.rows_r * (size_t)g->k * es;
        return plan;
    }
    const lc_blocking *bl = blocking_of(g);
    plan.path = PATH_BLOCKED;
    plan.split_n = g->n >= g->m;
    if (flops >= LC_SERIAL_FLOPS) {
        const ptrdiff_t tiles = plan.split_n ? (g->n + bl->nr - 1) / bl->nr
                                             : (g->m + bl->mr - 1) / bl->mr;
        plan.threads = clamp_threads(nthreads, (int)(tiles < INT32_MAX ? tiles : INT32_MAX));
    }
    plan.ws_bytes = packed_a_bytes(g, bl) + packed_b_bytes(g, bl);
    return plan;
}

const char *
lc_gemm_path(const lc_gemm_args *g, int *threads_used)
{
    static const char *const names[] = {"empty", "fill", "dot", "rows", "blocked"};
    gemm_plan plan = make_plan(g);
    if (threads_used) {
        *threads_used = plan.threads;
    }
    return names[plan.path];
}

/* ------------------------------------------------------------------------
 * The paths.
 */

/* k == 0: C = bias (or zeros), or C += bias. */
static void
fill_output(const lc_gemm_args *g)
{
    const size_t es = lc_dtype_size(g->dtype);
    for (ptrdiff_t i = 0; i < g->m; i++) {
        char *row = (char *)g->c + (size_t)(i * g->ldc) * es;
        if (g->accumulate) {
            if (g->bias == NULL) {
                continue;
            }
            for (ptrdiff_t j = 0; j < g->n; j++) {
                if (g->dtype == LC_F32) {
                    ((float *)row)[j] += ((const float *)g->bias)[j];
                }
                else {
                    ((double *)row)[j] += ((const double *)g->bias)[j];
                }
            }
        }
        else if (g->bias != NULL) {
            memcpy(row, g->bias, (size_t)g->n * es);
        }
        else {
            memset(row, 0, (size_t)g->n * es);
        }
    }
}

/* Columns [n0, n1) of C on the dot path; x is dense with row stride ldx. */
static void
dot_part(const lc_gemm_args *g, const void *x, ptrdiff_t ldx, ptrdiff_t n0,
         ptrdiff_t n1)
{
    const size_t es = lc_dtype_size(g->dtype);
    const ptrdiff_t ldw = g->b.rs / (ptrdiff_t)es;
    const int flags = (g->bias ? LC_KF_BIAS : 0) | (g->accumulate ? 0 : LC_KF_OVERWRITE);
    if (n1 <= n0) {
        return;
    }
    if (g->dtype == LC_F32) {
        const float *w = (const float *)g->b.data + n0 * ldw;
        const float *bias = g->bias ? (const float *)g->bias + n0 : NULL;
        g->kernels->dot_f32(g->m, n1 - n0, g->k, x, ldx, w, ldw,
                            (float *)g->c + n0, g->ldc, bias, flags);
    }
    else {
        const double *w = (const double *)g->b.data + n0 * ldw;
        const double *bias = g->bias ? (const double *)g->bias + n0 : NULL;
        g->kernels->dot_f64(g->m, n1 - n0, g->k, x, ldx, w, ldw,
                            (double *)g->c + n0, g->ldc, bias, flags);
    }
}

/* Columns [n0, n1) of C on the rows path: xp is all of A as one packed panel
 * of R rows; K is blocked as on the blocked path, so results are the same. */
static void
rows_part(const lc_gemm_args *g, const void *xp, int R, ptrdiff_t n0, ptrdiff_t n1)
{
    const lc_blocking *bl = blocking_of(g);
    const size_t es = lc_dtype_size(g->dtype);
    const ptrdiff_t ldw = g->b.rs / (ptrdiff_t)es;
    const ptrdiff_t step = g->kernels->tilet_nw;
    for (ptrdiff_t j0 = n0; j0 < n1; j0 += step) {
        const int nw = (int)(n1 - j0 < step ? n1 - j0 : step);
        for (ptrdiff_t pc = 0; pc < g->k; pc += bl->kc) {
            const ptrdiff_t kc = g->k - pc < bl->kc ? g->k - pc : bl->kc;
            int flags = 0;
            if (pc == 0) {
                flags = (g->bias ? LC_KF_BIAS : 0) | (g->accumulate ? 0 : LC_KF_OVERWRITE);
            }
            if (g->dtype == LC_F32) {
                const float *bias = g->bias ? (const float *)g->bias + j0 : NULL;
                g->kernels->tilet_f32(kc, (const float *)xp + pc * R, R,
                                      (const float *)g->b.data + j0 * ldw + pc, ldw,
                                      (float *)g->c + j0, g->ldc, (int)g->m, nw, bias, flags);
            }
            else {
                const double *bias = g->bias ? (const double *)g->bias + j0 : NULL;
                g->kernels->tilet_f64(kc, (const double *)xp + pc * R, R,
                                      (const double *)g->b.data + j0 * ldw + pc, ldw,
                                      (double *)g->c + j0, g->ldc, (int)g->m, nw, bias, flags);
            }
        }
    }
}

/* The block [m0, m1) x [n0, n1) of C by the five loops around the tile. */
static void
blocked_part(const lc_gemm_args *g, ptrdiff_t m0, ptrdiff_t m1, ptrdiff_t n0,
             ptrdiff_t n1, void *ws)
{
    const lc_blocking *bl = blocking_of(g);
    const size_t es = lc_dtype_size(g->dtype);
    char *apack = ws;
    char *bpack = apack + packed_a_bytes(g, bl);
    const int mr = bl->mr, nr = bl->nr;

    for (ptrdiff_t jc = n0; jc < n1; jc += bl->nc) {
        const ptrdiff_t nc = n1 - jc < bl->nc ? n1 - jc : bl->nc;
        for (ptrdiff_t pc = 0; pc < g->k; pc += bl->kc) {
            const ptrdiff_t kc = g->k - pc < bl->kc ? g->k - pc : bl->kc;
            int flags = 0;
            if (pc == 0) {
                flags = (g->bias ? LC_KF_BIAS : 0) | (g->accumulate ? 0 : LC_KF_OVERWRITE);
            }
            lc_pack_panels(&g->b, jc, nc, pc, kc, nr, g->dtype, bpack, g->kernels);
            for (ptrdiff_t ic = m0; ic < m1; ic += bl->mc) {
                const ptrdiff_t mc = m1 - ic < bl->mc ? m1 - ic : bl->mc;
                lc_pack_panels(&g->a, ic, mc, pc, kc, mr, g->dtype, apack, g->kernels);
                for (ptrdiff_t jr = 0; jr < nc; jr += nr) {
                    const int nv = (int)(nc - jr < nr ? nc - jr : nr);
                    const char *bp = bpack + (size_t)(jr * kc) * es;
                    for (ptrdiff_t ir = 0; ir < mc; ir += mr) {
                        const int mv = (int)(mc - ir < mr ? mc - ir : mr);
                        const char *ap = apack + (size_t)(ir * kc) * es;
                        const ptrdiff_t coff = (ic + ir) * g->ldc + jc + jr;
                        if (g->dtype == LC_F32) {
                            const float *bias = g->bias ? (const float *)g->bias + jc + jr : NULL;
                            g->kernels->tile_f32(kc, (const float *)ap, (const float *)bp,
                                                 (float *)g->c + coff, g->ldc, mv, nv,
                                                 bias, flags);
                        }
                        else {
                            const double *bias = g->bias ? (const double *)g->bias + jc + jr : NULL;
                            g->kernels->tile_f64(kc, (const double *)ap, (const double *)bp,
                                                 (double *)g->c + coff, g->ldc, mv, nv,
                                                 bias, flags);
                        }
                    }
                }
            }
        }
    }
}

/* Part t of T: a contiguous run of whole tiles along the split dimension. */
static void
split_range(ptrdiff_t size, int unit, int t, int T, ptrdiff_t *lo, ptrdiff_t *hi)
{
    const ptrdiff_t units = (size + unit - 1) / unit;
    *lo = units * t / T * unit;
    *hi = units * (t + 1) / T * unit;
    if (*hi > size) {
        *hi = size;
    }
    if (*lo > size) {
        *lo = size;
    }
}

static void
run_part(const lc_gemm_args *g, const gemm_plan *plan, int t,
         lc_workspace **ws, const void *x, ptrdiff_t ldx)
{
    ptrdiff_t lo, hi;
    if (plan->path == PATH_DOT) {
        split_range(g->n, 4, t, plan->threads, &lo, &hi);
        dot_part(g, x, ldx, lo, hi);
        return;
    }
    if (plan->path == PATH_ROWS) {
        split_range(g->n, g->kernels->tilet_nw, t, plan->threads, &lo, &hi);
        rows_part(g, x, plan->rows_r, lo, hi);
        return;
    }
    const lc_blocking *bl = blocking_of(g);
    if (plan->split_n) {
        split_range(g->n, bl->nr, t, plan->threads, &lo, &hi);
        if (lo < hi) {
            blocked_part(g, 0, g->m, lo, hi, ws[t]->data);
        }
    }
    else {
        split_range(g->m, bl->mr, t, plan->threads, &lo, &hi);
        if (lo < hi) {
            blocked_part(g, lo, hi, 0, g->n, ws[t]->data);
        }
    }
}

static void
run_parts(const lc_gemm_args *g, const gemm_plan *plan, lc_workspace **ws,
          const void *x, ptrdiff_t ldx)
{
    const int T = plan->threads;
    if (T == 1) {
        run_part(g, plan, 0, ws, x, ldx);
        return;
    }
#ifdef LINEARC_HAVE_OPENMP
    atomic_store(&openmp_used, 1);
    /* If OpenMP grants fewer threads than planned, each takes several parts:
     * the parts, and so the results, stay the same. */
#pragma omp parallel num_threads(T)
    {
        const int nthr = omp_get_num_threads();
        for (int t = omp_get_thread_num(); t < T; t += nthr) {
            run_part(g, plan, t, ws, x, ldx);
        }
    }
#else
    for (int t = 0; t < T; t++) {
        run_part(g, plan, t, ws, x, ldx);
    }
#endif
}

int
lc_gemm(const lc_gemm_args *g)
{
    const gemm_plan plan = make_plan(g);
    lc_workspace *ws[LC_MAX_THREADS];
    const size_t es = lc_dtype_size(g->dtype);

    switch (plan.path) {
    case PATH_EMPTY:
        return 0;
    case PATH_FILL:
        fill_output(g);
        return 0;
    case PATH_DOT:
        if (!plan.copy_x) {
            run_parts(g, &plan, ws, g->a.data, g->a.rs / (ptrdiff_t)es);
            return 0;
        }
        if (lc_workspace_acquire(1, plan.ws_bytes, ws) < 0) {
            return -1;
        }
        lc_pack_rows(&g->a, 0, g->m, g->k, g->dtype, ws[0]->data);
        run_parts(g, &plan, ws, ws[0]->data, g->k);
        lc_workspace_release(1, ws);
        return 0;
    case PATH_ROWS:
        if (lc_workspace_acquire(1, plan.ws_bytes, ws) < 0) {
            return -1;
        }
        lc_pack_panels(&g->a, 0, g->m, 0, g->k, plan.rows_r, g->dtype, ws[0]->data, g->kernels);
        run_parts(g, &plan, ws, ws[0]->data, plan.rows_r);
        lc_workspace_release(1, ws);
        return 0;
    case PATH_BLOCKED:
        if (lc_workspace_acquire(plan.threads, plan.ws_bytes, ws) < 0) {
            return -1;
        }
        run_parts(g, &plan, ws, NULL, 0);
        lc_workspace_release(plan.threads, ws);
        return 0;
    }
    return 0;
}
