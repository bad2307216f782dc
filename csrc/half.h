/*
 * float16 and bfloat16 <-> float32, one value at a time, in integer
 * arithmetic: the reference every kernel set's vector conversions
 * (kernels.h, lc_half_ops) must match bit for bit, and the conversions of
 * the code that is not hot (initialisation, bias sums, edge lanes). The
 * floating-point environment (rounding mode, flush-to-zero) plays no part.
 *
 * Widening is exact. Narrowing rounds to nearest, ties to even, keeps
 * subnormal halves, overflows to infinity, and gives any NaN as the
 * canonical half NaN (positive, quiet, no payload: float16 0x7E00, bfloat16
 * 0x7FC0), the bits of NumPy's and ml_dtypes' nan.
 */
#ifndef LINEARC_HALF_H
#define LINEARC_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "types.h"

#define LC_F16_NAN ((uint16_t)0x7E00)
#define LC_BF16_NAN ((uint16_t)0x7FC0)

static inline uint32_t
lc_f32_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

static inline float
lc_f32_from_bits(uint32_t x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* Right shift by s (1..31) rounding to nearest, ties to even. */
static inline uint32_t
lc_shift_rne(uint32_t v, unsigned s)
{
    const uint32_t kept = v >> s, rest = v & ((1u << s) - 1u), half = 1u << (s - 1u);
    return kept + (rest > half || (rest == half && (kept & 1u)));
}

static inline float
lc_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    if (e == 0x1Fu) { /* inf; NaN quieted, payload kept (as F16C and NEON widen) */
        return lc_f32_from_bits(sign | 0x7F800000u | (m << 13) | (m ? 0x400000u : 0u));
    }
    if (e == 0) { /* zero or subnormal: m * 2^-24, exact in float32 */
        if (m == 0) {
            return lc_f32_from_bits(sign);
        }
        unsigned shift = 0; /* normalise: the leading 1 to bit 10 */
        uint32_t mm = m;
        while (!(mm & 0x400u)) {
            mm <<= 1;
            shift++;
        }
        return lc_f32_from_bits(sign | ((113u - shift) << 23) | ((mm & 0x3FFu) << 13));
    }
    return lc_f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
}

static inline uint16_t
lc_f32_to_f16(float f)
{
    const uint32_t x = lc_f32_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) {
        return LC_F16_NAN;
    }
    if (ax >= 0x477FF000u) { /* 65520 and up (and inf): past the largest, 65504 */
        return (uint16_t)(sign | 0x7C00u);
    }
    if (ax >= 0x38800000u) { /* 2^-14 and up: a normal half */
        const uint32_t rebased = ax - (112u << 23); /* exponent 127 -> 15 */
        return (uint16_t)(sign | lc_shift_rne(rebased, 13));
    }
    if (ax <= 0x33000000u) { /* at most 2^-25, half the smallest subnormal: 0 */
        return sign;
    }
    /* A subnormal half: the value in units of 2^-24. ax >= 2^-25 is a
     * normal float32, exponent e in [102, 112]. */
    const uint32_t e = ax >> 23, mant = (ax & 0x7FFFFFu) | 0x800000u;
    return (uint16_t)(sign | lc_shift_rne(mant, 126u - e));
}

static inline float
lc_bf16_to_f32(uint16_t h)
{
    return lc_f32_from_bits((uint32_t)h << 16);
}

static inline uint16_t
lc_f32_to_bf16(float f)
{
    const uint32_t x = lc_f32_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) {
        return LC_BF16_NAN;
    }
    /* Round the low 16 bits away, ties to even; a carry moves into the
     * exponent as it should (the largest finite values round to inf). */
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

/* One value of type t (LC_F16 or LC_BF16, as lc_dtype) widened or narrowed. */
static inline float
lc_half_to_f32(uint16_t h, int bfloat)
{
    return bfloat ? lc_bf16_to_f32(h) : lc_f16_to_f32(h);
}

static inline uint16_t
lc_f32_to_half(float f, int bfloat)
{
    return bfloat ? lc_f32_to_bf16(f) : lc_f32_to_f16(f);
}

/* One element of any type as a double (exact), and back (rounded once to
 * t: float32 by the C conversion, the half types by the rounding above). */
static inline double
lc_element_load(const char *p, lc_dtype t)
{
    switch (t) {
    case LC_F32: return (double)*(const float *)p;
    case LC_F64: return *(const double *)p;
    default: return (double)lc_half_to_f32(*(const uint16_t *)p, t == LC_BF16);
    }
}

static inline void
lc_element_store(void *dst, ptrdiff_t idx, lc_dtype t, double v)
{
    switch (t) {
    case LC_F32: ((float *)dst)[idx] = (float)v; break;
    case LC_F64: ((double *)dst)[idx] = v; break;
    default: ((uint16_t *)dst)[idx] = lc_f32_to_half((float)v, t == LC_BF16);
    }
}

/* Whole arrays, one value at a time: the portable kernel set's
 * conversions, and the tails of the vector ones. */
static inline void
lc_widen_f16_scalar(ptrdiff_t n, const void *src, float *dst)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        dst[i] = lc_f16_to_f32(((const uint16_t *)src)[i]);
    }
}

static inline void
lc_widen_bf16_scalar(ptrdiff_t n, const void *src, float *dst)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        dst[i] = lc_bf16_to_f32(((const uint16_t *)src)[i]);
    }
}

static inline void
lc_narrow_f16_scalar(ptrdiff_t n, const float *src, void *dst)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        ((uint16_t *)dst)[i] = lc_f32_to_f16(src[i]);
    }
}

static inline void
lc_narrow_bf16_scalar(ptrdiff_t n, const float *src, void *dst)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        ((uint16_t *)dst)[i] = lc_f32_to_bf16(src[i]);
    }
}

#endif
