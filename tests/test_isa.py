"""Every kernel set this CPU supports, forced with LINEARC_ISA in a fresh
interpreter (the ISA is chosen once, at import): a compact battery of edge
cases checked against the float64 reference, and the results of different
ISAs compared with each other."""
from __future__ import annotations

import itertools
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from linearc import _linearc

from conftest import tolerance

TESTS_DIR = pathlib.Path(__file__).resolve().parent
SUPPORTED = _linearc._build_config()["isa_supported"].split()
ALL_ISAS = ("avx512", "avx2", "generic")

# Run in the child: argv = [tests dir, isa, output .npz]. Every check is
# recorded as (result, a, b, bias) with result ~ a @ b.T + bias, checked
# here with the K-scaled rule and saved for the cross-ISA comparison.
CHILD = r'''
import contextlib, io, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
isa, out_path = sys.argv[2], sys.argv[3]
import linearc
from conftest import assert_linear_close

with contextlib.redirect_stdout(io.StringIO()):
    config = linearc.show_config()
assert config["isa"] == isa, (config["isa"], isa)

saved = {}


def check(name, result, a, b, bias, dtype):
    assert result.dtype == dtype, (name, result.dtype)
    assert_linear_close(result, a, b, bias, dtype=dtype)
    saved[name + "|y"] = result
    saved[name + "|a"] = a
    saved[name + "|b"] = b
    if bias is not None:
        saved[name + "|bias"] = bias


def nan_strided(data):
    """data in a NaN-filled buffer, every 2nd row and 3rd column, reversed:
    a read outside the view would put NaN into the result."""
    m, k = data.shape
    buf = np.full((2 * m + 1, 3 * k + 2), np.nan, dtype=data.dtype)
    view = buf[2 * m - 1::-2, 3 * k - 1::-3]
    view[...] = data
    return view


rng = np.random.default_rng(2024)
# Shapes fixed across ISAs (so results can be compared): 5 and 8 rows take
# the dot path, 29 and 257 the blocked one; 35 and 37 columns and K = 257,
# 513 leave partial tiles and K blocks for every kernel set, 257 rows pass
# every MC.
shapes = [(5, 35, 1), (8, 35, 257), (29, 35, 1), (29, 35, 257),
          (257, 37, 513)]
for dtype in (np.float32, np.float64):
    for (m, n, k), bias, strided in [(s, b, st) for s in shapes
                                     for b in (True, False)
                                     for st in (False, True)]:
        name = (f"{np.dtype(dtype).name}-{m}x{n}x{k}"
                f"-b{int(bias)}-s{int(strided)}")
        layer = linearc.Linear(k, n, bias=bias, dtype=dtype, seed=m + n + k)
        data = rng.standard_normal((m, k)).astype(dtype)
        x = nan_strided(data) if strided else data
        w = layer.weight.copy()
        b = None if layer.bias is None else layer.bias.copy()
        check("fwd-" + name, layer(x), data, w, b, dtype)

        # grad_input = G @ W, weight_grad = G.T @ X, bias_grad = G.T @ 1
        gdata = rng.standard_normal((m, n)).astype(dtype)
        g = nan_strided(gdata) if strided else gdata
        grad_in = layer.backward(x, g)
        check("gin-" + name, grad_in, gdata, w.T.copy(), None, dtype)
        check("wg-" + name, layer.weight_grad.copy(), gdata.T.copy(),
              data.T.copy(), None, dtype)
        if bias:
            check("bg-" + name, layer.bias_grad[:, None].copy(),
                  gdata.T.copy(), np.ones((1, m), dtype), None, dtype)
    # float64 input into a float32 layer: converted while packing
    if dtype == np.float32:
        for m in (5, 29):
            layer = linearc.Linear(257, 35, dtype=np.float32, seed=m)
            data = rng.standard_normal((m, 257))
            check(f"conv-{m}", layer(nan_strided(data)), data,
                  layer.weight.copy(), layer.bias.copy(), np.float32)

np.savez(out_path, **saved)
print("OK", isa, sum(key.endswith("|y") for key in saved))
'''


def child_env(isa=None):
    env = dict(os.environ)
    env.pop("LINEARC_ISA", None)
    if isa is not None:
        env["LINEARC_ISA"] = isa
    return env


def run_python(code, args=(), isa=None):
    return subprocess.run([sys.executable, "-c", code, *args],
                          env=child_env(isa), capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    """isa -> (completed process, saved arrays) for every supported ISA."""
    out = {}
    tmp = tmp_path_factory.mktemp("isa")
    for isa in SUPPORTED:
        path = tmp / f"{isa}.npz"
        proc = run_python(CHILD, [str(TESTS_DIR), isa, str(path)], isa=isa)
        arrays = dict(np.load(path)) if proc.returncode == 0 else None
        out[isa] = (proc, arrays)
    return out


def test_supported_list_is_sane():
    assert SUPPORTED, "no ISA supported"
    assert set(SUPPORTED) <= set(ALL_ISAS), SUPPORTED
    assert "generic" in SUPPORTED  # the fallback always works


@pytest.mark.parametrize("isa", SUPPORTED)
def test_isa_battery(isa, battery):
    proc, arrays = battery[isa]
    assert proc.returncode == 0, f"LINEARC_ISA={isa} failed:\n{proc.stderr}"
    last = proc.stdout.strip().splitlines()[-1].split()
    assert last[:2] == ["OK", isa], proc.stdout
    # 5 shapes x 2 bias x 2 strides x 2 dtypes, forward + 2 or 3 gradients,
    # plus 2 conversions: every check ran.
    assert int(last[2]) == 5 * 2 * 2 * 2 * 3 + 5 * 2 * 2 + 2
    assert len([key for key in arrays if key.endswith("|y")]) == int(last[2])


@pytest.mark.parametrize("isa_a,isa_b",
                         list(itertools.combinations(SUPPORTED, 2)))
def test_isas_agree_within_tolerance(isa_a, isa_b, battery):
    """Different kernels sum in different orders: not bitwise equal, but the
    results agree within the K-scaled bound of the reference."""
    ya, yb = battery[isa_a][1], battery[isa_b][1]
    if ya is None or yb is None:
        pytest.fail("an ISA battery failed; see test_isa_battery")
    assert ya.keys() == yb.keys()
    for key in (k for k in ya if k.endswith("|y")):
        name = key[:-2]
        # Same inputs in both children.
        for part in ("|a", "|b", "|bias"):
            if name + part in ya:
                np.testing.assert_array_equal(ya[name + part], yb[name + part])
        dtype = ya[key].dtype
        tol = tolerance(ya[name + "|a"], ya[name + "|b"],
                        ya.get(name + "|bias"), dtype=dtype)
        err = np.abs(ya[key].astype(np.float64) - yb[key].astype(np.float64))
        assert (err <= tol).all(), (
            f"{name}: {isa_a} vs {isa_b} differ by {err.max():.3g}")


def test_bogus_isa_is_an_import_error():
    proc = run_python("import linearc", isa="bogus")
    assert proc.returncode != 0
    err = proc.stderr
    assert "ImportError" in err, err
    # The message names the bad value and the valid ones.
    assert "bogus" in err, err
    for isa in ALL_ISAS:
        assert isa in err, err


def test_default_is_best_supported():
    code = ("import contextlib, io, linearc\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    c = linearc.show_config()\n"
            "print(c['isa'], ' '.join(c['isa_supported']))")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    isa, *supported = proc.stdout.split()
    assert supported == SUPPORTED
    assert isa == SUPPORTED[0]
