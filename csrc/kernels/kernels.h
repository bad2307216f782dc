/*
 * The contract between the GEMM driver (gemm.c) and the per-instruction-set
 * kernels (kernels/<isa>.c). A kernel file knows nothing of Python, of
 * blocking loops or of threads: it computes one register tile, or packs one
 * micro-panel. Block sizes are not the kernels' business either: config.c
 * chooses them for the CPU at hand.
 *
 * The arithmetic every kernel implements, exactly: each element of C is one
 * chain of fused multiply-adds in the order of p,
 *     acc = start;  acc = fma(a(i, p), b(p, j), acc)  for p = 0, 1, ..., kc-1
 * each step rounded once to the element type, then C(i, j) = acc. `start` is
 * 0, bias[j] or the value C(i, j) already holds, so a chain split into K
 * blocks and carried through C gives the same bits as one unbroken chain.
 * No kernel reorders, splits or reassociates a chain: any instruction set,
 * tile, block size or thread split gives the same bits for the same inputs.
 *
 * NaN: whether a chain ends in NaN depends only on its values (a NaN operand,
 * or inf * 0, or inf - inf, and NaN is absorbing), but which NaN the hardware
 * returns depends on operand order and instruction set. So every kernel
 * stores any NaN as the canonical quiet NaN, the bits of NumPy's nan
 * (float32 0x7FC00000, float64 0x7FF8000000000000): positive, no payload.
 */
#ifndef LINEARC_KERNELS_H
#define LINEARC_KERNELS_H

#include <stddef.h>

/* Where each chain starts. */
enum {
    LC_START_ZERO = 0,
    LC_START_BIAS = 1, /* bias[j]: the first K block of a product with bias */
    LC_START_C = 2,    /* C(i, j): later K blocks, and accumulation */
};

/*
 * Packed register tile: C[i*ldc + j] = chain over p < kc of
 * a[p*MR + i] * b[p*NR + j], for i < mr, j < nr. a and b are packed
 * micro-panels (MR and NR values per p, 64-byte aligned, zero-padded past
 * mr and nr); mr <= MR and nr <= NR are the valid part, loaded and stored
 * with masks. Pointers are float* or double* per the ops' type.
 */
typedef void (*lc_tile_fn)(ptrdiff_t kc, const void *a, const void *b, void *c, ptrdiff_t ldc,
                           int mr, int nr, const void *bias, int start);

/*
 * Direct tiles, nothing packed (few rows, B contiguous along j): the same
 * chains with a(i, p) = a[i*lda + p*pa] (read by broadcasts, any strides)
 * and b(p, j) = b[p*ldb + j], for i < mr (<= DMR) and all j < n: one call
 * sweeps the columns in tiles of up to DNR, so that a few rows of B stream
 * through once, in order.
 */
typedef void (*lc_direct_fn)(ptrdiff_t kc, const void *a, ptrdiff_t lda, ptrdiff_t pa,
                             const void *b, ptrdiff_t ldb, void *c, ptrdiff_t ldc, int mr,
                             ptrdiff_t n, const void *bias, int start);

/*
 * Transposing pack of one micro-panel: dst[p*R + i] = rows[i][p] for
 * p < kc, i < R, each row contiguous along p; a NULL row packs zeros. The
 * hot packing case (x in the forward pass), so each instruction set brings
 * one built on register transposes. dst is 64-byte aligned.
 */
typedef void (*lc_pack_fn)(ptrdiff_t kc, int R, const void *const *rows, void *dst);

/*
 * Half-precision conversions of n contiguous values, defined to the bit and
 * the same on every instruction set, whatever the floating-point
 * environment: widen is exact (float16 and bfloat16 values are all float32
 * values); narrow rounds to nearest even, keeps subnormal halves (no flush)
 * and stores any NaN as the canonical half NaN, NumPy's and ml_dtypes' nan
 * (float16 0x7E00, bfloat16 0x7FC0).
 */
typedef void (*lc_widen_fn)(ptrdiff_t n, const void *src, float *dst);
typedef void (*lc_narrow_fn)(ptrdiff_t n, const float *src, void *dst);

typedef struct {
    lc_widen_fn widen;
    lc_narrow_fn narrow;
} lc_half_ops;

/* The kernels of one element type. */
typedef struct {
    int mr, nr;               /* packed tile */
    int dmr, dnr;             /* largest direct tile: rows, and columns per tile */
    lc_tile_fn tile;
    lc_direct_fn direct;
    lc_pack_fn pack_transpose; /* NULL: pack.c's portable loop */
} lc_kernel_ops;

typedef struct {
    const char *name; /* "avx512", "avx2", "neon" or "generic": LINEARC_ISA's values */
    const char *arch; /* the architecture it runs on: "x86-64", "aarch64", or "any" */
    lc_kernel_ops f32, f64;
    lc_half_ops f16, bf16; /* storage types computed in float32 */
} lc_kernel_set;

/* The architecture this module is built for, as get_config()["arch"] says. */
#if defined(__x86_64__)
#define LC_BUILD_ARCH "x86-64"
#elif defined(__aarch64__)
#define LC_BUILD_ARCH "aarch64"
#elif defined(__powerpc64__)
#define LC_BUILD_ARCH "ppc64"
#elif defined(__riscv) && __riscv_xlen == 64
#define LC_BUILD_ARCH "riscv64"
#elif defined(__s390x__)
#define LC_BUILD_ARCH "s390x"
#elif defined(__i386__)
#define LC_BUILD_ARCH "x86"
#elif defined(__arm__)
#define LC_BUILD_ARCH "arm"
#else
#define LC_BUILD_ARCH "unknown"
#endif

/* Each set exists only in a build for its architecture: kernels/avx2.c and
 * avx512.c compile to nothing off x86-64, neon.c to nothing off aarch64. */
extern const lc_kernel_set lc_kernels_generic;
#if defined(__x86_64__)
extern const lc_kernel_set lc_kernels_avx2;
extern const lc_kernel_set lc_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const lc_kernel_set lc_kernels_neon;
#endif

/* The largest tile over all kernel sets, for packing-row tables. */
#define LC_MAX_MR 16
#define LC_MAX_NR 64

#endif
