/*
 * The GEMM's packed path (Goto/BLIS): for each N block and K block, the
 * team packs a kc x nc panel of B together, once, and shares
 * it (a barrier before use); each thread then packs the rows of A it
 * computes, or, when A has too few rows to split, the team packs all of A's
 * block together too and splits the tiles in two dimensions. Nothing is
 * packed twice, so the packing does not grow with the thread count
 * (docs/design.md, "Threads"). The tiles and packers come from the
 * context's kernel set.
 */
#include <string.h>

#include "gemm_parts.h"
#include "pack.h"

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

static packed_layout
layout_of(const lc_gemm_args *g, const lc_gemm_plan *plan)
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
buffers_of(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws, int t, ptrdiff_t block)
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
        const lc_packer pk = lc_packer_for(g, op);
        lc_pack_panels(op, r0 + q0 * R, LC_MIN(rows - q0 * R, (q1 - q0) * R), pc, kc, R,
                       g->dtype, dst + (size_t)(q0 * R * kc) * es, &pk);
    }
}

/* Asks for the rows of C's tile at (i, j) while the tile before it is
 * computed: the kernels' chains start from C, so its lines are wanted in
 * cache when the kernel begins, and a tile's rows are too far apart for
 * the hardware prefetchers. Into L2 only: the packed panels streaming
 * through L1 during the tile before would evict them from there
 * (locality 3, into L1, measured no gain; 1 gained 2-3% on cold C).
 * Always inlined: GCC's IPA counts a prefetch as free of side effects, calls
 * it out of line as "pure", and deletes the calls, whose result is unused
 * (this once cost the AVX2 path 11% without a trace in the tests). */
LC_ALWAYS_INLINE void
prefetch_tile(const lc_gemm_args *g, ptrdiff_t i, ptrdiff_t rows, ptrdiff_t j, int cols)
{
    const ptrdiff_t es = (ptrdiff_t)lc_dtype_size(g->dtype);
    /* ldc may be negative (out[::-1]): offsets are signed. */
    const char *c = (const char *)g->c + (i * g->ldc + j) * es;
    const ptrdiff_t last = cols * es - 1;
    /* Every line of a row (at most 256 bytes: 5 lines when misaligned). */
    for (ptrdiff_t r = 0; r < rows; r++, c += g->ldc * es) {
        __builtin_prefetch(c, 1, 1);
        if (last >= 64) {
            __builtin_prefetch(c + 64, 1, 1);
        }
        if (last >= 128) {
            __builtin_prefetch(c + 128, 1, 1);
        }
        if (last >= 192) {
            __builtin_prefetch(c + 192, 1, 1);
        }
        __builtin_prefetch(c + last, 1, 1);
    }
}

/* One K block of the blocked path: columns [pc, pc + kc) of A, rows of B. */
typedef struct {
    ptrdiff_t pc, kc;
    int first; /* the first K block: the chains start anew */
} k_block;

/* What the tiles of one K block share. */
typedef struct {
    const lc_gemm_args *g;
    const lc_gemm_plan *plan;
    const packed_buffers *p;
    k_block kb;
} tile_run;

/* The tile of C at (i, j), mr x nr, for one K block: the chains start from
 * the bias (or 0, or C when accumulating) in the first K block, from C in
 * the others, and go back to C. */
static void
run_tile(const tile_run *run, const char *a, const char *b, ptrdiff_t i, ptrdiff_t j,
         int mr, int nr)
{
    const lc_gemm_args *g = run->g;
    const ptrdiff_t es = (ptrdiff_t)lc_dtype_size(g->dtype);
    const char *bias = g->bias ? (const char *)g->bias + j * es : NULL;
    lc_context_ops(g->ctx, g->dtype)->tile(run->kb.kc, a, b,
                                            (char *)g->c + (i * g->ldc + j) * es,
                                            g->ldc, mr, nr, bias,
                                            run->kb.first ? first_start(g) : LC_START_C);
}

/* Tiles [i0, i1) x [j0, j1) of C (in elements, within the current blocks),
 * from the packed A block (starting at row a_row0) and B panel. */
static void
run_tiles(const tile_run *run, ptrdiff_t a_row0, ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t jc,
          ptrdiff_t j0, ptrdiff_t j1)
{
    const lc_gemm_args *g = run->g;
    const size_t es = lc_dtype_size(g->dtype);
    const lc_kernel_ops *ops = lc_context_ops(g->ctx, g->dtype);
    const ptrdiff_t kc = run->kb.kc;
    for (ptrdiff_t j = j0; j < j1; j += ops->nr) {
        const int nr = (int)LC_MIN((ptrdiff_t)ops->nr, j1 - j);
        const char *bp = run->p->b_panel + (size_t)((j - jc) * kc) * es;
        for (ptrdiff_t i = i0; i < i1; i += ops->mr) {
            /* The next tile down, or the first of the next column. */
            if (i + ops->mr < i1) {
                prefetch_tile(g, i + ops->mr, LC_MIN((ptrdiff_t)ops->mr, i1 - i - ops->mr), j, nr);
            }
            else if (j + ops->nr < j1) {
                prefetch_tile(g, i0, LC_MIN((ptrdiff_t)ops->mr, i1 - i0), j + ops->nr,
                              (int)LC_MIN((ptrdiff_t)ops->nr, j1 - j - ops->nr));
            }
            run_tile(run, run->p->a_block + (size_t)((i - a_row0) * kc) * es, bp, i, j,
                     (int)LC_MIN((ptrdiff_t)ops->mr, i1 - i), nr);
        }
    }
}

/* Thread t's share of the tiles of one (N block, K block) when the team
 * shares A: a contiguous run of the (row tile, column tile) grid, column
 * tiles outermost so that each B micro-panel serves consecutive tiles. */
static void
shared_a_tiles(const tile_run *run, ptrdiff_t jc, ptrdiff_t nc, int t, int T)
{
    const lc_gemm_args *g = run->g;
    const lc_kernel_ops *ops = lc_context_ops(g->ctx, g->dtype);
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
        run_tiles(run, 0, i, LC_MIN(i + ops->mr, g->m), jc, j, LC_MIN(j + ops->nr, jc + nc));
    }
}

/* Thread t's own rows of A, block by block: pack, then all their tiles. */
static void
own_rows_tiles(const tile_run *run, ptrdiff_t jc, ptrdiff_t nc, int t, int T)
{
    const lc_gemm_args *g = run->g;
    const lc_kernel_ops *ops = lc_context_ops(g->ctx, g->dtype);
    const lc_packer pk = lc_packer_for(g, &g->a);
    ptrdiff_t m0, m1;
    split_range(g->m, ops->mr, t, T, &m0, &m1);
    for (ptrdiff_t ic = m0; ic < m1; ic += run->plan->mc) {
        const ptrdiff_t mc = LC_MIN(run->plan->mc, m1 - ic);
        lc_pack_panels(&g->a, ic, mc, run->kb.pc, run->kb.kc, ops->mr, g->dtype,
                       run->p->a_block, &pk);
        run_tiles(run, ic, ic, ic + mc, jc, jc, jc + nc);
    }
}

void
lc_blocked_part(const lc_gemm_args *g, const lc_gemm_plan *plan, void *ws, int t, int T)
{
    const lc_kernel_ops *ops = lc_context_ops(g->ctx, g->dtype);
    const lc_operand bt = lc_operand_transposed(&g->b);
    ptrdiff_t block = 0;
    for (ptrdiff_t jc = 0; jc < g->n; jc += plan->nc) {
        const ptrdiff_t nc = LC_MIN(plan->nc, g->n - jc);
        for (ptrdiff_t pc = 0; pc < g->k; pc += plan->kc, block++) {
            const packed_buffers p = buffers_of(g, plan, ws, t, block);
            const tile_run run = {
                .g = g, .plan = plan, .p = &p,
                .kb = {.pc = pc, .kc = LC_MIN(plan->kc, g->k - pc), .first = pc == 0},
            };
            /* Everyone has finished block - 2, whose buffers these are:
             * they passed the barrier of block - 1 after computing it. */
            pack_share(g, &bt, jc, nc, ops->nr, pc, run.kb.kc, p.b_panel, t, T);
            if (plan->shared_a) {
                pack_share(g, &g->a, 0, g->m, ops->mr, pc, run.kb.kc, p.a_block, t, T);
            }
            team_barrier(T); /* the shared panels of this block are complete */
            if (plan->shared_a) {
                shared_a_tiles(&run, jc, nc, t, T);
            }
            else {
                own_rows_tiles(&run, jc, nc, t, T);
            }
        }
    }
}

size_t
lc_blocked_workspace(const lc_gemm_args *g, const lc_gemm_plan *plan)
{
    return layout_of(g, plan).total;
}
