"""linearc in child processes: after fork() (libgomp's thread pool does not
survive it, and neither the workspace pool's lock nor a layer's gradient
lock may be inherited taken), after torch started libgomp's pool, and with
the "spawn" and "forkserver" start methods. A fork child whose parent may
have had an OpenMP pool (a thread other than the forking one, unless it
predates libgomp's loading) runs linearc on one thread, and so do its own
children; children of a process that never had a pool, spawn children and
forkserver children (also with linearc preloaded in the server) use threads.

Every wait has a timeout, so a deadlocked child fails the test instead of
stalling the suite; children are killed on timeout.

Neighbours: thread counts and OpenMP settings within one process are in
test_threads.py and test_threadpool.py; other crash and hang reproducers in
test_robustness.py.
"""
from __future__ import annotations

import json
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


def fresh_env():
    """This process's environment with OMP_NUM_THREADS=2 and without the
    thread settings other tests may have left in it (dask's LocalCluster
    sets OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS to 1 in
    its parent): a child's pool must really start where a test needs one."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT",
                        "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["OMP_NUM_THREADS"] = "2"
    return env


def report_of_child(method, before_fork=""):
    """In a fresh interpreter with OMP_NUM_THREADS=2: run before_fork, then
    _fork_helpers.child_report(method) on the blocked and direct problems;
    return the child's report (a dict)."""
    code = (f"import sys; sys.path.insert(0, {HERE!r})\n"
            f"{before_fork}\n"
            "import numpy as np, _fork_helpers\n"
            f"_fork_helpers.child_report({method!r}, "
            f"[{BLOCKED + ('float32', 1)!r}, {DIRECT + ('float64', 2)!r}], "
            f"{TIMEOUT})")
    proc = run_python(code, env=fresh_env(), timeout=3 * TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert "reply" not in report, (report, proc.stderr)
    assert report["exitcode"] == 0, report
    # The child computed what this process computes, bit for bit, and a
    # grandchild forked after its GEMMs ran serial and exited (no hang).
    assert report["same_bits"] == [True, True], report
    assert report["grandchild"] == 0, (report, proc.stderr)
    return report


@requires_openmp
@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(),
    reason="no forkserver")
def test_forkserver_preloading_linearc_children_use_threads():
    """The reproducer: a forkserver whose server imported linearc (preload)
    but never ran OpenMP. Its children may use threads, and do: they report
    2, and their GEMMs start native threads."""
    report = report_of_child("forkserver")
    assert report["parent_had_linearc"], report  # the preload took effect
    assert report["threads"] == 2, report
    assert report["started"] >= 1, report


@requires_openmp
def test_fork_before_any_pool_uses_threads():
    """A process that imported linearc (NumPy's OpenBLAS threads predate
    it) but has no other thread: a fork child has no stale pool to wait
    for, so it uses threads."""
    report = report_of_child("fork")
    assert report["threads"] == 2 and report["started"] >= 1, report


@requires_openmp
@pytest.mark.parametrize("before_fork", [
    "import linearc, threading, time; "
    "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
    # (Not through _fork_helpers, which imports linearc.)
    "import os, torch; torch.set_num_threads(2); "
    "n = len(os.listdir('/proc/self/task')); "
    "torch.randn(1000, 1000) @ torch.randn(1000, 1000); "
    "assert len(os.listdir('/proc/self/task')) > n, 'no torch pool'; "
    "import linearc",
], ids=["python-thread", "torch-pool-before-import"])
def test_fork_with_unknown_threads_is_serial(before_fork):
    """Any thread linearc cannot tell from an OpenMP one makes the child
    serial: one started after linearc's import (even a Python thread), or
    any thread at all when libgomp was loaded before linearc (torch, whose
    pool then predates linearc's import)."""
    if "torch" in before_fork:
        pytest.importorskip("torch")
    report = report_of_child("fork", before_fork)
    assert report["threads"] == 1 and report["started"] == 0, report


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
    proc = run_python(code, env=fresh_env(), timeout=2 * TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["child", "exit", "0"], (proc.stdout,
                                                           proc.stderr)
