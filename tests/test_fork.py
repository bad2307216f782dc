"""linearc in child processes: after fork() (libgomp's thread pool does not
survive it, and neither the workspace pool's lock nor a layer's gradient
lock may be inherited taken), after torch started libgomp's pool, and with
the "spawn" and "forkserver" start methods. A fork child runs linearc on one
thread; spawn and forkserver children use threads as usual.

Every wait has a timeout, so a deadlocked child fails the test instead of
stalling the suite; children are killed on timeout.

Neighbours: thread counts and OpenMP settings within one process are in
test_threads.py and test_threadpool.py; other crash and hang reproducers in
test_robustness.py.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading

import numpy as np
import pytest

import linearc
from linearc._linearc import _build_config, _gemm_path

from conftest import assert_linear_close, requires_openmp, run_python

# The helpers must be importable by name in a spawned child, which inherits
# the parent's sys.path: make sure this directory is on it.
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import _fork_helpers  # noqa: E402

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")

TIMEOUT = 60

# (rows, in, out, dtype, seed): one blocked problem big enough to run on two
# threads, one few-rows problem on the direct path with W split across threads,
# and a small serial one.
BLOCKED = (512, 512, 512)
DIRECT = (4, 512, 512)
SMALL = (3, 10, 7)


def problems(dtype):
    return [shape + (dtype, seed) for seed, shape in enumerate([BLOCKED, DIRECT, SMALL])]


@pytest.fixture
def two_threads(restore_threads):
    linearc.set_num_threads(2)


def run_child(method, probs, threads=None):
    """Compute probs in a child started with `method` (after
    set_num_threads(threads) there, if given); return its results and its
    get_num_threads()."""
    ctx = multiprocessing.get_context(method)
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_fork_helpers.child_main,
                       args=(child_conn, probs, threads))
    proc.start()
    child_conn.close()
    try:
        if not parent_conn.poll(TIMEOUT):
            raise AssertionError(
                f"{method} child sent nothing in {TIMEOUT} s "
                f"(alive={proc.is_alive()}, exitcode={proc.exitcode})")
        reply = parent_conn.recv()
        proc.join(TIMEOUT)
        assert not proc.is_alive(), f"{method} child did not exit"
        assert proc.exitcode == 0, f"{method} child exit code {proc.exitcode}"
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        parent_conn.close()
    assert reply[0] == "ok", reply
    return reply[1], reply[2]


def check_same(child_results, parent_results, probs):
    for got, want, prob in zip(child_results, parent_results, probs):
        # Results are bit-identical for 1 vs 2 threads on one path.
        assert got.dtype == want.dtype and got.shape == want.shape, prob
        assert got.tobytes() == want.tobytes(), f"child differs for {prob}"
        layer, x = _fork_helpers.make_problem(*prob)
        assert_linear_close(got, x, layer.weight, layer.bias)


@requires_openmp
def test_problems_take_the_intended_paths(dtype):
    # Guards the premise of the other tests: the parent really runs the
    # blocked and the direct path on 2 threads before forking.
    m, k, n = BLOCKED
    assert _gemm_path(m, n, k, dtype, 2) == ("blocked", 2)
    m, k, n = DIRECT
    assert _gemm_path(m, n, k, dtype, 2) == ("direct", 2)


@pytest.mark.parametrize("child_threads", [None, 2], ids=["default", "ask-2"])
def test_fork_after_threaded_gemm(dtype, two_threads, child_threads):
    probs = problems(dtype)
    parent = _fork_helpers.compute(probs)  # OpenMP pool now has 2 threads
    child, threads = run_child("fork", probs, child_threads)
    check_same(child, parent, probs)
    assert threads == 1  # even when the child asked for 2
    # The parent still works, on its threads, after the fork.
    again = _fork_helpers.compute(probs)
    for a, b in zip(again, parent):
        assert a.tobytes() == b.tobytes()


def test_fork_many_times(two_threads):
    probs = problems(np.float32)[1:]  # direct and small: quick
    parent = _fork_helpers.compute(probs)
    for _ in range(3):
        check_same(run_child("fork", probs)[0], parent, probs)
        _fork_helpers.compute(probs)  # parent runs in between


def test_fork_while_another_thread_computes(two_threads):
    # fork() while a second Python thread is inside the GEMM (GIL released,
    # workspace pool in use): the child must not inherit a held lock.
    layer, x = _fork_helpers.make_problem(256, 512, 512, np.float32, 99)
    expected = layer(x)
    stop = threading.Event()
    mismatches = []

    def busy():
        while not stop.is_set():
            if layer(x).tobytes() != expected.tobytes():
                mismatches.append(1)

    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    try:
        probs = problems(np.float32)
        parent = _fork_helpers.compute(probs)
        for _ in range(3):
            check_same(run_child("fork", probs)[0], parent, probs)
    finally:
        stop.set()
        worker.join(TIMEOUT)
    assert not worker.is_alive()
    assert not mismatches


def test_spawn(dtype, two_threads):
    probs = problems(dtype)
    parent = _fork_helpers.compute(probs)
    child, threads = run_child("spawn", probs, 2)
    check_same(child, parent, probs)
    # A fresh interpreter, not a fork child: the threads it asks for.
    assert threads == (2 if _build_config()["openmp"] else 1)


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(),
    reason="no forkserver")
def test_forkserver():
    probs = problems(np.float64)[1:]
    child, threads = run_child("forkserver", probs, 2)
    check_same(child, _fork_helpers.compute(probs), probs)
    assert threads == (2 if _build_config()["openmp"] else 1)


def test_fork_while_another_thread_runs_backward(two_threads):
    """fork() while another Python thread is inside backward() on the same
    layer: the child can run backward and zero_grad on that layer (the
    gradient lock is not inherited taken), 20 times over."""
    layer = linearc.Linear(512, 512, seed=5)
    x = np.ones((256, 512), np.float32)
    started, stop = threading.Event(), threading.Event()

    def busy():
        while not stop.is_set():
            layer.backward(x, x)
            started.set()

    def in_child():
        layer.backward(x, x)
        layer.zero_grad()
        layer.backward(x, x)
        # One call since zero_grad: 256 rows of ones, exactly.
        assert (layer.weight_grad == 256).all()
        assert (layer.bias_grad == 256).all()

    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    try:
        assert started.wait(TIMEOUT)
        statuses = [_fork_helpers.run_forked(in_child, TIMEOUT)
                    for _ in range(20)]
    finally:
        stop.set()
        worker.join(TIMEOUT)
    assert not worker.is_alive()
    # None: a child still running after TIMEOUT (deadlocked), then killed.
    assert statuses == [0] * 20


def test_fork_after_torch_started_libgomp_pool():
    """torch runs a matmul (libgomp's pool is up), the process forks, and
    the child's forward finishes with the right result on one thread. In a
    fresh interpreter: this process has long used the pool."""
    pytest.importorskip("torch")
    code = (f"import sys; sys.path.insert(0, {HERE!r}); "
            "import linearc, torch, _fork_helpers; "
            f"_fork_helpers.torch_pool_then_fork({TIMEOUT})")
    proc = run_python(code, timeout=2 * TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["child", "exit", "0"], (proc.stdout,
                                                           proc.stderr)
