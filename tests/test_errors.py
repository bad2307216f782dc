"""Every error of the public API: its type and the words that matter."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import linearc


def snapshot(layer):
    """Copies of the parameters, to prove a failed call changed nothing."""
    return {k: v.copy() for k, v in layer.state_dict().items()}


def assert_unchanged(layer, before):
    after = layer.state_dict()
    assert after.keys() == before.keys()
    for key in before:
        assert after[key].dtype == before[key].dtype
        np.testing.assert_array_equal(after[key], before[key])


# ---- constructor ----------------------------------------------------------

@pytest.mark.parametrize("args,name", [((-1, 2), "in_features"),
                                       ((2, -1), "out_features"),
                                       ((-5, -5), "features")])
def test_negative_sizes(args, name):
    with pytest.raises(ValueError, match=rf"{name}.*>= 0.*-\d"):
        linearc.Linear(*args)


@pytest.mark.parametrize("bad,typename", [(True, "bool"), (False, "bool"),
                                          (2.0, "float"), ("3", "str"),
                                          (None, "NoneType")])
@pytest.mark.parametrize("position", [0, 1])
def test_size_wrong_type(bad, typename, position):
    args = [3, 3]
    args[position] = bad
    name = ("in_features", "out_features")[position]
    with pytest.raises(TypeError, match=rf"{name}.*int.*{typename}"):
        linearc.Linear(*args)


def test_size_numpy_int_accepted():
    # Integer-like objects are sizes; only bool is excluded.
    layer = linearc.Linear(np.int64(3), np.int32(2))
    assert (layer.in_features, layer.out_features) == (3, 2)


@pytest.mark.parametrize("dtype", [np.int32, complex, np.complex64, "float16",
                                   np.float16, "int64", object, np.bool_])
def test_bad_dtype(dtype):
    with pytest.raises(TypeError, match=r"dtype.*float32 or float64"):
        linearc.Linear(3, 2, dtype=dtype)


def test_unknown_dtype_string():
    with pytest.raises(TypeError, match="dtype"):
        linearc.Linear(3, 2, dtype="not-a-dtype")


@pytest.mark.parametrize("sizes", [(2**40, 2**40), (2**62, 4), (1, 2**63 - 1)])
def test_huge_layer_memory_error(sizes):
    with pytest.raises(MemoryError):
        linearc.Linear(*sizes)


def test_bad_seed():
    with pytest.raises(TypeError, match="seed"):
        linearc.Linear(3, 2, seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        linearc.Linear(3, 2, seed="7")
    layer = linearc.Linear(3, 2, seed=0)
    before = snapshot(layer)
    with pytest.raises(TypeError, match="seed"):
        layer.reset_parameters(seed=2.5)
    assert_unchanged(layer, before)


def test_dtype_and_seed_keyword_only():
    with pytest.raises(TypeError):
        linearc.Linear(3, 2, True, np.float64)


# ---- forward --------------------------------------------------------------

@pytest.fixture
def layer():
    return linearc.Linear(3, 2, seed=0)


@pytest.mark.parametrize("x", [np.float32(1.0), np.array(2.0), 5.0])
def test_forward_0d(layer, x):
    with pytest.raises(ValueError, match="0-d"):
        layer(x)


def test_forward_none(layer):
    # np.asarray(None) is a 0-d object array: refused either way.
    with pytest.raises((TypeError, ValueError), match="0-d|object"):
        layer(None)


@pytest.mark.parametrize("shape", [(4,), (2, 4), (5, 1, 2), (2, 0)])
def test_forward_wrong_last_dim(layer, shape):
    with pytest.raises(ValueError,
                       match=re.escape(str(shape)) + r".*in_features=3"):
        layer(np.ones(shape, np.float32))


@pytest.mark.parametrize("x,dtname", [
    (np.ones(3, np.complex128), "complex128"),
    (np.ones((2, 3), np.complex64), "complex64"),
    (np.array([1, 2, 3], dtype=object), "object"),
    (np.array(["a", "b", "c"]), "<U1"),
    (np.array([b"a", b"b", b"c"]), "S1"),
])
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_forward_bad_dtype(x, dtname, layer_dtype):
    layer = linearc.Linear(3, 2, dtype=layer_dtype)
    name = np.dtype(layer_dtype).name
    with pytest.raises(TypeError,
                       match=rf"{re.escape(dtname)}.*{name}"):
        layer(x)


def test_float64_into_float32_is_not_an_error(layer):
    # same_kind allows the downcast: no error, float32 result.
    assert layer(np.ones(3, np.float64)).dtype == np.float32


def test_forward_ragged_list(layer):
    with pytest.raises(ValueError, match="inhomogeneous|sequence"):
        layer([[1.0, 2.0, 3.0], [1.0, 2.0]])


def test_forward_unexpected_keyword(layer):
    with pytest.raises(TypeError):
        layer(np.ones(3), output=np.zeros(2))


# ---- out= -----------------------------------------------------------------

def _x():
    return np.arange(12, dtype=np.float32).reshape(4, 3)


def _check_out_error(layer, out, exc, match, x=None):
    """The call fails with exc/match and leaves out exactly as it was."""
    x = _x() if x is None else x
    before = np.array(out, copy=True)
    with pytest.raises(exc, match=match):
        layer(x, out=out)
    np.testing.assert_array_equal(out, before)
    if isinstance(out, np.ndarray):
        assert out.dtype == before.dtype


@pytest.mark.parametrize("shape", [(4, 3), (2, 4), (4,), (1, 4, 2), (8,),
                                   (4, 2, 1)])
def test_out_wrong_shape(layer, shape):
    out = np.full(shape, 7, np.float32)
    _check_out_error(layer, out, ValueError,
                     re.escape(str(shape)) + r".*expected.*\(4, 2\)")


@pytest.mark.parametrize("dt", [np.float64, np.float16, np.int32,
                                np.complex64, np.dtype(">f4")])
def test_out_wrong_dtype(layer, dt):
    out = np.full((4, 2), 7, dt)
    _check_out_error(layer, out, TypeError, r"dtype.*expected float32")


def test_out_wrong_dtype_float64_layer():
    layer = linearc.Linear(3, 2, dtype=np.float64)
    out = np.full((4, 2), 7, np.float32)
    _check_out_error(layer, out, TypeError, r"float32.*expected float64")


@pytest.mark.parametrize("out,typename", [([[0.0] * 2] * 4, "list"),
                                          (torch.zeros(4, 2), "Tensor"),
                                          (3.0, "float")])
def test_out_not_ndarray(layer, out, typename):
    with pytest.raises(TypeError, match=rf"ndarray.*{typename}"):
        layer(_x(), out=out)


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


def test_out_unchanged_on_input_errors(layer):
    """Errors in x (not in out) must not touch out either."""
    out = np.full((4, 2), 7, np.float32)
    _check_out_error(layer, out, ValueError, "in_features",
                     x=np.ones((4, 5), np.float32))
    _check_out_error(layer, out, TypeError, "complex",
                     x=np.ones((4, 3), np.complex64))


# ---- weight / bias setters ------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 2), (2,), (2, 3, 1), (6,), ()])
def test_weight_wrong_shape(layer, shape):
    before = snapshot(layer)
    with pytest.raises(ValueError, match=re.escape("(2, 3)") + ".*"
                       + re.escape(str(shape))):
        layer.weight = np.ones(shape)
    assert_unchanged(layer, before)


def test_weight_complex(layer):
    before = snapshot(layer)
    with pytest.raises(TypeError, match="complex128.*float32"):
        layer.weight = np.ones((2, 3), np.complex128)
    assert_unchanged(layer, before)


def test_weight_none(layer):
    before = snapshot(layer)
    with pytest.raises((TypeError, ValueError), match="weight"):
        layer.weight = None
    assert_unchanged(layer, before)


@pytest.mark.parametrize("shape", [(3,), (1, 2), (2, 1), ()])
def test_bias_wrong_shape(layer, shape):
    before = snapshot(layer)
    with pytest.raises(ValueError, match=re.escape("(2,)") + ".*"
                       + re.escape(str(shape))):
        layer.bias = np.ones(shape)
    assert_unchanged(layer, before)


def test_bias_complex(layer):
    before = snapshot(layer)
    with pytest.raises(TypeError, match="complex.*float32"):
        layer.bias = np.ones(2, np.complex64)
    assert_unchanged(layer, before)


def test_bias_none_on_biased(layer):
    before = snapshot(layer)
    with pytest.raises(ValueError, match="None.*bias=True"):
        layer.bias = None
    assert_unchanged(layer, before)
    assert layer.bias is not None


def test_bias_array_on_unbiased():
    layer = linearc.Linear(3, 2, bias=False)
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
    assert_unchanged(layer, before)


@pytest.mark.parametrize("attr,value", [("in_features", 4),
                                        ("out_features", 4),
                                        ("dtype", np.float64),
                                        ("num_parameters", 1)])
def test_read_only_attributes(layer, attr, value):
    with pytest.raises(AttributeError):
        setattr(layer, attr, value)


# ---- load_state_dict ------------------------------------------------------

def test_load_missing_bias(layer):
    before = snapshot(layer)
    with pytest.raises(KeyError, match=r"missing keys \['bias'\]"):
        layer.load_state_dict({"weight": np.zeros((2, 3))})
    assert_unchanged(layer, before)


def test_load_missing_all(layer):
    before = snapshot(layer)
    with pytest.raises(KeyError, match=r"missing keys \['weight', 'bias'\]"):
        layer.load_state_dict({})
    assert_unchanged(layer, before)


def test_load_unexpected_key(layer):
    before = snapshot(layer)
    with pytest.raises(KeyError, match=r"unexpected keys \['foo'\]"):
        layer.load_state_dict({"weight": np.zeros((2, 3)),
                               "bias": np.zeros(2), "foo": 1})
    assert_unchanged(layer, before)


def test_load_bias_into_unbiased():
    layer = linearc.Linear(3, 2, bias=False, seed=1)
    before = snapshot(layer)
    with pytest.raises(KeyError, match=r"unexpected keys \['bias'\]"):
        layer.load_state_dict({"weight": np.zeros((2, 3)),
                               "bias": np.zeros(2)})
    assert_unchanged(layer, before)


def test_load_torch_state_of_other_bias_setting():
    tlayer = torch.nn.Linear(3, 2, bias=False)
    layer = linearc.Linear(3, 2, seed=1)
    before = snapshot(layer)
    with pytest.raises(KeyError, match="missing.*bias"):
        layer.load_state_dict(tlayer.state_dict())
    assert_unchanged(layer, before)


@pytest.mark.parametrize("state,name", [
    ({"weight": np.zeros((3, 3)), "bias": np.zeros(2)}, "weight"),
    ({"weight": np.zeros((2, 3)), "bias": np.zeros(3)}, "bias"),
    ({"weight": np.zeros(6), "bias": np.zeros(2)}, "weight"),
])
def test_load_wrong_shape(layer, state, name):
    before = snapshot(layer)
    with pytest.raises(ValueError, match=rf"{name}.*shape"):
        layer.load_state_dict(state)
    assert_unchanged(layer, before)


def test_load_good_weight_bad_bias_is_atomic(layer):
    """A valid weight must not be applied when the bias is rejected."""
    before = snapshot(layer)
    with pytest.raises(ValueError, match="bias"):
        layer.load_state_dict({"weight": np.full((2, 3), 9.0),
                               "bias": np.zeros(5)})
    assert_unchanged(layer, before)
    with pytest.raises(TypeError, match="complex"):
        layer.load_state_dict({"weight": np.full((2, 3), 9.0),
                               "bias": np.zeros(2, np.complex128)})
    assert_unchanged(layer, before)


@pytest.mark.parametrize("bad", [[1, 2], None, 3, "weight", np.zeros(3),
                                 [("weight", np.zeros((2, 3)))]],
                         ids=["list", "None", "int", "str", "ndarray",
                              "pairs"])
def test_load_non_mapping(layer, bad):
    before = snapshot(layer)
    with pytest.raises(TypeError, match="mapping"):
        layer.load_state_dict(bad)
    assert_unchanged(layer, before)


# ---- functional linear ----------------------------------------------------

@pytest.mark.parametrize("wshape", [(3,), (2, 3, 1), ()])
def test_functional_weight_not_2d(wshape):
    with pytest.raises(ValueError,
                       match="2-D.*" + re.escape(str(wshape))):
        linearc.linear(np.ones(3), np.ones(wshape))


@pytest.mark.parametrize("bshape", [(3,), (1, 2), ()])
def test_functional_bias_wrong_shape(bshape):
    with pytest.raises(ValueError, match=re.escape("(2,)") + ".*"
                       + re.escape(str(bshape))):
        linearc.linear(np.ones(3), np.ones((2, 3)), np.ones(bshape))


def test_functional_wrong_last_dim():
    with pytest.raises(ValueError, match=r"\(5, 4\).*in_features=3"):
        linearc.linear(np.ones((5, 4)), np.ones((2, 3)))


def test_functional_bad_dtypes():
    with pytest.raises(TypeError, match="complex"):
        linearc.linear(np.ones(3, complex), np.ones((2, 3)))
    with pytest.raises(TypeError, match="complex|dtype"):
        linearc.linear(np.ones(3), np.ones((2, 3), complex))


def test_functional_out_errors():
    x = np.ones((4, 3))
    w = np.ones((2, 3))
    out = np.full((4, 3), 7.0)
    with pytest.raises(ValueError, match="shape"):
        linearc.linear(x, w, out=out)
    np.testing.assert_array_equal(out, 7.0)
    out = np.full((4, 2), 7, np.float32)
    with pytest.raises(TypeError, match="dtype"):
        linearc.linear(x, w, out=out)
    np.testing.assert_array_equal(out, 7.0)


# ---- threads --------------------------------------------------------------

def test_set_num_threads_errors():
    n = linearc.get_num_threads()
    try:
        with pytest.raises(ValueError, match=">= 1.*0"):
            linearc.set_num_threads(0)
        with pytest.raises(ValueError, match=">= 1"):
            linearc.set_num_threads(-3)
        with pytest.raises(TypeError, match="int.*float"):
            linearc.set_num_threads(1.5)
        with pytest.raises(TypeError, match="int.*bool"):
            linearc.set_num_threads(True)
        assert linearc.get_num_threads() == n
    finally:
        linearc.set_num_threads(n)
