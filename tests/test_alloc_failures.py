"""A call that fails for want of memory changes nothing.

tests/_alloc_child.py runs under an LD_PRELOAD shim (tests/_alloc_shim.c)
that fails the n-th allocation of a call, for n = 1, 2, 3, ... until the
call makes no n-th allocation: forward (with `out=`) and backward (no
gradient yet, gradients kept, gradients the user changed), on the direct and
blocked paths, with conversions. Every failure must be a MemoryError that
leaves the parameters, both gradients (the same arrays, the same bytes) and
`out=` as they were before the call.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

HERE = Path(__file__).parent

# AddressSanitizer's runtime must come first in LD_PRELOAD and replaces
# malloc itself, so no shim after it sees an allocation; its shadow memory
# also needs more address space than any RLIMIT_AS below.
under_asan = pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                                reason="AddressSanitizer owns malloc and the address space")


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    cc = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]
    out = tmp_path_factory.mktemp("shim") / "alloc_shim.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out),
                    str(HERE / "_alloc_shim.c"), "-ldl"], check=True)
    return out


@under_asan
def test_every_failed_allocation_leaves_everything_as_it_was(shim):
    env = {**os.environ, "LD_PRELOAD": f"{os.environ.get('LD_PRELOAD', '')} {shim}".strip()}
    proc = subprocess.run([sys.executable, str(HERE / "_alloc_child.py")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    walked = {name: (int(n), int(failed))
              for name, n, failed in (line.split() for line in proc.stdout.splitlines())}
    assert len(walked) == 22, walked
    # The walks reached the allocations that matter: for a first backward,
    # the result, the packing buffers or both gradients; each one failed.
    for dtype in ("float32", "float64"):
        assert walked[f"backward-small-{dtype}-none"][1] >= 3
        assert walked[f"backward-blocked-{dtype}-replaced"][1] >= 3
        assert walked[f"forward-converted-{dtype}"][1] >= 2
    assert all(failed == n for n, failed in walked.values()), walked


ISSUE_REPRODUCER = """
import numpy as np, linearc, resource
N = 25_000_000
layer = linearc.Linear(1, N, seed=0)
x = np.ones((1, 1), np.float32); g = np.ones((1, N), np.float32)
vm = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 150 * 2**20, resource.RLIM_INFINITY))
try:
    layer.backward(x, g)
    raise SystemExit("the backward did not fail")
except MemoryError as e:
    print(e)
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)
assert layer.weight_grad is None and layer.bias_grad is None, "gradients changed"
layer.backward(x, g)
assert (layer.weight_grad == 1).all() and (layer.bias_grad == 1).all()
print("ok")
"""


@under_asan
def test_the_issues_reproducer_without_a_shim():
    """The weight gradient fits in the address space, the bias gradient does
    not: the first was left behind, uninitialised, and the next backward
    accumulated onto it."""
    proc = subprocess.run([sys.executable, "-c", ISSUE_REPRODUCER], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split("\n")[-2] == "ok"
    assert "gradient" in proc.stdout
