"""The half-precision section (--half, or --sections half): linearc's
float16 and bfloat16 layers (float32 chains, issue 21) against linearc's
float32 layer on the same shapes, NumPy's float16 matmul, ml_dtypes'
bfloat16 matmul and torch's float16 and bfloat16 nn.Linear (under no_grad).

Every contender computes x @ W.T + b from the same float32 draws, rounded
to its type; each result is checked before timing against the float64
reference of the values it multiplies, within the bound the tests use for
half results (the float32 chain's K-scaled bound plus the final rounding to
the half type; tests/test_half.py). A linearc layer outside it is reported
as wrong and not timed; another contender outside it (NumPy's float16
matmul, which accumulates in float16) is timed all the same and marked. Contenders are timed in the interleaved, rotated rounds of
timing.time_rounds (a settle sleep before each burst lets the others'
threads stop spinning); one whose checked call took longer than
SLOW_CALL_S is not timed again: that one call is its time (marked "1
call"). NumPy's float16 matmul has no BLAS behind it and runs on one
thread; ml_dtypes' bfloat16 matmul returns float32 (it widens and calls
the float32 BLAS, on the BLAS's threads, limited to the bench's count).

Ratios: "float16/float32" is linearc float16's GFLOP/s over linearc
float32's (> 1: the half layer is faster); "<other>/linearc" is the other's
time over linearc's of the same half type (> 1: linearc is faster).
"""
from __future__ import annotations

import time

import numpy as np

from . import tables
from .cases import HALF_CASES
from .timing import make_loop, time_rounds

# one checked call slower than this is the contender's only timed call
SLOW_CALL_S = 3.0
# the float64 reference of a check covers at most this many rows (rows are
# independent)
CHECK_ROWS = 256

LINEARC = ("linearc float32", "linearc float16", "linearc bfloat16")
OTHERS = ("numpy float16", "ml_dtypes bfloat16", "torch float16", "torch bfloat16")
# (other, the linearc contender it is compared with)
RIVALS = (("numpy float16", "linearc float16"), ("torch float16", "linearc float16"),
          ("ml_dtypes bfloat16", "linearc bfloat16"), ("torch bfloat16", "linearc bfloat16"))


def _bf16():
    import ml_dtypes
    return np.dtype(ml_dtypes.bfloat16)


def half_tolerance(x, w, b, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(float64 reference, bound) of x @ w.T + b for a result of the half
    type dtype computed in float32 chains (or float32 for dtype float32)."""
    from linearc._accuracy import reference, tolerance
    import ml_dtypes
    x32, w32 = np.asarray(x).astype(np.float32), np.asarray(w).astype(np.float32)
    b32 = None if b is None else np.asarray(b).astype(np.float32)
    y64 = reference(x32, w32, b32, np.float32)
    chain = tolerance(x32, w32, b32, np.float32)
    if np.dtype(dtype) == np.float32:
        return y64, chain
    info = ml_dtypes.finfo(dtype)
    u = 2.0 ** -(int(info.nmant) + 1)
    return y64, chain + u * (np.abs(y64) + chain) + float(info.smallest_subnormal) / 2


def _check(y, x, w, b, dtype) -> str | None:
    y = np.asarray(y)
    if y.shape != (x.shape[0], w.shape[0]):
        return f"shape {y.shape}"
    rows = min(CHECK_ROWS, x.shape[0])
    y64, tol = half_tolerance(x[:rows], w, b, dtype)
    got = y[:rows].astype(np.float64)
    bad = ~(np.abs(got - y64) <= tol)
    if not bad.any():
        return None
    i = tuple(int(v) for v in np.argwhere(bad)[0])
    return (f"{int(bad.sum())} of {bad.size} elements outside the bound; first at {i}: "
            f"{got[i]:.6g} vs {y64[i]:.6g} (tolerance {tol[i]:.3g})")


def _torch_tensor(torch, a):
    a = np.ascontiguousarray(a)
    if a.dtype == _bf16():
        return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(a.copy())


def _from_torch(torch, t):
    t = t.detach()
    return t.float().numpy()


def _contenders(case, linearc, torch, seed=0) -> dict:
    """{name: (statement, namespace, input dtype, to_numpy) or an error}."""
    m, k, n = case.rows, case.in_features, case.out_features
    rng = np.random.default_rng(seed)
    x32 = rng.uniform(-1.0, 1.0, (m, k)).astype(np.float32)
    w32 = rng.uniform(-1.0, 1.0, (n, k)).astype(np.float32) / np.float32(np.sqrt(k))
    b32 = rng.uniform(-1.0, 1.0, n).astype(np.float32)
    types = {"float32": np.dtype(np.float32), "float16": np.dtype(np.float16),
             "bfloat16": _bf16()}
    out = {}
    for name in LINEARC:
        t = name.split()[1]
        try:
            layer = linearc.Linear(k, n, dtype=t, seed=seed)
            layer.weight[...] = w32.astype(types[t])
            layer.bias[...] = b32.astype(types[t])
        except Exception as e:  # noqa: BLE001 (a linearc without half layers)
            out[name] = f"raised {type(e).__name__}: {e}"
            continue
        out[name] = ("_y = layer(x)", {"layer": layer, "x": x32.astype(types[t])},
                     types[t], np.asarray)
    for name, t in (("numpy float16", "float16"), ("ml_dtypes bfloat16", "bfloat16")):
        dt = types[t]
        out[name] = ("_y = x @ WT + b", {"x": x32.astype(dt), "WT": w32.astype(dt).T,
                                         "b": b32.astype(dt)}, dt, np.asarray)
    for name, t in (("torch float16", "float16"), ("torch bfloat16", "bfloat16")):
        if torch is None:
            out[name] = "torch not installed"
            continue
        dt = types[t]
        lin = torch.nn.Linear(k, n, dtype=getattr(torch, t))
        with torch.no_grad():
            lin.weight.copy_(_torch_tensor(torch, w32.astype(dt)))
            lin.bias.copy_(_torch_tensor(torch, b32.astype(dt)))
        out[name] = ("_y = lin(tx)", {"lin": lin, "tx": _torch_tensor(torch, x32.astype(dt))},
                     dt, lambda v, torch=torch: _from_torch(torch, v))
    refs = {dt: (x32.astype(dt), w32.astype(dt), b32.astype(dt)) for dt in types.values()}
    return {"contenders": out, "operands": refs}


def half_case(case, linearc, torch, budget) -> dict:
    made = _contenders(case, linearc, torch)
    results, loops, outside = {}, {}, {}
    for name, c in made["contenders"].items():
        if isinstance(c, str):
            results[name] = {"wrong": c}
            print(f"WRONG {name} on {case.name}: {c}", flush=True)
            continue
        stmt, ns, dt, to_numpy = c
        scope = dict(ns)
        started = time.perf_counter()
        try:
            exec(stmt, scope)  # noqa: S102 (the bench's own statements)
        except Exception as e:  # noqa: BLE001 (a contender that raises is wrong)
            results[name] = {"wrong": f"raised {type(e).__name__}: {e}"}
            print(f"WRONG {name} on {case.name}: {results[name]['wrong']}", flush=True)
            continue
        took = time.perf_counter() - started
        x, w, b = made["operands"][dt]
        wrong = _check(to_numpy(scope["_y"]), x, w, b, dt)
        if wrong and name in LINEARC:
            results[name] = {"wrong": wrong}
            print(f"WRONG {name} on {case.name}: {wrong}", flush=True)
            continue
        if wrong:  # timed all the same, and marked: it is what people use
            print(f"OUTSIDE THE BOUND {name} on {case.name}: {wrong}", flush=True)
        if took > SLOW_CALL_S:
            results[name] = {"median_s": took, "min_s": took, "samples_s": [took],
                             "inner": 1, "single_call": True}
        else:
            loops[name] = make_loop(stmt, ns)
        if wrong:
            outside[name] = wrong
    with _no_grad(torch):
        results.update(time_rounds(loops, budget))
    for name, message in outside.items():
        results[name]["outside_bound"] = message
    for v in results.values():
        if "median_s" in v:
            v["gflops"] = case.flops / v["median_s"] / 1e9
    return {"case": case.name, "shape": list(case.input_shape),
            "out_features": case.out_features, "flops": case.flops,
            "results": results, "ratios": _ratios(results)}


def _no_grad(torch):
    import contextlib
    return torch.no_grad() if torch is not None else contextlib.nullcontext()


def _ratios(results: dict) -> dict:
    def t(name):
        return results.get(name, {}).get("median_s")
    out = {}
    for half in ("float16", "bfloat16"):
        if t(f"linearc {half}") and t("linearc float32"):
            out[f"{half}/float32"] = t("linearc float32") / t(f"linearc {half}")
    for other, ours in RIVALS:
        if t(other) and t(ours):
            out[f"{other}/{ours}"] = t(other) / t(ours)
    return out


def run_half(bench) -> list[dict]:
    try:
        import torch
        torch.set_num_threads(bench.threads)
    except ImportError:
        torch = None
    limits = None
    try:  # ml_dtypes' bfloat16 matmul runs on the float32 BLAS
        import threadpoolctl
        limits = threadpoolctl.threadpool_limits(bench.threads, user_api="blas")
    except ImportError:
        pass
    table = tables.half(bench.cpu)
    print("\n" + "\n".join(table.header()), flush=True)
    rows = []
    try:
        for case in HALF_CASES:
            rows.append(half_case(case, bench.linearc, torch, bench.budget))
            print(table.line(rows[-1]), flush=True)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return rows
