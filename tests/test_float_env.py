"""The caller's floating-point environment (docs/design.md, "The arithmetic").

OpenMP's worker threads take the calling thread's rounding mode and
flush-to-zero setting for the length of a linearc call, so that every
element of a result is computed under the same modes, and give their own
back at the end: the pool is shared with whoever else uses the same OpenMP
runtime (torch does), and must not be left with linearc's caller's modes.
Each test runs in a fresh interpreter: it changes process-wide settings.
"""
from __future__ import annotations

import subprocess
import sys

from conftest import requires_openmp

PRELUDE = """
import ctypes, ctypes.util, platform
import numpy as np
import linearc
libm = ctypes.CDLL(ctypes.util.find_library("m"))
# <fenv.h>'s values: the bits of the rounding field of MXCSR / FPCR.
FE_TONEAREST = 0
FE_UPWARD = 0x400000 if platform.machine() in ("aarch64", "arm64") else 0x800
assert libm.fegetround() == FE_TONEAREST
"""


def run(code):
    proc = subprocess.run([sys.executable, "-c", PRELUDE + code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.split()


@requires_openmp
def test_every_thread_computes_under_the_callers_rounding_mode():
    out = run("""
layer = linearc.Linear(1024, 1024, seed=0)
x = np.random.default_rng(0).standard_normal((512, 1024)).astype(np.float32)
nearest = layer(x)
libm.fesetround(FE_UPWARD)
linearc.set_num_threads(2); upward2 = layer(x)
linearc.set_num_threads(1); upward1 = layer(x)
libm.fesetround(FE_TONEAREST)
print(upward1.tobytes() == upward2.tobytes(), (upward2 >= nearest).all(),
      int((upward2 != nearest).any(axis=1).sum()))
""")
    assert out[:2] == ["True", "True"]
    assert int(out[2]) == 512  # every row, the workers' half too, rounded up


TORCH_AFTER_LINEARC = """
import torch
torch.set_num_threads(2); linearc.set_num_threads(2)
t = torch.full((4_000_000,), 1e-39)
a = torch.from_numpy(np.random.default_rng(1).standard_normal(4_000_000).astype(np.float32))
b = torch.from_numpy(np.random.default_rng(2).standard_normal(4_000_000).astype(np.float32))
exact_sum = a.numpy() + b.numpy()                    # this thread, to nearest
print(int(((t * 1.0) == 0).sum()), bool(((a + b).numpy() == exact_sum).all()))
{set_mode}
linearc.Linear(1024, 1024, seed=0)(np.ones((512, 1024), np.float32))
{reset_mode}
print(int(((t * 1.0) == 0).sum()), bool(((a + b).numpy() == exact_sum).all()))
"""


@requires_openmp
def test_torch_does_not_inherit_flush_to_zero():
    """The issue's reproducer: after one linearc call made under torch's
    set_flush_denormal(True), half of torch's work flushed denormals."""
    out = run(TORCH_AFTER_LINEARC.format(set_mode="torch.set_flush_denormal(True)",
                                         reset_mode="torch.set_flush_denormal(False)"))
    assert out == ["0", "True", "0", "True"]


@requires_openmp
def test_torch_does_not_inherit_the_rounding_mode():
    out = run(TORCH_AFTER_LINEARC.format(set_mode="libm.fesetround(FE_UPWARD)",
                                         reset_mode="libm.fesetround(FE_TONEAREST)"))
    assert out == ["0", "True", "0", "True"]


@requires_openmp
def test_workers_created_under_flush_to_zero_do_not_keep_it():
    """The first parallel region on a thread creates OpenMP's workers, and a
    new thread starts with its creator's floating-point environment: a
    first linearc call made under flush-to-zero must not create workers
    whose own mode (given back at the end of every call) is flush-to-zero.
    torch, sharing the pool, then flushed half of its denormals."""
    out = run("""
import torch
torch.set_num_threads(2); linearc.set_num_threads(2)
torch.set_flush_denormal(True)     # before any parallel region on this thread
linearc.Linear(1024, 1024, seed=0)(np.ones((512, 1024), np.float32))
torch.set_flush_denormal(False)
t = torch.full((4_000_000,), 1e-39)
print(int(((t * 1.0) == 0).sum()))
# The same for a rounding mode, on a new thread: OpenMP gives each thread
# that starts a parallel region a pool of its own.
import threading
def on_a_new_thread():
    libm.fesetround(FE_UPWARD)
    linearc.Linear(1024, 1024, seed=0)(np.ones((512, 1024), np.float32))
    libm.fesetround(FE_TONEAREST)
    a = torch.from_numpy(np.random.default_rng(1).standard_normal(4_000_000).astype(np.float32))
    b = torch.from_numpy(np.random.default_rng(2).standard_normal(4_000_000).astype(np.float32))
    print(bool(((a + b).numpy() == a.numpy() + b.numpy()).all()))
worker = threading.Thread(target=on_a_new_thread)
worker.start(); worker.join()
""")
    assert out == ["0", "True"]
