"""Every way a user can call linearc wrongly, and the exception it gets: its
type, the words of its message that matter, and that the failed call left
everything alone (parameters, gradient sums, out=, the thread setting).

Grouped by API: constructor; forward input; out=; parameters and their
setters; load_state_dict and pickling; functional linear(); backward; thread
settings.

Neighbours: what valid calls compute is in test_forward.py (NaN and Inf in
its "special values" section), test_backward.py and test_parameters.py; the
errors of the counting helpers (profile, summary) in test_counting.py; calls
that could crash or hang the interpreter (misaligned arrays, huge shapes,
gradient arrays the user tampers with) in test_robustness.py; the same
rejections over random inputs in test_properties.py; reference counts of
failing calls in test_leaks.py. Calls that might crash on the way to their
exception (sizes past the address space, tampered pickles) run in a forked
child first (conftest.outcome_in_child).
"""
from __future__ import annotations

import array
import collections
import mmap
import os
import pickle
import re
import warnings

import numpy as np
import pytest
import torch

import linearc
from linearc import Linear
from linearc._linearc import _build_config, _rebuild

from conftest import outcome_in_child, run_python, snapshot

MAX_THREADS = _build_config()["max_threads"]
# A ragged nested sequence: NumPy >= 1.24 says "inhomogeneous", linearc says
# "ragged" when an older NumPy hands it an object array instead.
RAGGED = "inhomogeneous|ragged"


@pytest.fixture
def layer():
    """A float32 layer (2, 3): messages below name float32 and these shapes."""
    return Linear(3, 2, seed=0)


@pytest.fixture
def any_layer(dtype):
    """A layer (3, 4) of either dtype."""
    return Linear(4, 3, dtype=dtype, seed=7)


def _generator():
    return (float(i) for i in range(3))


# Objects that are neither arrays nor nested sequences of numbers, with the
# type name the message must give. Built per test (a generator is used up).
NOT_ARRAYS = {
    "None": (lambda: None, "NoneType"),
    "str": (lambda: "abcd", "str"),
    "dict": (lambda: {1: 2}, "dict"),
    "set": (lambda: {1, 2}, "set"),
    "generator": (_generator, "generator"),
    "object": (object, "object"),
}


def not_an_array(what, typename):
    """The message for a non-array argument: the argument and the type."""
    return rf"^{what} must be an array or a nested sequence of numbers, " \
           rf"not {typename}$"


def masked(shape):
    return np.ma.array(np.ones(shape), mask=np.zeros(shape, bool))


MASKED = r"is a masked array: linearc would ignore its mask"


# ---- constructor ------------------------------------------------------------

@pytest.mark.parametrize("args,name", [((-1, 2), "in_features"),
                                       ((2, -1), "out_features"),
                                       ((-5, -5), "features")])
def test_negative_sizes(args, name):
    with pytest.raises(ValueError, match=rf"{name}.*>= 0.*-\d"):
        Linear(*args)


@pytest.mark.parametrize("bad,typename", [(True, "bool"), (False, "bool"),
                                          (2.0, "float"), ("3", "str"),
                                          (None, "NoneType")])
@pytest.mark.parametrize("position", [0, 1])
def test_size_wrong_type(bad, typename, position):
    args = [3, 3]
    args[position] = bad
    name = ("in_features", "out_features")[position]
    with pytest.raises(TypeError, match=rf"{name}.*int.*{typename}"):
        Linear(*args)


def test_size_numpy_int_accepted():
    # Integer-like objects are sizes; only bool is excluded.
    layer = Linear(np.int64(3), np.int32(2))
    assert (layer.in_features, layer.out_features) == (3, 2)


@pytest.mark.parametrize("dtype", [np.int32, complex, np.complex64, "float128",
                                   np.int8, "int64", object, np.bool_])
def test_bad_dtype(dtype):
    with pytest.raises(TypeError,
                       match=r"dtype.*float32, float64, float16 or bfloat16"):
        Linear(3, 2, dtype=dtype)


def test_unknown_dtype_string():
    with pytest.raises(TypeError, match="dtype"):
        Linear(3, 2, dtype="not-a-dtype")


def test_dtype_and_seed_keyword_only():
    with pytest.raises(TypeError):
        Linear(3, 2, True, np.float64)


def _sizes_id(case):
    in_f, out_f, bias, _ = case
    return f"{in_f}-{out_f}-{'bias' if bias else 'nobias'}"


# (in_features, out_features, bias, what the message must name): layers
# past the address space, each built in a forked child (the byte counts
# overflow size_t on the way: a wrapped-around allocation would crash the
# child, not pytest).
UNADDRESSABLE = [
    # A weight of more bytes than can be addressed: the message names the
    # largest size.
    *[(a, b, bias, str(max(a, b)))
      for a, b in [(2**40, 2**40), (2**62, 2**62), (2**31, 2**31),
                   (1, 2**62), (2**62, 1), (2**63, 2), (2**62, 4),
                   (1, 2**63 - 1)]
      for bias in (True, False)],
    # in_features == 0: the weight is empty but the bias has `out` entries,
    # and out * itemsize may wrap around.
    *[(0, out, True, f"Linear(0, {out})")
      for out in (2**40, 2**61, 2**62, 2**63 - 1)],
    # No bytes at all, but NumPy cannot describe a weight with such an axis:
    # refused here, not later when the weight is read. (Huge empty layers
    # NumPy can describe build: test_parameters.py.)
    *[(a, b, bias, f"Linear({a}, {b}): a {{dtype}} weight of shape ({b}, {a})")
      for a, b, bias in [(2**62, 0, True), (2**62, 0, False),
                         (0, 2**62, False), (0, 2**63 - 1, False)]],
]


@pytest.mark.parametrize("case", UNADDRESSABLE, ids=_sizes_id)
def test_unaddressable_layer(case, dtype):
    in_f, out_f, bias, named = case
    name, message = outcome_in_child(Linear, in_f, out_f, bias=bias,
                                     dtype=dtype)
    assert name == "MemoryError", (name, message)
    assert named.format(dtype=np.dtype(dtype).name) in message, message


@pytest.mark.parametrize("seed,exc,match", [
    (1.5, TypeError, "seed.*float"),
    ("7", TypeError, "seed.*str"),
    (True, TypeError, "seed must be an int or None, not bool"),
    (2**64, ValueError, re.escape(f"seed must be in [0, 2**64), got {2**64}")),
    (-1, ValueError, re.escape("seed must be in [0, 2**64), got -1")),
    (np.int64(-1), ValueError, re.escape("[0, 2**64)")),
], ids=["float", "str", "bool", "2**64", "-1", "np.int64(-1)"])
def test_bad_seed(seed, exc, match):
    with pytest.raises(exc, match=match):
        Linear(3, 2, seed=seed)
    layer = Linear(3, 2, seed=0)
    before = snapshot(layer)
    with pytest.raises(exc, match=match):
        layer.reset_parameters(seed=seed)
    assert snapshot(layer) == before


# ---- forward input ----------------------------------------------------------

@pytest.mark.parametrize("x", [np.float32(1.0), np.array(2.0), 5.0])
def test_forward_0d(layer, x):
    with pytest.raises(ValueError, match="at least 1 dimension.*0-d"):
        layer(x)


@pytest.mark.parametrize("kind", list(NOT_ARRAYS))
def test_forward_not_an_array(layer, kind):
    make, typename = NOT_ARRAYS[kind]
    with pytest.raises(TypeError, match=not_an_array("input", typename)):
        layer(make())
    with pytest.raises(TypeError, match=not_an_array("input", typename)):
        layer.forward(make())


@pytest.mark.parametrize("x", [["a", "b", "c"], [[1.0, 2.0, "x"]]],
                         ids=["strings", "mixed"])
def test_forward_list_of_strings(layer, x):
    with pytest.raises(TypeError, match="input must hold numbers"):
        layer(x)


@pytest.mark.parametrize("x", [[[1.0, 2.0, 3.0], [1.0, 2.0]],
                               ([1.0, 2.0, 3.0], (1.0,))],
                         ids=["lists", "tuples"])
def test_forward_ragged_sequence(layer, x):
    # NumPy >= 1.24 refuses to build the array and its ValueError comes
    # through; older NumPy builds an object array, which linearc refuses.
    with pytest.raises(ValueError, match=RAGGED):
        layer(x)


def test_forward_masked_array(layer):
    with pytest.raises(TypeError, match="^input " + MASKED):
        layer(masked((4, 3)))


# ---- masked arrays wherever they hide ---------------------------------------
# NumPy's conversion drops a mask silently wherever it meets one: linearc
# refuses them all, the way it refuses a masked array given directly.

def masked_some(shape):
    """Ones, the last element masked: a result computed from it is wrong."""
    mask = np.zeros(shape, bool)
    mask.flat[-1] = True
    return np.ma.array(np.ones(shape), mask=mask)


class ArrayReturning:
    """Anything whose __array__ hands back a given array."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a


class MaskedInterface:
    """An __array_interface__ that declares a mask, which NumPy ignores."""

    def __init__(self, m):
        self.data = np.ascontiguousarray(m.data)  # kept alive here
        self.__array_interface__ = dict(self.data.__array_interface__,
                                        mask=np.ascontiguousarray(m.mask))


def nested(obj, depth):
    for level in range(depth):
        obj = [obj] if level % 2 else (obj,)
    return obj


# Each builds, from a masked array m of the argument's shape, an object that
# NumPy converts without a word (the same shape, or with leading 1s).
HIDING_PLACES = {
    "list-of-rows": lambda m: list(m),
    "tuple-of-rows": lambda m: tuple(m),
    "row-among-plain-ones": lambda m: [np.asarray(r).tolist() for r in m[:-1]]
    + [m[-1]],
    "nested-5-deep": lambda m: nested(m, 5),
    "nested-40-deep-rows": lambda m: nested(list(m), 40),
    "masked-constant": lambda m: [np.asarray(m).tolist()[:-1] + [np.ma.masked]]
    if m.ndim == 1 else [np.asarray(r).tolist() for r in m[:-1]]
    + [np.asarray(m[-1]).tolist()[:-1] + [np.ma.masked]],
    "__array__": ArrayReturning,
    "__array__-in-a-list": lambda m: [ArrayReturning(m)],
    "__array_interface__": MaskedInterface,
    "__array_interface__-in-a-list": lambda m: [MaskedInterface(m)],
    "memoryview": memoryview,
    "deque-of-rows": lambda m: collections.deque(m),
}
MASK_IGNORED = r"(is|holds) a masked array.*: linearc would ignore its mask"


@pytest.mark.parametrize("place", list(HIDING_PLACES))
def test_forward_masked_array_hidden(layer, place):
    """The reproducers: layer([m]), layer((m,)), an __array__ returning m...
    computed with the masked value before; now each is the TypeError."""
    m = masked_some((4, 3))
    obj = HIDING_PLACES[place](m)
    with pytest.raises(TypeError, match="^input " + MASK_IGNORED):
        layer(obj)
    # Nothing was changed on the way.
    assert (m.data == 1).all() and m.mask.sum() == 1


# Where else a masked array may come in, and the name the message gives.
MASK_SITES = {
    "weight-setter": ((2, 3), "weight",
                      lambda obj: setattr(Linear(3, 2, seed=0), "weight",
                                          obj)),
    "backward-grad_output": ((4, 2), "grad_output",
                             lambda obj: Linear(3, 2, seed=0).backward(
                                 np.ones((4, 3)), obj)),
    "functional-weight": ((2, 3), "weight",
                          lambda obj: linearc.linear(np.ones((4, 3)), obj)),
    "functional-bias": ((2,), "bias",
                        lambda obj: linearc.linear(np.ones((4, 3)),
                                                   np.ones((2, 3)), obj)),
    "load_state_dict": ((2, 3), "weight",
                        lambda obj: Linear(3, 2, seed=0).load_state_dict(
                            {"weight": obj, "bias": np.zeros(2)})),
}


@pytest.mark.parametrize("place", ["list-of-rows", "tuple-of-rows",
                                   "row-among-plain-ones", "__array__",
                                   "__array_interface__", "memoryview"])
@pytest.mark.parametrize("site", list(MASK_SITES))
def test_masked_array_hidden_in_any_argument(site, place):
    shape, what, call = MASK_SITES[site]
    with pytest.raises(TypeError, match=f"^{what} " + MASK_IGNORED):
        call(HIDING_PLACES[place](masked_some(shape)))


# ---- raw bytes --------------------------------------------------------------
# One rule: bytes-like objects whose items are single bytes (format 'B', 'b'
# or 'c') carry no element type, so linearc does not read them as uint8;
# np.frombuffer(obj, dtype=...) says what they hold. Buffers with a numeric
# format are numbers (test_forward.py, test_typed_buffers_are_numbers).

def _mmap3():
    buf = mmap.mmap(-1, 3)
    buf.write(b"\x01\x02\x03")
    return buf


RAW_BYTES = {
    "bytes": (lambda: b"\x01\x02\x03", "bytes"),
    "bytearray": (lambda: bytearray(b"\x01\x02\x03"), "bytearray"),
    "memoryview-of-bytes": (lambda: memoryview(b"abc"), "memoryview"),
    "memoryview-of-bytearray": (lambda: memoryview(bytearray(3)),
                                "memoryview"),
    "memoryview-cast-c": (lambda: memoryview(b"abc").cast("c"), "memoryview"),
    "memoryview-of-uint8-ndarray": (
        lambda: memoryview(np.arange(3, dtype=np.uint8)), "memoryview"),
    "array-B": (lambda: array.array("B", [1, 2, 3]), "array.array"),
    "array-b": (lambda: array.array("b", [1, 2, 3]), "array.array"),
    "mmap": (_mmap3, "mmap.mmap"),
}
RAW = (r"{what} (is|holds) raw bytes \({typename}\): linearc does not guess "
       r"what numbers they hold; read them with np\.frombuffer\(obj, "
       r"dtype=\.\.\.\)$")


@pytest.mark.parametrize("nest", [False, True], ids=["alone", "in-a-list"])
@pytest.mark.parametrize("kind", list(RAW_BYTES))
def test_forward_raw_bytes(layer, kind, nest):
    """The reproducer: bytes was a TypeError, bytearray and memoryview were
    read as uint8 numbers. Now all raw bytes are the same TypeError."""
    make, typename = RAW_BYTES[kind]
    obj = make()
    with pytest.raises(TypeError, match="^" + RAW.format(
            what="input", typename=re.escape(typename))):
        layer([obj] if nest else obj)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview-of-bytes"])
@pytest.mark.parametrize("site", ["weight-setter", "functional-bias",
                                  "backward-grad_output"])
def test_raw_bytes_in_any_argument(site, kind):
    _, what, call = MASK_SITES[site]
    make, typename = RAW_BYTES[kind]
    with pytest.raises(TypeError, match="^" + RAW.format(
            what=what, typename=typename)):
        call(make())


# ---- torch tensors NumPy cannot take ----------------------------------------

def _tensor_of(dtype_name):
    """A (4, 3) tensor of a dtype NumPy has no equivalent for."""
    with warnings.catch_warnings():  # experimental / deprecated dtypes
        warnings.simplefilter("ignore")
        if dtype_name == "qint8":
            return torch.quantize_per_tensor(torch.ones(4, 3), 0.1, 0,
                                             torch.qint8)
        return torch.zeros(4, 3, dtype=getattr(torch, dtype_name))


@pytest.mark.parametrize("dtype_name", ["qint8", "complex32", "uint4",
                                        "bits8", "float4_e2m1fn_x2"])
def test_torch_dtype_numpy_lacks(layer, dtype_name):
    """bfloat16 and float8 widen exactly (test_forward.py); any other torch
    dtype NumPy has no equivalent for is a TypeError naming it, instead of
    torch's "Got unsupported ScalarType"."""
    t = _tensor_of(dtype_name)
    message = (rf"^input is a torch tensor of dtype torch\.{dtype_name}, "
               r"which NumPy has no dtype for: convert it first")
    with pytest.raises(TypeError, match=message):
        layer(t)
    with pytest.raises(TypeError, match=message.replace(" is ", " holds ")):
        layer([t])
    with pytest.raises(TypeError, match=message.replace("input", "weight")):
        linearc.linear(np.ones(3), t)


def test_torch_complex_names_its_dtype(layer):
    """complex64 NumPy has: the cast is refused as for the ndarray."""
    with pytest.raises(TypeError, match="^cannot cast input of dtype "
                                        "complex64 to float32"):
        layer(torch.zeros(4, 3, dtype=torch.complex64))


@pytest.mark.parametrize("shape", [(4,), (2, 4), (5, 1, 2), (2, 3, 4), (2, 0),
                                   (0, 0)])
def test_forward_wrong_last_dim(layer, shape):
    with pytest.raises(ValueError,
                       match=re.escape(str(shape)) + r".*in_features=3"):
        layer(np.ones(shape, np.float32))


@pytest.mark.parametrize("x", [
    np.ones(3, np.complex128),
    np.ones((2, 3), np.complex64),
    np.array([1, 2, 3], dtype=object),
    np.array(["a", "b", "c"]),
    np.array([b"a", b"b", b"c"]),
    np.ones(3, dtype="M8[s]"),
    np.zeros(3, dtype="i4,f4"),
], ids=["complex128", "complex64", "object", "unicode", "bytes", "datetime",
        "struct"])
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_forward_uncastable_dtype(x, layer_dtype):
    layer = Linear(3, 2, dtype=layer_dtype)
    # The message names both dtypes so the user sees what to convert.
    message = (f"cannot cast input of dtype {x.dtype} to "
               f"{np.dtype(layer_dtype).name} under the 'same_kind' rule")
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        layer(x)


def test_object_array_of_numbers_is_rejected_not_guessed(layer):
    # Even when every element is a float, dtype=object is not castable under
    # same_kind: the rule is the dtype, not the contents.
    with pytest.raises(TypeError, match="object"):
        layer(np.array([[1.0, 2.0, 3.0]], dtype=object))


def test_forward_unexpected_keyword(layer):
    with pytest.raises(TypeError):
        layer(np.ones(3), output=np.zeros(2))


# ---- out= -------------------------------------------------------------------

def _x():
    return np.arange(12, dtype=np.float32).reshape(4, 3)


def _check_out_error(layer, out, exc, match, x=None):
    """The call fails with exc/match and leaves out exactly as it was."""
    x = _x() if x is None else x
    before = np.array(out, copy=True)
    with pytest.raises(exc, match=match):
        layer(x, out=out)
    np.testing.assert_array_equal(out, before)
    assert out.dtype == before.dtype


@pytest.mark.parametrize("shape", [(4, 3), (2, 4), (4,), (1, 4, 2), (8,),
                                   (4, 2, 1)])
def test_out_wrong_shape(layer, shape):
    out = np.full(shape, 7, np.float32)
    _check_out_error(layer, out, ValueError,
                     re.escape(str(shape)) + r".*expected.*\(4, 2\)")


@pytest.mark.parametrize("layer_dtype,out_dtype", [
    (np.float32, np.float64), (np.float32, np.float16), (np.float32, np.int32),
    (np.float32, np.complex64), (np.float32, np.dtype(">f4")),
    (np.float64, np.float32), (np.float64, np.dtype(">f8")),
])
def test_out_wrong_dtype(layer_dtype, out_dtype):
    layer = Linear(3, 2, dtype=layer_dtype)
    out = np.full((4, 2), 7, out_dtype)
    expected = np.dtype(layer_dtype).name
    _check_out_error(layer, out, TypeError, rf"dtype.*expected {expected}")


@pytest.mark.parametrize("out,typename", [([[0.0] * 2] * 4, "list"),
                                          (torch.zeros(4, 2), "Tensor"),
                                          (3.0, "float")],
                         ids=["list", "tensor", "float"])
def test_out_not_ndarray(layer, out, typename):
    with pytest.raises(TypeError, match=rf"out must be a numpy.ndarray, "
                                        rf"not {typename}"):
        layer(_x(), out=out)


def test_out_masked(layer):
    out = np.ma.zeros((4, 2), np.float32)
    with pytest.raises(TypeError, match=r"out is a masked array.*ignore its mask"):
        layer(_x(), out=out)
    assert (out.data == 0).all()


def test_out_read_only(layer):
    out = np.full((4, 2), 7, np.float32)
    out.flags.writeable = False
    _check_out_error(layer, out, ValueError, "read-only")


def test_out_broadcast_read_only(layer):
    out = np.broadcast_to(np.zeros(2, np.float32), (4, 2))
    _check_out_error(layer, out, ValueError, "read-only|contiguous")


def test_out_non_contiguous_last_axis(layer):
    buf = np.full((4, 4), 7, np.float32)
    _check_out_error(layer, buf[:, ::2], ValueError, "contiguous")
    np.testing.assert_array_equal(buf, 7)


def test_out_reversed_last_axis(layer):
    buf = np.full((4, 2), 7, np.float32)
    _check_out_error(layer, buf[:, ::-1], ValueError, "contiguous")


def test_out_fortran(layer):
    out = np.asfortranarray(np.full((4, 2), 7, np.float32))
    _check_out_error(layer, out, ValueError, "contiguous")


def test_out_leading_axes_do_not_collapse(layer):
    # (2, 2, 2) view whose leading axes have strides that are not one stride.
    buf = np.full((2, 5, 2), 7, np.float32)
    out = buf[:, ::2][:, :2]
    assert out.shape == (2, 2, 2)
    x = np.ones((2, 2, 3), np.float32)
    _check_out_error(layer, out, ValueError, "stride|contiguous", x=x)
    np.testing.assert_array_equal(buf, 7)


def test_out_rows_overlap(layer):
    # A writable out whose rows all alias one row cannot hold a result; the
    # memory around that row is never written.
    base = np.full(2 + 16, 7, np.float32)
    out = np.lib.stride_tricks.as_strided(base[:2], (64, 2), (0, 4),
                                          writeable=True)
    _check_out_error(layer, out, ValueError, "overlap",
                     x=np.ones((64, 3), np.float32))
    np.testing.assert_array_equal(base, 7)


def test_out_unchanged_on_input_errors(layer):
    """Errors in x (not in out) must not touch out either."""
    out = np.full((4, 2), 7, np.float32)
    _check_out_error(layer, out, ValueError, "in_features",
                     x=np.ones((4, 5), np.float32))
    _check_out_error(layer, out, TypeError, "complex",
                     x=np.ones((4, 3), np.complex64))


# ---- parameters and their setters -------------------------------------------

def assert_setter_refused(layer, attr, value, exc, match):
    """layer.attr = value raises exc matching match and changes nothing."""
    before = snapshot(layer)
    with pytest.raises(exc, match=match):
        setattr(layer, attr, value)
    assert snapshot(layer) == before


@pytest.mark.parametrize("attr,value", [
    ("weight", np.ones((3, 2))), ("weight", np.ones(2)),
    ("weight", np.ones((2, 3, 1))), ("weight", np.ones(6)),
    ("weight", np.ones(())), ("bias", np.ones(3)), ("bias", np.ones((1, 2))),
    ("bias", np.ones((2, 1))), ("bias", np.ones(()))],
    ids=["w-transposed", "w-1d", "w-3d", "w-flat", "w-0d", "b-long", "b-row",
         "b-column", "b-0d"])
def test_parameter_wrong_shape(layer, attr, value):
    expected = {"weight": (2, 3), "bias": (2,)}[attr]
    message = f"{attr} must have shape {expected}, got {value.shape}"
    assert_setter_refused(layer, attr, value, ValueError,
                          "^" + re.escape(message) + "$")


def test_weight_ragged(layer):
    assert_setter_refused(layer, "weight", [[1, 2, 3], [3]], ValueError,
                          RAGGED)


@pytest.mark.parametrize("attr,value", [
    ("weight", np.ones((2, 3), np.complex128)),
    ("weight", np.ones((2, 3), object)), ("weight", np.full((2, 3), "x")),
    ("bias", np.ones(2, np.complex64)), ("bias", np.ones(2, object))],
    ids=["w-complex", "w-object", "w-unicode", "b-complex", "b-object"])
def test_parameter_uncastable(layer, attr, value):
    message = (f"cannot cast {attr} of dtype {value.dtype} to float32 "
               "under the 'same_kind' rule")
    assert_setter_refused(layer, attr, value, TypeError,
                          "^" + re.escape(message) + "$")


# (bias = None is no type error: test_bias_none_on_biased below.)
@pytest.mark.parametrize("attr,kind", [
    ("weight", "None"), ("weight", "str"), ("weight", "dict"),
    ("weight", "object"), ("bias", "str"), ("bias", "dict"), ("bias", "set"),
    ("bias", "object")])
def test_parameter_not_an_array(layer, attr, kind):
    make, typename = NOT_ARRAYS[kind]
    assert_setter_refused(layer, attr, make(), TypeError,
                          not_an_array(attr, typename))


@pytest.mark.parametrize("attr,shape", [("weight", (2, 3)), ("bias", (2,))])
def test_parameter_masked(layer, attr, shape):
    assert_setter_refused(layer, attr, masked(shape), TypeError,
                          f"^{attr} " + MASKED)


def test_bias_none_on_biased(layer):
    before = snapshot(layer)
    with pytest.raises(ValueError, match="None.*bias=True"):
        layer.bias = None
    assert snapshot(layer) == before
    assert layer.bias is not None


def test_bias_array_on_unbiased():
    layer = Linear(3, 2, bias=False)
    with pytest.raises(ValueError, match="bias=False"):
        layer.bias = np.ones(2, np.float32)
    assert layer.bias is None
    # Setting None on an unbiased layer is a no-op, not an error.
    layer.bias = None
    assert layer.bias is None


@pytest.mark.parametrize("attr", ["weight", "bias"])
def test_delete_parameters(layer, attr):
    before = snapshot(layer)
    with pytest.raises(AttributeError, match=attr):
        delattr(layer, attr)
    assert snapshot(layer) == before


@pytest.mark.parametrize("attr,value", [("in_features", 6),
                                        ("out_features", 6),
                                        ("dtype", np.dtype(np.float64)),
                                        ("num_parameters", 0),
                                        ("weight_grad", np.zeros((2, 3))),
                                        ("bias_grad", np.zeros(2))])
def test_read_only_attributes(layer, attr, value):
    before = getattr(layer, attr)
    with pytest.raises(AttributeError):
        setattr(layer, attr, value)
    assert getattr(layer, attr) == before


# ---- load_state_dict and pickling -------------------------------------------

@pytest.mark.parametrize("state,match", [
    ({"weight": np.zeros((2, 3))}, r"missing keys \['bias'\]"),
    ({}, r"missing keys \['weight', 'bias'\]"),
    ({"weight": np.zeros((2, 3)), "bias": np.zeros(2), "foo": 1},
     r"unexpected keys \['foo'\]"),
    ({1: 2}, "missing keys"),
], ids=["no-bias", "empty", "extra", "int-key"])
def test_load_wrong_keys(layer, state, match):
    before = snapshot(layer)
    with pytest.raises(KeyError, match=match):
        layer.load_state_dict(state)
    assert snapshot(layer) == before


def test_load_bias_into_unbiased():
    layer = Linear(3, 2, bias=False, seed=1)
    before = snapshot(layer)
    with pytest.raises(KeyError, match=r"unexpected keys \['bias'\]"):
        layer.load_state_dict({"weight": np.zeros((2, 3)),
                               "bias": np.zeros(2)})
    assert snapshot(layer) == before


def test_load_torch_state_of_other_bias_setting():
    tlayer = torch.nn.Linear(3, 2, bias=False)
    layer = Linear(3, 2, seed=1)
    before = snapshot(layer)
    with pytest.raises(KeyError, match="missing.*bias"):
        layer.load_state_dict(tlayer.state_dict())
    assert snapshot(layer) == before


@pytest.mark.parametrize("state,name", [
    ({"weight": np.zeros((3, 3)), "bias": np.zeros(2)}, "weight"),
    ({"weight": np.zeros((2, 3)), "bias": np.zeros(3)}, "bias"),
    ({"weight": np.zeros(6), "bias": np.zeros(2)}, "weight"),
    ({"weight": np.zeros((3, 2)), "bias": np.zeros(2)}, "weight"),
])
def test_load_wrong_shape(layer, state, name):
    before = snapshot(layer)
    with pytest.raises(ValueError, match=rf"{name}.*shape"):
        layer.load_state_dict(state)
    assert snapshot(layer) == before


@pytest.mark.parametrize("state,exc,match", [
    ({"weight": "abc", "bias": np.zeros(2)}, TypeError,
     not_an_array("weight", "str")),
    ({"weight": None, "bias": None}, TypeError,
     not_an_array("weight", "NoneType")),
    ({"weight": None, "bias": np.zeros(2)}, TypeError,
     not_an_array("weight", "NoneType")),
    ({"weight": np.ones((2, 3)), "bias": "abc"}, TypeError,
     not_an_array("bias", "str")),
    ({"weight": np.ones((2, 3), object), "bias": np.zeros(2)}, TypeError,
     "object"),
    ({"weight": np.ones((2, 3)), "bias": np.zeros(2, object)}, TypeError,
     "object"),
    ({"weight": np.ones((2, 3), complex), "bias": np.zeros(2)}, TypeError,
     "complex"),
    ({"weight": masked((2, 3)), "bias": np.zeros(2)}, TypeError,
     "^weight " + MASKED),
], ids=["w-str", "None-values", "w-None", "b-str", "w-object", "b-object",
        "w-complex", "w-masked"])
def test_load_bad_values(layer, state, exc, match):
    before = snapshot(layer)
    with pytest.raises(exc, match=match):
        layer.load_state_dict(state)
    assert snapshot(layer) == before


def test_load_good_weight_bad_bias_is_atomic(layer):
    """A valid weight must not be applied when the bias is rejected."""
    before = snapshot(layer)
    good_w = np.arange(6, dtype=np.float64).reshape(2, 3)
    with pytest.raises(ValueError, match="bias"):
        layer.load_state_dict({"weight": good_w, "bias": np.zeros(5)})
    assert snapshot(layer) == before
    with pytest.raises(TypeError, match="complex"):
        layer.load_state_dict({"weight": good_w,
                               "bias": np.zeros(2, np.complex128)})
    assert snapshot(layer) == before


@pytest.mark.parametrize("bad", [[1, 2], None, 3, "weight", np.zeros(3),
                                 [("weight", np.zeros((2, 3)))]],
                         ids=["list", "None", "int", "str", "ndarray",
                              "pairs"])
def test_load_non_mapping(layer, bad):
    before = snapshot(layer)
    with pytest.raises(TypeError, match="mapping"):
        layer.load_state_dict(bad)
    assert snapshot(layer) == before


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


def test_crafted_pickle_of_good_args_round_trips(any_layer):
    # The premise of the tampering below: Crafted(args) of the real args
    # gives the layer back.
    restored = pickle.loads(pickle.dumps(Crafted(tuple(good_args(any_layer)))))
    assert isinstance(restored, Linear)
    assert snapshot(restored) == snapshot(any_layer)


def _tamper(args, index, value):
    args = list(args)
    args[index] = value
    return tuple(args)


TAMPERS = {
    # name: (function of the good args -> bad args, expected exception)
    "weight-transposed": (lambda a: _tamper(a, 4, a[4].T.copy()), ValueError),
    "weight-flat": (lambda a: _tamper(a, 4, a[4].ravel()), ValueError),
    "weight-None": (lambda a: _tamper(a, 4, None), TypeError),
    "weight-str": (lambda a: _tamper(a, 4, "abc"), TypeError),
    "weight-object": (lambda a: _tamper(a, 4, a[4].astype(object)), TypeError),
    "weight-complex": (lambda a: _tamper(a, 4, a[4].astype(complex)),
                       TypeError),
    "bias-short": (lambda a: _tamper(a, 5, a[5][:-1]), ValueError),
    "bias-None": (lambda a: _tamper(a, 5, None), ValueError),
    "bias-str": (lambda a: _tamper(a, 5, "abc"), TypeError),
    "bias-on-biasless": (lambda a: _tamper(a, 2, False), ValueError),
    "dtype-int32": (lambda a: _tamper(a, 3, "int32"), TypeError),
    "dtype-bogus": (lambda a: _tamper(a, 3, "bogus"), TypeError),
    "dtype-int": (lambda a: _tamper(a, 3, 7), TypeError),
    "in-negative": (lambda a: _tamper(a, 0, -4), ValueError),
    "out-negative": (lambda a: _tamper(a, 1, -3), ValueError),
    "in-float": (lambda a: _tamper(a, 0, 4.0), TypeError),
    "in-str": (lambda a: _tamper(a, 0, "4"), TypeError),
    "in-mismatch": (lambda a: _tamper(a, 0, 5), ValueError),
    # Sizes the carried arrays do not have are refused before anything of
    # that size is allocated.
    "in-huge": (lambda a: _tamper(a, 0, 2**62), ValueError),
    "out-huge-bias": (lambda a: _tamper(_tamper(a, 0, 0), 1, 2**62),
                      ValueError),
    "missing-arg": (lambda a: tuple(a[:5]), TypeError),
    "extra-arg": (lambda a: tuple(a) + (1,), TypeError),
    "no-args": (lambda a: (), TypeError),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_pickle(any_layer, name):
    tamper, exc = TAMPERS[name]
    data = pickle.dumps(Crafted(tamper(good_args(any_layer))))
    # First in a child, where a crash cannot take pytest down...
    assert outcome_in_child(pickle.loads, data)[0] == exc.__name__
    with pytest.raises(exc):  # ...then here, now that it is known to be safe
        pickle.loads(data)


def test_tampered_pickle_bytes_are_rejected(any_layer):
    # Edit the real pickle stream: swap the dtype string for one of the same
    # length that is not a layer dtype.
    data = pickle.dumps(any_layer)
    name = np.dtype(any_layer.dtype).name.encode()
    assert data.count(name) >= 1
    bogus = data.replace(name, b"complex"[:len(name)].ljust(len(name), b"x"))
    with pytest.raises(TypeError):
        pickle.loads(bogus)


# ---- functional linear() ----------------------------------------------------

@pytest.mark.parametrize("wshape", [(2, 3, 1), ()])
def test_functional_weight_bad_rank(wshape):
    with pytest.raises(ValueError,
                       match=r"weight must be 2-D .* or 1-D .*got shape "
                             + re.escape(str(wshape))):
        linearc.linear(np.ones(3), np.ones(wshape))


@pytest.mark.parametrize("wshape,bshape,expected", [
    ((2, 3), (3,), "(2,) or ()"),
    ((2, 3), (1, 2), "(2,) or ()"),
    ((2, 3), (1,), "(2,) or ()"),
    ((3,), (1,), "0-d"),
    ((3,), (2,), "0-d"),
])
def test_functional_bias_wrong_shape(wshape, bshape, expected):
    with pytest.raises(ValueError, match=re.escape(expected) + ".*"
                       + re.escape(str(bshape))):
        linearc.linear(np.ones(3), np.ones(wshape), np.ones(bshape))


@pytest.mark.parametrize("xshape,wshape", [((5, 4), (2, 3)), ((4,), (3, 5)),
                                           ((4,), (5,)), ((2, 4), (3,))])
def test_functional_wrong_last_dim(xshape, wshape):
    k = wshape[-1]
    with pytest.raises(ValueError, match=re.escape(str(xshape))
                       + rf".*in_features={k}"):
        linearc.linear(np.ones(xshape), np.ones(wshape))


def test_functional_0d_input():
    with pytest.raises(ValueError, match="0-d"):
        linearc.linear(np.float64(1.0), np.ones(1))


def test_functional_bad_dtypes():
    with pytest.raises(TypeError, match="input of dtype complex"):
        linearc.linear(np.ones(3, complex), np.ones((2, 3)))
    with pytest.raises(TypeError, match="weight of dtype complex"):
        linearc.linear(np.ones(3), np.ones((2, 3), complex))
    with pytest.raises(TypeError, match="bias of dtype complex"):
        linearc.linear(np.ones(3), np.ones((2, 3)), np.ones(2, complex))


# (bias=None is no bias, which is valid.)
@pytest.mark.parametrize("position,what,kind", [
    (0, "input", "None"), (0, "input", "str"), (0, "input", "dict"),
    (1, "weight", "None"), (1, "weight", "str"), (1, "weight", "set"),
    (2, "bias", "str"), (2, "bias", "object")])
def test_functional_not_an_array(position, what, kind):
    make, typename = NOT_ARRAYS[kind]
    args = [np.ones(3), np.ones((2, 3)), np.ones(2)]
    args[position] = make()
    with pytest.raises(TypeError, match=not_an_array(what, typename)):
        linearc.linear(*args)


@pytest.mark.parametrize("position,what", [(0, "input"), (1, "weight"),
                                           (2, "bias")])
def test_functional_masked(position, what):
    args = [np.ones(3), np.ones((2, 3)), np.ones(2)]
    args[position] = masked(args[position].shape)
    with pytest.raises(TypeError, match=f"^{what} " + MASKED):
        linearc.linear(*args)


def test_functional_out_errors():
    x = np.ones((4, 3))
    w = np.ones((2, 3))
    out = np.full((4, 3), 7.0)
    with pytest.raises(ValueError, match=r"out has shape \(4, 3\), "
                                         r"expected \(4, 2\)"):
        linearc.linear(x, w, out=out)
    np.testing.assert_array_equal(out, 7.0)
    out = np.full((4, 2), 7, np.float32)
    with pytest.raises(TypeError, match="out has dtype float32, "
                                        "expected float64"):
        linearc.linear(x, w, out=out)
    np.testing.assert_array_equal(out, 7.0)
    # A 1-D weight gives (*,): an out of (*, 1) is the wrong shape.
    out = np.full((4, 1), 7.0)
    with pytest.raises(ValueError, match=r"out has shape \(4, 1\), "
                                         r"expected \(4,\)"):
        linearc.linear(x, np.ones(3), out=out)
    np.testing.assert_array_equal(out, 7.0)


def test_functional_1d_weight_out_checks():
    """With a 1-D weight, out is written through a (*, 1) view linearc
    builds itself (test_forward.py): the checks on out still apply to out,
    and a failed call leaves it alone."""
    x = np.ones((4, 3))
    w = np.ones(3)
    out = np.ma.array(np.full(4, 7.0), mask=[False, True, False, False])
    with pytest.raises(TypeError, match=r"^out is a masked array.*ignore its "
                                        r"mask"):
        linearc.linear(x, w, out=out)
    assert (out.data == 7.0).all()
    out = np.full(4, 7, np.float32)
    with pytest.raises(TypeError, match="out has dtype float32, "
                                        "expected float64"):
        linearc.linear(x, w, out=out)
    np.testing.assert_array_equal(out, 7.0)
    out = np.full(4, 7.0)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        linearc.linear(x, w, out=out)
    np.testing.assert_array_equal(out, 7.0)
    # A strided out (every other element) is fine: rows one stride apart.
    buf = np.full(8, 7.0)
    every_other = buf[::2]
    assert linearc.linear(x, w, 0.5, out=every_other) is every_other
    np.testing.assert_array_equal(buf, [3.5, 7.0] * 4)


@pytest.mark.parametrize("args,kwargs,match", [
    ((np.ones(3),), {"x": np.ones(3), "weight": np.ones((2, 3))},
     "repeated keyword argument 'x'"),
    ((np.ones(3), np.ones((2, 3))), {"weight": np.ones((2, 3))},
     "repeated keyword argument 'weight'"),
    ((np.ones(3), np.ones((2, 3)), None), {"bias": None},
     "repeated keyword argument 'bias'"),
    ((np.ones(3), np.ones((2, 3))), {"bogus": 1},
     "unexpected keyword argument 'bogus'"),
    ((), {"input": np.ones(3), "weight": np.ones((2, 3))},
     "unexpected keyword argument 'input'"),
    ((np.ones(3), np.ones((2, 3)), None, np.empty(2)), {},
     "at most 3 positional arguments"),
    ((), {"x": np.ones(3)}, "missing required argument 'weight'"),
], ids=["x-twice", "weight-twice", "bias-twice", "unknown", "torch-name",
        "out-positional", "no-weight"])
def test_functional_bad_arguments(args, kwargs, match):
    with pytest.raises(TypeError, match=match):
        linearc.linear(*args, **kwargs)


# ---- backward ---------------------------------------------------------------

@pytest.mark.parametrize("xshape,gshape", [
    ((2, 3, 4), (3, 2, 5)),
    ((2, 3, 4), (6, 5)),
    ((6, 4), (2, 3, 5)),
    ((4,), (1, 5)),
    ((2, 4), (3, 5)),
    ((5, 4), (4, 5)),
])
def test_backward_leading_shape_mismatch(xshape, gshape):
    layer = Linear(4, 5, seed=1)
    before = snapshot(layer)
    with pytest.raises(ValueError) as info:
        layer.backward(np.ones(xshape), np.ones(gshape))
    message = str(info.value)
    assert str(xshape) in message and str(gshape) in message, message
    assert snapshot(layer) == before  # nothing accumulated


@pytest.mark.parametrize("xshape,gshape", [
    ((2, 5), (2, 5)),     # x does not end in in_features
    ((2, 4), (2, 6)),     # grad_output does not end in out_features
    ((2, 3, 3), (2, 3, 5)),
    ((4,), (4,)),
    ((5, 4), (5, 4)),
])
def test_backward_wrong_last_dims(xshape, gshape, dtype):
    layer = Linear(4, 5, dtype=dtype, seed=1)
    before = snapshot(layer)
    with pytest.raises(ValueError, match="in_features=4|out_features=5"):
        layer.backward(np.ones(xshape), np.ones(gshape))
    assert snapshot(layer) == before


@pytest.mark.parametrize("x,g,exc,match", [
    (np.float64(1.0), np.ones(5), ValueError, "0-d"),
    (np.ones((2, 4), complex), np.ones((2, 5)), TypeError,
     "input of dtype complex128"),
    (np.ones((2, 4)), np.ones((2, 5), complex), TypeError,
     "grad_output of dtype complex128"),
    (None, np.ones((2, 5)), TypeError, not_an_array("input", "NoneType")),
    (np.ones((2, 4)), None, TypeError,
     not_an_array("grad_output", "NoneType")),
    (None, None, TypeError, not_an_array("input", "NoneType")),
    (np.ones((2, 4)), "ab", TypeError, not_an_array("grad_output", "str")),
    (masked((2, 4)), np.ones((2, 5)), TypeError, "^input " + MASKED),
    (np.ones((2, 4)), masked((2, 5)), TypeError, "^grad_output " + MASKED),
], ids=["0d", "complex-x", "complex-g", "None-x", "None-g", "None-both",
        "str-g", "masked-x", "masked-g"])
def test_backward_bad_arguments(x, g, exc, match):
    layer = Linear(4, 5, dtype=np.float64, seed=1)
    before = snapshot(layer)
    with pytest.raises(exc, match=match):
        layer.backward(x, g)
    assert snapshot(layer) == before


def test_backward_argument_count():
    layer = Linear(4, 5, seed=1)
    with pytest.raises(TypeError, match="two positional arguments"):
        layer.backward(np.ones((2, 4)))
    assert layer.weight_grad is None


def test_failed_backward_leaves_earlier_sums_alone(any_layer, rng):
    x = rng.standard_normal((5, 4))
    any_layer.backward(x, rng.standard_normal((5, 3)))
    before = snapshot(any_layer)
    with pytest.raises(ValueError):
        any_layer.backward(x, np.ones((4, 3)))
    with pytest.raises(TypeError):
        any_layer.backward(x, np.ones((5, 3), complex))
    assert snapshot(any_layer) == before


# ---- thread settings --------------------------------------------------------

@pytest.mark.parametrize("n", [0, -1, -3, MAX_THREADS + 1, 10**6, 2**100])
def test_set_num_threads_out_of_range(n, restore_threads):
    linearc.set_num_threads(2)
    message = (f"set_num_threads() needs 1 <= n <= {MAX_THREADS} "
               f"(linearc's maximum), got {n}")
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        linearc.set_num_threads(n)
    assert linearc.get_num_threads() == 2  # a failed call changes nothing


@pytest.mark.parametrize("n,typename", [(1.5, "float"), (True, "bool"),
                                        ("2", "str"),
                                        (np.float64(2), "numpy.float64")])
def test_set_num_threads_wrong_type(n, typename, restore_threads):
    linearc.set_num_threads(2)
    with pytest.raises(TypeError, match=re.escape(
            f"set_num_threads() takes an int or None, not {typename}")):
        linearc.set_num_threads(n)
    assert linearc.get_num_threads() == 2


def test_functional_one_row_weight_with_0d_bias():
    """A (1, in) weight with a 0-d bias, as torch accepts it."""
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    y = linearc.linear(x, np.ones((1, 4), np.float32), np.float32(1))
    np.testing.assert_array_equal(y, [[7.0], [23.0]])


@pytest.mark.parametrize("value", ["99999999999,96,2048", "-4294967295,12,32",
                                   "512,96,2048,", "512,96", "a,b,c", "512,96,2048,1,1,1,1"])
def test_bad_blocking_environment_is_an_import_error(value):
    proc = run_python("import linearc",
                      env={**os.environ, "LINEARC_BLOCKING_F32": value}, timeout=60)
    assert proc.returncode != 0
    assert "ImportError: LINEARC_BLOCKING" in proc.stderr, proc.stderr[-500:]


def test_functional_vector_weight_into_0d_out():
    """A rank-1 input with a 1-D weight gives a 0-d result, into a 0-d out."""
    out = np.full((), np.nan)
    x = np.arange(6.0)
    assert linearc.linear(x, np.ones(6), out=out) is out
    assert out == 15.0
    with pytest.raises(ValueError, match=r"out has shape \(2,\), expected \(\)"):
        linearc.linear(x, np.ones(6), out=np.zeros(2))
