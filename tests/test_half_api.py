"""float16 and bfloat16 layers (issue 21): everything around the product.

Construction from every spelling of the two dtypes, the initial values (the
float32 layer's draw, rounded to nearest even), storage in half the memory,
assignment, state dicts, pickling, counting and summaries, get_config, the
dtype rules of inputs, out=, gradients and the functional linear(), and the
errors. The arithmetic itself (an exact reference, the same bits on every
path and thread count) is tests/test_half.py's.

bfloat16 is ml_dtypes' (the "bfloat16" extra, part of the test extra); the
bfloat16 cases are skipped where it is not installed, and what linearc does
without it is checked in child interpreters that cannot import it.
"""
from __future__ import annotations

import copy
import math
import pickle
import re
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

import linearc
from linearc import Linear
from linearc import _linearc

from conftest import run_python, snapshot

try:
    import ml_dtypes
except ImportError:  # the bfloat16 cases are skipped
    ml_dtypes = None

needs_ml_dtypes = pytest.mark.skipif(ml_dtypes is None, reason="needs ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16) if ml_dtypes is not None else None
F16 = np.dtype(np.float16)

MISSING = 'bfloat16 needs the ml_dtypes package: pip install "linearc[bfloat16]"'


@pytest.fixture(params=[pytest.param("float16", id="f16"),
                        pytest.param("bfloat16", id="bf16", marks=needs_ml_dtypes)])
def half(request):
    """The numpy dtype of a half layer."""
    return F16 if request.param == "float16" else BF16


TORCH = {"float16": torch.float16, "bfloat16": torch.bfloat16,
         "float32": torch.float32}


def bits(a):
    """An array's dtype, shape and bytes: equal only if bit for bit equal."""
    a = np.asarray(a)
    return a.dtype.str, a.shape, a.tobytes()


def torch_bits(t):
    """A torch tensor's values as a NumPy array of the same bits and dtype."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(BF16)
    return t.numpy()


def rounded(values, half):
    """values (any floats) rounded by NumPy to the half dtype."""
    return np.asarray(values).astype(half)


# ---- construction ----------------------------------------------------------

SPELLINGS = [
    pytest.param("float16", F16, id="str-float16"),
    pytest.param("f2", F16, id="str-f2"),
    pytest.param(np.float16, F16, id="np.float16"),
    pytest.param(np.dtype(np.float16), F16, id="dtype-float16"),
    pytest.param("bfloat16", "bf16", id="str-bfloat16", marks=needs_ml_dtypes),
    pytest.param("ml_dtypes.bfloat16", "bf16", id="ml_dtypes.bfloat16",
                 marks=needs_ml_dtypes),
    pytest.param("dtype(bfloat16)", "bf16", id="dtype-bfloat16",
                 marks=needs_ml_dtypes),
]


def _spelled(spelling):
    if spelling == "ml_dtypes.bfloat16":
        return ml_dtypes.bfloat16
    if spelling == "dtype(bfloat16)":
        return np.dtype(ml_dtypes.bfloat16)
    return spelling


@pytest.mark.parametrize("spelling, expected", SPELLINGS)
@pytest.mark.parametrize("bias", [True, False])
def test_every_spelling_makes_a_half_layer(spelling, expected, bias):
    expected = BF16 if expected == "bf16" else expected
    layer = Linear(4, 3, bias, dtype=_spelled(spelling), seed=5)
    assert layer.dtype == expected
    assert layer.weight.dtype == expected and layer.weight.shape == (3, 4)
    assert [(p.dtype, p.shape) for p in layer.parameters()] == \
        [(expected, (3, 4)), (expected, (3,))][:1 + bias]
    assert (layer.bias is None) == (not bias)


@pytest.mark.parametrize("seed", [0, 5, 2**64 - 1])
@pytest.mark.parametrize("shape", [(4, 3), (1, 1), (17, 33), (256, 5), (0, 4),
                                   (4, 0), (0, 0)])
def test_init_is_the_float32_draw_rounded(half, seed, shape):
    """Bit for bit the float32 layer's values of the same seed, cast."""
    layer = Linear(*shape, dtype=half, seed=seed)
    full = Linear(*shape, seed=seed)
    assert bits(layer.weight) == bits(rounded(full.weight, half))
    assert bits(layer.bias) == bits(rounded(full.bias, half))
    layer.weight = np.ones(layer.weight.shape)
    layer.reset_parameters(seed=seed)
    assert bits(layer.weight) == bits(rounded(full.weight, half))
    assert bits(layer.bias) == bits(rounded(full.bias, half))


def test_init_rounds_to_nearest_even_not_truncates():
    """Enough values that truncation would differ from rounding somewhere."""
    layer = Linear(64, 64, dtype="float16", seed=1)
    full = Linear(64, 64, seed=1).weight
    truncated = (full.view(np.uint32) & ~np.uint32(0x1FFF)).astype(np.uint32)
    assert (rounded(truncated.view(np.float32), F16) != layer.weight).any()
    assert bits(layer.weight) == bits(rounded(full, F16))


def test_half_the_memory(half):
    layer, full = Linear(33, 17, dtype=half), Linear(33, 17)
    assert layer.weight.nbytes * 2 == full.weight.nbytes == 33 * 17 * 4
    assert layer.bias.nbytes * 2 == full.bias.nbytes
    assert layer.num_parameters == full.num_parameters == 33 * 17 + 17
    assert layer.dtype.itemsize == 2


def test_parameters_are_views_of_the_layer(half):
    layer = Linear(4, 3, dtype=half, seed=0)
    w = layer.weight
    assert w.base is layer and not w.flags.owndata
    w[1, 2] = 0.5
    layer.bias[0] = -2.0
    assert layer.weight[1, 2] == 0.5 and layer.bias[0] == -2.0
    assert layer.state_dict()["weight"][1, 2] == 0.5


# ---- assignment ------------------------------------------------------------

SOURCES = ["float32", "float64", "float16", "bfloat16", "int32", "list"]


def _source(kind, values):
    if kind == "list":
        return values.tolist()
    if kind == "bfloat16":
        return values.astype(BF16)
    return values.astype(kind)


@pytest.mark.parametrize("kind", SOURCES)
def test_setters_cast_numpy_sources_as_numpy_does(half, kind, rng):
    if kind == "bfloat16" and ml_dtypes is None:
        pytest.skip("needs ml_dtypes")
    layer = Linear(5, 3, dtype=half, seed=0)
    scale = 100 if kind == "int32" else 1
    w = _source(kind, rng.standard_normal((3, 5)) * scale)
    b = _source(kind, rng.standard_normal(3) * scale)
    w_before, b_before = copy.deepcopy(w), copy.deepcopy(b)
    layer.weight = w
    layer.bias = b
    assert bits(layer.weight) == bits(rounded(np.asarray(w), half))
    assert bits(layer.bias) == bits(rounded(np.asarray(b), half))
    assert layer.weight.dtype == half  # the layer keeps its dtype
    assert bits(w) == bits(w_before) and bits(b) == bits(b_before)


def test_float32_values_round_to_nearest_even(half):
    """Halfway between two half values: the even one, as torch's .to()."""
    layer = Linear(2, 2, bias=False, dtype=half)
    one = 1.0
    step = 2.0**-10 if half == F16 else 2.0**-7  # spacing of halves at 1
    w = np.array([[one + step / 2, one + 3 * step / 2],
                  [-(one + step / 2), one + step / 4]], np.float32)
    layer.weight = w
    expected = np.array([[one, one + 2 * step], [-one, one]])
    np.testing.assert_array_equal(layer.weight.astype(np.float64), expected)
    t = torch.from_numpy(w).to(TORCH[half.name])
    assert bits(layer.weight) == bits(torch_bits(t))


@pytest.mark.parametrize("tdtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "grad"])
def test_setters_take_torch_tensors(half, tdtype, requires_grad, rng):
    """torch float16 tensors convert through NumPy's float16, bfloat16 ones
    widen exactly to float32: either way a layer of the tensor's own dtype
    holds its bits, and another half layer their rounding."""
    values = rng.standard_normal((3, 5)).astype(np.float32)
    t = torch.from_numpy(values).to(TORCH[tdtype]).requires_grad_(requires_grad)
    before = t.detach().clone()
    layer = Linear(5, 3, dtype=half)
    layer.weight = t
    exact = t.detach().float().numpy()  # every value, exactly
    assert bits(layer.weight) == bits(rounded(exact, half))
    assert torch.equal(t.detach(), before) and t.grad is None


def test_a_tensor_of_the_layer_dtype_gives_its_bits(half, rng):
    t = torch.from_numpy(rng.standard_normal((3, 5))).to(TORCH[half.name])
    layer = Linear(5, 3, dtype=half)
    layer.weight = t
    assert bits(layer.weight) == bits(torch_bits(t))


def test_setters_refuse_wrong_shapes_and_kinds(half):
    layer = Linear(4, 3, dtype=half, seed=0)
    before = snapshot(layer)
    with pytest.raises(ValueError, match=r"weight must have shape \(3, 4\), got \(4, 3\)"):
        layer.weight = np.zeros((4, 3), np.float32)
    with pytest.raises(TypeError, match=rf"cannot cast weight of dtype complex128 to "
                                        rf"{half.name}"):
        layer.weight = np.zeros((3, 4), complex)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        layer.bias = np.zeros(4, half)
    assert snapshot(layer) == before


# ---- state dicts -----------------------------------------------------------

def test_state_dict_is_a_copy_in_the_layer_dtype(half):
    layer = Linear(4, 3, dtype=half, seed=2)
    state = layer.state_dict()
    assert {k: v.dtype for k, v in state.items()} == {"weight": half, "bias": half}
    assert bits(state["weight"]) == bits(layer.weight)
    assert state["weight"].flags.c_contiguous and state["weight"].base is None
    state["weight"][...] = 7
    state["bias"][...] = 7
    assert (layer.weight != 7).all() and (layer.bias != 7).all()


@pytest.mark.parametrize("tdtype", ["float16", "bfloat16"])
def test_load_state_dict_from_torch(half, tdtype):
    torch.manual_seed(0)
    tlayer = torch.nn.Linear(6, 4, dtype=TORCH[tdtype])
    layer = Linear(6, 4, dtype=half)
    result = layer.load_state_dict(tlayer.state_dict())
    assert (result.missing_keys, result.unexpected_keys) == ([], [])
    for name in ("weight", "bias"):
        exact = getattr(tlayer, name).detach().float().numpy()
        assert bits(getattr(layer, name)) == bits(rounded(exact, half))


def test_load_state_dict_from_torch_of_the_layer_dtype_is_exact(half):
    torch.manual_seed(0)
    tlayer = torch.nn.Linear(6, 4, dtype=TORCH[half.name])
    layer = Linear(6, 4, dtype=half)
    layer.load_state_dict(tlayer.state_dict())
    assert bits(layer.weight) == bits(torch_bits(tlayer.weight))
    assert bits(layer.bias) == bits(torch_bits(tlayer.bias))


def test_load_state_dict_from_a_float32_layer_rounds(half):
    full = Linear(6, 4, seed=9)
    layer = Linear(6, 4, dtype=half, seed=1)
    layer.load_state_dict(full.state_dict())
    assert bits(layer.weight) == bits(Linear(6, 4, dtype=half, seed=9).weight)
    assert bits(layer.bias) == bits(rounded(full.bias, half))


def test_a_half_state_dict_loads_into_a_float32_layer_exactly(half):
    layer = Linear(6, 4, dtype=half, seed=3)
    full = Linear(6, 4)
    full.load_state_dict(layer.state_dict())
    assert full.dtype == np.float32
    assert bits(full.weight) == bits(layer.weight.astype(np.float32))


def test_load_state_dict_strict_and_all_or_nothing(half):
    layer = Linear(4, 3, dtype=half, seed=0)
    before = snapshot(layer)
    with pytest.raises(KeyError, match="missing keys"):
        layer.load_state_dict({"weight": np.zeros((3, 4), half)})
    with pytest.raises(ValueError, match="bias must have shape"):
        layer.load_state_dict({"weight": np.zeros((3, 4), half),
                               "bias": np.zeros(2, half)})
    assert snapshot(layer) == before
    missing, unexpected = layer.load_state_dict(
        {"weight": np.full((3, 4), 0.25, np.float32)}, strict=False)
    assert (missing, unexpected) == (["bias"], [])
    assert (layer.weight == 0.25).all() and layer.weight.dtype == half
    assert bits(layer.bias) == before["bias"]


# ---- pickling --------------------------------------------------------------

SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 6.1e-5, 1e-7, 65504.0, -1.5]


@pytest.mark.parametrize("bias", [True, False])
def test_pickle_round_trips_bit_for_bit(half, bias):
    layer = Linear(3, 3, bias, dtype=half, seed=4)
    layer.weight = np.array(SPECIALS, np.float32).reshape(3, 3)
    if bias:
        layer.bias = [np.nan, -0.0, 1e-6]
    func, args = layer.__reduce__()
    assert func is _linearc._rebuild
    assert args[3] == half.name
    for clone in (pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer)):
        assert clone.dtype == half
        assert snapshot(clone) == snapshot(layer)
        assert repr(clone) == repr(layer)


def test_tampered_half_pickles_are_refused(half):
    layer = Linear(4, 3, dtype=half, seed=0)
    _, args = layer.__reduce__()
    args = list(args)
    with pytest.raises(ValueError, match=r"weight must have shape \(3, 4\)"):
        _linearc._rebuild(*args[:4], args[4].T.copy(), args[5])
    with pytest.raises(TypeError, match=rf"cannot cast weight of dtype complex128 "
                                        rf"to {half.name}"):
        _linearc._rebuild(*args[:4], args[4].astype(complex), args[5])
    # Another float dtype in the pickle is cast to the one it names.
    rebuilt = _linearc._rebuild(*args[:4], args[4].astype(np.float64), args[5])
    assert snapshot(rebuilt) == snapshot(layer)


# ---- repr, counting, summaries --------------------------------------------

def test_repr_is_torchs(half):
    """torch's repr of a half nn.Linear does not name its dtype either."""
    layer = Linear(4, 3, dtype=half)
    tlayer = torch.nn.Linear(4, 3, dtype=TORCH[half.name])
    assert repr(layer) == repr(tlayer) == "Linear(in_features=4, out_features=3, bias=True)"


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(2, 5, 8), (8,), (0, 8)])
def test_counts_match_thop_and_the_flop_counter(half, bias, shape):
    thop = pytest.importorskip("thop")
    from torch.utils.flop_counter import FlopCounterMode

    layer = Linear(8, 6, bias, dtype=half, seed=0)
    tlayer = torch.nn.Linear(8, 6, bias, dtype=TORCH[half.name])
    x = torch.zeros(shape, dtype=TORCH[half.name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thop_macs, thop_params = thop.profile(torch.nn.Sequential(tlayer),
                                              inputs=(x,), verbose=False)
    assert linearc.profile(layer, np.zeros(shape, half)) == (thop_macs, thop_params)
    assert linearc.profile(layer, x) == (thop_macs, thop_params)
    assert layer.macs(shape) == thop_macs == math.prod(shape[:-1]) * 8 * 6
    with FlopCounterMode(display=False) as counter:
        tlayer(x)
    assert layer.flops(x) == counter.get_total_flops() == 2 * layer.macs(shape)


def test_summary_counts_two_bytes_per_value(half):
    layer = Linear(8, 6, dtype=half, seed=0)
    s = linearc.summary(layer, (4, 8))
    assert s.dtype == half
    assert s.weight_bytes == 2 * (8 * 6 + 6)
    assert s.bytes_read == 2 * (4 * 8 + 6 * 8 + 6)
    assert s.bytes_written == 2 * 4 * 6
    assert s.intensity == s.flops / (s.bytes_read + s.bytes_written)
    full = linearc.summary(Linear(8, 6, seed=0), (4, 8))
    assert 2 * s.weight_bytes == full.weight_bytes
    text = str(s)
    assert f"dtype={half.name}" in text
    assert "at 2 bytes each" in text and "54 parameters * 2 bytes" in text
    assert f"dtype={half.name}" in s._repr_html_()


# ---- get_config ------------------------------------------------------------

def test_get_config_lists_the_dtypes():
    dtypes = linearc.get_config()["dtypes"]
    assert list(dtypes) == ["float32", "float64", "float16", "bfloat16"]
    assert {k: (d["compute"], d["itemsize"]) for k, d in dtypes.items()} == {
        "float32": ("float32", 4), "float64": ("float64", 8),
        "float16": ("float32", 2), "bfloat16": ("float32", 2)}
    assert dtypes["bfloat16"]["available"] is (ml_dtypes is not None)
    assert all(dtypes[k]["available"] is True for k in ("float32", "float64", "float16"))


def test_show_config_names_the_dtypes(capsys):
    linearc.show_config()
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("dtypes")]
    assert len(line) == 1
    assert "float16 and bfloat16 stored as such, computed in float32" in line[0]


# ---- inputs and out= -------------------------------------------------------

def test_a_half_layer_rounds_other_inputs_first(half, rng):
    layer = Linear(7, 5, dtype=half, seed=3)
    x = rng.standard_normal((4, 7))
    for source in (x, x.astype(np.float32), x.tolist(),
                   torch.from_numpy(x.astype(np.float32))):
        y = layer(source)
        assert y.dtype == half and y.shape == (4, 5)
        assert bits(y) == bits(layer(rounded(np.asarray(source, np.float64), half)))


def test_half_inputs_to_float_layers_are_cast(dtype, half, rng):
    """float16 and bfloat16 data go to a float32 or float64 layer as their
    values (exact in either), not as a half product."""
    layer = Linear(7, 5, dtype=dtype, seed=3)
    xh = rng.standard_normal((4, 7)).astype(half)
    y = layer(xh)
    assert y.dtype == dtype and bits(y) == bits(layer(xh.astype(dtype)))
    assert bits(layer.backward(xh, np.ones((4, 5), half))) == \
        bits(layer.backward(xh.astype(dtype), np.ones((4, 5), dtype)))


def test_inputs_are_left_alone(half, rng):
    layer = Linear(7, 5, dtype=half, seed=3)
    x = rng.standard_normal((4, 7)).astype(np.float32)
    xh = x.astype(half)
    before, before_h = bits(x), bits(xh)
    layer(x)
    layer(xh[:, ::-1])
    layer.backward(xh, np.ones((4, 5), half))
    assert bits(x) == before and bits(xh) == before_h


def test_out_of_the_layer_dtype_or_float32(half, rng):
    layer = Linear(7, 5, dtype=half, seed=3)
    x = rng.standard_normal((4, 7)).astype(half)
    y = layer(x)
    out = np.full((4, 5), 9, half)
    assert layer(x, out=out) is out and bits(out) == bits(y)
    # float32: the chains before their rounding, which rounds to y.
    out32 = np.full((4, 5), 9, np.float32)
    assert layer(x, out=out32) is out32
    assert bits(rounded(out32, half)) == bits(y)
    assert bits(out32) == bits(_float32_twin(layer)(x.astype(np.float32)))


def _float32_twin(layer):
    """A float32 layer holding the half layer's values, widened exactly."""
    twin = Linear(layer.in_features, layer.out_features, layer.bias is not None)
    twin.load_state_dict(layer.state_dict())
    return twin


@pytest.mark.parametrize("other", ["float64", "int32", "complex64", ">f2", "other-half"])
def test_out_of_another_dtype_is_refused(half, other):
    if other == "other-half":
        if ml_dtypes is None:
            pytest.skip("needs ml_dtypes")
        other = BF16 if half == F16 else F16
    out = np.full((4, 5), 9, other)
    layer = Linear(7, 5, dtype=half, seed=3)
    with pytest.raises(TypeError, match=rf"out has dtype {re.escape(str(out.dtype))}, "
                                        rf"expected {half.name} or float32"):
        layer(np.zeros((4, 7), half), out=out)
    assert (out == np.array(9, other)).all()


def test_a_half_out_for_a_float_layer_is_refused(dtype, half):
    layer = Linear(7, 5, dtype=dtype)
    out = np.zeros((4, 5), half)
    with pytest.raises(TypeError, match=rf"out has dtype {half.name}, expected "
                                        rf"{np.dtype(dtype).name}$"):
        layer(np.zeros((4, 7), dtype), out=out)


# ---- gradients -------------------------------------------------------------

def test_gradients_are_float32_and_grad_input_half(half, rng):
    layer = Linear(7, 5, dtype=half, seed=3)
    x = rng.standard_normal((2, 3, 7)).astype(half)
    g = rng.standard_normal((2, 3, 5)).astype(half)
    gi = layer.backward(x, g)
    assert gi.dtype == half and gi.shape == x.shape
    wg, bg = layer.weight_grad, layer.bias_grad
    assert (wg.dtype, wg.shape, bg.dtype, bg.shape) == (np.float32, (5, 7), np.float32, (5,))
    # Laid out like the parameters, at float32's itemsize.
    assert wg.strides == (4, 4 * 5) and bg.strides == (4,)
    # The float32 chains of the widened values: a float32 layer's.
    twin = _float32_twin(layer)
    gi32 = twin.backward(x.astype(np.float32), g.astype(np.float32))
    assert bits(gi) == bits(rounded(gi32, half))
    assert bits(wg) == bits(twin.weight_grad) and bits(bg) == bits(twin.bias_grad)
    # Accumulated in float32, never rounded to the half type in between.
    layer.backward(x, g)
    twin.backward(x.astype(np.float32), g.astype(np.float32))
    assert bits(layer.weight_grad) == bits(twin.weight_grad)
    assert bits(layer.bias_grad) == bits(twin.bias_grad)


def test_a_changed_gradient_array_is_left_alone(half, rng):
    layer = Linear(7, 5, dtype=half, seed=3)
    x = rng.standard_normal((4, 7)).astype(half)
    g = rng.standard_normal((4, 5)).astype(half)
    layer.backward(x, g)
    handed = layer.weight_grad
    handed.flags.writeable = False
    kept = bits(handed)
    layer.backward(x, g)
    assert layer.weight_grad is not handed and bits(handed) == kept
    assert layer.weight_grad.dtype == np.float32


def test_backward_casts_like_forward(half, rng):
    layer = Linear(7, 5, dtype=half, seed=3)
    x = rng.standard_normal((4, 7))
    g = rng.standard_normal((4, 5)).astype(np.float32)
    gi = layer.backward(x, g)
    other = Linear(7, 5, dtype=half, seed=3)
    assert bits(gi) == bits(other.backward(rounded(x, half), rounded(g, half)))
    assert bits(layer.weight_grad) == bits(other.weight_grad)


# ---- the functional form ---------------------------------------------------

def test_functional_takes_the_weights_half_dtype(half, rng):
    x = rng.standard_normal((4, 6))
    w = rng.standard_normal((3, 6)).astype(half)
    b = rng.standard_normal(3)  # float64: cast to the weight's dtype
    y = linearc.linear(x, w, b)
    assert y.dtype == half and y.shape == (4, 3)
    assert bits(y) == bits(linearc.linear(rounded(x, half), w, rounded(b, half)))
    layer = Linear(6, 3, dtype=half)
    layer.weight, layer.bias = w, b
    assert bits(y) == bits(layer(x))
    # A 1-D weight, a 0-d bias.
    v = linearc.linear(x, w[0], b[0])
    assert v.dtype == half and v.shape == (4,)
    assert bits(v) == bits(linearc.linear(x, w[:1], b[:1])[:, 0])


def test_functional_out_may_be_float32(half, rng):
    x = rng.standard_normal((4, 6)).astype(half)
    w = rng.standard_normal((3, 6)).astype(half)
    out = np.empty((4, 3), np.float32)
    assert linearc.linear(x, w, out=out) is out
    assert bits(out) == bits(linearc.linear(x.astype(np.float32), w.astype(np.float32)))
    with pytest.raises(TypeError, match=rf"expected {half.name} or float32"):
        linearc.linear(x, w, out=np.empty((4, 3), np.float64))


def test_functional_dtype_rules(rng):
    x = rng.standard_normal((2, 4))
    w = rng.standard_normal((3, 4))
    assert linearc.linear(x, w.astype(np.float16)).dtype == np.float16
    assert linearc.linear(x.astype(np.float16), w.astype(np.float32)).dtype == np.float32
    assert linearc.linear(x.astype(np.float16), w).dtype == np.float64
    assert linearc.linear(x, w.astype(np.int32)).dtype == np.float64
    # A torch float16 weight is NumPy's float16; a torch bfloat16 one is
    # widened to float32 (NumPy has no bfloat16 of its own).
    tw = torch.from_numpy(w.astype(np.float32))
    assert linearc.linear(x, tw.half()).dtype == np.float16
    assert linearc.linear(x, tw.bfloat16()).dtype == np.float32


@needs_ml_dtypes
def test_functional_bfloat16_weight():
    x = np.ones((2, 4), np.float32)
    w = np.full((3, 4), 0.5, BF16)
    y = linearc.linear(x, w, np.float32(1.0))
    assert y.dtype == BF16
    assert (y.astype(np.float32) == 3.0).all()


# ---- errors ----------------------------------------------------------------

@pytest.mark.parametrize("bad", ["float8", "bf16", "int8", "float128", np.int32,
                                 complex, "half-float"])
def test_bad_dtype_names_list_the_four(bad):
    with pytest.raises(TypeError, match=r"dtype must be float32, float64, float16 "
                                        r"or bfloat16, got"):
        Linear(3, 2, dtype=bad)


def test_a_non_native_half_dtype_is_refused():
    with pytest.raises(TypeError, match="dtype must be"):
        Linear(3, 2, dtype=">f2")


def test_half_inputs_that_do_not_cast_are_refused(half):
    layer = Linear(3, 2, dtype=half)
    with pytest.raises(TypeError, match=rf"cannot cast input of dtype complex128 to "
                                        rf"{half.name} under the 'same_kind' rule"):
        layer(np.ones((2, 3), complex))


# In a child that cannot import ml_dtypes, two ways.
BLOCKERS = {
    "sys.modules-None": "import sys; sys.modules['ml_dtypes'] = None\n",
    "meta_path-finder": textwrap.dedent("""\
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == 'ml_dtypes' or name.startswith('ml_dtypes.'):
                    raise ImportError('blocked: ' + name, name=name)
        sys.meta_path.insert(0, Block())
        sys.modules.pop('ml_dtypes', None)
        """),
}

WITHOUT_ML_DTYPES = textwrap.dedent("""\
    import pickle, sys
    import numpy as np
    import linearc
    from linearc import Linear

    def import_error(func, *args, ours=True):
        try:
            func(*args, **({'dtype': 'bfloat16'} if func is Linear else {}))
        except ImportError as e:
            assert e.name == 'ml_dtypes', e.name
            if not ours:  # NumPy's own unpickling of the bfloat16 arrays
                return 'ml_dtypes'
            assert isinstance(e.__cause__, ImportError), repr(e.__cause__)
            return str(e)
        raise AssertionError('no ImportError from ' + repr(func))

    print(import_error(Linear, 3, 2))
    print(import_error(pickle.loads, bytes.fromhex(sys.argv[1]), ours=False))
    print(import_error(linearc._linearc._gemm_path, 4, 4, 4, 'bfloat16', 1))
    # Everything else works, and nothing imports ml_dtypes to find out
    # what an array is.
    layer = Linear(3, 2, dtype='float16', seed=0)
    y = layer(np.ones((2, 3)), out=np.empty((2, 2), np.float32))
    Linear(3, 2)(np.ones((2, 3), np.float16))
    print(layer.dtype, y.dtype, linearc.get_config()['dtypes']['bfloat16']['available'])
    print('ml_dtypes' in sys.modules and sys.modules['ml_dtypes'] is not None)
    """)


@needs_ml_dtypes
@pytest.mark.parametrize("blocker", sorted(BLOCKERS))
def test_bfloat16_without_ml_dtypes_names_the_extra(blocker):
    data = pickle.dumps(Linear(3, 2, dtype="bfloat16", seed=0)).hex()
    proc = run_python(BLOCKERS[blocker] + WITHOUT_ML_DTYPES, data)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == [MISSING, "ml_dtypes", MISSING]
    assert lines[3:] == ["float16 float32 False", "False"]


def test_nothing_imports_ml_dtypes_uninvited():
    """Without a bfloat16 asked for, ml_dtypes stays unimported (it may be
    slow to import, and linearc must work without it)."""
    code = textwrap.dedent("""\
        import sys
        import numpy as np
        import linearc
        layer = linearc.Linear(3, 2, dtype='float16', seed=0)
        layer(np.ones((2, 3), np.float32))
        layer.backward(np.ones((2, 3)), np.ones((2, 2)))
        pickle_dtype = layer.__reduce__()[1][3]
        linearc.linear(np.ones(3), np.ones((2, 3), np.float16))
        try:
            linearc.Linear(3, 2, dtype='int8')
        except TypeError:
            pass
        linearc.get_config()
        print(pickle_dtype, 'ml_dtypes' in sys.modules)
        """)
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["float16", "False"]
