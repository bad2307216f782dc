"""Reference and memory leaks: every call path, successful or failing, must
leave reference counts where they were, and memory must not grow with the
number of calls.

Reference counts are exact (CPython's are deterministic); memory checks allow
a small constant slack for allocator noise, never an amount proportional to
the number of calls.

Neighbours: what the failing calls raise is in test_errors.py; memory that
must not be corrupted (gradients, misaligned arrays, huge shapes) in
test_robustness.py.
"""
from __future__ import annotations

import copy
import gc
import json
import os
import pickle
import sys
import threading
import tracemalloc

import numpy as np
import pytest

import linearc
from linearc import Linear
from linearc import _linearc
from linearc._linearc import _workspace_bytes

from conftest import run_python

HERE = os.path.dirname(os.path.abspath(__file__))

N_CALLS = 500
MiB = 1 << 20


def refcounts(*objs):
    return [sys.getrefcount(o) for o in objs]


def shared_objects(layer):
    """Objects a leaked reference would most likely land on: the layer, its
    type, its dtype singleton and the ndarray type."""
    return [layer, type(layer), np.dtype(layer.dtype), np.ndarray]


def assert_flat(objs, action, n=N_CALLS):
    """Run action n times; the reference count of every obj must not move."""
    action()  # warm up caches (e.g. the first conversion creates a descr)
    gc.collect()
    before = refcounts(*objs)
    for _ in range(n):
        action()
    gc.collect()
    after = refcounts(*objs)
    assert after == before, [
        (type(o).__name__, b, a) for o, b, a in zip(objs, before, after) if a != b]


def expect_error(exc, func, *args, **kwargs):
    """A callable that runs func and swallows exactly the expected error."""
    def run():
        try:
            func(*args, **kwargs)
        except exc:
            return
        raise AssertionError(f"{func} did not raise {exc.__name__}")
    return run


@pytest.fixture(params=[3, 40], ids=["direct", "blocked"])
def rows(request):
    return request.param


def test_forward_refcounts(dtype, rows, rng):
    layer = Linear(16, 5, dtype=dtype, seed=0)
    x = rng.standard_normal((rows, 16)).astype(dtype)
    x_other = x.astype(np.float16)            # converted on the way in
    x_strided = np.repeat(x, 2, axis=1)[:, ::2]  # copied/packed with gaps
    x_list = x.tolist()
    out = np.empty((rows, 5), dtype)
    objs = shared_objects(layer) + [x, x_other, x_strided, x_list, out]

    def calls():
        layer(x)
        layer(x, out=out)
        layer.forward(x_other, out=out)
        layer(x_strided)
        layer(x_list)
        linearc.linear(x, layer.weight, layer.bias, out=out)
    assert_flat(objs, calls)


def test_result_holds_no_extra_references(dtype, rng):
    layer = Linear(16, 5, dtype=dtype)
    x = rng.standard_normal((10, 16)).astype(dtype)
    y = layer(x)
    # 2 = the name y + getrefcount's argument: nobody else holds the result.
    assert sys.getrefcount(y) == 2
    out = np.empty((10, 5), dtype)
    before = sys.getrefcount(out)
    y = layer(x, out=out)
    assert y is out
    assert sys.getrefcount(out) == before + 1  # the new name y only
    del y
    assert sys.getrefcount(out) == before


def test_failing_forward_refcounts(dtype, rng):
    layer = Linear(16, 5, dtype=dtype)
    x = rng.standard_normal((12, 16)).astype(dtype)
    x_wrong = np.ones((12, 15), dtype)
    x_complex = x.astype(complex)
    other = np.float64 if dtype == np.float32 else np.float32
    out_dtype = np.empty((12, 5), other)
    out_shape = np.empty((12, 6), dtype)
    out_ro = np.empty((12, 5), dtype)
    out_ro.flags.writeable = False
    out_list = [[0.0] * 5] * 12
    x_masked = np.ma.array(x)
    objs = shared_objects(layer) + [x, x_wrong, x_complex, out_dtype,
                                    out_shape, out_ro, out_list, x_masked]

    def calls():
        expect_error(ValueError, layer, x_wrong)()
        expect_error(ValueError, layer, np.float32(1.0))()
        expect_error(TypeError, layer, x_complex)()
        expect_error(TypeError, layer, None)()
        expect_error(TypeError, layer, "abc")()
        expect_error(TypeError, layer, x_masked)()
        expect_error(TypeError, layer, x, out=out_dtype)()
        expect_error(ValueError, layer, x, out=out_shape)()
        expect_error(ValueError, layer, x, out=out_ro)()
        expect_error(TypeError, layer, x, out=out_list)()
        expect_error(TypeError, layer, x, bogus=1)()
        expect_error(ValueError, layer.macs, (3, 15))()
        expect_error(TypeError, linearc.linear, x, x_complex)()
    assert_flat(objs, calls)


def test_backward_refcounts(dtype, rows, rng):
    layer = Linear(16, 5, dtype=dtype)
    x = rng.standard_normal((rows, 16)).astype(dtype)
    grad = rng.standard_normal((rows, 5)).astype(dtype)
    grad_wrong = np.ones((rows + 1, 5), dtype)
    objs = shared_objects(layer) + [x, grad, grad_wrong]

    def calls():
        layer.backward(x, grad)
        expect_error(ValueError, layer.backward, x, grad_wrong)()
        expect_error(TypeError, layer.backward, x, grad.astype(complex))()
        layer.weight_grad, layer.bias_grad  # fresh views, dropped at once
        layer.zero_grad()
    assert_flat(objs, calls)


def test_parameter_access_refcounts(dtype):
    layer = Linear(8, 4, dtype=dtype)
    new_w = np.ones((4, 8))
    new_b = np.ones(4)
    masked = np.ma.array(new_w)
    objs = shared_objects(layer) + [new_w, new_b, masked]

    def calls():
        layer.weight, layer.bias, layer.parameters(), layer.named_parameters()
        layer.weight = new_w
        layer.bias = new_b
        expect_error(ValueError, setattr, layer, "weight", new_b)()
        expect_error(ValueError, setattr, layer, "bias", None)()
        expect_error(TypeError, setattr, layer, "weight", None)()
        expect_error(TypeError, setattr, layer, "weight", masked)()
        repr(layer), layer.in_features, layer.dtype, layer.num_parameters
        layer.reset_parameters(seed=3)
    assert_flat(objs, calls)


def test_state_dict_refcounts(dtype):
    layer = Linear(8, 4, dtype=dtype)
    state = layer.state_dict()
    junk = {"weight": "abc", "bias": np.zeros(4)}
    wrong_shape = {"weight": np.zeros((8, 4)), "bias": np.zeros(4)}
    missing = {"weight": state["weight"]}
    objs = shared_objects(layer) + [state, state["weight"], state["bias"],
                                    junk, junk["bias"], wrong_shape,
                                    wrong_shape["weight"], missing]

    def calls():
        layer.state_dict()
        layer.load_state_dict(state)
        expect_error(TypeError, layer.load_state_dict, junk)()
        expect_error(ValueError, layer.load_state_dict, wrong_shape)()
        expect_error(KeyError, layer.load_state_dict, missing)()
        expect_error(TypeError, layer.load_state_dict, None)()
    assert_flat(objs, calls)


def test_pickle_and_copy_refcounts(dtype):
    layer = Linear(8, 4, dtype=dtype)
    data = pickle.dumps(layer)

    def calls():
        pickle.loads(pickle.dumps(layer))
        copy.deepcopy(layer)
        copy.copy(layer)
        layer.__reduce__()
    # The type's count would climb if copies were never freed.
    assert_flat(shared_objects(layer) + [data], calls)


def test_layers_are_freed(dtype):
    probe = Linear(1, 1, dtype=dtype)
    layer_type = type(probe)

    def calls():
        layer = Linear(32, 16, dtype=dtype)
        layer(np.ones((3, 32), dtype))
        w = layer.weight  # a view keeps the layer alive until it goes
        del layer
        w.sum()
    assert_flat([layer_type, np.dtype(dtype)], calls)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_big_layers_release_their_buffers():
    # Weights live in C buffers tracemalloc cannot see: check the RSS.
    # Each round holds 3 x 4 MiB (weight, weight_grad, a copy): 50 leaked
    # rounds would be 600 MiB. Allocators keep some of what is freed (glibc's
    # arenas; AddressSanitizer's quarantine holds up to 256 MiB of it), and
    # that growth stops once they are full, so the first 50 rounds fill
    # them and the next 50 must not grow beyond the slack: a leak grows
    # the same in both.
    x = np.ones((4, 1024), np.float32)
    g = np.ones((4, 1024), np.float32)

    def rounds(n):
        for _ in range(n):
            layer = Linear(1024, 1024, seed=0)
            layer.backward(x, g)
            copy.deepcopy(layer)
            del layer
        gc.collect()

    rounds(50)
    before = rss_bytes()
    rounds(50)
    growth = rss_bytes() - before
    assert growth < 64 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"


def test_tracemalloc_flat_over_many_calls(dtype, rng):
    layer = Linear(8, 4, dtype=dtype)
    x = rng.standard_normal((2, 8)).astype(dtype)
    x_bad = np.ones((2, 7), dtype)
    out = np.empty((2, 4), dtype)
    grad = np.ones((2, 4), dtype)

    def burst(n):
        for _ in range(n):
            layer(x)
            layer(x, out=out)
            try:
                layer(x_bad)
            except ValueError:
                pass
        for _ in range(n // 10):
            layer.backward(x, grad)
            layer.state_dict()

    tracemalloc.start()
    try:
        burst(2000)  # warm-up: interned objects, free lists, caches
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        burst(20000)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert growth < 64 * 1024, f"traced memory grew by {growth} bytes"


# Shapes (rows, in, out) that push the packing-buffer pool in every
# direction: big K, big N, many rows, the direct path with a copied x.
WORKSPACE_SHAPES = [
    (1, 100_000, 8),      # direct path, long K
    (6, 50_000, 8),
    (8, 2_000, 3_000),    # direct path, wide N, threaded
    (64, 3_000, 300),     # blocked, K over many KC blocks
    (40, 64, 9_000),      # blocked, N beyond NC
    (5_000, 64, 64),      # blocked, many rows
    (300, 300, 300),
]


def run_workspace_shapes(rng):
    for dtype in (np.float32, np.float64):
        for m, k, n in WORKSPACE_SHAPES:
            layer = Linear(k, n, dtype=dtype, seed=0)
            x = rng.standard_normal((m, k)).astype(dtype)
            layer(x)
            layer(x[:, ::-1])  # strided: read in place by broadcasts
            layer(x.astype(np.float16))  # converted while packing


def workspace_pool_sizes():
    """In a fresh interpreter (an empty pool, whatever earlier tests left
    in this one): the pool's size before, after the shapes on 1 and on 2
    threads, and after running them twice more."""
    rng = np.random.default_rng(0)
    sizes = [_workspace_bytes()]
    for n in (1, 2):
        linearc.set_num_threads(n)
        run_workspace_shapes(rng)
        sizes.append(_workspace_bytes())
    for _ in range(2):
        run_workspace_shapes(rng)
    sizes.append(_workspace_bytes())
    print(json.dumps(sizes))


def test_workspace_pool_is_bounded():
    code = (f"import sys; sys.path.insert(0, {HERE!r}); import test_leaks; "
            "test_leaks.workspace_pool_sizes()")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    initial, one, two, again = json.loads(proc.stdout.splitlines()[-1])
    assert initial == 0
    assert 0 < one <= two <= 64 * MiB, (one, two)
    # Reusing the same sizes reuses the same buffers.
    assert again == two


def test_workspace_pool_bounded_under_concurrent_callers(rng):
    # Each concurrent caller takes its own buffers from the pool; the pool
    # is bounded by the peak concurrency, not the number of calls.
    layer = Linear(512, 512, seed=0)
    x = rng.standard_normal((256, 512)).astype(np.float32)
    expected = layer(x)
    initial = _workspace_bytes()
    errors = []

    def worker():
        for _ in range(20):
            if layer(x).tobytes() != expected.tobytes():
                errors.append("mismatch")

    for _ in range(2):
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "worker hung"
    assert not errors
    # At most 4 callers x 2 OpenMP threads x one blocked workspace (~4.4 MiB)
    # on top of what was pooled before.
    assert _workspace_bytes() - initial <= 40 * MiB


# --- the result cache -----------------------------------------------------------

def test_big_results_reuse_memory_and_the_cache_is_bounded():
    """A loop of big calls reuses one buffer (no fresh pages to fault in);
    results kept alive are never reused; the cache stays within its limits
    (4 buffers, 1 GiB: csrc/workspace.h)."""
    layer = Linear(64, 4096, seed=0)
    x = np.ones((512, 64), np.float32)          # an 8 MiB result
    first = layer(x)
    address = first.__array_interface__["data"][0]
    kept = layer(x)
    assert kept.__array_interface__["data"][0] != address  # first is alive
    del first
    again = layer(x)
    assert again.__array_interface__["data"][0] == address
    np.testing.assert_array_equal(again, kept)
    del again, kept
    results = [layer(np.ones((rows, 64), np.float32)) for rows in range(300, 800, 50)]
    del results
    assert 0 < _linearc._result_cache_bytes() <= 4 * (800 * 4096 * 4 + (4 << 20))
