"""Every kernel set this CPU supports, forced with LINEARC_ISA in a fresh
interpreter (the ISA is chosen once, at import): a compact battery of edge
cases (tests/_isa_child.py) checked against the float64 reference, and the
results of different ISAs compared with each other.

Neighbours: the edge cases of the kernel set in use, in depth, are in
test_gemm_edges.py."""
from __future__ import annotations

import itertools
import os
import pathlib
import platform

import numpy as np
import pytest

from linearc import _linearc

import _isa_child
from conftest import run_python, tolerance

TESTS_DIR = pathlib.Path(__file__).resolve().parent
SUPPORTED = _linearc._build_config()["isa_supported"].split()
ALL_ISAS = ("avx512", "avx2", "neon", "generic")
# The architecture each kernel set is built for ("any": every build has it).
ISA_ARCH = {"avx512": "x86-64", "avx2": "x86-64", "neon": "aarch64", "generic": "any"}
ARCH = _linearc._build_config()["arch"]


def child_env(isa=None):
    env = dict(os.environ)
    env.pop("LINEARC_ISA", None)
    if isa is not None:
        env["LINEARC_ISA"] = isa
    return env


def run_battery(isa, out_path):
    """_isa_child.main([isa, out_path]) in a fresh interpreter under
    LINEARC_ISA=isa."""
    code = (f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); "
            "import _isa_child; _isa_child.main(sys.argv[1:])")
    return run_python(code, isa, str(out_path), env=child_env(isa))


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    """isa -> (completed process, saved arrays) for every supported ISA."""
    out = {}
    tmp = tmp_path_factory.mktemp("isa")
    for isa in SUPPORTED:
        path = tmp / f"{isa}.npz"
        proc = run_battery(isa, path)
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
    # Every check ran: 5 shapes x 2 bias x 2 strides x 2 dtypes, forward +
    # 2 or 3 gradients, plus 2 conversions.
    assert _isa_child.expected_count() == 5 * 2 * 2 * 2 * 3 + 5 * 2 * 2 + 2
    assert int(last[2]) == _isa_child.expected_count()
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
    # Same inputs in both children.
    operands = [key for key in ya if not key.endswith("|y")]
    assert operands
    for key in operands:
        np.testing.assert_array_equal(ya[key], yb[key])
    for key in (k for k in ya if k.endswith("|y")):
        name = key[:-2]
        dtype = ya[key].dtype
        tol = tolerance(ya[name + "|a"], ya[name + "|b"],
                        ya.get(name + "|bias"), dtype=dtype)
        err = np.abs(ya[key].astype(np.float64) - yb[key].astype(np.float64))
        assert (err <= tol).all(), (
            f"{name}: {isa_a} vs {isa_b} differ by {err.max():.3g}")


def test_bogus_isa_is_an_import_error():
    proc = run_python("import linearc", env=child_env("bogus"))
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
    proc = run_python(code, env=child_env())
    assert proc.returncode == 0, proc.stderr
    isa, *supported = proc.stdout.split()
    assert supported == SUPPORTED
    assert isa == SUPPORTED[0]


def test_arch_is_the_machines():
    """get_config()["arch"] is the build's architecture, which (for a module
    that imports at all) is this machine's."""
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(),
                                                          platform.machine().lower())
    expected = {"x86_64": "x86-64", "aarch64": "aarch64"}.get(machine)
    if expected is not None:
        assert ARCH == expected
    import linearc
    assert linearc.get_config()["arch"] == ARCH


def test_supported_sets_are_of_this_arch():
    """dispatch lists only the sets built for this architecture, plus the
    portable one, best first."""
    for isa in SUPPORTED:
        assert ISA_ARCH[isa] in (ARCH, "any"), (isa, ARCH)
    assert SUPPORTED[-1] == "generic"
    assert SUPPORTED == [isa for isa in ALL_ISAS if isa in SUPPORTED]
    if ARCH == "aarch64":
        assert SUPPORTED[0] == "neon"


@pytest.mark.parametrize("isa", [i for i in ALL_ISAS if ISA_ARCH[i] not in ("any", ARCH)])
def test_foreign_arch_isa_is_an_import_error(isa):
    """A kernel set of another architecture is not in this build: importing
    under it fails and says which architecture each side is."""
    proc = run_python("import linearc", env=child_env(isa))
    assert proc.returncode != 0
    err = proc.stderr
    assert "ImportError" in err, err
    assert f"LINEARC_ISA={isa}" in err, err
    assert f"for {ISA_ARCH[isa]}" in err, err
    assert f"built for {ARCH}" in err, err


def test_show_config_says_built_for():
    code = "import linearc; linearc.show_config()"
    proc = run_python(code, env=child_env())
    assert proc.returncode == 0, proc.stderr
    assert f"built for {ARCH}" in proc.stdout, proc.stdout
