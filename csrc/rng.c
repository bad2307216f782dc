/* xoshiro256** (Blackman and Vigna) seeded by splitmix64; see rng.h. */
#include "rng.h"

#include "half.h"

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void
lc_rng_seed(lc_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        r->s[i] = splitmix64(&seed);
    }
}

uint64_t
lc_rng_next(lc_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void
lc_rng_fill_uniform(lc_rng *r, void *buf, lc_dtype t, size_t count, size_t stride,
                    double bound)
{
    for (size_t i = 0; i < count; i++) {
        const double u = (double)(lc_rng_next(r) >> 11) * 0x1.0p-53; /* [0, 1) */
        /* bound * (2u - 1) is -0.0 for bound 0 and u < 1/2; torch gives +0.0. */
        const double v = bound > 0.0 ? bound * (2.0 * u - 1.0) : 0.0;
        if (t == LC_F64) {
            ((double *)buf)[i * stride] = v;
        }
        else if (lc_is_half(t)) { /* the float32 draw, rounded to nearest even */
            ((uint16_t *)buf)[i * stride] = lc_f32_to_half((float)v, t == LC_BF16);
        }
        else {
            ((float *)buf)[i * stride] = (float)v;
        }
    }
}
