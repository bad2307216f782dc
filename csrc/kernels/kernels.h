/*
 * The contract between the GEMM driver (gemm.c) and the per-instruction-set
 * microkernels (kernels/<isa>.c). A kernel file knows nothing of Python, of
 * blocking loops or of threads: it computes one register tile, or the dot
 * products of a few rows, and says which block sizes suit it.
 */
#ifndef LINEARC_KERNELS_H
#define LINEARC_KERNELS_H

#include <stddef.h>

/* Flags of one tile or dot-kernel call. */
enum {
    LC_KF_BIAS = 1,      /* accumulators start from bias[0..nr) */
    LC_KF_OVERWRITE = 2, /* store C = acc without reading C first */
};

/*
 * Register tile: C[i*ldc + j] (= or +=) acc[i][j] for i < mr, j < nr, where
 *   acc[i][j] = (bias ? bias[j] : 0) + sum_{p < kc} a[p*MR + i] * b[p*NR + j]
 * a and b are packed micro-panels (MR and NR values per p, 64-byte aligned,
 * zero-padded); mr <= MR and nr <= NR are the valid part, stored with masks.
 * The sum runs in p order for every (i, j), so a result never depends on
 * where in a tile, or in which thread, an element was computed.
 */
typedef void (*lc_tile_f32_fn)(ptrdiff_t kc, const float *a, const float *b,
                               float *c, ptrdiff_t ldc, int mr, int nr,
                               const float *bias, int flags);
typedef void (*lc_tile_f64_fn)(ptrdiff_t kc, const double *a, const double *b,
                               double *c, ptrdiff_t ldc, int mr, int nr,
                               const double *bias, int flags);

/*
 * Few rows, no packing: y[i*ldy + j] (= or +=) (bias ? bias[j] : 0)
 *   + sum_{p < k} x[i*ldx + p] * w[j*ldw + p]   for i < m, j < n.
 * x and w are contiguous along p. m is at most LC_DOT_MAX_ROWS.
 * Each (i, j) is summed the same way whatever m and n are.
 */
#define LC_DOT_MAX_ROWS 8
typedef void (*lc_dot_f32_fn)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                              const float *x, ptrdiff_t ldx,
                              const float *w, ptrdiff_t ldw,
                              float *y, ptrdiff_t ldy,
                              const float *bias, int flags);
typedef void (*lc_dot_f64_fn)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                              const double *x, ptrdiff_t ldx,
                              const double *w, ptrdiff_t ldw,
                              double *y, ptrdiff_t ldy,
                              const double *bias, int flags);

/*
 * Transposing pack of one micro-panel: dst[p*R + i] = rows[i][p] for p < kc,
 * i < R, where each row is contiguous along p; a NULL row packs zeros. This
 * is the hot packing case (x and W are both contiguous along k), so each ISA
 * brings its own, built on register transposes. dst is 64-byte aligned.
 */
typedef void (*lc_pack_f32_fn)(ptrdiff_t kc, int R, const float *const *rows, float *dst);
typedef void (*lc_pack_f64_fn)(ptrdiff_t kc, int R, const double *const *rows, double *dst);

/*
 * Small-M tile, transposed: for a few rows of x (more than LC_DOT_MAX_ROWS,
 * at most two vectors' worth), W is read straight from its rows instead of
 * being packed. C[i*ldc + j] (= or +=) acc for i < mr, j < nw (<= tilet_nw):
 *   acc = (bias ? bias[j] : 0) + sum_{p < kc} w[j*ldw + p] * xp[p*R + i]
 * xp is x packed as a micro-panel of R rows (R = 2 vectors, or 1 if M fits).
 * Each element is the same chain of FMAs as in the register tile, so the two
 * give the same bits: which one runs is only a question of speed.
 */
typedef void (*lc_tilet_f32_fn)(ptrdiff_t kc, const float *xp, int R, const float *w,
                                ptrdiff_t ldw, float *c, ptrdiff_t ldc, int mr, int nw,
                                const float *bias, int flags);
typedef void (*lc_tilet_f64_fn)(ptrdiff_t kc, const double *xp, int R, const double *w,
                                ptrdiff_t ldw, double *c, ptrdiff_t ldc, int mr, int nw,
                                const double *bias, int flags);

/* Register tile and cache block sizes of one data type (BLIS's "config"). */
typedef struct {
    int mr, nr; /* tile */
    int kc;     /* K block: a B micro-panel (kc x nr) stays in L1 */
    int mc;     /* M block: the packed A block (mc x kc) stays in L2 */
    int nc;     /* N block: the packed B panel (kc x nc) stays in L3 */
} lc_blocking;

typedef struct {
    const char *name; /* "avx512", "avx2" or "generic": LINEARC_ISA's values */
    lc_blocking f32, f64;
    lc_tile_f32_fn tile_f32;
    lc_tile_f64_fn tile_f64;
    lc_dot_f32_fn dot_f32;
    lc_dot_f64_fn dot_f64;
    lc_pack_f32_fn pack_f32; /* NULL: pack.c's portable loop */
    lc_pack_f64_fn pack_f64;
    /* NULL where the set has none: those shapes take the blocked path. */
    lc_tilet_f32_fn tilet_f32;
    lc_tilet_f64_fn tilet_f64;
    int tilet_lanes_f32, tilet_lanes_f64; /* R is 1 or 2 times this */
    int tilet_nw;                         /* columns of C per call */
} lc_kernel_set;

extern const lc_kernel_set lc_kernels_generic;
extern const lc_kernel_set lc_kernels_avx2;
extern const lc_kernel_set lc_kernels_avx512;

/* The largest tile over all kernel sets, for stack scratch tiles. */
#define LC_MAX_MR 16
#define LC_MAX_NR 32

#endif
