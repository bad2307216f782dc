"""Code that runs in child processes for tests/test_fork.py.

It lives in its own importable module (not the test file) so a "spawn"
child, or a fresh interpreter, can import it by name without importing
pytest's test module; every problem is rebuilt from its seed so parent and
child compute the same thing.
"""
from __future__ import annotations

import os
import signal
import time
import traceback

import numpy as np

import linearc


def make_problem(rows, in_features, out_features, dtype, seed):
    """A seeded layer and input: the same arrays in every process."""
    layer = linearc.Linear(in_features, out_features, dtype=dtype, seed=seed)
    x = np.random.default_rng(seed).standard_normal((rows, in_features))
    return layer, x.astype(dtype)


def compute(problems):
    """Forward results of make_problem(*p) for each p in problems."""
    results = []
    for problem in problems:
        layer, x = make_problem(*problem)
        results.append(layer(x))
    return results


def child_main(conn, problems, threads=None):
    """Entry point of a child: send ("ok", results, threads) or ("error", text)."""
    try:
        if threads is not None:
            linearc.set_num_threads(threads)
        conn.send(("ok", compute(problems), linearc.get_num_threads()))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


def wait_for_child(pid, timeout):
    """The exit status of child pid (as os.waitstatus_to_exitcode gives it),
    or None if it was still running after timeout seconds (it is killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def run_forked(func, timeout):
    """Fork; the child runs func() and leaves with 0, or 1 after printing
    the traceback of whatever func raised. Returns wait_for_child's result."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            func()
            code = 0
        except BaseException:  # noqa: BLE001 - reported by the exit code
            traceback.print_exc()
        finally:
            os._exit(code)
    return wait_for_child(pid, timeout)


def forward_in_fork_child():
    """In a fork child: Linear(1024, 1024) on (512, 1024) is right, and runs
    on one thread whatever is asked."""
    from linearc._accuracy import assert_linear_close
    layer = linearc.Linear(1024, 1024, seed=0)
    x = np.ones((512, 1024), np.float32)
    y = layer(x)
    assert_linear_close(y, x, layer.weight, layer.bias)
    assert linearc.get_num_threads() == 1
    linearc.set_num_threads(2)
    assert linearc.get_num_threads() == 1
    assert layer(x).tobytes() == y.tobytes()


def torch_pool_then_fork(timeout=60):
    """Run in a fresh interpreter (python -c): torch starts libgomp's thread
    pool, then the process forks and the child runs forward_in_fork_child.
    Prints the child's exit status (None: it hung and was killed)."""
    import torch
    torch.randn(1000, 1000) @ torch.randn(1000, 1000)
    print("child exit", run_forked(forward_in_fork_child, timeout))
