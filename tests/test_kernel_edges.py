"""Every kernel of every set this CPU runs, called directly at every edge
(rows 1..MR, columns 1..NR, K = 1, 2, 3, 4, 5, 7, 17, each start, the
direct tiles' widths past two tiles, the packers with NULL rows), each
operand flush against a guard page and the memory around C checked for
stray writes, the results equal bit for bit to a scalar fma chain with
subnormals, NaN payloads, infinities and signed zeros (tests/_kernel_edges.c).
.ci/arm64.sh runs the same program for aarch64 under qemu (neon, generic)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sysconfig
from pathlib import Path

import pytest

from linearc import _linearc

HERE = Path(__file__).parent
CSRC = HERE.parent / "csrc"
if not (CSRC / "dispatch.c").exists():
    pytest.skip("csrc/ is not next to the tests", allow_module_level=True)


def test_every_kernel_edge_is_exact_and_in_bounds(tmp_path):
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    exe = tmp_path / "kernel_edges"
    sources = [HERE / "_kernel_edges.c", CSRC / "rng.c", CSRC / "dispatch.c",
               *sorted((CSRC / "kernels").glob("[a-z]*.c"))]
    subprocess.run([*cc, "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
                    f"-I{CSRC}", "-o", str(exe), *map(str, sources), "-lm", "-lpthread"],
                   check=True)
    sets = _linearc._build_config()["isa_supported"].split()
    proc = subprocess.run([str(exe), *sets], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.fullmatch(r"[1-9]\d* passed, 0 failed\n", proc.stdout), proc.stdout
    for isa in sets:
        assert f"kernel set {isa} " in proc.stderr, proc.stderr
