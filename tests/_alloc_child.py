"""Run by tests/test_alloc_failures.py under LD_PRELOAD=<_alloc_shim.so>: for
each scenario, make the n-th allocation of one call fail, for n = 1, 2, 3, ...
until the call no longer reaches an n-th allocation, and check what each
failing call leaves behind: a MemoryError, and the layer (parameters, both
gradients: the same arrays with the same bytes) and `out=` exactly as they
were. A call that succeeds despite a failed allocation (one with a fallback)
must give the bits of a call without failures. Prints one line per scenario:
"<name> <allocations walked> <calls that failed>"."""
from __future__ import annotations

import ctypes
import sys

import numpy as np

import linearc

SHIM = ctypes.CDLL(None)
SHIM.shim_fail_nth.argtypes = [ctypes.c_long]
SHIM.shim_counted.restype = ctypes.c_long
MAX_ALLOCATIONS = 400


def snapshot(layer):
    """Parameters by value; gradients by value and identity (the arrays the
    layer holds must be the same objects as before)."""
    def describe(a, identity):
        return None if a is None else (identity and id(a), a.dtype.str, a.shape, a.tobytes())
    return {name: describe(getattr(layer, name), name.endswith("_grad"))
            for name in ("weight", "bias", "weight_grad", "bias_grad")}


def walk(name, setup, call):
    """setup() -> state, fresh for each n, with "snap": what a failed call must
    leave alone; call(state) makes the call (nothing else: the allocations
    counted are the call's) and returns a function giving the bytes of its
    result and of what it changed, run once the shim is disarmed. The calls
    without failures come last, so that buffers linearc keeps for reuse are
    first allocated (and failed) inside the walk."""
    failures, results = 0, []
    for n in range(1, MAX_ALLOCATIONS):
        state = setup()
        before = state["snap"]()
        SHIM.shim_fail_nth(n)
        try:
            result = call(state)
            error = None
        except MemoryError as e:
            result, error = None, e
        finally:
            SHIM.shim_fail_nth(0)
        reached = SHIM.shim_counted() >= n
        if error is None:
            results.append(result())
            if not reached:
                break
        else:
            failures += 1
            after = state["snap"]()
            assert after == before, f"{name}: allocation {n} failed ({error}) and changed the state"
    else:
        raise AssertionError(f"{name}: more than {MAX_ALLOCATIONS} allocations")
    expected = call(setup())()
    assert all(r == expected for r in results), f"{name}: a call that succeeded was wrong"
    print(name, n - 1, failures)


def backward_scenario(k, n, rows, dtype, bias, grads, x_dtype=None, threads=1):
    """grads: "none" (no gradient yet), "kept" (the sum continues in the
    arrays handed out) or "replaced" (the user made weight_grad read-only and
    reshaped bias_grad, so the layer continues in new arrays)."""
    rng = np.random.default_rng(k * n + rows[0])
    x = rng.standard_normal(rows + (k,)).astype(x_dtype or dtype)
    g = rng.standard_normal(rows + (n,)).astype(dtype)

    def setup():
        layer = linearc.Linear(k, n, bias=bias, dtype=dtype, seed=1)
        if grads != "none":
            layer.backward(x, g)
        if grads == "replaced":
            layer.weight_grad.flags.writeable = False
            if bias:
                layer.bias_grad.shape = (1, n)
        linearc.set_num_threads(threads)
        return {"layer": layer, "snap": lambda: snapshot(layer)}

    def call(state):
        layer = state["layer"]
        gi = layer.backward(x, g)
        return lambda: (gi.tobytes(), layer.weight_grad.tobytes(),
                        None if layer.bias_grad is None else layer.bias_grad.tobytes())
    return setup, call


def forward_scenario(k, n, rows, dtype, x_dtype=None, threads=1, misaligned_out=False):
    """misaligned_out: the result is computed aside and copied in."""
    rng = np.random.default_rng(k + n + rows)
    x = rng.standard_normal((rows, k)).astype(x_dtype or dtype)
    layer = linearc.Linear(k, n, dtype=dtype, seed=2)
    size = np.dtype(dtype).itemsize

    def setup():
        if misaligned_out:
            out = np.frombuffer(bytearray(rows * n * size + 1), dtype, rows * n, 1)
            out = out.reshape(rows, n)
        else:
            out = np.empty((rows, n), dtype)
        out[...] = 7.0
        linearc.set_num_threads(threads)
        return {"out": out, "snap": lambda: (snapshot(layer), out.tobytes())}

    def call(state):
        y = layer(x, out=state["out"])
        return lambda: (y is state["out"], y.tobytes())
    return setup, call


def main() -> None:
    # Start OpenMP's pool first: libgomp treats a failed allocation of its
    # own as fatal, and once the pool exists a region allocates nothing.
    # Two rows through a wide layer: a parallel product on the direct path,
    # which takes no packing buffer (those are first taken inside the walk).
    linearc.set_num_threads(2)
    linearc.Linear(1024, 1024, seed=0)(np.ones((2, 1024), np.float32))
    scenarios = {}
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        for grads in ("none", "kept", "replaced"):
            scenarios[f"backward-small-{d}-{grads}"] = backward_scenario(
                100, 3, (5,), dtype, True, grads)
            scenarios[f"backward-blocked-{d}-{grads}"] = backward_scenario(
                300, 200, (4, 100), dtype, True, grads, threads=2)
        scenarios[f"backward-nobias-{d}"] = backward_scenario(64, 70, (300,), dtype, False, "kept")
        scenarios[f"backward-converted-{d}"] = backward_scenario(
            50, 40, (2, 30), dtype, True, "none",
            x_dtype=np.float64 if dtype == np.float32 else np.float32, threads=2)
        scenarios[f"forward-direct-{d}"] = forward_scenario(100, 30, 7, dtype)
        scenarios[f"forward-blocked-{d}"] = forward_scenario(300, 300, 400, dtype, threads=2)
        scenarios[f"forward-converted-{d}"] = forward_scenario(
            300, 100, 20, dtype, x_dtype=np.int64, misaligned_out=True)
    only = sys.argv[1:]
    for name, (setup, call) in scenarios.items():
        if not only or name in only:
            walk(name, setup, call)


if __name__ == "__main__":
    main()
