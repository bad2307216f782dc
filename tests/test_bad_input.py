"""Hostile and malformed inputs: every one must raise its documented exception
(or, for NaN/Inf, propagate as IEEE 754 says) and never crash the interpreter.

A crash (segfault, abort) takes the whole pytest process down, which is the
failure these tests exist to catch; .ci/sanitize.sh runs them under ASan/UBSan
to catch the quieter memory errors too.
"""
from __future__ import annotations

import os
import pickle
import signal

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import linearc
from linearc import Linear
from linearc._linearc import _rebuild

from conftest import assert_linear_close


@pytest.fixture
def layer(dtype):
    return Linear(4, 3, dtype=dtype, seed=7)


def snapshot(layer):
    """Bytes of everything a failed call must leave alone."""
    bias = None if layer.bias is None else layer.bias.tobytes()
    return layer.weight.tobytes(), bias


# ---------------------------------------------------------------------------
# Forward inputs that are not numeric arrays of a usable shape.

@pytest.mark.parametrize("bad", [
    None,               # 0-d object array: no last axis, and not castable
    "abcd",             # 0-d str array
    b"abcd",
], ids=["None", "str", "bytes"])
def test_scalar_like_junk(layer, bad):
    # These convert to 0-d arrays of a non-numeric dtype; either the rank or
    # the dtype check may fire first, both are documented.
    before = snapshot(layer)
    with pytest.raises((TypeError, ValueError)):
        layer(bad)
    assert snapshot(layer) == before


def test_ragged_list(layer):
    # NumPy refuses to build the array: its ValueError must come through.
    with pytest.raises(ValueError):
        layer([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]])


@pytest.mark.parametrize("bad", [
    np.array([1, 2, 3, 4], dtype=object),
    np.array(["a", "b", "c", "d"]),
    np.ones(4, dtype=complex),
    np.ones(4, dtype=np.complex64),
    np.ones(4, dtype="M8[s]"),
    np.zeros(4, dtype="i4,f4"),
], ids=["object", "unicode", "complex128", "complex64", "datetime", "struct"])
def test_uncastable_dtype(layer, bad):
    with pytest.raises(TypeError) as info:
        layer(bad)
    # The message names both dtypes so the user sees what to convert.
    assert str(bad.dtype) in str(info.value)
    assert np.dtype(layer.dtype).name in str(info.value)


@pytest.mark.parametrize("bad", [np.float32(1.0), np.array(1.0), 3.0])
def test_zero_dim(layer, bad):
    with pytest.raises(ValueError):
        layer(bad)


@pytest.mark.parametrize("shape", [(5,), (2, 5), (2, 3, 3), (0, 0), (4, 0)])
def test_wrong_last_dim(layer, shape):
    x = np.ones(shape, dtype=layer.dtype)
    with pytest.raises(ValueError) as info:
        layer(x)
    assert str(shape) in str(info.value)
    assert "4" in str(info.value)


def test_object_array_of_numbers_is_rejected_not_guessed(layer):
    # Even when every element is a float, dtype=object is not castable under
    # same_kind: the rule is the dtype, not the contents.
    x = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=object)
    with pytest.raises(TypeError):
        layer(x)


# ---------------------------------------------------------------------------
# Sizes that overflow or cannot be allocated.

def outcome_in_child(func, *args, label=None, **kwargs):
    """Run func in a forked child; return the name of the exception it raised
    ("ok" if none). A crash becomes a test failure instead of killing pytest,
    so one overflow bug does not hide the rest of the suite."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report and leave without running pytest's cleanup
        os.close(read_fd)
        try:
            func(*args, **kwargs)
            name = "ok"
        except BaseException as exc:  # noqa: BLE001 - report whatever it is
            name = type(exc).__name__
        os.write(write_fd, name.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        name = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        what = label or f"{func.__name__}{args} {kwargs}"
        raise AssertionError(f"{what} crashed with {sig}")
    return name


def test_output_too_big_to_describe():
    # 2**60 rows by broadcasting (a few bytes of real memory); the output
    # (2**60, 8) float32 has more bytes than an ndarray can describe.
    x = np.broadcast_to(np.zeros(1, np.float32), (2**30, 2**30, 1))
    layer = Linear(1, 8)
    with pytest.raises((ValueError, MemoryError)):
        layer(x)
    with pytest.raises((ValueError, MemoryError)):
        layer.backward(x, np.broadcast_to(np.zeros(8, np.float32), (2**30, 2**30, 8)))


def test_output_too_big_to_allocate():
    # Describable (2**60 float32 = 4 EiB) but not allocatable.
    x = np.broadcast_to(np.zeros(1, np.float32), (2**30, 2**30, 1))
    with pytest.raises((ValueError, MemoryError)):
        Linear(1, 1)(x)


def test_huge_rows_with_zero_out_features():
    # An empty result needs no memory, whatever the row count.
    x = np.broadcast_to(np.zeros(1, np.float32), (2**30, 2**30, 1))
    y = Linear(1, 0)(x)
    assert y.shape == (2**30, 2**30, 0)


def test_macs_of_huge_shapes_are_exact():
    layer = Linear(4, 3)
    assert layer.macs((2**100, 4)) == 2**100 * 12
    assert layer.flops((2**100, 4)) == 2**101 * 12


@pytest.mark.parametrize("sizes", [
    (2**40, 2**40), (2**62, 2**62), (2**31, 2**31), (1, 2**62), (2**62, 1),
    (2**63, 2),
])
@pytest.mark.parametrize("bias", [True, False])
def test_unallocatable_layer(sizes, bias, dtype):
    assert outcome_in_child(Linear, *sizes, bias=bias, dtype=dtype) == "MemoryError"


@pytest.mark.parametrize("out", [2**40, 2**61, 2**62, 2**63 - 1])
def test_unallocatable_bias_only(out, dtype):
    # in_features == 0: the weight is empty but the bias has `out` entries;
    # out * itemsize may wrap around size_t and must not be trusted.
    assert outcome_in_child(Linear, 0, out, dtype=dtype) == "MemoryError"


@pytest.mark.parametrize("sizes", [(0, 2**62), (2**62, 0), (0, 2**63 - 1)])
def test_empty_weight_without_bias(sizes, dtype):
    # No bytes to allocate, so the layer builds; NumPy itself refuses to
    # describe an array with a dimension this big (ValueError), which is a
    # clean error too.
    def build():
        layer = Linear(*sizes, bias=False, dtype=dtype)
        assert layer.num_parameters == 0
        assert repr(layer).startswith(f"Linear(in_features={sizes[0]},")
        try:
            assert layer.weight.shape == (sizes[1], sizes[0])
        except ValueError:
            pass
    assert outcome_in_child(build) == "ok"


# ---------------------------------------------------------------------------
# Parameters set to junk leave the layer as it was.

@pytest.mark.parametrize("bad, exc", [
    (np.ones((4, 3)), ValueError),
    (np.ones(12), ValueError),
    (np.ones((3, 4, 1)), ValueError),
    (None, ValueError),
    ("abc", ValueError),
    ([[1, 2], [3]], ValueError),
    (np.ones((3, 4), dtype=complex), TypeError),
    (np.ones((3, 4), dtype=object), TypeError),
    (np.full((3, 4), "x"), TypeError),
], ids=["transposed", "flat", "3d", "None", "str", "ragged", "complex",
        "object", "unicode"])
def test_set_bad_weight(layer, bad, exc):
    before = snapshot(layer)
    with pytest.raises(exc):
        layer.weight = bad
    assert snapshot(layer) == before


@pytest.mark.parametrize("bad, exc", [
    (np.ones(4), ValueError),
    (np.ones((1, 3)), ValueError),
    (None, ValueError),
    ("abc", ValueError),
    (np.ones(3, dtype=complex), TypeError),
    (np.ones(3, dtype=object), TypeError),
], ids=["long", "2d", "None", "str", "complex", "object"])
def test_set_bad_bias(layer, bad, exc):
    before = snapshot(layer)
    with pytest.raises(exc):
        layer.bias = bad
    assert snapshot(layer) == before


def test_set_bias_on_biasless_layer():
    layer = Linear(4, 3, bias=False)
    with pytest.raises(ValueError):
        layer.bias = np.zeros(3, np.float32)
    assert layer.bias is None


@pytest.mark.parametrize("junk, exc", [
    (None, TypeError),
    ([("weight", np.zeros((3, 4)))], TypeError),
    ([1, 2], TypeError),
    (3, TypeError),
    ("weight", TypeError),
    ({"weight": "abc", "bias": np.zeros(3)}, ValueError),
    ({"weight": None, "bias": None}, ValueError),
    ({"weight": np.ones((3, 4), dtype=object), "bias": np.zeros(3)}, TypeError),
    ({"weight": np.ones((3, 4)), "bias": np.zeros(3, dtype=object)}, TypeError),
    ({"weight": np.ones((3, 4), dtype=complex), "bias": np.zeros(3)}, TypeError),
    ({"weight": np.ones((3, 4)), "bias": "abc"}, ValueError),
    ({"weight": np.ones((4, 3)), "bias": np.zeros(3)}, ValueError),
    ({"weight": np.ones((3, 4))}, KeyError),
    ({1: 2}, KeyError),
    ({"weight": np.ones((3, 4)), "bias": np.zeros(3), "extra": 1}, KeyError),
], ids=["None", "pairs", "list", "int", "str", "w-str", "None-values",
        "w-object", "b-object", "w-complex", "b-str", "w-shape", "missing",
        "int-key", "extra"])
def test_load_state_dict_junk(layer, junk, exc):
    before = snapshot(layer)
    with pytest.raises(exc):
        layer.load_state_dict(junk)
    assert snapshot(layer) == before


def test_load_state_dict_bias_fails_after_weight_is_valid(layer):
    # A valid weight and a bad bias: the weight must not be half-applied.
    before = snapshot(layer)
    good_w = np.arange(12, dtype=np.float64).reshape(3, 4)
    with pytest.raises(ValueError):
        layer.load_state_dict({"weight": good_w, "bias": np.zeros(5)})
    assert snapshot(layer) == before


# ---------------------------------------------------------------------------
# Tampered pickles: __reduce__ is (_rebuild, args); a pickle can carry any
# args, so _rebuild must check them all.

class Crafted:
    """Pickles as a call to _rebuild with arbitrary arguments."""

    def __init__(self, args):
        self.args = args

    def __reduce__(self):
        return _rebuild, self.args


def good_args(layer):
    func, args = layer.__reduce__()
    assert func is _rebuild
    return list(args)


def test_reduce_round_trip(layer):
    restored = pickle.loads(pickle.dumps(Crafted(tuple(good_args(layer)))))
    assert isinstance(restored, Linear)
    assert restored.weight.tobytes() == layer.weight.tobytes()
    assert restored.bias.tobytes() == layer.bias.tobytes()


def _tamper(args, index, value):
    args = list(args)
    args[index] = value
    return tuple(args)


TAMPERS = {
    # name: (function of the good args -> bad args, accepted exceptions)
    "weight-transposed": (lambda a: _tamper(a, 4, a[4].T.copy()), ValueError),
    "weight-flat": (lambda a: _tamper(a, 4, a[4].ravel()), ValueError),
    "weight-None": (lambda a: _tamper(a, 4, None), ValueError),
    "weight-str": (lambda a: _tamper(a, 4, "abc"), ValueError),
    "weight-object": (lambda a: _tamper(a, 4, a[4].astype(object)), TypeError),
    "weight-complex": (lambda a: _tamper(a, 4, a[4].astype(complex)), TypeError),
    "bias-short": (lambda a: _tamper(a, 5, a[5][:-1]), ValueError),
    "bias-None": (lambda a: _tamper(a, 5, None), ValueError),
    "bias-on-biasless": (lambda a: _tamper(a, 2, False), ValueError),
    "dtype-float16": (lambda a: _tamper(a, 3, "float16"), TypeError),
    "dtype-bogus": (lambda a: _tamper(a, 3, "bogus"), TypeError),
    "dtype-int": (lambda a: _tamper(a, 3, 7), TypeError),
    "in-negative": (lambda a: _tamper(a, 0, -4), ValueError),
    "out-negative": (lambda a: _tamper(a, 1, -3), ValueError),
    "in-float": (lambda a: _tamper(a, 0, 4.0), TypeError),
    "in-str": (lambda a: _tamper(a, 0, "4"), TypeError),
    "in-mismatch": (lambda a: _tamper(a, 0, 5), ValueError),
    "in-huge": (lambda a: _tamper(a, 0, 2**62), MemoryError),
    "out-huge-bias": (lambda a: _tamper(_tamper(a, 0, 0), 1, 2**62), MemoryError),
    "missing-arg": (lambda a: tuple(a[:5]), TypeError),
    "extra-arg": (lambda a: tuple(a) + (1,), TypeError),
    "no-args": (lambda a: (), TypeError),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_pickle(layer, name):
    tamper, exc = TAMPERS[name]
    data = pickle.dumps(Crafted(tamper(good_args(layer))))
    label = f"pickle.loads of a {name} pickle"
    assert outcome_in_child(pickle.loads, data, label=label) == exc.__name__
    with pytest.raises(exc):  # safe now: it did not crash the child
        pickle.loads(data)


def test_tampered_pickle_bytes_are_rejected(layer):
    # Edit the real pickle stream: swap the dtype string for one of the same
    # length that is not a layer dtype.
    data = pickle.dumps(layer)
    name = np.dtype(layer.dtype).name.encode()
    assert data.count(name) >= 1
    bogus = data.replace(name, b"complex"[:len(name)].ljust(len(name), b"x"))
    with pytest.raises(TypeError):
        pickle.loads(bogus)


# ---------------------------------------------------------------------------
# out= that cannot take the result.

def test_out_rejections(layer):
    x = np.ones((5, 4), layer.dtype)
    other = np.float64 if layer.dtype == np.float32 else np.float32
    read_only = np.zeros((5, 3), layer.dtype)
    read_only.flags.writeable = False
    cases = [
        (np.zeros((5, 4), layer.dtype), ValueError),           # shape
        (np.zeros((5, 3, 1), layer.dtype), ValueError),        # rank
        (np.zeros((5, 3), other), TypeError),                  # dtype
        (np.zeros((5, 3), np.dtype(layer.dtype).newbyteorder()), TypeError),
        (read_only, ValueError),
        (np.zeros((5, 3), layer.dtype)[:, ::-1], ValueError),  # last axis
        (np.zeros((5, 6), layer.dtype)[:, ::2], ValueError),   # last axis gaps
        (np.zeros((3, 5), layer.dtype).T, ValueError),         # Fortran
        ([[0.0] * 3] * 5, TypeError),                          # not an ndarray
    ]
    for out, exc in cases:
        before = np.array(out, copy=True)
        with pytest.raises(exc):
            layer(x, out=out)
        np.testing.assert_array_equal(np.asarray(out), before)


def test_out_leading_axes_that_do_not_collapse(layer):
    # (2, 3, out) with a gap between the two blocks of rows: leading axes
    # cannot be described by one stride.
    big = np.zeros((2, 4, 3), layer.dtype)
    out = big[:, :3]
    with pytest.raises(ValueError):
        layer(np.ones((2, 3, 4), layer.dtype), out=out)
    assert not big.any()


def test_zero_stride_out_does_not_crash(layer):
    # A writable out whose rows all alias one row. Not a documented layout;
    # whatever linearc does, it must not crash or write outside the row.
    base = np.zeros(3 + 16, layer.dtype)
    out = as_strided(base[:3], (64, 3), (0, base.itemsize), writeable=True)
    try:
        layer(np.ones((64, 4), layer.dtype), out=out)
    except ValueError:
        pass
    assert not base[3:].any()


# ---------------------------------------------------------------------------
# NaN and Inf propagate as IEEE 754 says.

def test_nan_in_input_poisons_its_row_only(dtype, rng):
    layer = Linear(16, 5, dtype=dtype, seed=1)
    for rows in (3, 40):  # dot path and blocked path
        x = rng.standard_normal((rows, 16)).astype(dtype)
        x[1, 7] = np.nan
        y = layer(x)
        assert np.isnan(y[1]).all()
        others = np.delete(np.arange(rows), 1)
        assert np.isfinite(y[others]).all()
        assert_linear_close(y, x, layer.weight, layer.bias)


def test_inf_times_zero_is_nan(dtype):
    layer = Linear(4, 3, bias=False, dtype=dtype)
    w = np.ones((3, 4), dtype)
    w[1, 0] = 0.0
    layer.weight = w
    for rows in (1, 30):
        x = np.zeros((rows, 4), dtype)
        x[:, 0] = np.inf
        y = layer(x)
        assert np.isposinf(y[:, 0]).all()
        assert np.isnan(y[:, 1]).all()          # inf * 0
        assert np.isposinf(y[:, 2]).all()


def test_inf_with_finite_weights_keeps_its_sign(dtype):
    layer = Linear(4, 2, dtype=dtype)
    layer.weight = np.array([[2.0, 1.0, 1.0, 1.0], [-3.0, 1.0, 1.0, 1.0]])
    layer.bias = np.array([1.0, -1.0])
    for rows in (2, 33):
        x = np.ones((rows, 4), dtype)
        x[:, 0] = -np.inf
        y = layer(x)
        assert np.isneginf(y[:, 0]).all()
        assert np.isposinf(y[:, 1]).all()


def test_opposite_infinities_give_nan(dtype):
    layer = Linear(2, 1, bias=False, dtype=dtype)
    layer.weight = np.array([[1.0, 1.0]])
    for rows in (1, 20):
        x = np.tile(np.array([np.inf, -np.inf], dtype), (rows, 1))
        assert np.isnan(layer(x)).all()


def test_nan_in_weight_and_bias(dtype, rng):
    layer = Linear(8, 4, dtype=dtype)
    w = rng.standard_normal((4, 8))
    w[2, 3] = np.nan
    layer.weight = w
    b = np.zeros(4)
    b[0] = np.nan
    layer.bias = b
    for rows in (2, 50):
        y = layer(rng.standard_normal((rows, 8)).astype(dtype))
        assert np.isnan(y[:, [0, 2]]).all()
        assert np.isfinite(y[:, [1, 3]]).all()


def test_nan_does_not_leak_between_rows_of_a_tile(dtype, rng):
    # Micro-tiles hold many rows and zero-padded edges: a NaN in one row must
    # not spill into its tile neighbours or the padding.
    layer = Linear(300, 70, dtype=dtype, seed=3)
    x = rng.standard_normal((37, 300)).astype(dtype)
    x[13, 299] = np.nan
    y = layer(x)
    assert np.isnan(y[13]).all()
    assert np.isfinite(np.delete(y, 13, axis=0)).all()


def test_overflow_to_inf(dtype):
    big = np.finfo(dtype).max
    layer = Linear(2, 1, bias=False, dtype=dtype)
    layer.weight = np.array([[1.0, 1.0]])
    y = layer(np.array([[big, big]], dtype))
    assert np.isposinf(y).all()


def test_functional_junk():
    with pytest.raises((TypeError, ValueError)):
        linearc.linear(np.ones(4), None)
    with pytest.raises(ValueError):
        linearc.linear(np.ones(4), np.ones(4))
    with pytest.raises(ValueError):
        linearc.linear(np.ones(4), np.ones((3, 5)))
    with pytest.raises(TypeError):
        linearc.linear(np.ones(4), np.ones((3, 4), complex))
    with pytest.raises(ValueError):
        linearc.linear(np.ones(4), np.ones((3, 4)), np.ones(4))
    with pytest.raises((TypeError, ValueError)):
        linearc.linear(np.ones(4), np.ones((3, 4)), "abc")


def test_backward_junk(layer):
    before = snapshot(layer)
    with pytest.raises(ValueError):
        layer.backward(np.ones((5, 4)), np.ones((4, 3)))
    with pytest.raises(ValueError):
        layer.backward(np.ones((5, 4)), np.ones((5, 4)))
    with pytest.raises(TypeError):
        layer.backward(np.ones((5, 4)), np.ones((5, 3), complex))
    with pytest.raises((TypeError, ValueError)):
        layer.backward(None, None)
    assert snapshot(layer) == before
    assert layer.weight_grad is None and layer.bias_grad is None
