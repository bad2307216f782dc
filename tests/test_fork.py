"""linearc in child processes: after fork() (libgomp's thread pool does not
survive it, and the workspace pool's lock must not be inherited taken) and
with the "spawn" start method.

Every wait has a timeout, so a deadlocked child fails the test instead of
stalling the suite; children are terminated on timeout.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading

import numpy as np
import pytest

import linearc
from linearc._linearc import _gemm_path

from conftest import assert_linear_close, requires_openmp

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
# threads, one few-rows problem on the dot path with W split across threads,
# and a small serial one.
BLOCKED = (512, 512, 512)
DOT = (4, 512, 512)
SMALL = (3, 10, 7)


def problems(dtype):
    return [shape + (dtype, seed) for seed, shape in enumerate([BLOCKED, DOT, SMALL])]


@pytest.fixture
def two_threads():
    before = linearc.get_num_threads()
    linearc.set_num_threads(2)
    yield
    linearc.set_num_threads(before)


def run_child(method, probs, threads=None):
    """Compute probs in a child started with `method`; return its reply."""
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
    return reply[1]


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
    # blocked and the dot path on 2 threads before forking.
    m, k, n = BLOCKED
    assert _gemm_path(m, n, k, dtype, 2) == ("blocked", 2)
    m, k, n = DOT
    assert _gemm_path(m, n, k, dtype, 2) == ("dot", 2)


@pytest.mark.parametrize("child_threads", [None, 2], ids=["default", "ask-2"])
def test_fork_after_threaded_gemm(dtype, two_threads, child_threads):
    probs = problems(dtype)
    parent = _fork_helpers.compute(probs)  # OpenMP pool now has 2 threads
    child = run_child("fork", probs, child_threads)
    check_same(child, parent, probs)
    # The parent still works, on its threads, after the fork.
    again = _fork_helpers.compute(probs)
    for a, b in zip(again, parent):
        assert a.tobytes() == b.tobytes()


def test_fork_many_times(two_threads):
    probs = problems(np.float32)[1:]  # dot and small: quick
    parent = _fork_helpers.compute(probs)
    for _ in range(3):
        check_same(run_child("fork", probs), parent, probs)
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
            check_same(run_child("fork", probs), parent, probs)
    finally:
        stop.set()
        worker.join(TIMEOUT)
    assert not worker.is_alive()
    assert not mismatches


def test_spawn(dtype, two_threads):
    probs = problems(dtype)
    parent = _fork_helpers.compute(probs)
    child = run_child("spawn", probs, 2)
    check_same(child, parent, probs)


def test_forkserver():
    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no forkserver")
    probs = problems(np.float64)[1:]
    check_same(run_child("forkserver", probs), _fork_helpers.compute(probs), probs)
