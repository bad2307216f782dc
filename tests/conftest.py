"""Shared test helpers. The accuracy bound lives in linearc._accuracy (the
benchmarks check results with it too); docs/design.md states it."""
from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

# No test reads or writes the user's real tuning file (linearc.tune(), read
# at import): the whole session, and every child it starts (they inherit
# os.environ), uses an empty cache folder of its own, set before linearc is
# first imported here. A child that imports this file again (some import
# test modules) keeps its parent's folder. LINEARC_TUNING is left to each
# test that sets it.
if "_LINEARC_TEST_CACHE" not in os.environ:
    assert "linearc" not in sys.modules, "linearc was imported before the cache was set"
    os.environ["_LINEARC_TEST_CACHE"] = tempfile.mkdtemp(prefix="linearc-test-cache-")
    os.environ.pop("LINEARC_TUNING", None)
    atexit.register(shutil.rmtree, os.environ["_LINEARC_TEST_CACHE"], ignore_errors=True)
TEST_CACHE = os.environ["_LINEARC_TEST_CACHE"]
os.environ["XDG_CACHE_HOME"] = TEST_CACHE

from linearc import _linearc  # noqa: E402
from linearc._accuracy import (  # noqa: F401,E402 - re-exported for the tests
    C_TOL, as_computed, assert_linear_close, reference, tolerance, unit_roundoff)

_CONFIG = _linearc._build_config()

# Tests that check work really being split between threads mean nothing in
# a build without OpenMP (which runs everything on one thread).
requires_openmp = pytest.mark.skipif(
    not _CONFIG["openmp"], reason="built without OpenMP: one thread only")
def expected_path(m, n, k, dtype):
    """The GEMM path of a layer's forward on a contiguous (m, k) input, by the
    documented rule (docs/design.md, "The GEMM"): "direct" for at most
    direct_rows rows, or any number of rows with at most direct_cols columns
    (the layer's W.T is always contiguous along n, and a contiguous input
    needs no copy), "blocked" otherwise; "fill" when K is 0, "empty" when
    there is nothing to compute. Every path computes the same bits; the rule
    only decides speed."""
    if m == 0 or n == 0:
        return "empty"
    if k == 0:
        return "fill"
    conf = _CONFIG[np.dtype(dtype).name]
    if m <= conf["direct_rows"] or n <= conf["direct_cols"]:
        return "direct"
    return "blocked"


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def snapshot(layer):
    """Everything a failed call must leave alone, to compare with ==: the
    dtype, shape and bytes of each parameter and of each gradient sum (None
    where there is none). Bytes, not values, so NaN and -0.0 count too."""
    def describe(a):
        return None if a is None else (a.dtype.str, a.shape, a.tobytes())
    return {name: describe(getattr(layer, name))
            for name in ("weight", "bias", "weight_grad", "bias_grad")}


def misaligned(values, dtype=None):
    """values (in dtype, or their own) copied into a buffer one byte past an
    aligned address: np.frombuffer(bytearray(n * size + 1), dtype, count=n,
    offset=1). Writable, and not aligned unless empty or one byte wide."""
    values = np.asarray(values, dtype)
    buf = bytearray(values.nbytes + 1)
    a = np.frombuffer(buf, values.dtype, count=values.size,
                      offset=1).reshape(values.shape)
    a[...] = values
    assert a.flags.aligned == (a.size == 0 or a.itemsize == 1)
    assert a.flags.writeable
    return a


@pytest.fixture
def restore_threads():
    """Give the thread setting back to OpenMP (set_num_threads(None)) after
    a test that changes it, whatever happens in the test."""
    yield
    _linearc.set_num_threads(None)


def run_python(code, *args, env=None, timeout=120):
    """Run code in a fresh interpreter (python -c code *args); a crash or a
    hang there fails the calling test instead of killing pytest."""
    return subprocess.run([sys.executable, "-c", code, *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def outcome_in_child(func, *args, timeout=60, **kwargs):
    """Run func(*args, **kwargs) in a forked child and return what happened
    there: ("ok", "") or (exception type name, message). A crash, or a child
    still running after timeout seconds (then killed), becomes an
    AssertionError here instead of taking pytest down or stalling it."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report and leave without running pytest's cleanup
        os.close(read_fd)
        try:
            func(*args, **kwargs)
            result = "ok\n"
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            result = f"{type(exc).__name__}\n{exc}"
        os.write(write_fd, result.encode())
        os._exit(0)
    os.close(write_fd)
    what = f"{func.__name__}{args} {kwargs}"
    data = b""
    deadline = time.monotonic() + timeout
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:  # read until the child closes its end (exits)
            remaining = deadline - time.monotonic()
            ready = remaining > 0 and select.select([pipe], [], [],
                                                    remaining)[0]
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"{what} still running after {timeout} s")
            chunk = pipe.read(65536)
            if not chunk:
                break
            data += chunk
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        raise AssertionError(f"{what} crashed: {sig}")
    name, _, message = data.decode().partition("\n")
    return name, message
