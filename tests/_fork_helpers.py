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


def start_torch_pool():
    """torch runs a matmul on 2 threads: libgomp's pool is up (checked: the
    process has more native threads after it)."""
    import torch
    torch.set_num_threads(2)
    before = native_threads()
    torch.randn(1000, 1000) @ torch.randn(1000, 1000)
    assert native_threads() > before, "torch started no thread"


def torch_pool_then_fork(timeout=60):
    """Run in a fresh interpreter (python -c): torch starts libgomp's thread
    pool, then the process forks and the child runs forward_in_fork_child.
    Prints the child's exit status (None: it hung and was killed)."""
    start_torch_pool()
    print("child exit", run_forked(forward_in_fork_child, timeout))


def native_threads():
    """The threads of this process, as the kernel lists them."""
    return len(os.listdir("/proc/self/task"))


def threaded_child_main(conn, problems, timeout):
    """Entry point of a child expected to run linearc on threads: send
    ("ok", results, get_num_threads(), native threads its GEMMs started,
    whether its parent process had linearc loaded, the exit status of a
    grandchild forked after those GEMMs) or ("error", text)."""
    try:
        with open(f"/proc/{os.getppid()}/maps") as maps:
            parent_had_linearc = "_linearc" in maps.read()
        before = native_threads()
        results = compute(problems)
        started = native_threads() - before
        # The child's own pool now exists: its children are serial.
        grandchild = run_forked(forward_in_fork_child, timeout)
        conn.send(("ok", results, linearc.get_num_threads(), started,
                   parent_had_linearc, grandchild))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


def child_report(method, problems, timeout=60):
    """Run in a fresh interpreter (python -c): start a child with `method`
    (for "forkserver", a server that preloads linearc) running
    threaded_child_main. Prints the child's report as JSON, with whether its
    results have the bits of this process's."""
    import json
    import multiprocessing
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["linearc"])
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=threaded_child_main,
                       args=(child_conn, problems, timeout))
    proc.start()
    child_conn.close()
    try:
        reply = parent_conn.recv() if parent_conn.poll(timeout) else ("silent",)
    finally:
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    if reply[0] != "ok":
        print(json.dumps({"reply": repr(reply)}))
        return
    _, results, threads, started, parent_had_linearc, grandchild = reply
    mine = compute(problems)
    print(json.dumps({
        "threads": threads, "started": started,
        "parent_had_linearc": parent_had_linearc, "grandchild": grandchild,
        "same_bits": [a.tobytes() == b.tobytes() for a, b in zip(results, mine)],
        "exitcode": proc.exitcode,
    }))
