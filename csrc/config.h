/*
 * Per-CPU configuration, apart from the kernels (as BLIS keeps config/<arch>
 * apart from kernels/<arch>): the caches of this CPU, read at import, and
 * the block sizes the GEMM uses with the chosen kernel set. Block sizes come
 * from the analytical model of Low et al. ("Analytical Modeling Is Enough for
 * High-Performance BLIS", TOMS 2016) applied to the caches, then from values
 * measured on known CPUs (each with its provenance), then from the
 * environment (LINEARC_BLOCKING_F32 / LINEARC_BLOCKING_F64 = "kc,mc,nc").
 * Pure C, no Python.
 */
#ifndef LINEARC_CONFIG_H
#define LINEARC_CONFIG_H

#include <stddef.h>

#include "kernels/kernels.h"
#include "types.h"

/* One level of data cache. */
typedef struct {
    size_t size;  /* bytes */
    int ways;     /* associativity */
    int line;     /* bytes */
    int sets;
    int sharing;  /* logical CPUs sharing it */
} lc_cache;

typedef struct {
    char vendor[13];   /* "GenuineIntel", "AuthenticAMD", ... */
    int family, model; /* CPUID's display family and model */
    char brand[49];
    lc_cache l1d, l2, l3;
    const char *source; /* "cpuid", "sysfs" or "assumed" */
} lc_cpu;

/* Block sizes of one element type with one kernel set. */
typedef struct {
    int kc, mc, nc;     /* packed path: K block, rows of A, columns of B */
    int kc_direct;      /* direct path: rows of B per sweep across j */
    int kc_stream;      /* the same for a single tile of rows (a GEMV) */
    /* The direct path takes at most direct_rows rows, or any number when the
     * product has at most direct_cols columns: reading B from cache for
     * every tile of rows beats packing it until there are enough rows to
     * pay for packing, and forever when B is a few columns wide. */
    int direct_rows, direct_cols;
    const char *source; /* where these values come from */
} lc_blocking;

/* Everything the GEMM needs to know about the machine. */
typedef struct {
    const lc_kernel_set *kernels;
    lc_blocking f32, f64;
    lc_blocking f32_model, f64_model; /* the model's alone, for reports */
} lc_config;

/* This CPU, read once (thread-safe). */
const lc_cpu *lc_cpu_info(void);

/* The configuration for `kernels` on this CPU. Returns 0, or -1 with *why
 * pointing at a static message when an environment override is malformed. */
int lc_config_make(const lc_kernel_set *kernels, lc_config *config, const char **why);

/* The blocking of one element type. */
static inline const lc_blocking *
lc_config_blocking(const lc_config *config, lc_dtype t)
{
    return t == LC_F32 ? &config->f32 : &config->f64;
}

/* What the cache model alone chose for one element type (for reports). */
static inline const lc_blocking *
lc_config_model(const lc_config *config, lc_dtype t)
{
    return t == LC_F32 ? &config->f32_model : &config->f64_model;
}

static inline const lc_kernel_ops *
lc_config_ops(const lc_config *config, lc_dtype t)
{
    return t == LC_F32 ? &config->kernels->f32 : &config->kernels->f64;
}

#endif
