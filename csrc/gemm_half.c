/*
 * Half-precision results and biases (float16, bfloat16): the chains run in
 * float32 as for a float32 product, into a float32 "home" when C is half,
 * and each result is rounded once into C at the end; a half bias is widened
 * once. The products themselves are gemm.c's (their packers widen half
 * operands). Nothing here rounds twice: a chain is never stored in half
 * between K blocks.
 */
#include "gemm_parts.h"
#include "half.h"

/* A half C's float32 home holds at most this many bytes: a bigger C is
 * computed a block of rows at a time (B is packed again for each block, a
 * small cost next to the block's products). */
#define HOME_MAX_BYTES ((size_t)32 << 20)
/* Rounding a home into C takes a team from this many values. */
#define NARROW_TEAM_VALUES ((size_t)1 << 16)
/* The product of rows [i0, i0 + rows) of g with a float32 C and bias:
 * into `home` (ldc n) when g's C is half, else into g's own rows; `bias32`
 * is the widened half bias (or g's float32 one). */
static lc_gemm_args
home_args(const lc_gemm_args *g, ptrdiff_t i0, ptrdiff_t rows, float *home, const float *bias32)
{
    lc_gemm_args sub = *g;
    sub.m = rows;
    if (g->a.row_off != NULL) {
        sub.a.row_off = g->a.row_off + i0;
    }
    else {
        sub.a.data = g->a.data + i0 * g->a.rs;
    }
    sub.bias = g->bias != NULL && lc_is_half(g->bias_type) ? bias32 : g->bias;
    sub.bias_type = g->dtype;
    if (lc_is_half(g->c_type)) {
        sub.c = home;
        sub.ldc = g->n;
        sub.c_type = g->dtype;
    }
    else {
        sub.c = (char *)g->c + i0 * g->ldc * (ptrdiff_t)sizeof(float);
    }
    return sub;
}

/* Where a half product keeps its float32 home (a half C's) and its widened
 * bias (a half bias's) in the workspace, before the inner products' own. */
typedef struct {
    size_t bias_offset, inner_offset;
} half_layout;

static half_layout
half_layout_of(const lc_gemm_args *g, const lc_gemm_plan *plan)
{
    half_layout lay = {0, 0};
    if (lc_is_half(g->c_type)) {
        lay.bias_offset = lc_round_up((size_t)(plan->home_rows * g->n) * sizeof(float), LC_ALIGN);
    }
    lay.inner_offset = lay.bias_offset;
    if (g->bias != NULL && lc_is_half(g->bias_type)) {
        lay.inner_offset += lc_round_up((size_t)g->n * sizeof(float), LC_ALIGN);
    }
    return lay;
}

/* A half C or bias: the plan of the first block of rows, whose workspace
 * (with the home and the widened bias) also serves the last, shorter one. */
lc_gemm_plan
lc_half_plan(const lc_gemm_args *g)
{
    ptrdiff_t rows = g->m;
    if (lc_is_half(g->c_type)) {
        const size_t fit = HOME_MAX_BYTES / ((size_t)g->n * sizeof(float));
        rows = fit >= (size_t)g->m ? g->m : LC_MAX((ptrdiff_t)fit, (ptrdiff_t)1);
        if (rows < g->m && rows >= 64) {
            rows = rows / 64 * 64;
        }
    }
    lc_gemm_args sub = home_args(g, 0, rows, NULL, NULL);
    lc_gemm_plan plan = lc_float_plan(&sub);
    size_t inner = plan.ws_bytes;
    if (g->m % rows != 0) {
        sub.m = g->m % rows;
        inner = LC_MAX(inner, lc_float_plan(&sub).ws_bytes);
    }
    plan.home_rows = rows;
    plan.ws_bytes = half_layout_of(g, &plan).inner_offset + inner;
    return plan;
}

/* Thread t of T rounds its share of g's rows (float32, in `home` with row
 * stride n) into g's half C. */
static void
narrow_part(const lc_gemm_args *g, const lc_gemm_plan *plan, void *home, int t, int T)
{
    (void)plan;
    const lc_narrow_fn narrow = lc_context_half(g->ctx, g->c_type)->narrow;
    ptrdiff_t r0, r1;
    split_range(g->m, 1, t, T, &r0, &r1);
    for (ptrdiff_t r = r0; r < r1; r++) {
        narrow(g->n, (const float *)home + r * g->n, (char *)g->c + r * g->ldc * 2);
    }
}

/* A half C or bias (plan_half): the bias widened once; the rows in blocks
 * of plan->home_rows, each computed in float32 (into the home, for a half
 * C) and then rounded into C by a team. */
void
lc_half_run(const lc_gemm_args *g, const lc_gemm_plan *plan, char *ws)
{
    const half_layout lay = half_layout_of(g, plan);
    float *home = (float *)ws, *bias32 = (float *)(ws + lay.bias_offset);
    if (g->bias != NULL && lc_is_half(g->bias_type)) {
        lc_context_half(g->ctx, g->bias_type)->widen(g->n, g->bias, bias32);
    }
    for (ptrdiff_t i0 = 0; i0 < g->m; i0 += plan->home_rows) {
        const ptrdiff_t rows = LC_MIN(plan->home_rows, g->m - i0);
        const lc_gemm_args sub = home_args(g, i0, rows, home, bias32);
        const lc_gemm_plan inner = lc_float_plan(&sub);
        lc_run_plan(&sub, &inner, ws + lay.inner_offset);
        if (lc_is_half(g->c_type)) {
            lc_gemm_args dst = *g;
            dst.m = rows;
            dst.c = (char *)g->c + i0 * g->ldc * 2;
            /* Rounding is memory-bound: a team only for big blocks. */
            const lc_gemm_plan team = {
                .threads = (size_t)(rows * g->n) >= NARROW_TEAM_VALUES
                               ? lc_clamp_threads(lc_usable_threads(g->nthreads), rows)
                               : 1,
            };
            lc_run_team(&dst, &team, home, narrow_part);
        }
    }
}
