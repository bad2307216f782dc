/*
 * The generator behind Linear's initialisation: xoshiro256** seeded through
 * splitmix64, so that a seed gives the same parameters on every machine.
 * Pure C, no Python.
 */
#ifndef LINEARC_RNG_H
#define LINEARC_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

typedef struct {
    uint64_t s[4];
} lc_rng;

void lc_rng_seed(lc_rng *r, uint64_t seed);
uint64_t lc_rng_next(lc_rng *r);

/* count values of type t drawn uniformly from [-bound, bound) into buf,
 * `stride` elements apart, as torch.nn.init.uniform_ does for Linear; bound
 * 0 gives +0.0 everywhere. A half type gets the float32 values, each
 * rounded to nearest even: a float32 layer's parameters, cast. */
void lc_rng_fill_uniform(lc_rng *r, void *buf, lc_dtype t, size_t count, size_t stride,
                         double bound);

#endif
