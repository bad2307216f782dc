"""The accuracy bound linearc states (docs/design.md, "Accuracy"), in code.

The tests and the benchmarks both check results with it, linearc's and its
rivals' alike: each result is compared with a float64 reference computed
from the very values the layer multiplies (the input rounded to the layer's
dtype first), within

    |y - y64| <= c * sqrt(K + 1) * u * (|x| @ |W|.T + |b|)  +  u * |y64|

with c = 4 and u the unit roundoff (2**-24 for float32, 2**-53 for float64).
The bias is one more term of the sum (the chain starts from it), hence
K + 1; the last term is the final rounding of the result to the dtype.
Private: not part of linearc's API.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

_F64 = NDArray[np.float64]

C_TOL = 4.0


def unit_roundoff(dtype: Any) -> float:
    """u of float32 or float64."""
    return 2.0**-24 if np.dtype(dtype) == np.float32 else 2.0**-53


def as_computed(a: Any, dtype: Any) -> _F64:
    """The float64 values the layer actually multiplies: a rounded to dtype."""
    return np.asarray(a).astype(dtype).astype(np.float64)


def reference(x: Any, weight: Any, bias: Any = None, dtype: Any = None) -> _F64:
    """y64 = x @ W.T + b in float64, from the values rounded to the dtype."""
    dtype = dtype or np.asarray(weight).dtype
    y: _F64 = as_computed(x, dtype) @ as_computed(weight, dtype).T
    if bias is not None:
        y = y + as_computed(bias, dtype)
    return y


def tolerance(x: Any, weight: Any, bias: Any = None, dtype: Any = None) -> _F64:
    """The bound above, elementwise, for x @ weight.T + bias."""
    dtype = dtype or np.asarray(weight).dtype
    u = unit_roundoff(dtype)
    magnitude: _F64 = np.abs(as_computed(x, dtype)) @ np.abs(as_computed(weight, dtype)).T
    k = np.shape(weight)[-1]
    if bias is not None:
        magnitude = magnitude + np.abs(as_computed(bias, dtype))
        k += 1
    tol: _F64 = C_TOL * np.sqrt(max(k, 1)) * u * magnitude
    return tol + u * np.abs(reference(x, weight, bias, dtype))


def violations(y: Any, x: Any, weight: Any, bias: Any = None,
               dtype: Any = None) -> tuple[NDArray[np.bool_], _F64, _F64]:
    """(mask of elements outside the bound, reference, tolerance).

    A non-finite reference value must be matched exactly (NaN by NaN, an
    infinity by the same infinity).
    """
    y = np.asarray(y, dtype=np.float64)
    ref = reference(x, weight, bias, dtype)
    if y.shape != ref.shape:
        raise AssertionError(f"shape {y.shape} != reference shape {ref.shape}")
    tol = tolerance(x, weight, bias, dtype)
    bad = ~(np.abs(y - ref) <= tol)
    same_nonfinite = ~np.isfinite(ref) & (
        (np.isnan(ref) & np.isnan(y)) | (~np.isnan(ref) & (y == ref)))
    return bad & ~same_nonfinite, ref, tol


def assert_linear_close(y: Any, x: Any, weight: Any, bias: Any = None,
                        dtype: Any = None) -> None:
    """Assert y matches x @ weight.T + bias within the bound."""
    bad, ref, tol = violations(y, x, weight, bias, dtype)
    if bad.any():
        y64 = np.asarray(y, dtype=np.float64)
        idx = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{bad.sum()} of {bad.size} elements outside the K-scaled bound; "
            f"first at {idx}: got {y64[idx]!r}, reference {ref[idx]!r}, "
            f"error {abs(y64[idx] - ref[idx]):.3g} > tolerance {tol[idx]:.3g}")
