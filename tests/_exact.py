"""Exact references for linearc's arithmetic (docs/design.md, "The
arithmetic"), shared by test_arithmetic.py (float32, float64) and
test_half.py (float16, bfloat16 computed in float32 chains).

Every element of a product is a chain acc = start; acc = fma(a, b, acc) for
each step in order, rounded once per step to the chain's type. Two
references of it:

* round_to / exact_chain: rational arithmetic (fractions.Fraction), one
  rounding per step by definition. Slow: small shapes only.
* fma_chain32: the same float32 chain for whole arrays at once, exact too.
  Each product of two float32 values (so of two halves) has at most 48
  significant bits and lies well inside float64's exponent range, so it is
  exact in float64. The sum acc + p is carried exactly as a float64 pair
  (s, e) with s + e == acc + p (Knuth's TwoSum, exact without overflow),
  and s + e is rounded to float32 once: s rounded to float32 is the right
  answer unless s lies exactly halfway between two float32 numbers (the
  float32 midpoints are float64 numbers, so none can lie strictly between
  s and s + e), and then the sign of e decides. No double rounding: the
  test of this module in test_half.py builds a chain where rounding the
  float64 sum would be wrong and checks both references on it.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np


def _finfo(dtype):
    """np.finfo, or ml_dtypes.finfo for ml_dtypes' types (bfloat16)."""
    try:
        return np.finfo(dtype)
    except (TypeError, ValueError):
        import ml_dtypes
        return ml_dtypes.finfo(dtype)


def round_to(value: Fraction, dtype) -> Fraction:
    """value rounded to the nearest dtype number, ties to even (unbounded
    exponent above: a result past dtype's largest finite number is returned
    as it is, for the caller to call an overflow)."""
    info = _finfo(dtype)
    if value == 0:
        return Fraction(0)
    sign = -1 if value < 0 else 1
    mag = abs(value)
    exp = mag.numerator.bit_length() - mag.denominator.bit_length()
    if Fraction(2) ** exp > mag:
        exp -= 1
    exp = max(exp, int(info.minexp))     # subnormals share the smallest exponent
    ulp = Fraction(2) ** (exp - int(info.nmant))
    q, r = divmod(mag, ulp)
    if r * 2 > ulp or (r * 2 == ulp and q % 2 == 1):
        q += 1
    return sign * q * ulp


def exact_chain(x, w, b, dtype):
    """y[i, j]: the FMA chain in exact arithmetic, rounded at every step
    (finite operands whose chains stay finite)."""
    xf = [[Fraction(float(v)) for v in row] for row in x]
    wf = [[Fraction(float(v)) for v in row] for row in w]
    out = np.empty((len(xf), len(wf)), dtype)
    for i, xi in enumerate(xf):
        for j, wj in enumerate(wf):
            acc = Fraction(float(b[j])) if b is not None else Fraction(0)
            for xv, wv in zip(xi, wj):
                acc = round_to(acc + xv * wv, dtype)
            out[i, j] = float(acc)
    return out


_F32_MAX = float(np.finfo(np.float32).max)
# halfway between float32's largest finite number and 2**128: at or past it
# a sum rounds to infinity (ties go to the even 2**128), below it to the max
_F32_OVERFLOW_MIDPOINT = 2.0**128 - 2.0**103


def add_round32(acc, p):
    """float32(acc + p), rounded once: acc float32, p float64 (exact
    products); elementwise, with IEEE infinities and NaNs."""
    with np.errstate(all="ignore"):
        a = np.asarray(acc, np.float32).astype(np.float64)
        p = np.asarray(p, np.float64)
        s = a + p
        bb = s - a
        e = (a - (s - bb)) + (p - bb)           # s + e == a + p exactly
        r = s.astype(np.float32)
        r64 = r.astype(np.float64)
        finite = np.isfinite(s) & np.isfinite(r64)
        toward = np.where(s > r64, np.float32(np.inf), np.float32(-np.inf))
        other = np.nextafter(r, toward)          # the neighbour on s's side
        mid = (r64 + other.astype(np.float64)) * 0.5
        # s is a midpoint that rounded away from the true sum's side
        fix = finite & (s != r64) & (s == mid) & (e * (s - r64) > 0)
        r = np.where(fix, other, r)
        # the midpoint between the largest float32 and 2**128, a hair below
        over = (np.abs(s) == _F32_OVERFLOW_MIDPOINT) & (e * s < 0)
        r = np.where(over, np.float32(np.copysign(_F32_MAX, s)), r)
    return r.astype(np.float32)


def fma_chain32(a, b, start=None):
    """acc[i, j] after acc = start[j] (0 if None); acc = fmaf(a[i, k],
    b[j, k], acc) for k in order: a (M, K) and b (N, K) of values that are
    float32 numbers (float32 or half arrays), start (N,). float32 (M, N)."""
    with np.errstate(invalid="ignore"):  # ml_dtypes warns on casting NaNs
        a64 = np.asarray(a).astype(np.float64)
        b64 = np.asarray(b).astype(np.float64)
    m, k = a64.shape
    n, kb = b64.shape
    assert k == kb, (a64.shape, b64.shape)
    acc = np.zeros((m, n), np.float32)
    if start is not None:
        acc[...] = np.asarray(start).astype(np.float32)
    with np.errstate(all="ignore"):
        for step in range(k):
            acc = add_round32(acc, a64[:, step, None] * b64[None, :, step])
    return acc


def sum_chain32(g, start=None):
    """out[j] after acc = start[j] (0 if None); acc = float32(acc + g[i, j])
    for the rows i in order: the bias gradient's running sum."""
    with np.errstate(invalid="ignore"):
        g64 = np.asarray(g).astype(np.float64)
    acc = np.zeros(g64.shape[1], np.float32)
    if start is not None:
        acc[...] = np.asarray(start).astype(np.float32)
    with np.errstate(all="ignore"):
        for row in g64:
            acc = add_round32(acc, row)
    return acc
