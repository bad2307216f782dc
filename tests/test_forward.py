"""Forward pass of linearc.Linear / linearc.linear against torch.nn.Linear:
ranks, strides, dtype conversion, out=, the functional form (1-D weights,
0-d biases, keywords) and, in a section of its own, special values (NaN and
Inf propagate as IEEE 754 says).

Every result, linearc's and torch's, is checked against the float64
reference with the K-scaled bound (linearc._accuracy): torch is a second
oracle, not the yardstick.

Neighbours: the rejected calls and their exceptions are in test_errors.py;
sizes around every tile and block edge of the GEMM in test_gemm_edges.py;
misaligned and huge inputs in test_robustness.py; random shapes and layouts
in test_properties.py.
"""
from __future__ import annotations

import array

import warnings

import numpy as np
import pytest
import torch

import linearc
from conftest import assert_linear_close


TORCH_DTYPE = {np.dtype(np.float32): torch.float32,
               np.dtype(np.float64): torch.float64}


def make_pair(in_features, out_features, bias=True, dtype=np.float32, seed=0):
    """A linearc layer and a torch layer holding the same parameters."""
    layer = linearc.Linear(in_features, out_features, bias=bias, dtype=dtype,
                           seed=seed)
    with warnings.catch_warnings():
        # torch warns that initialising a zero-element tensor is a no-op.
        warnings.simplefilter("ignore", UserWarning)
        tlayer = torch.nn.Linear(in_features, out_features, bias=bias,
                                 dtype=TORCH_DTYPE[np.dtype(dtype)])
    tlayer.load_state_dict(
        {k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return layer, tlayer


def torch_forward(tlayer, x, dtype):
    # torch.from_numpy rejects negative strides: hand it a contiguous copy.
    xt = torch.from_numpy(np.ascontiguousarray(np.asarray(x), dtype=dtype))
    with torch.no_grad():
        return tlayer(xt).numpy()


def check(layer, tlayer, x):
    """Run both layers on x; check dtype, shape and both against float64."""
    dtype = layer.dtype
    x_before = np.array(x, copy=True)
    y = layer(x)
    assert isinstance(y, np.ndarray)
    assert y.dtype == dtype
    xa = np.asarray(x)
    assert y.shape == xa.shape[:-1] + (layer.out_features,)
    # The input is never modified.
    np.testing.assert_array_equal(np.asarray(x), x_before)
    yt = torch_forward(tlayer, x, dtype)
    assert_linear_close(y, xa, layer.weight, layer.bias, dtype)
    assert_linear_close(yt, xa, layer.weight, layer.bias, dtype)
    return y


# (rows, in_features, out_features) around typical tile and block edges
# (test_gemm_edges.py reads the exact ones from the extension).
EDGE_SHAPES = [
    (1, 1, 1),
    (7, 5, 3),
    (8, 16, 8),
    (9, 17, 12),
    (11, 31, 13),
    (12, 32, 14),
    (13, 33, 15),
    (14, 64, 16),
    (15, 255, 17),
    (16, 256, 31),
    (17, 257, 32),
    (32, 100, 33),
    (33, 511, 48),
    (127, 129, 64),
    (239, 40, 127),
    (240, 512, 240),
    (241, 513, 241),
    (8, 2000, 37),
    (50, 1999, 65),
    (3, 300, 700),
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("rows,k,n", EDGE_SHAPES)
def test_block_edges(rows, k, n, bias, dtype, rng):
    layer, tlayer = make_pair(k, n, bias, dtype, seed=rows * 1000 + k)
    x = rng.standard_normal((rows, k)).astype(dtype)
    check(layer, tlayer, x)


@pytest.mark.parametrize("shape", [
    (5,), (3, 5), (2, 3, 5), (2, 1, 3, 5), (2, 2, 1, 3, 5), (1, 1, 1, 1, 5),
    (4, 5, 3, 2, 5)])
def test_ranks(shape, dtype, rng):
    layer, tlayer = make_pair(5, 7, True, dtype, seed=1)
    x = rng.standard_normal(shape).astype(dtype)
    y = check(layer, tlayer, x)
    # Rank is preserved: leading dims pass through unchanged.
    assert y.shape == shape[:-1] + (7,)


def test_one_d_input(dtype, rng):
    layer, tlayer = make_pair(6, 4, True, dtype, seed=2)
    x = rng.standard_normal(6).astype(dtype)
    y = check(layer, tlayer, x)
    assert y.shape == (4,)


def test_python_list_input(dtype):
    layer, tlayer = make_pair(3, 2, True, dtype, seed=3)
    x = [[1.0, 2.0, 3.0], [-4.0, 0.5, 6.0]]
    y = check(layer, tlayer, x)
    assert y.shape == (2, 2)
    y1 = layer([1, 2, 3])
    assert y1.shape == (2,)
    np.testing.assert_array_equal(y1, y[0])
    # Tuples, and lists and tuples mixed, nest as lists do.
    np.testing.assert_array_equal(layer(((1.0, 2.0, 3.0), [-4.0, 0.5, 6.0])),
                                  y)
    np.testing.assert_array_equal(layer([[(1, 2, 3)]]), y[None, :1])


def test_torch_tensor_input(dtype):
    """A tensor that requires grad is detached (no error, no autograd): the
    result is a NumPy array, the same as for the equal NumPy input."""
    layer = linearc.Linear(4, 3, dtype=dtype, seed=3)
    xt = torch.ones(3, 4, requires_grad=True)
    y = layer(xt)
    assert type(y) is np.ndarray
    np.testing.assert_array_equal(y, layer(np.ones((3, 4))))
    assert xt.grad is None
    out = np.empty((3, 3), dtype)
    assert layer(xt, out=out) is out
    np.testing.assert_array_equal(out, y)


@pytest.mark.parametrize("narrow", [torch.bfloat16, torch.float8_e4m3fn,
                                    torch.float8_e5m2, torch.float16],
                         ids=["bfloat16", "float8_e4m3fn", "float8_e5m2",
                              "float16"])
@pytest.mark.parametrize("requires_grad", [False, True],
                         ids=["plain", "requires_grad"])
def test_narrow_float_tensor_input(narrow, requires_grad, dtype, rng):
    """torch floats NumPy has no dtype for (bfloat16, float8) widen to
    float32 exactly, so a layer of either dtype gives the bits of those same
    values given as float32; float16 goes through NumPy's float16, as
    before. Nested in a list too; the tensor is left as it was."""
    layer = linearc.Linear(7, 5, dtype=dtype, seed=2)
    values = rng.standard_normal((2, 3, 7)).astype(np.float32)
    xt = torch.from_numpy(values).to(narrow)
    if requires_grad and narrow.itemsize > 1:  # float8 cannot require grad
        xt.requires_grad_(True)
    exact = xt.detach().float().numpy()
    assert (exact != values).any()  # the narrow type really rounded them
    before = xt.detach().clone()
    y = layer(xt)
    assert type(y) is np.ndarray and y.dtype == dtype
    assert y.tobytes() == layer(exact).tobytes()
    assert layer([xt[0], xt[1]]).tobytes() == y.tobytes()
    assert torch.equal(xt.detach().view(torch.uint8),
                       before.view(torch.uint8)) and xt.grad is None
    # As a weight: widened to float32 likewise, except float16, which is
    # NumPy's float16 and so makes a float16 product.
    w = torch.from_numpy(values[0, :5]).to(narrow)
    same = w.numpy() if narrow == torch.float16 else w.float().numpy()
    assert linearc.linear(exact, w).dtype == same.dtype
    assert linearc.linear(exact, w).tobytes() == \
        linearc.linear(exact, same).tobytes()


def test_typed_buffers_are_numbers(dtype):
    """Buffers with a numeric item format are numbers, as an ndarray of that
    format is: array.array, memoryviews of them and of ndarrays. (Raw bytes,
    format 'B', 'b' or 'c', are refused: test_errors.py.)"""
    layer = linearc.Linear(3, 2, dtype=dtype, seed=4)
    values = [1.5, -2.0, 0.25]
    expected = layer(np.array(values)).tobytes()
    for typecode in "fdhil":
        a = array.array(typecode, [int(v) for v in values] if typecode in "hil"
                        else values)
        want = layer(np.array(a)).tobytes()
        assert layer(a).tobytes() == want, typecode
        assert layer(memoryview(a)).tobytes() == want, typecode
    assert layer(memoryview(np.array(values))).tobytes() == expected
    assert layer(memoryview(np.array(values, ">f8"))).tobytes() == expected
    assert layer([memoryview(np.array(values))]).tobytes() == \
        layer(np.array([values])).tobytes()


def _strided_inputs(rng, dtype, k):
    """Views with unusual memory layouts, all ending in k features."""
    base = rng.standard_normal((6, 5, 9, 2 * k + 1)).astype(dtype)
    row = rng.standard_normal(k).astype(dtype)
    return {
        "last_axis_step2": base[:, :, :, ::2][..., :k],
        "negative_last": base[..., ::-1][..., :k],
        "negative_lead": base[::-1, :, ::-2, :k],
        "non_collapsible": base[::2, :, ::-1, 1:k + 1],
        "mixed_4d": base[1::2, ::-1, ::3, -1:-k - 1:-1],
        "broadcast_rows": np.broadcast_to(row, (7, k)),
        "broadcast_3d": np.broadcast_to(base[0, 0, :, :k], (4, 9, k)),
        "broadcast_feature": np.broadcast_to(row[:1], (5, k)),
        "fortran": np.asfortranarray(base[0, 0, :, :k]),
        "fortran_3d": np.asfortranarray(base[:, :, 0, :k]),
        # Features axis has the largest stride: a transposed 3-D array.
        "transposed_3d": np.ascontiguousarray(
            base[:, 0, :, :k].transpose(2, 1, 0)).transpose(2, 1, 0),
    }


@pytest.mark.parametrize("k", [5, 33, 257])
def test_strided_inputs(k, dtype, rng):
    layer, tlayer = make_pair(k, 19, True, dtype, seed=k)
    for name, x in _strided_inputs(rng, dtype, k).items():
        assert x.shape[-1] == k, name
        y = check(layer, tlayer, x)
        # Same values as the contiguous copy, up to the accuracy bound.
        assert_linear_close(y, np.ascontiguousarray(x), layer.weight,
                            layer.bias, dtype)


def test_strided_matches_contiguous_bitwise(dtype, rng):
    """A non-contiguous view gives the same bits as its copy (same path)."""
    layer = linearc.Linear(40, 24, dtype=dtype, seed=4)
    base = rng.standard_normal((10, 6, 81)).astype(dtype)
    x = base[::-1, ::2, ::2][..., :40]
    np.testing.assert_array_equal(layer(x), layer(np.ascontiguousarray(x)))


@pytest.mark.parametrize("src", [
    np.int32, np.int64, np.bool_, np.float16, np.float64, np.float32,
    np.dtype(">f4"), np.dtype(">f8"), np.uint8, np.int8])
def test_dtype_conversion(src, dtype, rng):
    layer, tlayer = make_pair(9, 5, True, dtype, seed=5)
    src = np.dtype(src)
    if src.kind == "b":
        x = rng.integers(0, 2, (4, 3, 9)).astype(src)
    elif src.kind in "iu":
        x = rng.integers(0, 50, (4, 3, 9)).astype(src)
    else:
        x = rng.standard_normal((4, 3, 9)).astype(src)
    y = check(layer, tlayer, x)
    assert y.dtype == dtype
    # Converting first and then calling gives the same bits.
    np.testing.assert_array_equal(y, layer(x.astype(dtype)))


def test_float32_into_float64_layer_is_exact_conversion(rng):
    layer = linearc.Linear(8, 3, dtype=np.float64, seed=6)
    x32 = rng.standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_array_equal(layer(x32), layer(x32.astype(np.float64)))


@pytest.mark.parametrize("lead", [(0,), (0, 3), (3, 0), (2, 0, 4)])
def test_zero_size_leading_dims(lead, dtype):
    layer, tlayer = make_pair(6, 4, True, dtype, seed=7)
    x = np.zeros(lead + (6,), dtype)
    y = check(layer, tlayer, x)
    assert y.shape == lead + (4,)
    assert y.size == 0


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_in_features_zero(bias, dtype):
    layer, tlayer = make_pair(0, 5, bias, dtype, seed=8)
    x = np.zeros((3, 2, 0), dtype)
    y = check(layer, tlayer, x)
    assert y.shape == (3, 2, 5)
    if bias:
        # The bias broadcast over all rows (zeros when in_features == 0 by
        # init, so give it real values first).
        layer.bias = np.arange(5, dtype=dtype) + 1
        y = layer(x)
        np.testing.assert_array_equal(y, np.broadcast_to(layer.bias, y.shape))
    else:
        np.testing.assert_array_equal(y, np.zeros((3, 2, 5), dtype))


def test_in_features_zero_overwrites_out(dtype):
    layer = linearc.Linear(0, 4, bias=False, dtype=dtype)
    out = np.full((3, 4), 7, dtype)
    assert layer(np.zeros((3, 0), dtype), out=out) is out
    np.testing.assert_array_equal(out, 0)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_out_features_zero(bias, dtype, rng):
    layer, tlayer = make_pair(6, 0, bias, dtype, seed=9)
    x = rng.standard_normal((4, 3, 6)).astype(dtype)
    y = check(layer, tlayer, x)
    assert y.shape == (4, 3, 0)


def test_values_exact_small_integers(dtype):
    """Small integers are exact in any summation order: check exact values."""
    layer = linearc.Linear(3, 2, dtype=dtype)
    layer.weight = [[1, 2, 3], [-1, 0, 4]]
    layer.bias = [10, -10]
    y = layer([[1, 1, 1], [2, -1, 0]])
    np.testing.assert_array_equal(y, np.array([[16, -7], [10, -12]], dtype))


# ---- out= ----------------------------------------------------------------

def test_out_c_contiguous(dtype, rng):
    layer, _ = make_pair(20, 13, True, dtype, seed=10)
    x = rng.standard_normal((3, 4, 20)).astype(dtype)
    expected = layer(x)
    out = np.full((3, 4, 13), np.nan, dtype)
    res = layer(x, out=out)
    assert res is out
    np.testing.assert_array_equal(out, expected)
    assert_linear_close(out, x, layer.weight, layer.bias, dtype)


@pytest.mark.parametrize("rows", [5, 40])
def test_out_row_slice_with_gap(rows, dtype, rng):
    """out is a column block of a wider buffer: rows separated by a gap."""
    layer, _ = make_pair(17, 11, True, dtype, seed=11)
    x = rng.standard_normal((rows, 17)).astype(dtype)
    buf = np.full((rows, 30), -99.0, dtype)
    out = buf[:, 3:14]
    assert not out.flags.c_contiguous
    res = layer(x, out=out)
    assert res is out
    np.testing.assert_array_equal(out, layer(x))
    # The gap around the slice is untouched.
    np.testing.assert_array_equal(buf[:, :3], -99.0)
    np.testing.assert_array_equal(buf[:, 14:], -99.0)


def test_out_every_other_row(dtype, rng):
    layer, _ = make_pair(8, 6, True, dtype, seed=12)
    x = rng.standard_normal((4, 8)).astype(dtype)
    buf = np.full((8, 6), 5.0, dtype)
    out = buf[::2]
    assert layer(x, out=out) is out
    np.testing.assert_array_equal(out, layer(x))
    np.testing.assert_array_equal(buf[1::2], 5.0)


def test_out_3d_row_slice(dtype, rng):
    layer, _ = make_pair(8, 6, True, dtype, seed=13)
    x = rng.standard_normal((2, 3, 8)).astype(dtype)
    buf = np.zeros((2, 3, 10), dtype)
    # Leading axes (2, 3) with strides (30, 10) collapse into one stride.
    out = buf[:, :, 2:8]
    assert layer(x, out=out) is out
    np.testing.assert_array_equal(out, layer(x))


@pytest.mark.parametrize("rows,k,n", [(4, 8, 8), (30, 64, 64), (8, 32, 16),
                                      (20, 300, 300)])
def test_out_overlapping_input(rows, k, n, dtype, rng):
    """out aliasing the input gives what a fresh output would."""
    layer, tlayer = make_pair(k, n, True, dtype, seed=14)
    width = max(k, n)
    buf = rng.standard_normal((rows, width)).astype(dtype)
    x = buf[:, :k]
    x_copy = x.copy()
    expected = layer(x_copy)
    out = buf[:, :n]
    assert np.shares_memory(x, out)
    assert layer(x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert_linear_close(out, x_copy, layer.weight, layer.bias, dtype)


def test_out_same_buffer_as_input(dtype, rng):
    layer, _ = make_pair(16, 16, True, dtype, seed=15)
    x = rng.standard_normal((20, 16)).astype(dtype)
    expected = layer(x.copy())
    assert layer(x, out=x) is x
    np.testing.assert_array_equal(x, expected)


def test_out_shifted_overlap(dtype, rng):
    """out starts one row after x in the same buffer."""
    layer, _ = make_pair(10, 10, True, dtype, seed=16)
    buf = rng.standard_normal((21, 10)).astype(dtype)
    x = buf[:20]
    expected = layer(x.copy())
    out = buf[1:]
    assert layer(x, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_forward_method_equals_call(dtype, rng):
    layer = linearc.Linear(9, 4, dtype=dtype, seed=17)
    x = rng.standard_normal((3, 9)).astype(dtype)
    np.testing.assert_array_equal(layer.forward(x), layer(x))
    out = np.empty((3, 4), dtype)
    assert layer.forward(x, out=out) is out
    np.testing.assert_array_equal(out, layer(x))


def test_weight_view_write_changes_output(dtype, rng):
    layer, tlayer = make_pair(5, 3, True, dtype, seed=18)
    x = rng.standard_normal((4, 5)).astype(dtype)
    layer.weight[1, :] = 0.5
    layer.bias[...] = -2
    tlayer.load_state_dict(
        {k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    check(layer, tlayer, x)


# ---- functional form ------------------------------------------------------

@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape,n", [((7,), 3), ((5, 7), 12), ((2, 3, 7), 33),
                                     ((260, 7), 40), ((0, 7), 4)])
def test_functional(shape, n, with_bias, dtype, rng):
    k = shape[-1]
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype) if with_bias else None
    y = linearc.linear(x, w, b)
    assert y.dtype == dtype
    yt = torch.nn.functional.linear(
        torch.from_numpy(x), torch.from_numpy(w),
        None if b is None else torch.from_numpy(b)).numpy()
    assert_linear_close(y, x, w, b, dtype)
    assert_linear_close(yt, x, w, b, dtype)
    # Same computation as a layer holding these parameters.
    layer = linearc.Linear(k, n, bias=with_bias, dtype=dtype)
    layer.weight = w
    if with_bias:
        layer.bias = b
    np.testing.assert_array_equal(y, layer(x))


def test_functional_result_dtype(rng):
    x = rng.standard_normal((3, 4))
    w16 = rng.standard_normal((2, 4)).astype(np.float16)
    assert linearc.linear(x, w16).dtype == np.float16
    assert linearc.linear(x, w16.astype(np.float32)).dtype == np.float32
    assert linearc.linear(x, w16.astype(np.float64)).dtype == np.float64
    assert linearc.linear(x.astype(np.float32),
                          w16.astype(np.float64)).dtype == np.float64
    # A float16 weight is a float16 layer's: x rounded to float16, float32
    # chains of the widened values, each result rounded once.
    x16 = x.astype(np.float16)
    y = linearc.linear(x, w16)
    chains = linearc.linear(x16.astype(np.float32), w16.astype(np.float32))
    assert y.tobytes() == chains.astype(np.float16).tobytes()


def test_functional_out_and_lists(dtype, rng):
    x = rng.standard_normal((6, 5)).astype(dtype)
    w = rng.standard_normal((3, 5)).astype(dtype)
    out = np.empty((6, 3), dtype)
    assert linearc.linear(x, w, out=out) is out
    assert_linear_close(out, x, w, dtype=dtype)
    y = linearc.linear([1.0, 2.0], [[1.0, 0.0], [0.0, 1.0]], [1.0, 1.0])
    np.testing.assert_array_equal(y, [2.0, 3.0])
    assert y.dtype == np.float64


def test_functional_strided_weight(dtype, rng):
    x = rng.standard_normal((9, 6)).astype(dtype)
    wbase = rng.standard_normal((10, 13)).astype(dtype)
    w = wbase[::-2, 1::2]
    y = linearc.linear(x, w)
    assert_linear_close(y, x, w, dtype=dtype)
    np.testing.assert_array_equal(y, linearc.linear(x, w.copy()))


def test_functional_keywords(dtype, rng):
    x = rng.standard_normal((5, 4)).astype(dtype)
    w = rng.standard_normal((3, 4)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    expected = linearc.linear(x, w, b)
    np.testing.assert_array_equal(linearc.linear(x=x, weight=w, bias=b),
                                  expected)
    np.testing.assert_array_equal(linearc.linear(x, weight=w, bias=b),
                                  expected)
    out = np.empty((5, 3), dtype)
    assert linearc.linear(x=x, weight=w, bias=b, out=out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(linearc.linear(x, w, bias=None),
                                  linearc.linear(x, w))


def torch_functional(x, w, b):
    as_tensor = (lambda a: None if a is None
                 else torch.from_numpy(np.asarray(a, np.float64)))
    return torch.nn.functional.linear(as_tensor(x), as_tensor(w),
                                      as_tensor(b)).numpy()


# 1-D weight (in,): y = x @ w (+ b), of shape x.shape[:-1].
ONE_D_SHAPES = {"rank1": (6,), "rank2": (5, 6), "rank3": (2, 3, 6)}
ZERO_D_BIASES = {"none": None, "np.float64": np.float64(2.5), "float": 2.5,
                 "0d-array": np.array(-1.0)}


def check_1d_weight(y, x, w, bias):
    """y = x @ w + bias, of shape x.shape[:-1], within the bound."""
    assert type(y) is np.ndarray and y.shape == x.shape[:-1]
    b = None if bias is None else np.reshape(bias, (1,))
    assert_linear_close(y.reshape(-1, 1), x.reshape(-1, x.shape[-1]),
                        w[None, :], b)


@pytest.mark.parametrize("xshape", ONE_D_SHAPES.values(), ids=ONE_D_SHAPES)
@pytest.mark.parametrize("bias", ZERO_D_BIASES.values(), ids=ZERO_D_BIASES)
def test_functional_1d_weight(xshape, bias, rng):
    x = rng.standard_normal(xshape)
    w = rng.standard_normal(6)
    y = linearc.linear(x, w, bias)
    assert y.dtype == np.float64
    check_1d_weight(y, x, w, bias)
    out = np.full(xshape[:-1], np.nan)
    assert linearc.linear(x, w, bias, out=out) is out
    np.testing.assert_array_equal(out, y)


class CopyingIndex(np.ndarray):
    """An ndarray subclass whose indexing returns copies, counting calls."""

    calls = 0

    def __getitem__(self, index):
        type(self).calls += 1
        return np.array(np.asarray(self)[index])


@pytest.mark.parametrize("xshape", [(5, 6), (2, 3, 6)], ids=["rank2", "rank3"])
def test_functional_1d_weight_out_subclass(xshape, rng):
    """The reproducer: the (*, 1) view of out is built from the array, so an
    out whose __getitem__ copies still receives the result (and its
    __getitem__ never runs); out itself is returned."""
    x = rng.standard_normal(xshape)
    w = rng.standard_normal(6)
    out = np.full(xshape[:-1], np.nan).view(CopyingIndex)
    CopyingIndex.calls = 0
    assert linearc.linear(x, w, 0.5, out=out) is out
    assert CopyingIndex.calls == 0
    assert np.asarray(out).tobytes() == linearc.linear(x, w, 0.5).tobytes()
    # Read-only, it is refused as any read-only out is, and left alone.
    out = np.full(xshape[:-1], 7.0).view(CopyingIndex)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        linearc.linear(x, w, out=out)
    assert (np.asarray(out) == 7.0).all()


# torch 2.13 takes a 1-D weight with a bias for a rank-1 input only.
@pytest.mark.parametrize("xshape,bias", [
    ((6,), None), ((5, 6), None), ((2, 3, 6), None), ((6,), 2.5),
    ((6,), np.float64(-1.5))])
def test_functional_1d_weight_matches_torch(xshape, bias, rng):
    x = rng.standard_normal(xshape)
    w = rng.standard_normal(6)
    check_1d_weight(torch_functional(x, w, bias), x, w, bias)
    check_1d_weight(linearc.linear(x, w, bias), x, w, bias)


@pytest.mark.parametrize("bias", [np.float64(2.0), 2.0, np.array(-3.0)],
                         ids=["np.float64", "float", "0d-array"])
def test_functional_0d_bias_broadcasts(bias, dtype, rng):
    """A 2-D weight with a 0-d bias: the bias is added to every output, as
    torch.nn.functional.linear does."""
    x = rng.standard_normal((7, 5)).astype(dtype)
    w = rng.standard_normal((4, 5)).astype(dtype)
    y = linearc.linear(x, w, bias)
    full = np.full(4, bias, dtype)
    np.testing.assert_array_equal(y, linearc.linear(x, w, full))
    assert_linear_close(y, x, w, full, dtype)
    expected = torch_functional(x, w, bias)
    assert_linear_close(expected, x, w, full, np.float64)


# ---- special values -------------------------------------------------------
# NaN and Inf propagate as IEEE 754 says, on the direct path (few rows) and
# the blocked path (many rows) alike.

def test_nan_in_input_poisons_its_row_only(dtype, rng):
    layer = linearc.Linear(16, 5, dtype=dtype, seed=1)
    for rows in (3, 40):
        x = rng.standard_normal((rows, 16)).astype(dtype)
        x[1, 7] = np.nan
        y = layer(x)
        assert np.isnan(y[1]).all()
        others = np.delete(np.arange(rows), 1)
        assert np.isfinite(y[others]).all()
        assert_linear_close(y, x, layer.weight, layer.bias)


def test_inf_times_zero_is_nan(dtype):
    layer = linearc.Linear(4, 3, bias=False, dtype=dtype)
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
    layer = linearc.Linear(4, 2, dtype=dtype)
    layer.weight = np.array([[2.0, 1.0, 1.0, 1.0], [-3.0, 1.0, 1.0, 1.0]])
    layer.bias = np.array([1.0, -1.0])
    for rows in (2, 33):
        x = np.ones((rows, 4), dtype)
        x[:, 0] = -np.inf
        y = layer(x)
        assert np.isneginf(y[:, 0]).all()
        assert np.isposinf(y[:, 1]).all()


def test_opposite_infinities_give_nan(dtype):
    layer = linearc.Linear(2, 1, bias=False, dtype=dtype)
    layer.weight = np.array([[1.0, 1.0]])
    for rows in (1, 20):
        x = np.tile(np.array([np.inf, -np.inf], dtype), (rows, 1))
        assert np.isnan(layer(x)).all()


def test_nan_in_weight_and_bias(dtype, rng):
    layer = linearc.Linear(8, 4, dtype=dtype)
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
    layer = linearc.Linear(300, 70, dtype=dtype, seed=3)
    x = rng.standard_normal((37, 300)).astype(dtype)
    x[13, 299] = np.nan
    y = layer(x)
    assert np.isnan(y[13]).all()
    assert np.isfinite(np.delete(y, 13, axis=0)).all()


def test_overflow_to_inf(dtype):
    big = np.finfo(dtype).max
    layer = linearc.Linear(2, 1, bias=False, dtype=dtype)
    layer.weight = np.array([[1.0, 1.0]])
    y = layer(np.array([[big, big]], dtype))
    assert np.isposinf(y).all()
