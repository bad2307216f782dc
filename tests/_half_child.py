"""Run by tests/test_half.py under each LINEARC_ISA and block size (both
chosen when linearc is imported): prints one line of JSON, the paths the
forward products of CASES take here and one digest per product (forward
rounded to the half type, forward into a float32 out=, the three backward
products after one backward and after a second that continues the
chains; one and two threads). With the argument "rows": the forward of
rows 1..40, each batch alone, of a few layers (rows_report).

test_half.py runs the same cases in its own process too, where it checks
every product against the exact reference, so equal digests here mean
exact results under every instruction set and block size.
"""
from __future__ import annotations

import hashlib
import json
import sys

import ml_dtypes
import numpy as np

import linearc
from linearc import _linearc

HALVES = ("float16", "bfloat16")

# (m, k, n): rows on both sides of the direct-path limit at the default
# blocks (direct_rows 128 on this machine's measured table, fewer on
# others), wide and narrow outputs, K past a direct K block (224) and, with
# tiny blocks, past many blocked ones.
CASES = [(1, 300, 70), (5, 1000, 130), (33, 257, 65), (40, 64, 100), (150, 300, 130),
         (600, 40, 20)]
SPECIALS_CASE = (40, 130, 100)


def dtype_of(name: str) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


# Row scales 2**e for e in [lo, hi): from rows of subnormal halves (whose
# results are subnormal) to rows whose results overflow the half type
# (float16) or the float32 chain itself (bfloat16's range is float32's).
SCALE_EXP = {np.dtype(np.float16): (-24, 11), np.dtype(ml_dtypes.bfloat16): (-133, 124)}


def mixed_operands(dtype, m, k, n, bias, seed):
    """(x, W, b) of the half type: rows of x scaled over the whole range (one
    row in three unscaled; rows 4, 5 and 7 of every 9 at the smallest,
    nearly smallest and largest scale), the bias zero in every other
    column, subnormal halves sprinkled in x and W, the
    largest finite half in row 1, a NaN in row 2 and an infinity in row 3;
    with five or more columns, an infinite weight in column 4 and a NaN bias
    in column 3."""
    dtype = np.dtype(dtype)
    info = ml_dtypes.finfo(dtype)
    rng = np.random.default_rng(seed)
    lo, hi = SCALE_EXP[dtype]
    row_exp = rng.integers(lo, hi, m)
    row_exp[::3] = 0
    row_exp[4::9], row_exp[5::9], row_exp[7::9] = lo, lo + 4, hi - 1
    x = rng.standard_normal((m, k)) * 2.0 ** row_exp[:, None]
    w = rng.standard_normal((n, k)) * 2.0 ** rng.integers(-3, 4, (n, 1))
    tiny = float(info.smallest_subnormal)
    for a in (x, w):
        count = max(1, a.size // 20)
        a.flat[rng.integers(0, a.size, count)] = \
            rng.integers(-(2 ** int(info.nmant)) + 1, 2 ** int(info.nmant), count) * tiny
    b = None
    if bias:  # zero in every other column, where tiny rows give tiny results
        b = 4.0 * rng.standard_normal(n)
        b[::2] = 0.0
    if m > 1:
        x[1, rng.integers(0, k, 2)] = [float(info.max), -float(info.max)]
    if m > 3:
        x[2, k // 2] = np.nan
        x[3, 0] = np.inf
    if n > 4:
        w[4, k - 1] = -np.inf
        if bias:
            b[3] = np.nan
    return (x.astype(dtype), w.astype(dtype),
            None if b is None else b.astype(dtype))


def operands(name: str, m: int, k: int, n: int, seed: int, specials: bool = False):
    """(layer, x, g): a layer of the half type and an input and a
    grad_output of it. Without specials, mixed_operands' (subnormal,
    overflowing, infinite and NaN results, ties); with specials, values of a
    moderate spread with NaNs of any sign and payload, infinities and zeros
    at random places in every operand."""
    dtype = dtype_of(name)
    layer = linearc.Linear(k, n, dtype=name, seed=seed)
    if not specials:
        x, w, b = mixed_operands(dtype, m, k, n, True, seed)
        layer.weight[...] = w
        layer.bias[...] = b
        return layer, x, mixed_operands(dtype, m, n, 1, False, seed + 1000)[0]
    rng = np.random.default_rng(seed)
    layer.weight[...] = (rng.standard_normal((n, k))
                         * 2.0 ** rng.integers(-3, 4, (n, 1))).astype(dtype)
    layer.bias[...] = (4 * rng.standard_normal(n)).astype(dtype)
    x = (rng.standard_normal((m, k)) * 2.0 ** rng.integers(-6, 7, (m, 1))).astype(dtype)
    g = rng.standard_normal((m, n)).astype(dtype)
    nan_bits = [0x7E00, 0xFE00, 0x7E5A, 0xFD01] if name == "float16" else \
        [0x7FC0, 0xFFC0, 0x7FD3, 0xFF81]
    pool = np.concatenate([np.array(nan_bits, np.uint16).view(dtype),
                           np.array([np.inf, -np.inf, 0.0, -0.0], dtype)])
    for a, count in ((layer.weight, 2 * n), (layer.bias, 3), (x, 2 * m), (g, m)):
        a.flat[rng.integers(0, a.size, count)] = rng.choice(pool, count)
    return layer, x, g


def products(layer, x, g) -> list[np.ndarray]:
    """Forward (half and float32 out=), then the three backward products
    after one backward call and after a second one continuing the chains."""
    y = layer(x)
    out32 = np.empty(y.shape, np.float32)
    layer(x, out=out32)
    layer.zero_grad()
    gi = layer.backward(x, g)
    first = [gi, layer.weight_grad.copy(), layer.bias_grad.copy()]
    gi2 = layer.backward(x, g)
    return [y, out32, *first, gi2, layer.weight_grad.copy(), layer.bias_grad.copy()]


def all_cases():
    """(name, threads, layer, x, g) in a fixed order."""
    for name in HALVES:
        for seed, (m, k, n) in enumerate(CASES):
            layer, x, g = operands(name, m, k, n, seed)
            for threads in (1, 2):
                yield name, threads, layer, x, g
        layer, x, g = operands(name, *SPECIALS_CASE, seed=99, specials=True)
        yield name, 1, layer, x, g


def digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


# (k, n) of the row sweep: rows 1..40 of mixed_operands, each batch alone
ROW_CASES = [(7, 100), (300, 100), (64, 130)]
ROWS = range(1, 41)


def row_cases():
    """(name, k, n, x, w, b) of the row sweep."""
    for name in HALVES:
        for k, n in ROW_CASES:
            x, w, b = mixed_operands(dtype_of(name), ROWS[-1], k, n, True, seed=k + n)
            yield name, k, n, x, w, b


def rows_report() -> dict:
    """The sweep: each batch x[:m] on a layer of (w, b); its path and the
    digest of its half result and of its float32 out=."""
    digests, paths = [], []
    for name, k, n, x, w, b in row_cases():
        layer = linearc.Linear(k, n, dtype=name)
        layer.weight[...] = w
        layer.bias[...] = b
        for m in ROWS:
            out32 = np.empty((m, n), np.float32)
            layer(x[:m], out=out32)
            digests.append(digest([layer(x[:m]), out32]))
            paths.append(_linearc._gemm_plan(m, n, k, name, 1)["path"])
    return {"isa": linearc.get_config()["isa"], "paths": paths, "digests": digests}


def report() -> dict:
    digests, paths = [], []
    try:
        for name, threads, layer, x, g in all_cases():
            linearc.set_num_threads(threads)
            digests.append(digest(products(layer, x, g)))
            m, k = x.shape
            paths.append(_linearc._gemm_plan(m, layer.out_features, k, name, threads)["path"])
    finally:
        linearc.set_num_threads(None)
    return {"isa": linearc.get_config()["isa"], "paths": paths, "digests": digests}


if __name__ == "__main__":
    print(json.dumps(rows_report() if sys.argv[1:] == ["rows"] else report()))
