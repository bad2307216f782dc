"""Shared helpers: the float64 reference and the K-scaled tolerance of
shared/ENGINEERING.md section 6, used by every numerical test."""
from __future__ import annotations

import numpy as np
import pytest

from linearc import _linearc

C_TOL = 4.0


def unit_roundoff(dtype) -> float:
    return 2.0**-24 if np.dtype(dtype) == np.float32 else 2.0**-53


def as_computed(a, dtype) -> np.ndarray:
    """The float64 values the layer actually multiplies: a rounded to dtype."""
    return np.asarray(a).astype(dtype).astype(np.float64)


def reference(x, weight, bias=None, dtype=None):
    """y64 = x @ W.T + b in float64, from the values rounded to the layer dtype."""
    dtype = dtype or np.asarray(weight).dtype
    x64 = as_computed(x, dtype)
    w64 = as_computed(weight, dtype)
    y = x64 @ w64.T
    if bias is not None:
        y = y + as_computed(bias, dtype)
    return y


def tolerance(x, weight, bias=None, dtype=None):
    """c * sqrt(K) * u * (|x| @ |W|.T) + u * |b|, elementwise.

    linearc fuses the bias into the GEMM: the accumulators start from b and
    every one of the K fused multiply-adds rounds a sum that holds b. So b is
    one more term of the dot product, and its error is bounded the way the
    products' is: c * sqrt(K + 1) * u * (|x| @ |W|.T + |b|). (ENGINEERING.md's
    u * |b| term assumes the bias is added once, after the sum.)
    """
    dtype = dtype or np.asarray(weight).dtype
    u = unit_roundoff(dtype)
    x64 = np.abs(as_computed(x, dtype))
    w64 = np.abs(as_computed(weight, dtype))
    k = w64.shape[-1]
    magnitude = x64 @ w64.T
    if bias is not None:
        magnitude = magnitude + np.abs(as_computed(bias, dtype))
        k += 1
    tol = C_TOL * np.sqrt(max(k, 1)) * u * magnitude
    # Results are rounded to dtype once at the end: allow that half-ulp too.
    return tol + u * np.abs(reference(x, weight, bias, dtype))


def assert_linear_close(y, x, weight, bias=None, dtype=None):
    """Assert y matches x @ weight.T + bias within the K-scaled bound."""
    y = np.asarray(y, dtype=np.float64)
    ref = reference(x, weight, bias, dtype)
    assert y.shape == ref.shape, (y.shape, ref.shape)
    tol = tolerance(x, weight, bias, dtype)
    err = np.abs(y - ref)
    bad = ~(err <= tol)
    # NaN/Inf in the reference must appear identically in y
    both_nonfinite = ~np.isfinite(ref) & (np.isnan(y) == np.isnan(ref)) & (
        np.isnan(ref) | (y == ref))
    bad &= ~both_nonfinite
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{bad.sum()} of {bad.size} elements outside the K-scaled bound; "
            f"first at {idx}: got {y[idx]!r}, reference {ref[idx]!r}, "
            f"error {err[idx]:.3g} > tolerance {tol[idx]:.3g}")


_CONFIG = _linearc._build_config()

# Tests that check work really being split between threads mean nothing in
# a build without OpenMP (which runs everything on one thread).
requires_openmp = pytest.mark.skipif(
    not _CONFIG["openmp"], reason="built without OpenMP: one thread only")
_COPY_LIMIT = 4 << 20  # LC_DOT_MAX_COPY_BYTES in csrc/gemm.c


def expected_path(m, n, k, dtype):
    """The GEMM path for a forward of m rows, by the documented rule.

    dot: at most dot_max_rows rows; rows: a few more, up to two vectors of the
    kernel set's (AVX-512 only); blocked: the rest. dot and rows copy x into a
    buffer of bounded size, so a huge K sends them to blocked.
    """
    if m == 0 or n == 0:
        return "empty"
    if k == 0:
        return "fill"
    es = np.dtype(dtype).itemsize
    if m <= _CONFIG["dot_max_rows"]:
        return "dot" if m * k * es <= _COPY_LIMIT else "blocked"
    rows_max = _CONFIG["rows_max_f32" if es == 4 else "rows_max_f64"]
    if m <= rows_max:
        panel = rows_max // 2 if m <= rows_max // 2 else rows_max
        if panel * k * es <= _COPY_LIMIT:
            return "rows"
    return "blocked"


def arithmetic(path):
    """rows and blocked run the same FMA chain per element (bit-identical
    results); dot sums in vector lanes and reduces."""
    return "dot" if path == "dot" else "packed"


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
