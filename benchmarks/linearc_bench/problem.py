"""One case's arrays, the same for every contender, and the accuracy check.

Every result is compared with a float64 reference within the bound the
tests use (linearc._accuracy): a contender outside it is reported as wrong
and not timed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from linearc._accuracy import violations

from .cases import Case

# inputs bigger than this are checked on their first CHECK_ROWS rows only
# (rows are independent), which keeps the float64 reference cheap
CHECK_FULL_BYTES = 64 * 10**6
CHECK_ROWS = 256


@dataclass
class Problem:
    case: Case
    dtype: str
    layer: Any  # the linearc.Linear whose weight and bias everyone uses
    x: np.ndarray
    W: np.ndarray  # (out_features, in_features), C-contiguous
    b: np.ndarray | None
    y: np.ndarray  # an output buffer, for out=
    g: np.ndarray | None = None  # grad_output, for the backward section

    @property
    def flops(self) -> int:
        return self.case.flops


def make_problem(case: Case, dtype: str, linearc, *, grad: bool = False,
                 seed: int = 0) -> Problem:
    """Fixed seeds: the same x, W, b (and grad_output) on every run."""
    rng = np.random.default_rng(seed)
    layer = linearc.Linear(case.in_features, case.out_features,
                           bias=case.bias, dtype=dtype, seed=seed)
    x = rng.uniform(-1.0, 1.0, size=case.input_shape).astype(dtype)
    g = None
    if grad:
        g = np.random.default_rng(seed + 1).uniform(
            -1.0, 1.0, size=case.output_shape).astype(dtype)
    return Problem(
        case=case, dtype=dtype, layer=layer, x=x,
        W=np.ascontiguousarray(layer.weight),
        b=np.ascontiguousarray(layer.bias) if case.bias else None,
        y=np.empty(case.output_shape, dtype=dtype), g=g)


def _outside(name: str, y, x, w, b, dtype) -> str | None:
    """None if y is within the bound of x @ w.T + b, else what is wrong."""
    try:
        bad, ref, tol = violations(y, x, w, b, dtype)
    except AssertionError as e:  # a shape mismatch
        return f"{name}: {e}"
    if not bad.any():
        return None
    i = tuple(int(v) for v in np.argwhere(bad)[0])
    got = np.asarray(y, dtype=np.float64)[i]
    return (f"{name}: {int(bad.sum())} of {bad.size} elements outside the "
            f"bound; first at {i}: {float(got):.9g} vs reference "
            f"{float(ref[i]):.9g} "
            f"(tolerance {tol[i]:.3g})")


def check_forward(y, p: Problem) -> str | None:
    """Check a forward result against the float64 reference."""
    y = np.asarray(y)
    if y.shape != p.y.shape:
        return f"output shape {y.shape}, expected {p.y.shape}"
    k, n = p.case.in_features, p.case.out_features
    x2, y2 = p.x.reshape(-1, k), y.reshape(-1, n)
    if p.x.nbytes > CHECK_FULL_BYTES:
        x2, y2 = x2[:CHECK_ROWS], y2[:CHECK_ROWS]
    return _outside("output", y2, x2, p.W, p.b, p.dtype)


def check_backward(grads, p: Problem) -> str | None:
    """Check (grad_input, weight_grad, bias_grad) of one step.

    Each is a product of the same kind as the forward, so the same bound
    applies: grad_input = g @ W, weight_grad = g.T @ x, bias_grad = 1 @ g.
    """
    grad_input, weight_grad, bias_grad = (
        None if v is None else np.asarray(v) for v in grads)
    k, n = p.case.in_features, p.case.out_features
    x2, g2 = p.x.reshape(-1, k), p.g.reshape(-1, n)
    checks = [("grad_input", grad_input.reshape(-1, k), g2, p.W.T),
              ("weight_grad", weight_grad, g2.T, x2.T)]
    if p.b is not None:
        ones = np.ones((1, g2.shape[0]), dtype=p.dtype)
        checks.append(("bias_grad", bias_grad.reshape(1, n), ones, g2.T))
    for name, got, a, w in checks:
        wrong = _outside(name, got, a, w, None, p.dtype)
        if wrong:
            return wrong
    return None
