/*
 * The context of this CPU, apart from the kernels (as BLIS keeps
 * config/<arch> apart from kernels/<arch>, and fills a context per CPU):
 * the kernel set, and for each element type every number the GEMM's planner
 * uses (block sizes and the limits between its paths), each with where it
 * comes from. Values are filled in layers, each overriding the one before:
 * fixed defaults, the analytical model of Low et al. ("Analytical Modeling
 * Is Enough for High-Performance BLIS", TOMS 2016) on this CPU's caches,
 * values measured on a known CPU family, values tuned on this machine
 * (python -m linearc tune), and the environment (LINEARC_BLOCKING_F32 /
 * LINEARC_BLOCKING_F64). Every layer is validated against the kernel set.
 * Pure C, no Python.
 */
#ifndef LINEARC_CONFIG_H
#define LINEARC_CONFIG_H

#include <stddef.h>

#include "cpu.h"
#include "kernels/kernels.h"
#include "types.h"

/* Where a value comes from, weakest first. */
typedef enum {
    LC_FROM_DEFAULT = 0, /* the same on every CPU */
    LC_FROM_MODEL,       /* the cache model on this CPU's caches */
    LC_FROM_MEASURED,    /* measured on this CPU family (config.c's table) */
    LC_FROM_TUNED,       /* measured on this machine by the tuner */
    LC_FROM_ENV,         /* LINEARC_BLOCKING_F32 / _F64 */
} lc_origin;

/*
 * The planner's numbers for one element type with one kernel set. Fields
 * are in the order of lc_param_names (config.c), the names get_config(),
 * the environment variables and the tuner use.
 */
#define LC_PARAMS_COUNT 11
typedef struct {
    long kc;          /* packed path: K block */
    long kc_max;      /* a K up to this stays one block (BLIS's maximum
                       * blocksize): a short second block would cost a whole
                       * round trip of C. Follows kc unless set itself. */
    long mc, nc;      /* packed path: rows of A per block, columns of B */
    long kc_direct;   /* direct path: rows of B per sweep across j, at most */
    long kc_stream;   /* the same for a single tile of rows (a GEMV) */
    /* The direct path takes at most direct_rows rows, or any number when the
     * product has at most direct_cols columns: reading B from cache for
     * every tile of rows beats packing it until there are enough rows to
     * pay for packing, and forever when B is a few columns wide. */
    long direct_rows, direct_cols;
    long serial_flops;   /* below this, one thread and no OpenMP region */
    long parallel_bytes; /* direct path: B is split between threads from this size */
    long direct_block_bytes; /* direct path: the K block of B a thread sweeps
                              * (its kc x columns) at most this big */
    lc_origin origin[LC_PARAMS_COUNT];
    const char *measured; /* the measured table's row (its provenance), or NULL */
} lc_params;

extern const char *const lc_param_names[LC_PARAMS_COUNT];

/* Field i of p, in lc_param_names' order. */
long *lc_param(lc_params *p, int i);

/* The context of this CPU. */
typedef struct {
    const lc_kernel_set *kernels;
    lc_params f32, f64;             /* in use */
    lc_params f32_model, f64_model; /* defaults and the model alone, for reports */
} lc_context;

/* The context for `kernels` on this CPU, from defaults, the model and the
 * table of measured values. Returns 0, or -1 with *why pointing at a static
 * message if a value breaks the kernel set's limits (a bug in the table). */
int lc_context_make(const lc_kernel_set *kernels, lc_context *ctx, const char **why);

/* Apply LINEARC_BLOCKING_F32 / _F64 if set. Returns 0, or -1 with *bad the
 * variable's name and *why what is wrong with it. */
int lc_context_apply_environment(lc_context *ctx, const char **bad, const char **why);

/* Set the fields i of one element type's parameters for which given[i] is
 * nonzero to value[i], from origin, then check the whole set against the
 * kernel set (mc a multiple of the tile's rows, nc of its columns, sizes
 * within limits); a field set by a stronger origin keeps its value, and
 * kc_max follows kc unless set as strongly. Returns 0, or -1 with *why
 * saying what is wrong; nothing changes then. */
int lc_context_update(lc_context *ctx, lc_dtype t, const long value[LC_PARAMS_COUNT],
                      const int given[LC_PARAMS_COUNT], lc_origin origin, const char **why);

/* Whether a whole set of parameters is consistent with the kernel set;
 * NULL if so, else what is wrong. */
const char *lc_params_check(const lc_params *p, const lc_kernel_ops *ops, size_t es);

/* Whether every row of the table of measured values fits the kernel set it
 * names (among `count` sets): NULL, or the provenance of the first row that
 * does not. For a test: a row applies only on its CPU. */
const char *lc_measured_table_check(const lc_kernel_set *const *sets, int count);

/* The name of an origin, for reports: "default", "model", ... */
const char *lc_origin_name(lc_origin o);

/* The parameters, model and kernels of the type t computes in (a half
 * type's are float32's). */
static inline const lc_params *
lc_context_params(const lc_context *ctx, lc_dtype t)
{
    return lc_compute_type(t) == LC_F32 ? &ctx->f32 : &ctx->f64;
}

static inline const lc_params *
lc_context_model(const lc_context *ctx, lc_dtype t)
{
    return lc_compute_type(t) == LC_F32 ? &ctx->f32_model : &ctx->f64_model;
}

static inline const lc_kernel_ops *
lc_context_ops(const lc_context *ctx, lc_dtype t)
{
    return lc_compute_type(t) == LC_F32 ? &ctx->kernels->f32 : &ctx->kernels->f64;
}

/* The conversions of a half type t, or NULL for float32 and float64. */
static inline const lc_half_ops *
lc_context_half(const lc_context *ctx, lc_dtype t)
{
    return t == LC_F16 ? &ctx->kernels->f16 : t == LC_BF16 ? &ctx->kernels->bf16 : NULL;
}

#endif
