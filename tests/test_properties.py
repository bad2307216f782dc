"""Property-based tests: random ranks, shapes (with empty dims), memory
layouts (negative, zero and gapped strides, transposed, misaligned,
read-only), input and layer dtypes, against the float64 reference of
tests/conftest.py; and random rejections: errors that leave out= and the
layer alone, non-array objects and masked arrays in every argument.

Hypothesis draws the structure (shapes, layouts, dtypes); the values come
from a NumPy generator seeded by a drawn integer, which keeps generation fast
and shrinking meaningful (a failing example shrinks to small shapes and
simple layouts).

Neighbours: the same rules on chosen examples, with exact messages, are in
test_forward.py, test_backward.py and test_errors.py; misaligned arrays in
every argument, in a child process, in test_robustness.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import linearc
from linearc import Linear

from conftest import assert_linear_close, misaligned, snapshot

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

LAYER_DTYPES = st.sampled_from([np.float32, np.float64])
INPUT_DTYPES = st.sampled_from([np.float32, np.float64, np.int32, np.bool_,
                                np.float16])
# How one axis of the input is laid out in memory.
AXIS_MODES = st.sampled_from(["plain", "reversed", "gap", "reversed-gap",
                              "broadcast"])


def fill(rng, shape, dtype):
    """Random values of dtype: small ints, coin flips, or normal floats."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "i":
        return rng.integers(-8, 9, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@st.composite
def strided_arrays(draw, shape, dtype, seed):
    """An array of `shape` and `dtype` with an arbitrary memory layout.

    Each axis is plain, reversed (negative stride), taken every other
    element (a gap), both, or broadcast (stride 0); the axes of the backing
    buffer may also be permuted (e.g. Fortran order).
    """
    rng = np.random.default_rng(seed)
    modes = [draw(AXIS_MODES) for _ in shape]
    base_shape = []
    for size, mode in zip(shape, modes):
        if mode == "broadcast":
            base_shape.append(1)
        elif "gap" in mode:
            base_shape.append(2 * size + 1)
        else:
            base_shape.append(size)
    perm = draw(st.permutations(range(len(shape))))
    buffer = fill(rng, [base_shape[p] for p in perm], dtype)
    base = buffer.transpose(np.argsort(perm))
    index = []
    for size, mode in zip(shape, modes):
        if mode == "reversed":
            index.append(slice(None, None, -1))
        elif mode == "gap":
            index.append(slice(1, 2 * size + 1, 2))
        elif mode == "reversed-gap":
            index.append(slice(2 * size - 1, None, -2) if size else slice(0, 0))
        else:
            index.append(slice(None))
    x = np.broadcast_to(base[tuple(index)], shape)
    assert x.shape == tuple(shape)
    return x


@st.composite
def problems(draw, min_rank=1):
    """(layer, x): a random layer and a random input for it."""
    rank = draw(st.integers(min_rank, 4))
    in_f = draw(st.integers(0, 70))
    out_f = draw(st.integers(0, 70))
    # Keep the row count modest while still crossing the direct/blocked limit.
    lead_max = {1: 40, 2: 12, 3: 5}.get(rank - 1, 1)
    lead = [draw(st.integers(0, lead_max)) for _ in range(rank - 1)]
    layer_dtype = draw(LAYER_DTYPES)
    seed = draw(st.integers(0, 2**32 - 1))
    layer = Linear(in_f, out_f, bias=draw(st.booleans()), dtype=layer_dtype,
                   seed=seed)
    x = draw(strided_arrays(lead + [in_f], draw(INPUT_DTYPES), seed))
    return layer, x


def rows_of(shape):
    return int(np.prod(shape[:-1], dtype=np.int64))


@SETTINGS
@given(problems(), st.booleans())
def test_matches_reference(problem, use_out):
    layer, x = problem
    x_before = x.copy()
    expected_shape = x.shape[:-1] + (layer.out_features,)
    out = np.empty(expected_shape, layer.dtype) if use_out else None
    y = layer(x, out=out)
    if use_out:
        assert y is out
    assert y.dtype == layer.dtype
    assert y.shape == expected_shape
    assert_linear_close(y, x, layer.weight, layer.bias, dtype=layer.dtype)
    # The input is never written to, whatever its layout.
    assert x.tobytes() == x_before.tobytes()


@SETTINGS
@given(problems(), st.booleans())
def test_functional_form_matches_layer(problem, with_bias):
    layer, x = problem
    bias = layer.bias if with_bias else None
    y = linearc.linear(x, layer.weight, bias)
    assert_linear_close(y, x, layer.weight, bias, dtype=layer.dtype)


@SETTINGS
@given(problems(min_rank=2), st.data())
def test_batch_consistency(problem, data):
    layer, x = problem
    assume(x.shape[0] > 0)
    i = data.draw(st.integers(0, x.shape[0] - 1))
    # Bit-identity is promised whatever paths the two calls take.
    y_all = layer(x)
    y_one = layer(x[i])
    assert y_all[i].tobytes() == y_one.tobytes(), (x.shape, i)


@SETTINGS
@given(problems())
def test_repeated_calls_are_bit_identical(problem):
    layer, x = problem
    assert layer(x).tobytes() == layer(x).tobytes()


@SETTINGS
@given(problems(), st.sampled_from(["last-dim", "out-dtype", "out-shape",
                                    "out-readonly", "complex-input"]))
def test_errors_leave_out_and_parameters_alone(problem, failure):
    layer, x = problem
    before = snapshot(layer)
    shape = x.shape[:-1] + (layer.out_features,)
    out = np.full(shape, 7, layer.dtype)
    exc = ValueError
    if failure == "last-dim":
        x = np.ones(x.shape[:-1] + (layer.in_features + 1,), x.dtype)
    elif failure == "out-dtype":
        other = np.float64 if layer.dtype == np.float32 else np.float32
        out = np.full(shape, 7, other)
        exc = TypeError
    elif failure == "out-shape":
        out = np.full(x.shape[:-1] + (layer.out_features + 1,), 7, layer.dtype)
    elif failure == "out-readonly":
        out.flags.writeable = False
    else:
        x = x.astype(np.complex64)
        exc = TypeError
    out_before = out.tobytes()
    with pytest.raises(exc):
        layer(x, out=out)
    assert out.tobytes() == out_before
    assert snapshot(layer) == before


@SETTINGS
@given(problems())
def test_backward_matches_reference(problem):
    layer, x = problem
    rng = np.random.default_rng(x.size)
    shape = x.shape[:-1] + (layer.out_features,)
    grad = rng.standard_normal(shape).astype(layer.dtype)
    x_before, grad_before = x.copy(), grad.copy()
    grad_in = layer.backward(x, grad)
    assert grad_in.shape == x.shape and grad_in.dtype == layer.dtype
    # grad_input = grad @ W: the same check as a forward with W.T.
    assert_linear_close(grad_in, grad, layer.weight.T, dtype=layer.dtype)
    # weight_grad = grad.T @ x over the flattened leading dims.
    g2 = grad.reshape(rows_of(grad.shape), layer.out_features)
    x2 = np.asarray(x, dtype=np.float64).reshape(rows_of(x.shape), layer.in_features)
    assert_linear_close(layer.weight_grad, g2.T, x2.T, dtype=layer.dtype)
    if layer.bias is not None:
        ones = np.ones((1, g2.shape[0]))
        assert_linear_close(layer.bias_grad[None, :], ones, g2.T,
                            dtype=layer.dtype)
    assert x.tobytes() == x_before.tobytes()
    assert grad.tobytes() == grad_before.tobytes()


@pytest.mark.parametrize("shape", [(4, 30, 300), (3, 1, 20, 513), (2, 2, 2, 300),
                                   (1, 8, 257), (5, 40, 33)])
def test_batch_consistency_across_k_blocks(shape, dtype):
    # Sizes beyond the property test's: K crosses the K blocks and rows span
    # several tiles, while a lone row takes the direct path.
    layer = Linear(shape[-1], 70, dtype=dtype, seed=11)
    x = np.random.default_rng(5).standard_normal(shape).astype(dtype)
    y_all = layer(x)
    for i in range(shape[0]):
        assert y_all[i].tobytes() == layer(x[i]).tobytes()
    assert_linear_close(y_all, x, layer.weight, layer.bias)


@pytest.mark.parametrize("lead", [(0,), (3, 0), (0, 3)])
@pytest.mark.parametrize("in_features", [0, 3])
def test_out_with_empty_result(lead, in_features, dtype):
    # A C-contiguous empty out is a valid out (NumPy gives it zero strides).
    layer = Linear(in_features, 2, dtype=dtype)
    out = np.empty(lead + (2,), dtype)
    assert out.flags.c_contiguous
    y = layer(np.empty(lead + (in_features,), dtype), out=out)
    assert y is out


# ---- rejections of what is not a numeric array ---------------------------

def _generator(n):
    return (float(i) for i in range(n))


NOT_ARRAYS = st.one_of(
    st.none(), st.text(max_size=5), st.binary(max_size=5),
    st.dictionaries(st.integers(), st.integers(), max_size=3),
    st.sets(st.integers(), max_size=3), st.builds(object),
    st.builds(_generator, st.integers(0, 5)))
FEW = settings(SETTINGS, max_examples=60)


@FEW
@given(problems(), NOT_ARRAYS, st.sampled_from(["forward", "x", "grad_output",
                                                "weight", "bias",
                                                "functional"]))
def test_non_arrays_are_type_errors(problem, junk, where):
    """None, str, bytes, dicts, sets, plain objects and generators, in any
    argument: a TypeError naming the argument and the object's type (bytes:
    saying they are raw bytes, test_errors.py), and the layer left alone."""
    layer, x = problem
    g = np.ones(x.shape[:-1] + (layer.out_features,), layer.dtype)
    calls = {
        "forward": ("input", lambda: layer(junk)),
        "x": ("input", lambda: layer.backward(junk, g)),
        "grad_output": ("grad_output", lambda: layer.backward(x, junk)),
        "weight": ("weight", lambda: setattr(layer, "weight", junk)),
        "bias": ("bias", lambda: setattr(layer, "bias", junk)),
        "functional": ("weight", lambda: linearc.linear(x, junk)),
    }
    what, call = calls[where]
    # bias = None is no type error (test_errors.py), and any bias on a layer
    # without one is refused for that first.
    assume(not (where == "bias" and (junk is None or layer.bias is None)))
    before = snapshot(layer)
    message = (f"{what} must be an array or a nested sequence of numbers, "
               f"not {type(junk).__name__}")
    if isinstance(junk, bytes):
        message = (f"{what} is raw bytes (bytes): linearc does not guess what "
                   "numbers they hold; read them with np.frombuffer(obj, "
                   "dtype=...)")
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == message
    assert snapshot(layer) == before


@FEW
@given(problems(), st.sampled_from(["forward", "x", "grad_output", "weight",
                                    "functional-x", "functional-weight"]),
       st.integers(0, 2**32 - 1))
def test_masked_arrays_are_type_errors(problem, where, seed):
    layer, x = problem
    mask_rng = np.random.default_rng(seed)

    def masked(a):
        a = np.asarray(a)
        return np.ma.array(a, mask=mask_rng.random(a.shape) < 0.5)

    g = np.ones(x.shape[:-1] + (layer.out_features,), layer.dtype)
    w = layer.weight.copy()
    calls = {
        "forward": ("input", lambda: layer(masked(x))),
        "x": ("input", lambda: layer.backward(masked(x), g)),
        "grad_output": ("grad_output", lambda: layer.backward(x, masked(g))),
        "weight": ("weight", lambda: setattr(layer, "weight", masked(w))),
        "functional-x": ("input", lambda: linearc.linear(masked(x), w)),
        "functional-weight": ("weight", lambda: linearc.linear(x, masked(w))),
    }
    what, call = calls[where]
    before = snapshot(layer)
    with pytest.raises(TypeError, match=f"^{what} is a masked array"):
        call()
    assert snapshot(layer) == before


# ---- misaligned and read-only inputs --------------------------------------

@FEW
@given(problems(), st.booleans(), st.booleans(), st.booleans())
def test_misaligned_and_read_only_inputs(problem, misalign, read_only,
                                         reverse):
    """Same bits as the same values in a fresh aligned array, and the input
    left as it was."""
    layer, x = problem
    assume(misalign or read_only)
    if misalign:
        x = misaligned(x)
    if reverse:
        x = x[..., ::-1]
    if read_only:
        x.flags.writeable = False
    before = x.tobytes()
    y = layer(x)
    assert y.tobytes() == layer(np.array(x)).tobytes()
    assert_linear_close(y, x, layer.weight, layer.bias, dtype=layer.dtype)
    g = np.ones(y.shape, layer.dtype)
    grad_in = layer.backward(x, misaligned(g) if misalign else g)
    assert grad_in.tobytes() == layer.backward(np.array(x), g).tobytes()
    assert x.tobytes() == before
