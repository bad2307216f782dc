"""Threading: OpenMP thread count does not change a single bit, one layer
can be shared by many Python threads, and set_num_threads() takes every
valid count (1 to _build_config()["max_threads"], NumPy integers, None).

Neighbours: set_num_threads()'s errors are in test_errors.py; OpenMP's
settings, threadpoolctl and torch in test_threadpool.py; children after
fork() in test_fork.py; bit-identity per GEMM edge in test_gemm_edges.py.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import linearc
from linearc import _linearc
from conftest import assert_linear_close, expected_path, requires_openmp


# Every test gives the thread setting back to OpenMP when it is done.
pytestmark = pytest.mark.usefixtures("restore_threads")
CONFIG = _linearc._build_config()

# The planner's limits, from the extension (they depend on the ISA chosen at
# import: LINEARC_ISA=avx2 and generic have other tiles and limits).
F32 = CONFIG["float32"]
DIRECT_ROWS = F32["direct_rows"]  # the most rows the direct path takes
DIRECT_COLS = F32["direct_cols"]  # any rows, if the output is this narrow

# (rows, in_features, out_features, the path it takes in float32). "direct":
# at most direct_rows rows, or a single tile of columns; nothing packed, W.T
# split over N (or, with one column tile, the rows split). "blocked": tall M
# (each thread its own rows) and few rows past direct_rows with wide N (A
# shared, tiles split in two dimensions), plus shapes past the tile edges.
# Placed around the limits read above, so each shape takes its path under
# every ISA; the same shapes in both dtypes (float64 has its own limits:
# the test asks conftest.expected_path, which reads them too).
SHAPES = [
    (1, 1024, 2048, "direct"),
    (8, 2000, 1000, "direct"),
    (5, 257, 4099, "direct"),
    (min(40, DIRECT_ROWS), 513, 4200, "direct"),
    (max(1, DIRECT_ROWS - 15), 513, 257, "direct"),
    (3001, 257, DIRECT_COLS // 2 + 1, "direct"),
    (2000, 300, 2 * DIRECT_COLS + 2, "blocked"),
    (DIRECT_ROWS + 1, 300, 3000, "blocked"),
    (DIRECT_ROWS + 44, 513, 4200, "blocked"),
    (max(400, DIRECT_ROWS + 1), 600, 500, "blocked"),
]


def _inputs(rows, k, n, dtype, seed):
    rng = np.random.default_rng(seed)
    layer = linearc.Linear(k, n, dtype=dtype, seed=seed)
    x = rng.standard_normal((rows, k)).astype(dtype)
    return layer, x


@requires_openmp
@pytest.mark.parametrize("rows,k,n,path", SHAPES)
def test_one_vs_two_threads_bit_identical(rows, k, n, path, dtype):
    layer, x = _inputs(rows, k, n, dtype, seed=rows + k + n)
    # The shape really takes the documented path, and really uses 2 threads
    # when allowed (otherwise the comparison would prove nothing).
    assert expected_path(rows, n, k, np.float32) == path
    want = expected_path(rows, n, k, dtype)
    assert _linearc._gemm_path(rows, n, k, np.dtype(dtype), 1) == (want, 1)
    assert _linearc._gemm_path(rows, n, k, np.dtype(dtype), 2) == (want, 2)

    linearc.set_num_threads(1)
    y1 = layer(x)
    linearc.set_num_threads(2)
    y2 = layer(x)
    y2_again = layer(x)
    assert_linear_close(y1, x, layer.weight, layer.bias, dtype)
    np.testing.assert_array_equal(y1.view(np.uint8), y2.view(np.uint8))
    np.testing.assert_array_equal(y2.view(np.uint8), y2_again.view(np.uint8))


@pytest.mark.parametrize("rows,k,n,path", SHAPES[::3])
def test_repeated_calls_bit_identical(rows, k, n, path, dtype):
    layer, x = _inputs(rows, k, n, dtype, seed=1)
    first = layer(x)
    out = np.empty_like(first)
    for _ in range(3):
        np.testing.assert_array_equal(layer(x).view(np.uint8),
                                      first.view(np.uint8))
        layer(x, out=out)
        np.testing.assert_array_equal(out.view(np.uint8),
                                      first.view(np.uint8))


@requires_openmp
def test_functional_one_vs_two_threads(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 280)).astype(dtype)
    w = rng.standard_normal((700, 280)).astype(dtype)
    b = rng.standard_normal(700).astype(dtype)
    # Two threads really split this one.
    assert _linearc._gemm_path(300, 700, 280, np.dtype(dtype), 2) == (
        expected_path(300, 700, 280, dtype), 2)
    linearc.set_num_threads(1)
    y1 = linearc.linear(x, w, b)
    linearc.set_num_threads(2)
    y2 = linearc.linear(x, w, b)
    np.testing.assert_array_equal(y1.view(np.uint8), y2.view(np.uint8))


# Mixed work for the concurrency tests: both paths, both split directions,
# a rank-3 input, a strided input and out=.
MIXED = [(3, 500), (40, 500), (300, 500), (1, 500), (2, 7, 500), (129, 500)]


def _run_concurrently(layer, inputs, expected, toggle):
    """8 Python threads call layer on inputs; return a list of failures."""
    n_workers = 8
    barrier = threading.Barrier(n_workers + (1 if toggle else 0))
    failures = []
    done = threading.Event()

    def worker(tid):
        try:
            barrier.wait()
            for it in range(6):
                i = (tid + it) % len(inputs)
                x = inputs[i]
                if (tid + it) % 2:
                    y = layer(x)
                else:
                    y = np.full(expected[i].shape, np.nan, layer.dtype)
                    assert layer(x, out=y) is y
                if not np.array_equal(y.view(np.uint8),
                                      expected[i].view(np.uint8)):
                    failures.append((tid, it, i))
        except Exception as exc:  # surfaced in the main thread
            failures.append((tid, repr(exc)))

    def toggler():
        barrier.wait()
        n = 1
        while not done.is_set():
            linearc.set_num_threads(n)
            n = 3 - n

    threads = [threading.Thread(target=worker, args=(t,))
               for t in range(n_workers)]
    tog = threading.Thread(target=toggler) if toggle else None
    for t in threads + ([tog] if tog else []):
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    if tog:
        tog.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "worker threads hung"
    return failures


def _mixed_inputs(dtype):
    rng = np.random.default_rng(7)
    inputs = []
    for shape in MIXED:
        x = rng.standard_normal(shape[:-1] + (2 * shape[-1],)).astype(dtype)
        # Every other input is a strided view (last axis step 2).
        inputs.append(x[..., ::2] if len(inputs) % 2 else
                      np.ascontiguousarray(x[..., :shape[-1]]))
    return inputs


@pytest.mark.parametrize("toggle", [False, True],
                         ids=["fixed_threads", "toggling_threads"])
def test_shared_layer_from_python_threads(toggle, dtype):
    layer = linearc.Linear(500, 700, dtype=dtype, seed=21)
    inputs = _mixed_inputs(dtype)
    linearc.set_num_threads(2)
    expected = [layer(x) for x in inputs]  # serial results
    for x, y in zip(inputs, expected):
        assert_linear_close(y, x, layer.weight, layer.bias, dtype)
    failures = _run_concurrently(layer, inputs, expected, toggle)
    assert not failures, failures[:5]
    # The layer itself is unchanged by all that traffic.
    for x, y in zip(inputs, expected):
        np.testing.assert_array_equal(layer(x), y)


def test_get_num_threads_honors_set():
    # A build without OpenMP accepts the setting and reports its one thread.
    for n in (1, 2, 1, 3, 2):
        assert linearc.set_num_threads(n) is None
        assert linearc.get_num_threads() == (n if CONFIG["openmp"] else 1)
        # The GEMM planner sees the same setting.
        _, used = _linearc._gemm_path(8, 4096, 512, np.dtype(np.float32), n)
        assert 1 <= used <= n


def test_set_num_threads_takes_numpy_integers():
    linearc.set_num_threads(np.int64(2))
    assert linearc.get_num_threads() == (2 if CONFIG["openmp"] else 1)
    linearc.set_num_threads(np.uint8(1))
    assert linearc.get_num_threads() == 1


@requires_openmp
def test_set_num_threads_maximum():
    most = CONFIG["max_threads"]
    linearc.set_num_threads(most)
    assert linearc.get_num_threads() == most
    # The planner may use fewer for a given problem, never more.
    _, used = _linearc._gemm_path(4096, 4096, 4096, np.dtype(np.float32),
                                  most)
    assert 1 <= used <= most


@requires_openmp
def test_set_num_threads_none_goes_back_to_openmp():
    linearc.set_num_threads(None)
    default = linearc.get_num_threads()
    linearc.set_num_threads(1 if default != 1 else 2)
    assert linearc.get_num_threads() != default
    assert linearc.set_num_threads(None) is None
    assert linearc.get_num_threads() == default


# --- threads that share their packing -------------------------------------------

THREAD_COUNTS = [1, 2, 3, 4, 8, 16]

# Blocked shapes: tall (each thread packs its own rows of A), and few rows
# past direct_rows with wide N (the team packs A's block together and splits
# the tiles in 2-D).
SHARED_PACKING = [(max(1500, 4 * DIRECT_ROWS), 700, 300), (DIRECT_ROWS + 44, 650, 2100)]


def packed_by_one_forward(layer, x):
    before = _linearc._packed_bytes()
    y = layer(x)
    return _linearc._packed_bytes() - before, y


@requires_openmp
@pytest.mark.parametrize("rows,k,n", SHARED_PACKING)
def test_packing_does_not_grow_with_threads(rows, k, n, dtype):
    """The B panel is packed once per team and A's rows once in all, so the
    bytes packed per call are the same for 1 to 16 threads (docs/design.md,
    "Threads"); and so are the results, bit for bit."""
    layer, x = _inputs(rows, k, n, dtype, seed=3)
    results = {}
    for threads in THREAD_COUNTS:
        assert _linearc._gemm_path(rows, n, k, np.dtype(dtype), threads) == \
            ("blocked", threads)
        linearc.set_num_threads(threads)
        results[threads] = packed_by_one_forward(layer, x)
    packed = {t: r[0] for t, r in results.items()}
    assert len(set(packed.values())) == 1, packed
    # The count is real: at least all of A and all of B, once.
    assert packed[1] >= (rows * k + k * n) * np.dtype(dtype).itemsize
    for threads, (_, y) in results.items():
        assert y.tobytes() == results[1][1].tobytes(), threads


@requires_openmp
def test_backward_packing_and_bits_across_threads(dtype):
    layer, x = _inputs(400, 300, 500, dtype, seed=4)
    g = np.random.default_rng(5).standard_normal((400, 500)).astype(dtype)
    seen = {}
    for threads in THREAD_COUNTS:
        linearc.set_num_threads(threads)
        layer.zero_grad()
        before = _linearc._packed_bytes()
        gi = layer.backward(x, g)
        packed = _linearc._packed_bytes() - before
        seen[threads] = (packed, gi.tobytes() + layer.weight_grad.tobytes()
                         + layer.bias_grad.tobytes())
    assert len({p for p, _ in seen.values()}) == 1, {t: p for t, (p, _) in seen.items()}
    assert len({b for _, b in seen.values()}) == 1
