"""The plan the GEMM makes for a shape (_gemm_plan) and the checks the
context's numbers pass (docs/design.md, "The GEMM" and "Per-CPU
configuration"). Speed only: the bits never depend on these (test_arithmetic,
test_gemm_edges); here the decisions themselves are checked.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import linearc
from linearc import _linearc

CONFIG = _linearc._build_config()


def plan(m, n, k, dtype, threads=1):
    return _linearc._gemm_plan(m, n, k, dtype, threads)


def blocks(k, kc):
    """The K blocks a plan's kc cuts K into."""
    return [min(kc, k - p) for p in range(0, k, kc)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_k_up_to_kc_max_is_one_block(dtype):
    d = CONFIG[dtype]
    m, n = 2 * d["direct_rows"] + 64, 512
    for k in (d["kc"], d["kc"] + 1, d["kc_max"]):
        p = plan(m, n, k, dtype)
        assert p["path"] == "blocked"
        assert p["kc"] == k, k


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_k_past_kc_max_is_cut_into_even_blocks(dtype):
    """K just past kc_max gives two blocks of about K / 2, never kc and a
    sliver: a one-step K block costs a whole round trip of C."""
    d = CONFIG[dtype]
    m, n = 2 * d["direct_rows"] + 64, 512
    for k in (d["kc_max"] + 1, 2 * d["kc"] + 1, 3 * d["kc"] + 7, 5 * d["kc_max"] + 3):
        kc = plan(m, n, k, dtype)["kc"]
        sizes = blocks(k, kc)
        assert kc <= d["kc_max"]
        assert len(sizes) == -(-k // d["kc"]), (k, kc)  # no more blocks than kc allows
        assert max(sizes) - min(sizes) <= 8 * len(sizes), (k, sizes)
        assert kc % 8 == 0


def test_direct_path_k_block():
    """With several tiles of rows, the direct path's K block is at most
    kc_direct rows, and the block of B a thread sweeps (rows x its columns)
    at most direct_block_bytes: narrow layers take kc_direct, wide ones a
    smaller block; both balanced over K."""
    d = CONFIG["float64"]
    dmr, dnr = d["direct_tile"]
    rows = min(4 * dmr, d["direct_rows"])
    narrow = plan(rows, dnr * 2, 4 * d["kc_direct"] + 1, "float64")
    assert narrow["path"] == "direct" and narrow["threads"] == 1
    assert narrow["kc"] <= d["kc_direct"]
    assert len(blocks(4 * d["kc_direct"] + 1, narrow["kc"])) == 5
    cols = d["direct_block_bytes"] // (8 * 64)  # a 64-row block of them fills it
    wide = plan(rows, cols, 1024, "float64")
    assert wide["path"] == "direct" and wide["threads"] == 1
    assert wide["kc"] * cols * 8 <= d["direct_block_bytes"]
    assert wide["kc"] < d["kc_direct"] and wide["kc"] % 8 == 0


def test_plan_reports_threads_and_blocks():
    p = plan(4096, 1024, 1024, "float32", 2)
    assert set(p) == {"path", "threads", "copy_a", "split_rows", "shared_a", "kc", "nc",
                      "mc", "widen_b", "b_cols", "home_rows", "workspace_bytes"}
    assert not p["widen_b"] and p["home_rows"] == 0
    assert p["threads"] == 2 and p["workspace_bytes"] > 0
    assert p["mc"] % CONFIG["float32"]["tile"][0] == 0
    with pytest.raises(ValueError, match="sizes"):
        plan(-1, 4, 4, "float32")


def run_child(code, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LINEARC_")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**clean, "LINEARC_TUNING": "off", **env})


def test_tuned_values_are_checked_as_a_set():
    """A value that breaks the kernel set's rules is refused with the reason,
    and nothing changes; a pair valid together is taken together."""
    mr, nr = CONFIG["float32"]["tile"]
    code = f"""
from linearc import _linearc
before = _linearc._build_config()["float32"]
for bad in ({{"mc": {mr} + 1}}, {{"nc": {nr} + 1}}, {{"kc": 0}}, {{"nope": 3}}, {{"kc": "8"}},
            {{"kc": 8192, "nc": 65536}}):
    try:
        _linearc._tune_params(bad, {{}})
    except ValueError as e:
        print("refused", str(e).split(":")[0][:40])
    else:
        print("taken", bad)
assert _linearc._build_config()["float32"] == before
_linearc._tune_params({{"kc": 2048, "nc": {4 * nr}}}, {{}})
after = _linearc._build_config()["float32"]
print(after["kc"], after["nc"], after["kc_max"], after["origin"]["kc"], after["origin"]["kc_max"])
"""
    proc = run_child(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines[:6]] == ["refused"] * 6, lines
    assert lines[6] == f"2048 {4 * nr} 2560 tuned tuned", lines


def test_the_environment_outranks_tuned_values():
    code = """
from linearc import _linearc
_linearc._tune_params({"kc": 64, "mc": 48}, {})
d = _linearc._build_config()["float32"]
print(d["kc"], d["origin"]["kc"], d["mc"], d["origin"]["mc"])
"""
    proc = run_child(code, LINEARC_BLOCKING_F32="96,48,1024")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["96", "environment", "48", "environment"]


def test_a_bad_environment_variable_is_named():
    proc = run_child("import linearc", LINEARC_BLOCKING_F64="7,1,1")
    assert proc.returncode != 0
    assert "LINEARC_BLOCKING_F64=7,1,1" in proc.stderr
    proc = run_child("import linearc", LINEARC_BLOCKING_F32="8,48,64", LINEARC_BLOCKING_F64="x")
    assert "LINEARC_BLOCKING_F64=x" in proc.stderr and "F32" not in proc.stderr.split(
        "ImportError")[-1]


def test_tuned_context_keeps_the_bits(dtype):
    """In-process: the same product before and after a tuned context with
    extreme values is the same bytes."""
    layer = linearc.Linear(300, 200, dtype=dtype, seed=3)
    x = np.random.default_rng(3).standard_normal((500, 300)).astype(dtype)
    before = layer(x).tobytes()
    code = f"""
import numpy as np, linearc
from linearc import _linearc
layer = linearc.Linear(300, 200, dtype="{np.dtype(dtype).name}", seed=3)
x = np.random.default_rng(3).standard_normal((500, 300)).astype("{np.dtype(dtype).name}")
_linearc._tune_params({{"kc": 8, "mc": {CONFIG['float32']['tile'][0]}, "direct_rows": 0}},
                      {{"kc": 8, "mc": {CONFIG['float64']['tile'][0]}, "direct_rows": 0}})
import sys; sys.stdout.buffer.write(layer(x).tobytes())
"""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LINEARC_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120,
                          env={**clean, "LINEARC_TUNING": "off"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == before


def a_block_bytes(mc, kc, dtype):
    """The bytes of one packed mc x kc_max block of A for a kc given alone."""
    kc_max = min(-(-(kc + kc // 4) // 8) * 8, 8192)
    return mc * kc_max * np.dtype(dtype).itemsize


def test_a_packed_block_of_a_over_256_mib_is_refused():
    """Each thread packs an mc x kc_max block of A: a value from the
    environment or a tuning file asking for gigabytes is refused with the
    reason, and one just within 256 MiB is taken."""
    mr, nr = CONFIG["float32"]["tile"]
    fits = (256 << 20) // (2560 * 4) // mr * mr  # kc 2048: kc_max 2560
    assert a_block_bytes(fits, 2048, "float32") <= 256 << 20
    assert a_block_bytes(fits + mr, 2048, "float32") > 256 << 20
    code = f"""
from linearc import _linearc
try:
    _linearc._tune_params({{"kc": 2048, "mc": {fits + mr}}}, {{}})
except ValueError as e:
    print("refused", e)
_linearc._tune_params({{"kc": 2048, "mc": {fits}}}, {{}})
print(_linearc._build_config()["float32"]["mc"])
"""
    proc = run_child(code)
    assert proc.returncode == 0, proc.stderr
    refused, taken = proc.stdout.splitlines()
    assert refused.startswith("refused") and "block of A" in refused, refused
    assert "256 MiB" in refused and taken == str(fits)
    value = f"8192,65536,{4 * nr}"  # a 2 GiB block of A (float32)
    proc = run_child("import linearc", LINEARC_BLOCKING_F32=value)
    assert proc.returncode != 0
    assert f"LINEARC_BLOCKING_F32={value}" in proc.stderr and "block of A" in proc.stderr
    assert "256 MiB" in proc.stderr
