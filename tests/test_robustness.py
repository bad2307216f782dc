"""Memory safety: calls that a bug would turn into a crash, a hang or a
silent corruption, not into a wrong number. Gradient arrays the user resizes,
freezes or reshapes; misaligned arrays in every argument; sizes whose rows,
offsets or outputs cannot be allocated, and empty results of huge shapes.

Each test body that could crash or hang runs in a forked child with a
timeout (conftest.outcome_in_child), so a segfault or a deadlock fails that
test instead of killing or stalling pytest. .ci/sanitize.sh runs them under
ASan/UBSan to catch the quieter memory errors too.

Neighbours: fork() with threads and thread pools is in test_fork.py; the
exceptions of wrong calls (and constructor sizes past the address space) in
test_errors.py; what backward computes in test_backward.py.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import linearc
from linearc import Linear

from conftest import assert_linear_close, misaligned, outcome_in_child, run_python

TIMEOUT = 60


def in_child(test):
    """Run the test's body in a forked child (60 s at most): its exceptions,
    assertion messages included, are raised here as an AssertionError."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        name, message = outcome_in_child(test, *args, timeout=TIMEOUT,
                                         **kwargs)
        assert name == "ok", f"in the child: {name}: {message}"
    return wrapper


# ---- gradient arrays --------------------------------------------------------

def accumulated(layer, xs, gs):
    """layer's gradient sums match sum_i g_i.T @ x_i within the bound."""
    X = np.concatenate([np.reshape(x, (-1, layer.in_features)) for x in xs])
    G = np.concatenate([np.reshape(g, (-1, layer.out_features)) for g in gs])
    assert_linear_close(layer.weight_grad, G.T, X.T, dtype=layer.dtype)
    assert_linear_close(layer.bias_grad[None, :], np.ones((1, len(G))), G.T,
                        dtype=layer.dtype)


@pytest.mark.parametrize("attr", ["weight_grad", "bias_grad"])
@in_child
def test_gradient_cannot_be_resized(attr):
    # The reproducer: a resize with refcheck=False used to free the sum the
    # layer keeps writing to.
    layer = Linear(512, 512)
    x = np.ones((4, 512), np.float32)
    layer.backward(x, x)
    with pytest.raises(ValueError, match="does not own its data"):
        getattr(layer, attr).resize((1,), refcheck=False)
    assert getattr(layer, attr).shape == ((512, 512) if attr == "weight_grad"
                                          else (512,))
    layer.backward(x, x)
    accumulated(layer, [x, x], [x, x])
    np.testing.assert_array_equal(layer.weight_grad, 8.0)  # 2 calls x 4 rows
    np.testing.assert_array_equal(layer.bias_grad, 8.0)


def _read_only(a):
    a.flags.writeable = False


def _reshape(a):
    a.shape = (1,) + a.shape  # possible in place whatever the strides


def _retype(a):
    a.dtype = np.int32 if a.itemsize == 4 else np.int64  # same bytes


TAMPERINGS = {"read-only": _read_only, "shape": _reshape, "dtype": _retype}


@pytest.mark.parametrize("tamper", list(TAMPERINGS))
@pytest.mark.parametrize("attr,other", [("weight_grad", "bias_grad"),
                                        ("bias_grad", "weight_grad")])
def test_tampered_gradient_is_left_alone(attr, other, tamper, dtype, rng):
    """A gradient array the user made read-only, or whose shape or dtype
    they set in place, is not written again: the next backward continues
    the sum in a new array, as torch accumulates out of place."""
    layer = Linear(24, 10, dtype=dtype, seed=5)
    xs = [rng.standard_normal((6, 24)).astype(dtype) for _ in range(3)]
    gs = [rng.standard_normal((6, 10)).astype(dtype) for _ in range(3)]
    layer.backward(xs[0], gs[0])
    kept = getattr(layer, attr)
    before = kept.copy()
    other_array = getattr(layer, other)
    TAMPERINGS[tamper](kept)

    layer.backward(xs[1], gs[1])
    fresh = getattr(layer, attr)
    assert fresh is not kept and not np.shares_memory(fresh, kept)
    assert fresh.shape == before.shape and fresh.dtype == before.dtype
    assert fresh.flags.writeable
    # The kept array holds exactly what it held; the new one the whole sum.
    assert kept.tobytes() == before.tobytes()
    accumulated(layer, xs[:2], gs[:2])
    # The untouched gradient went on accumulating in place.
    assert getattr(layer, other) is not None
    assert np.shares_memory(getattr(layer, other), other_array)

    layer.backward(xs[2], gs[2])  # the new array is the layer's from now on
    assert np.shares_memory(getattr(layer, attr), fresh)
    accumulated(layer, xs, gs)
    assert kept.tobytes() == before.tobytes()


def test_grad_reference_survives_zero_grad(dtype, rng):
    """As with torch's set_to_none: a kept .grad stays valid and unchanged."""
    layer = Linear(6, 5, dtype=dtype, seed=3)
    x = rng.standard_normal((7, 6)).astype(dtype)
    g = rng.standard_normal((7, 5)).astype(dtype)
    layer.backward(x, g)
    kept_w, kept_b = layer.weight_grad, layer.bias_grad
    before_w, before_b = kept_w.copy(), kept_b.copy()
    layer.zero_grad()
    assert layer.weight_grad is None and layer.bias_grad is None
    layer.backward(2 * x, g)          # a new array, not the kept one
    np.testing.assert_array_equal(kept_w, before_w)
    np.testing.assert_array_equal(kept_b, before_b)
    assert not np.shares_memory(kept_w, layer.weight_grad)
    del layer  # the kept arrays outlive the layer, intact
    assert kept_w.tobytes() == before_w.tobytes()
    assert kept_b.tobytes() == before_b.tobytes()


# ---- misaligned arrays ------------------------------------------------------

def same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


# 3 rows: the direct path; 40: the blocked path.
MISALIGNED_ROWS = pytest.mark.parametrize("rows", [3, 40])


@MISALIGNED_ROWS
@pytest.mark.parametrize("x_dtype", [np.float64, np.float32])
@in_child
def test_misaligned_input(rows, x_dtype, dtype):
    rng = np.random.default_rng(rows)
    values = rng.standard_normal((rows, 4))
    x = misaligned(values, x_dtype)
    before = x.tobytes()
    layer = Linear(4, 2, dtype=dtype, seed=1)
    y = layer(x)
    same_bits(y, layer(np.array(x)))  # the same values, aligned
    assert x.tobytes() == before
    assert_linear_close(y, values.astype(x_dtype), layer.weight, layer.bias)


@MISALIGNED_ROWS
@in_child
def test_misaligned_backward(rows, dtype):
    rng = np.random.default_rng(rows)
    x = misaligned(rng.standard_normal((rows, 4)), np.float64)
    g = misaligned(rng.standard_normal((rows, 2)), np.float64)
    x_before, g_before = x.tobytes(), g.tobytes()
    layer = Linear(4, 2, dtype=dtype, seed=1)
    aligned = Linear(4, 2, dtype=dtype, seed=1)
    same_bits(layer.backward(x, g), aligned.backward(np.array(x), np.array(g)))
    same_bits(layer.weight_grad, aligned.weight_grad)
    same_bits(layer.bias_grad, aligned.bias_grad)
    assert x.tobytes() == x_before and g.tobytes() == g_before
    accumulated(layer, [np.array(x)], [np.array(g)])


@MISALIGNED_ROWS
@in_child
def test_misaligned_functional(rows, dtype):
    rng = np.random.default_rng(rows)
    x = misaligned(rng.standard_normal((rows, 4)), np.float64)
    w = misaligned(rng.standard_normal((2, 4)), dtype)
    b = misaligned(rng.standard_normal(2), dtype)
    before = [a.tobytes() for a in (x, w, b)]
    y = linearc.linear(x, w, b)
    same_bits(y, linearc.linear(np.array(x), np.array(w), np.array(b)))
    assert [a.tobytes() for a in (x, w, b)] == before
    assert_linear_close(y, np.array(x), np.array(w), np.array(b), dtype)


@MISALIGNED_ROWS
@in_child
def test_misaligned_out(rows, dtype):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 4))
    layer = Linear(4, 2, dtype=dtype, seed=1)
    out = misaligned(np.full((rows, 2), np.nan), dtype)
    assert layer(x, out=out) is out
    same_bits(np.array(out), layer(x))
    out = misaligned(np.full((rows, 2), np.nan), dtype)
    assert linearc.linear(x, layer.weight, layer.bias, out=out) is out
    same_bits(np.array(out), layer(x))


@in_child
def test_misaligned_parameters():
    layer = Linear(4, 2, dtype=np.float64, seed=1)
    w = misaligned(np.arange(8.0).reshape(2, 4), np.float64)
    layer.weight = w
    layer.bias = misaligned([1.0, -1.0], np.float64)
    np.testing.assert_array_equal(layer.weight, np.arange(8.0).reshape(2, 4))
    np.testing.assert_array_equal(layer([1.0, 1.0, 1.0, 1.0]), [7.0, 21.0])


# ---- huge shapes ------------------------------------------------------------

def huge_rows(features, dtype=np.float32):
    """(2, 2**40, features) over a few real bytes; the leading axes (strides
    16 and 0) do not collapse into one stride."""
    base = np.ones(2 * max(features, 1), dtype)
    step = base.itemsize * max(features, 1)
    return as_strided(base, shape=(2, 2**40, features),
                      strides=(step, 0, base.itemsize))


@in_child
def test_empty_result_of_huge_shape():
    # An empty result needs no memory and no work, whatever the row count:
    # it comes back at once (a loop over the rows would hit the timeout).
    y = Linear(4, 0)(huge_rows(4))
    assert y.shape == (2, 2**40, 0) and y.dtype == np.float32
    out = np.empty((2, 2**40, 0), np.float32)
    assert Linear(4, 0)(huge_rows(4), out=out) is out
    assert linearc.linear(huge_rows(4), np.ones((0, 4))).shape == (2, 2**40, 0)
    x = np.broadcast_to(np.zeros(1, np.float32), (2**30, 2**30, 1))
    assert Linear(1, 0)(x).shape == (2**30, 2**30, 0)


@in_child
def test_row_offsets_memory_error():
    # backward walks the rows of x; 2**41 rows that do not collapse need a
    # 16 TiB table of row offsets, which is refused with a message.
    layer = Linear(4, 1)
    g = huge_rows(1)
    with pytest.raises(MemoryError, match="row offsets") as info:
        layer.backward(huge_rows(4), g)
    assert str(2**40) in str(info.value)
    assert layer.weight_grad is None


HUGE_CALLS = {
    "forward": lambda: Linear(4, 1)(huge_rows(4)),
    "functional": lambda: linearc.linear(huge_rows(4), np.ones((1, 4))),
    "backward": lambda: Linear(4, 1).backward(huge_rows(4), huge_rows(1)),
}


@pytest.mark.parametrize("call", list(HUGE_CALLS))
@in_child
def test_memory_errors_say_what(call):
    """Every MemoryError on the way has a message saying what could not be
    allocated (linearc's, or NumPy's for the output)."""
    with pytest.raises(MemoryError) as info:
        HUGE_CALLS[call]()
    message = str(info.value)
    assert message.strip(), "empty MemoryError message"
    assert "allocate" in message, message


@in_child
def test_output_too_big_to_allocate():
    # 2**60 rows by broadcasting (a few bytes of real memory): the output
    # (2**60, 1) float32 can be described (4 EiB) but not allocated.
    x = np.broadcast_to(np.zeros(1, np.float32), (2**30, 2**30, 1))
    with pytest.raises(MemoryError) as info:
        Linear(1, 1)(x)
    assert "allocate" in str(info.value)


@in_child
def test_output_too_big_to_describe():
    # The output (2**60, 8) float32 has more bytes than an ndarray can
    # describe: NumPy's error (ValueError or MemoryError), never a crash.
    # (backward has no such case: a grad_output of that shape cannot be
    # described either.)
    x = np.broadcast_to(np.zeros(1, np.float32), (2**30, 2**30, 1))
    with pytest.raises((ValueError, MemoryError)) as info:
        Linear(1, 8)(x)
    assert str(info.value)
    with pytest.raises((ValueError, MemoryError)) as info:
        linearc.linear(x, np.ones((8, 1), np.float32))
    assert str(info.value)


def test_output_bytes_that_wrap_are_not_a_wrong_size():
    """(2**56 + 2**30) rows of 64 float32 outputs: every operand fits, but
    the result's bytes wrapped around 2**64 to 256 GiB, and a MemoryError
    named that size (or a smaller wrap was allocated before NumPy refused)."""
    rows = 2**56 + 2**30
    x = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (rows, 1), (0, 4))
    w = np.ones((64, 1), np.float32)
    # (backward's results have the shapes of x and of the weight: they fit)
    for call in (lambda: Linear(1, 64)(x), lambda: linearc.linear(x, w)):
        with pytest.raises(ValueError, match=r"more bytes than an array can hold"):
            call()
    with pytest.raises(ValueError, match=r"result of shape \(72057595111669760, 64\)"):
        Linear(1, 64)(x)


# --- found by a hostile review ------------------------------------------------

class _ArrayWrapper:
    """Anything with __array__: the layer sees only the array it returns."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a


@pytest.mark.parametrize("wrap", ["memoryview", "__array__"])
def test_grad_output_sharing_memory_with_the_gradients(wrap):
    """grad_output that is a view of weight_grad (through an object that is
    not an ndarray) is read before the gradient is written: copied first."""
    rng = np.random.default_rng(0)
    n = 64
    x = rng.standard_normal((n, n)).astype(np.float32)
    g = rng.standard_normal((n, n)).astype(np.float32)
    a, b = Linear(n, n, seed=0), Linear(n, n, seed=0)
    a.backward(x, g)
    b.backward(x, g)
    a.backward(x, a.weight_grad.T.copy())
    alias = b.weight_grad.T
    b.backward(x, memoryview(alias) if wrap == "memoryview" else _ArrayWrapper(alias))
    assert b.weight_grad.tobytes() == a.weight_grad.tobytes()
    c = Linear(3, 4, seed=0)
    x6 = np.ones((6, 3), np.float32)
    c.backward(x6, np.ones((6, 4), np.float32))
    c.backward(x6, _ArrayWrapper(np.broadcast_to(c.bias_grad, (6, 4))))
    np.testing.assert_array_equal(c.bias_grad, np.full(4, 42.0, np.float32))


def test_weakref_callback_on_a_replaced_gradient_does_not_deadlock():
    """The layer drops its reference to a gradient array the user changed
    only after releasing its lock: a callback may read the gradients."""
    code = """
import weakref, numpy as np, linearc
layer = linearc.Linear(3, 2, seed=0)
x, g = np.ones((5, 3), np.float32), np.ones((5, 2), np.float32)
layer.backward(x, g)
seen = []
ref = weakref.ref(layer.weight_grad, lambda r: seen.append(layer.weight_grad.shape))
layer.weight_grad.flags.writeable = False
layer.backward(x, g)
layer.zero_grad()
print("ok", seen)
"""
    proc = run_python(code, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("ok [(2, 3)]"), proc


def test_tampered_pickle_is_checked_before_allocating():
    """A pickle claiming a 2**40 x 2**40 layer with a (3, 4) weight: a
    ValueError about the weight, not an attempt to allocate."""
    layer = Linear(4, 3, seed=0)
    rebuild, args = layer.__reduce__()
    with pytest.raises(ValueError, match=r"weight must have shape"):
        rebuild(2**40, 2**40, True, "float64", *args[4:])
    with pytest.raises(ValueError, match=r"bias"):
        rebuild(4, 3, False, "float32", *args[4:])
