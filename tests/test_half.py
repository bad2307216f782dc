"""float16 and bfloat16 layers (issue 21): storage in the half type,
arithmetic in float32 chains, defined to the bit.

y[i, j] is the chain acc = float32(bias[j]) (0 without bias); acc =
fmaf(float32(x[i, k]), float32(W[j, k]), acc) for k in order; then acc
rounded once, to nearest even, to the half type (a NaN as the canonical half
NaN: float16 0x7E00, bfloat16 0x7FC0; subnormal halves kept). A float32
out= receives acc itself. Backward: grad_input the same kind of chain over
j, rounded once to the half type; weight_grad and bias_grad float32, their
chains continued over the rows of every call.

Checked here: against the exact reference (tests/_exact.py) on both GEMM
paths, every row count 1..40, several K and N, both half types, with
subnormal, near-overflow, infinite and NaN operands; bit identity across
batch sizes, thread counts, instruction sets and block sizes (the last two
in subprocesses: tests/_half_child.py); torch's float16 and bfloat16
nn.Linear and autograd within the K-scaled bound plus the final rounding;
safetensors and .npz round trips of the state dict.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

import linearc
from linearc import _linearc

import _half_child
from _half_child import mixed_operands
from _exact import fma_chain32, round_to, sum_chain32
from conftest import reference, requires_openmp, tolerance

CONFIG = _linearc._build_config()
F16 = np.dtype(np.float16)
BF16 = np.dtype(ml_dtypes.bfloat16)
NAME = {F16: "float16", BF16: "bfloat16"}
CANONICAL_NAN = {F16: 0x7E00, BF16: 0x7FC0}
TORCH_DTYPE = {F16: torch.float16, BF16: torch.bfloat16}
# The planner's limits of the float32 chains a half layer computes in.
DIRECT_ROWS = CONFIG["float32"]["direct_rows"]
DIRECT_COLS = CONFIG["float32"]["direct_cols"]


@pytest.fixture(params=[F16, BF16], ids=["f16", "bf16"])
def half(request):
    return request.param


def plan(m, n, k, dtype, threads=1):
    """The GEMM plan of a half layer's forward on a contiguous (m, k) input."""
    return _linearc._gemm_plan(m, n, k, NAME[np.dtype(dtype)], threads)


# --- comparing bits -----------------------------------------------------------

def bits16(a):
    a = np.ascontiguousarray(a)
    assert a.dtype.itemsize == 2, a.dtype
    return a.view(np.uint16)


def to_half(acc, dtype):
    """acc (float32) rounded once to the half type, to nearest even; NaN as
    the canonical half NaN. NumPy's and ml_dtypes' casts, checked against
    the rational round_to in test_reference_rounding_to_half."""
    acc = np.asarray(acc, np.float32)
    with np.errstate(over="ignore"):
        out = acc.astype(dtype)
    bits16(out)  # a contiguous 2-byte array
    out.view(np.uint16)[np.isnan(acc)] = CANONICAL_NAN[np.dtype(dtype)]
    return out


def first_difference(got, expected, as_bits):
    where = np.argwhere(as_bits(got) != as_bits(expected))
    idx = tuple(where[0])
    return (f"{len(where)} of {expected.size} elements differ; first at {idx}: "
            f"got {got[idx]!r} ({int(as_bits(got)[idx]):#x}), "
            f"expected {expected[idx]!r} ({int(as_bits(expected)[idx]):#x})")


def assert_half_bits(got, expected, what=""):
    """got is a half array of expected's dtype, equal to it byte for byte."""
    got = np.asarray(got)
    assert got.dtype == expected.dtype, (what, got.dtype, expected.dtype)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    if not np.array_equal(bits16(got), bits16(expected)):
        raise AssertionError(f"{what}: {first_difference(got, expected, bits16)}")


def f32_bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


F32_CANONICAL_NAN = 0x7FC00000


def canonical_f32_nans(a):
    """A copy of float32 a with every NaN as the canonical one."""
    a = np.array(a, np.float32)
    a.view(np.uint32)[np.isnan(a)] = F32_CANONICAL_NAN
    return a


def assert_f32_chain(got, expected, what=""):
    """got is float32 and equals the float32 chain expected bit for bit
    (signed zeros included), with the canonical float32 NaN (NumPy's nan,
    as linearc stores every NaN it computes: test_nan.py) wherever expected
    has a NaN, whose bits are the hardware's."""
    got = np.asarray(got)
    assert got.dtype == np.float32, (what, got.dtype)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(got), nan), f"{what}: NaNs in other places"
    assert (f32_bits(got)[nan] == F32_CANONICAL_NAN).all(), f"{what}: a NaN not canonical"
    if not np.array_equal(f32_bits(got)[~nan], f32_bits(expected)[~nan]):
        shown_got, shown_exp = np.where(nan, 0, got), np.where(nan, 0, expected)
        raise AssertionError(f"{what}: {first_difference(shown_got, shown_exp, f32_bits)}")


# --- operands -------------------------------------------------------------------

def make_layer(w, b, seed=0):
    """A half layer holding W and b exactly."""
    dtype = w.dtype
    n, k = w.shape
    layer = linearc.Linear(k, n, bias=b is not None, dtype=NAME[dtype], seed=seed)
    assert layer.dtype == dtype and layer.weight.dtype == dtype
    layer.weight[...] = w
    if b is not None:
        assert layer.bias.dtype == dtype
        layer.bias[...] = b
    assert bits16(layer.weight).tobytes() == bits16(w).tobytes()
    return layer


def forward_chain(x, w, b):
    """The float32 accumulators of y = x @ W.T + b."""
    return fma_chain32(x, w, b)


# --- the reference itself ----------------------------------------------------------

def test_reference_has_no_double_rounding():
    """fma_chain32 on a chain where rounding the float64 sum to float32
    would be wrong: 1 + 2**-23 plus a product just below half a float32
    ulp. The rational reference agrees with it, not with the double
    rounding."""
    from _exact import exact_chain
    b = np.array([1 + 2.0**-23], np.float32)
    x = np.array([[(1 + 2.0**-23) * 2.0**-12]], np.float32)
    w = np.array([[(1 - 2.0**-23) * 2.0**-12]], np.float32)
    exact = exact_chain(x, w, b, np.float32)
    double_rounded = np.float32(float(b[0]) + float(x[0, 0]) * float(w[0, 0]))
    assert exact[0, 0] == np.float32(1 + 2.0**-23)
    assert double_rounded != exact[0, 0]
    assert fma_chain32(x, w, b).tobytes() == exact.tobytes()


def test_reference_chain_matches_fractions(half):
    """fma_chain32 and sum_chain32 on halves equal the rational chain."""
    from _exact import exact_chain
    x, w, b = mixed_operands(half, 6, 23, 5, True, seed=1)
    finite_x = np.nan_to_num(x.astype(np.float32), nan=0.5, posinf=2.0, neginf=-2.0)
    finite_w = np.nan_to_num(w.astype(np.float32), nan=0.5, posinf=2.0, neginf=-2.0)
    finite_b = np.nan_to_num(b.astype(np.float32), nan=0.5)
    if half == BF16:  # keep the chains finite: no row past 2**100
        finite_x = np.clip(finite_x, -2.0**100, 2.0**100)
    expected = exact_chain(finite_x, finite_w, finite_b, np.float32)
    assert fma_chain32(finite_x, finite_w, finite_b).tobytes() == expected.tobytes()
    ones = np.ones((1, 6), np.float32)
    assert sum_chain32(finite_x[:, :5]).tobytes() == \
        exact_chain(finite_x[:, :5].T, ones, None, np.float32)[:, 0].tobytes()


def test_reference_rounding_to_half(half):
    """to_half rounds float32 to the half type as the rational round_to does:
    on every midpoint between neighbouring halves (ties to even), around
    the subnormals and the largest finite half (overflow to infinity)."""
    info = ml_dtypes.finfo(half)
    rng = np.random.default_rng(2)
    pats = np.concatenate([np.arange(0, 0x400), rng.integers(0, 0x7C00 if half == F16
                                                              else 0x7F80, 3000)])
    lo = np.unique(pats.astype(np.uint16)).view(half).astype(np.float64)
    hi = np.nextafter(lo.astype(half), np.array(np.inf, half)).astype(np.float64)
    mids = (lo + hi) / 2
    values = np.concatenate([mids, np.nextafter(mids.astype(np.float32), np.float32(0)),
                             np.nextafter(mids.astype(np.float32), np.float32(np.inf)),
                             float(info.max) * np.array([1.0, 1.0 + 2.0**-12, 1.01, 2])])
    with np.errstate(over="ignore"):
        values = values.astype(np.float32)
    values = values[np.isfinite(values)]  # bfloat16's 2 max is past float32's
    values = np.concatenate([values, -values])
    got = to_half(values, half)
    limit = Fraction(float(info.max))
    for v, h in zip(values.tolist(), got.astype(np.float64).tolist()):
        r = round_to(Fraction(v), half)
        want = float(r) if abs(r) <= limit else float(np.copysign(np.inf, v))
        assert h == want, (v, h, want)
    assert to_half(np.float32(np.nan), half).view(np.uint16) == CANONICAL_NAN[half]


# --- the forward against the exact reference ------------------------------------

def check_rows(layer, x, acc, rows, what):
    """layer on x[:m], for each m in rows: the half result, a half out= and a
    float32 out= against the accumulators acc of all of x."""
    dtype = layer.dtype
    expected = to_half(acc, dtype)
    for m in rows:
        assert_half_bits(layer(x[:m]), expected[:m], f"{what} rows {m}")
        out = np.empty((m, layer.out_features), dtype)
        assert layer(x[:m], out=out) is out
        assert_half_bits(out, expected[:m], f"{what} rows {m}, out=half")
        out32 = np.full((m, layer.out_features), -1.0, np.float32)
        assert layer(x[:m], out=out32) is out32
        assert_f32_chain(out32, acc[:m], f"{what} rows {m}, out=float32")


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("n", [1, 5, 64, 100])
@pytest.mark.parametrize("k", [1, 7, 64, 300])
def test_forward_is_the_exact_chain(k, n, bias, half):
    """Every row count 1..40 (the direct path) on mixed operands."""
    x, w, b = mixed_operands(half, 40, k, n, bias, seed=k * 1000 + n)
    layer = make_layer(w, b)
    assert {plan(m, n, k, half)["path"] for m in range(1, 41)} == {"direct"}
    check_rows(layer, x, forward_chain(x, w, b), range(1, 41), f"k {k} n {n}")


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_long_k_direct_is_the_exact_chain(bias, half):
    """K = 3000: many direct-path K blocks, the chain carried across them."""
    x, w, b = mixed_operands(half, 40, 3000, 5, bias, seed=3)
    layer = make_layer(w, b)
    p = plan(40, 5, 3000, half)
    assert p["path"] == "direct" and p["kc"] < 3000
    check_rows(layer, x, forward_chain(x, w, b), range(1, 41), "k 3000")


@pytest.mark.parametrize("k,several_k_blocks", [(7, False), (300, False), (3000, True)])
def test_blocked_path_is_the_exact_chain(k, several_k_blocks, half):
    """Past the direct path's rows, with more columns than one direct tile:
    packed operands, and at K = 3000 several K blocks whose chains continue
    in the float32 home between them."""
    m, n = DIRECT_ROWS + 12, 100
    x, w, b = mixed_operands(half, m, k, n, True, seed=k)
    layer = make_layer(w, b)
    p = plan(m, n, k, half)
    assert p["path"] == "blocked"
    # K = 3000 is past every kernel set's kc_max (2560 for AVX-512's
    # measured table, 1280 by the model for AVX2): two or more K blocks
    assert (len(range(0, k, p["kc"])) > 1) == several_k_blocks
    check_rows(layer, x, forward_chain(x, w, b), [DIRECT_ROWS + 1, m], f"k {k}")


def test_every_half_value_through_one_step(half):
    """K = 1 on every 16-bit pattern: x * w rounded to float32 and then to
    the half type, for w = 1 (every finite half comes back unchanged,
    subnormals too, but -0 as +0, the sum with the chain's starting 0;
    every NaN pattern as the canonical NaN), 0.5 (ties
    among the subnormals, rounded to even), -3 (overflow to -inf) and a
    small power of two (results into the subnormals and to zero)."""
    x = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(half).reshape(-1, 1)
    w = np.array([[1.0], [0.5], [-3.0], [2.0**-10]]).astype(half)
    layer = make_layer(w, None)
    acc = forward_chain(x, w, None)
    y = layer(x)
    assert_half_bits(y, to_half(acc, half), "every half")
    x32 = x[:, 0].astype(np.float32)
    finite = np.isfinite(x32) & (x32 != 0)
    assert np.array_equal(bits16(y[:, 0])[finite], bits16(x[:, 0])[finite])
    # -0 * 1 added to the chain's starting 0 is +0
    assert (bits16(y[:, 0])[x32 == 0] == 0).all()
    assert (bits16(y[:, 0])[np.isnan(x[:, 0].astype(np.float32))] == CANONICAL_NAN[half]).all()
    out32 = np.empty((65536, 4), np.float32)
    layer(x, out=out32)
    assert_f32_chain(out32, acc, "every half, out=float32")


def test_subnormal_overflow_and_nan_results(half):
    """The mixed operands really give subnormal, infinite and NaN half
    results (infinities from finite operands too), and linearc's equal the
    reference there."""
    x, w, b = mixed_operands(half, 40, 64, 100, True, seed=4)
    layer = make_layer(w, b)
    acc = forward_chain(x, w, b)
    expected = to_half(acc, half)
    e = expected.astype(np.float32)
    tiny = float(ml_dtypes.finfo(half).smallest_normal)
    assert ((np.abs(e) < tiny) & (e != 0)).sum() >= 10
    assert np.isinf(e).sum() >= 10 and np.isnan(e).sum() >= 10
    finite_operands = (np.isfinite(x.astype(np.float32)).all(axis=1)[:, None]
                       & np.isfinite(w.astype(np.float32)).all(axis=1)
                       & np.isfinite(b.astype(np.float32)))
    assert (np.isinf(e) & finite_operands).sum() >= 1
    y = layer(x)
    assert_half_bits(y, expected, "mixed")
    assert (bits16(y)[np.isnan(e)] == CANONICAL_NAN[half]).all()


def test_float32_out_keeps_what_float16_cannot_hold():
    """Past 65504 a float16 result is infinite; the float32 out= has the
    chain's finite value, and below the smallest float16 subnormal the
    float32 value the float16 result rounds to zero."""
    w = np.array([[1.0, 1.0], [2.0**-14, 2.0**-14]], np.float16)
    x = np.array([[60000.0, 60000.0], [2.0**-14, 2.0**-13]], np.float16)
    layer = make_layer(w, None)
    y = layer(x)
    out32 = np.empty((2, 2), np.float32)
    layer(x, out=out32)
    assert np.isposinf(y[0, 0]) and out32[0, 0] == 120000.0
    assert y[1, 1] == 0 and out32[1, 1] == np.float32(3 * 2.0**-28)
    assert_f32_chain(out32, forward_chain(x, w, None), "float32 out=")
    assert_half_bits(y, to_half(forward_chain(x, w, None), F16), "float16")


def test_nan_operands_give_the_canonical_nan(half):
    """NaNs of both signs, with payloads (a signalling float16 one too), in
    the input, the weight and the bias: every NaN result is the canonical
    half NaN."""
    nan_bits = [0x7E00, 0xFE00, 0x7E5A, 0xFD01] if half == F16 else \
        [0x7FC0, 0xFFC0, 0x7FD3, 0xFF81]
    nans = np.array(nan_bits, np.uint16).view(half)
    rng = np.random.default_rng(5)
    w = rng.standard_normal((70, 33)).astype(half)
    b = rng.standard_normal(70).astype(half)
    x = rng.standard_normal((20, 33)).astype(half)
    w[::7, 3] = nans[np.arange(10) % 4]
    b[5::9] = nans[np.arange(8) % 4]
    x[::3, 11] = nans[np.arange(7) % 4]
    layer = make_layer(w, b)
    y = layer(x)
    nan = np.isnan(y.astype(np.float32))
    assert nan.sum() > 100
    assert (bits16(y)[nan] == CANONICAL_NAN[half]).all()
    assert_half_bits(y, to_half(forward_chain(x, w, b), half), "NaN operands")


def test_other_input_dtypes_are_cast_to_the_half_type_first(half):
    """float32 and float64 inputs are rounded to the half type by NumPy
    before the chain: the result is that of the rounded input, which is
    not that of a chain on the unrounded float32 values."""
    rng = np.random.default_rng(6)
    w = rng.standard_normal((17, 40)).astype(half)
    b = rng.standard_normal(17).astype(half)
    layer = make_layer(w, b)
    x64 = rng.standard_normal((9, 40))
    for x in (x64, x64.astype(np.float32)):
        rounded = x.astype(half)
        assert_half_bits(layer(x), to_half(forward_chain(rounded, w, b), half), str(x.dtype))
    unrounded = fma_chain32(x64.astype(np.float32), w, b)
    assert not np.array_equal(unrounded, forward_chain(x64.astype(half), w, b))


def test_the_chain_is_not_the_float64_rounded_sum(half):
    """The float32 out= has teeth: a float64 sum rounded once to float32
    differs from the chain."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((20, 300)).astype(half)
    b = rng.standard_normal(20).astype(half)
    x = rng.standard_normal((4, 300)).astype(half)
    layer = make_layer(w, b)
    out32 = np.empty((4, 20), np.float32)
    layer(x, out=out32)
    once = (x.astype(np.float64) @ w.astype(np.float64).T + b.astype(np.float64)) \
        .astype(np.float32)
    assert out32.tobytes() != once.tobytes()
    assert out32.tobytes() == forward_chain(x, w, b).tobytes()


# --- bit identity: batches, threads, instruction sets, blocks --------------------

BATCHES = [1, 2, 5, 8, 9, 16, 17, 31, 32, 33, 64, 100, DIRECT_ROWS, DIRECT_ROWS + 1,
           200, 257, 300]


def test_a_row_alone_equals_the_row_in_any_batch(half):
    """Forward (half and float32 out=) and grad_input, on both paths."""
    k, n = 257, 130
    x, w, b = mixed_operands(half, 300, k, n, True, seed=8)
    g = mixed_operands(half, 300, n, 1, False, seed=9)[0]
    layer = make_layer(w, b)
    alone = np.stack([layer(row) for row in x])
    alone32 = np.stack([layer(row, out=np.empty(n, np.float32)) for row in x])
    alone_gi = np.stack([layer.backward(xr, gr) for xr, gr in zip(x, g)])
    assert {plan(rows, n, k, half)["path"] for rows in BATCHES} == {"direct", "blocked"}
    for rows in BATCHES:
        for start in (0, min(7, 300 - rows), 300 - rows):
            s = slice(start, start + rows)
            what = f"rows {rows} from {start}"
            assert_half_bits(layer(x[s]), alone[s], what)
            out32 = np.empty((rows, n), np.float32)
            layer(x[s], out=out32)
            assert out32.tobytes() == alone32[s].tobytes(), what
            assert_half_bits(layer.backward(x[s], g[s]), alone_gi[s], what + " grad_input")
    assert_half_bits(alone, to_half(forward_chain(x, w, b), half), "alone")


@pytest.fixture
def restore_threads():
    yield
    linearc.set_num_threads(None)


@requires_openmp
@pytest.mark.parametrize("shape", [(1, 4096, 512), (7, 600, 700), (33, 300, 257),
                                   (300, 500, 400), (1000, 64, 64)],
                         ids=lambda s: "x".join(map(str, s)))
def test_threads_give_the_same_bits(shape, half, restore_threads):
    m, k, n = shape
    x, w, b = mixed_operands(half, m, k, n, True, seed=10)
    g = mixed_operands(half, m, n, 1, False, seed=11)[0]
    layer = make_layer(w, b)
    results = []
    for threads in (1, 2, 3):
        linearc.set_num_threads(threads)
        layer.zero_grad()
        gi = layer.backward(x, g)
        out32 = np.empty((m, n), np.float32)
        layer(x, out=out32)
        results.append(layer(x).tobytes() + out32.tobytes() + gi.tobytes()
                       + layer.weight_grad.tobytes() + layer.bias_grad.tobytes())
    assert results[0] == results[1] == results[2]
    assert plan(m, n, k, half, 2)["threads"] == 2  # really split


CHILD = Path(__file__).with_name("_half_child.py")


def child_report(isa, *args, **env):
    proc = subprocess.run([sys.executable, str(CHILD), *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "LINEARC_ISA": isa, **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def child_digests():
    """The child's digests computed here, at the default ISA and blocks,
    where test_child_cases_are_exact checks every product."""
    try:
        return _half_child.report()
    finally:
        linearc.set_num_threads(None)


def test_child_cases_are_exact():
    """Every product the child digests, here, against the reference: so a
    child's equal digests are exact results too."""
    count = 0
    try:
        for name, threads, layer, x, g in _half_child.all_cases():
            linearc.set_num_threads(threads)
            w, b = layer.weight.copy(), layer.bias.copy()
            got = _half_child.products(layer, x, g)
            acc = forward_chain(x, w, b)
            gi = to_half(fma_chain32(g, w.T), layer.dtype)
            wg = fma_chain32(g.T, x.T)
            bg = sum_chain32(g)
            expected = [to_half(acc, layer.dtype), acc, gi, wg, bg, gi,
                        fma_chain32(g.T, x.T, wg), sum_chain32(g, bg)]
            what = f"{name} {x.shape} -> {layer.out_features}, {threads} threads"
            for i, (a, e) in enumerate(zip(got, expected)):
                if e.dtype == np.float32:
                    assert_f32_chain(a, e, f"{what} product {i}")
                else:
                    assert_half_bits(a, e, f"{what} product {i}")
            count += 1
    finally:
        linearc.set_num_threads(None)
    assert count == 2 * (2 * len(_half_child.CASES) + 1)


ISAS = ["avx512", "avx2", "generic"]


@pytest.mark.parametrize("isa", ISAS)
def test_every_instruction_set_gives_the_same_bits(isa, child_digests):
    supported = CONFIG["isa_supported"].split()
    assert "generic" in supported
    if isa not in supported:
        pytest.skip(f"this CPU cannot run LINEARC_ISA={isa} (it has: {' '.join(supported)})")
    got = child_report(isa)
    assert got["isa"] == isa
    assert len(got["digests"]) == len(child_digests["digests"]) > 10
    assert got["digests"] == child_digests["digests"]


# The cases of _half_child.CASES with 2..40 rows and more columns than one
# direct tile: direct at the default blocks, packed without a direct path.
SMALL_WIDE = [i for i, (m, k, n) in enumerate(_half_child.CASES) if 1 < m <= 40 and n > DIRECT_COLS]


@pytest.mark.parametrize("blocking,small_wide_path", [
    # tiny and odd blocks, no direct path: K in many blocks of 7
    ("7,24,96,3,1,0", "blocked"),
    # huge blocks, direct path up to 1000 rows
    ("3000,960,8192,900,64,1000", "direct"),
])
def test_block_sizes_do_not_change_a_bit(blocking, small_wide_path, child_digests):
    assert len(SMALL_WIDE) == 3
    assert [child_digests["paths"][2 * i] for i in SMALL_WIDE] == ["direct"] * 3
    got = child_report(CONFIG["isa"], LINEARC_BLOCKING_F32=blocking)
    assert [got["paths"][2 * i] for i in SMALL_WIDE] == [small_wide_path] * 3
    assert got["digests"] == child_digests["digests"]


def test_blocked_path_rows_1_to_40_are_exact():
    """Without a direct path (direct_rows 0) and with tiny blocks (K in
    blocks of 7), every batch of 1..40 rows of layers wider than a direct
    tile packs, and its half result and float32 out= are the reference's."""
    got = child_report(CONFIG["isa"], "rows", LINEARC_BLOCKING_F32="7,24,96,3,1,0")
    assert set(got["paths"]) == {"blocked"}
    expected = []
    for name, k, n, x, w, b in _half_child.row_cases():
        acc = forward_chain(x, w, b)
        y = to_half(acc, w.dtype)
        expected += [_half_child.digest([y[:m], canonical_f32_nans(acc[:m])])
                     for m in _half_child.ROWS]
    assert len(got["digests"]) == len(expected) == 2 * 3 * 40
    bad = [i for i, (a, e) in enumerate(zip(got["digests"], expected)) if a != e]
    cases = [(name, k, n, m) for name, k, n, *_ in _half_child.row_cases()
             for m in _half_child.ROWS]
    assert not bad, f"{len(bad)} batches differ, first {cases[bad[0]]} (name, k, n, rows)"


# --- torch's half nn.Linear, within the bound ------------------------------------

def to_torch(a):
    a = np.ascontiguousarray(a)
    if a.dtype == BF16:
        return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(a.copy())


def from_torch(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(BF16)
    return t.numpy()


def half_tolerance(x, w, b, dtype):
    """(float64 reference, bound) for a half result of x @ w.T + b: the
    float32 chain's K-scaled bound (linearc._accuracy.tolerance), plus the
    final rounding to the half type: half an ulp, u |y| for a normal
    result, at most half the smallest subnormal below those."""
    info = ml_dtypes.finfo(dtype)
    x32, w32 = np.asarray(x).astype(np.float32), np.asarray(w).astype(np.float32)
    b32 = None if b is None else np.asarray(b).astype(np.float32)
    y64 = reference(x32, w32, b32, np.float32)
    chain = tolerance(x32, w32, b32, np.float32)
    u = 2.0 ** -(int(info.nmant) + 1)
    return y64, chain + u * (np.abs(y64) + chain) + float(info.smallest_subnormal) / 2


def assert_within(y, y64, tol, what):
    y = np.asarray(y).astype(np.float64)
    assert y.shape == y64.shape, (what, y.shape, y64.shape)
    bad = ~(np.abs(y - y64) <= tol)
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} outside the bound; first "
                             f"at {idx}: {y[idx]!r} vs {y64[idx]!r}, tolerance {tol[idx]:.3g}")


TORCH_SHAPES = [(8, 64, 32), (40, 300, 100), (3, 3000, 5), (150, 257, 130)]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", TORCH_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_forward_matches_torch(shape, bias, half):
    m, k, n = shape
    rng = np.random.default_rng(m + k + n)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(half)
    b = rng.standard_normal(n).astype(half) if bias else None
    x = rng.standard_normal((m, k)).astype(half)
    layer = make_layer(w, b)
    tl = torch.nn.Linear(k, n, bias=bias, dtype=TORCH_DTYPE[half])
    with torch.no_grad():
        tl.weight.copy_(to_torch(w))
        if bias:
            tl.bias.copy_(to_torch(b))
        ty = from_torch(tl(to_torch(x)))
    assert ty.dtype == half
    y = layer(x)
    y64, tol = half_tolerance(x, w, b, half)
    assert_within(y, y64, tol, "linearc")
    assert_within(ty, y64, tol, "torch")


@pytest.mark.parametrize("shape", [(8, 64, 32), (100, 300, 130)],
                         ids=lambda s: "x".join(map(str, s)))
def test_backward_matches_torch_autograd(shape, half):
    """grad_input (half) and torch's, within the half bound; linearc's
    float32 weight and bias gradients within the float32 bound, torch's
    half ones within the half bound; all of the same float64 reference."""
    m, k, n = shape
    rng = np.random.default_rng(m * n)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(half)
    b = rng.standard_normal(n).astype(half)
    x = rng.standard_normal((m, k)).astype(half)
    g = rng.standard_normal((m, n)).astype(half)
    layer = make_layer(w, b)
    gi = layer.backward(x, g)
    tl = torch.nn.Linear(k, n, dtype=TORCH_DTYPE[half])
    with torch.no_grad():
        tl.weight.copy_(to_torch(w))
        tl.bias.copy_(to_torch(b))
    tx = to_torch(x).requires_grad_()
    tl(tx).backward(to_torch(g))
    ones = np.ones((1, m), half)
    checks = [("grad_input", gi, from_torch(tx.grad), (g, w.T)),
              ("weight_grad", layer.weight_grad, from_torch(tl.weight.grad), (g.T, x.T)),
              ("bias_grad", layer.bias_grad[:, None], from_torch(tl.bias.grad)[:, None],
               (g.T, ones))]
    assert gi.dtype == half
    assert layer.weight_grad.dtype == layer.bias_grad.dtype == np.float32
    for name, ours, theirs, (a, bmat) in checks:
        y64, tol = half_tolerance(a, bmat, None, half)
        assert_within(theirs, y64, tol, f"torch {name}")
        # linearc's weight and bias gradients stay float32: the float32 bound
        tol32 = tolerance(a.astype(np.float32), bmat.astype(np.float32), None, np.float32)
        assert_within(ours, y64, tol if name == "grad_input" else tol32, f"linearc {name}")


# --- backward against the exact reference ------------------------------------------

@pytest.mark.parametrize("shape", [(1, 7, 5), (6, 9, 5), (40, 64, 100), (33, 300, 17),
                                   (150, 100, 130)],
                         ids=lambda s: "x".join(map(str, s)))
def test_backward_is_the_exact_chain(shape, half):
    m, k, n = shape
    x, w, b = mixed_operands(half, m, k, n, True, seed=m + k)
    g = mixed_operands(half, m, n, 1, False, seed=m + n)[0]
    layer = make_layer(w, b)
    gi = layer.backward(x, g)
    # grad_input[i, k]: the chain over j of g[i, j] W[j, k], rounded once
    assert_half_bits(gi, to_half(fma_chain32(g, w.T), half), "grad_input")
    # weight_grad[j, k]: the chain over the rows of g[r, j] x[r, k], float32
    assert_f32_chain(layer.weight_grad, fma_chain32(g.T, x.T), "weight_grad")
    # bias_grad[j]: g[r, j] added over the rows in order, float32
    assert_f32_chain(layer.bias_grad, sum_chain32(g), "bias_grad")


def test_backward_chains_continue_across_calls(half):
    """Two backward calls (13 rows, then 27) equal one call on all 40 rows,
    bit for bit, and the continued reference chains."""
    x, w, b = mixed_operands(half, 40, 50, 30, True, seed=12)
    g = mixed_operands(half, 40, 30, 1, False, seed=13)[0]
    layer = make_layer(w, b)
    layer.backward(x, g)
    whole = layer.weight_grad.copy(), layer.bias_grad.copy()
    assert_f32_chain(whole[0], fma_chain32(g.T, x.T), "one call")
    layer.zero_grad()
    layer.backward(x[:13], g[:13])
    wg13 = layer.weight_grad.copy()
    layer.backward(x[13:], g[13:])
    assert layer.weight_grad.tobytes() == whole[0].tobytes()
    assert layer.bias_grad.tobytes() == whole[1].tobytes()
    assert_f32_chain(layer.weight_grad, fma_chain32(g[13:].T, x[13:].T, wg13), "continued")
    # the split really is a continuation: a chain restarted at 0 differs
    assert not np.array_equal(fma_chain32(g[13:].T, x[13:].T), whole[0])


# --- saving and loading ----------------------------------------------------------

def read_safetensors(path):
    """{name: array} of a safetensors file, read by hand: the 8-byte header
    length, the JSON header, raw little-endian data; BF16 as uint16 viewed
    as ml_dtypes.bfloat16 (safetensors.numpy cannot load it)."""
    types = {"F16": F16, "BF16": BF16, "F32": np.dtype(np.float32)}
    raw = Path(path).read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    data = raw[8 + size:]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        dtype = types[meta["dtype"]]
        out[name] = np.frombuffer(data[start:end], np.uint16 if dtype.itemsize == 2
                                  else np.uint32).view(dtype).reshape(meta["shape"])
    return out


def test_safetensors_round_trip(half, tmp_path):
    layer = linearc.Linear(33, 17, dtype=NAME[half], seed=14)
    x = np.random.default_rng(14).standard_normal((5, 33)).astype(half)
    state = layer.state_dict()
    assert {k: v.dtype for k, v in state.items()} == {"weight": half, "bias": half}
    path = tmp_path / "layer.safetensors"
    safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in state.items()},
                                str(path))
    loaded = read_safetensors(path)
    # torch reads the same bits from the file: it is a real safetensors file
    by_torch = safetensors.torch.load_file(str(path))
    fresh = linearc.Linear(33, 17, dtype=NAME[half], seed=15)
    assert bits16(fresh.weight).tobytes() != bits16(layer.weight).tobytes()
    fresh.load_state_dict(loaded)
    for name in ("weight", "bias"):
        assert loaded[name].dtype == half
        assert bits16(getattr(fresh, name)).tobytes() == bits16(state[name]).tobytes()
        assert from_torch(by_torch[name]).tobytes() == bits16(state[name]).tobytes()
    assert_half_bits(fresh(x), layer(x), "after loading")


def test_safetensors_numpy_loads_float16(tmp_path):
    layer = linearc.Linear(9, 4, dtype="float16", seed=16)
    path = tmp_path / "f16.safetensors"
    safetensors.numpy.save_file(layer.state_dict(), str(path))
    loaded = safetensors.numpy.load_file(str(path))
    fresh = linearc.Linear(9, 4, dtype="float16", seed=17)
    fresh.load_state_dict(loaded)
    assert fresh.weight.tobytes() == layer.weight.tobytes()
    assert fresh.bias.tobytes() == layer.bias.tobytes()


def test_npz_round_trip(half, tmp_path):
    """float16 as itself; bfloat16 through a uint16 view (.npy has no
    bfloat16 type)."""
    layer = linearc.Linear(21, 6, dtype=NAME[half], seed=18)
    x = np.random.default_rng(18).standard_normal((4, 21)).astype(half)
    path = tmp_path / "layer.npz"
    state = layer.state_dict()
    if half == BF16:
        np.savez(path, **{k: v.view(np.uint16) for k, v in state.items()})
    else:
        np.savez(path, **state)
    with np.load(path) as f:
        loaded = {k: f[k].view(half) for k in f.files}
    fresh = linearc.Linear(21, 6, dtype=NAME[half], seed=19)
    fresh.load_state_dict(loaded)
    for name in ("weight", "bias"):
        assert bits16(getattr(fresh, name)).tobytes() == bits16(state[name]).tobytes()
    assert_half_bits(fresh(x), layer(x), "after loading")
