"""Linear.backward against torch autograd and the float64 reference.

Each gradient is a product checked with the K-scaled rule for its own inner
dimension:
  grad_input  = G @ W        K = out_features  -> (G, W.T) as (x, weight)
  weight_grad = G.T @ X      K = rows          -> (G.T, X.T)
  bias_grad   = G.T @ 1      K = rows          -> (G.T, ones(1, rows))
torch's gradients are held to the same rule, so both agree with the same
reference.

Neighbours: backward's wrong calls (shapes, dtypes, non-arrays) are in
test_errors.py; gradient arrays the user keeps, resizes or freezes, and
misaligned inputs, in test_robustness.py; random shapes and layouts in
test_properties.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import linearc

from conftest import assert_linear_close

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def make_layer(in_f, out_f, dtype, bias=True, seed=1):
    return linearc.Linear(in_f, out_f, bias=bias, dtype=dtype, seed=seed)


def torch_grads(layer, x, g):
    """x.grad, weight.grad, bias.grad of torch.nn.Linear with the layer's
    parameters, after y.backward(g) for each (x, g) pair in turn."""
    dtype = TORCH_DTYPE[layer.dtype.type]
    tl = torch.nn.Linear(layer.in_features, layer.out_features,
                         bias=layer.bias is not None, dtype=dtype)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(layer.weight.copy()))
        if layer.bias is not None:
            tl.bias.copy_(torch.from_numpy(layer.bias.copy()))
    xgrads = []
    for xi, gi in zip(x, g):
        xt = torch.tensor(np.asarray(xi, dtype=layer.dtype),
                          requires_grad=True)
        tl(xt).backward(torch.tensor(np.asarray(gi, dtype=layer.dtype)))
        xgrads.append(xt.grad.numpy())
    bgrad = None if tl.bias is None else tl.bias.grad.numpy()
    return xgrads, tl.weight.grad.numpy(), bgrad


def rows(a):
    """Leading dimensions flattened: (*, f) -> (rows, f)."""
    a = np.asarray(a)
    return a.reshape(-1, a.shape[-1])


def check_grads(layer, xs, gs, grad_ins, weight_grad, bias_grad, dtype):
    """The K-scaled checks of every gradient, for a list of backward calls
    (xs[i], gs[i]) accumulated into weight_grad and bias_grad."""
    w = layer.weight.copy()
    for x, g, gin in zip(xs, gs, grad_ins):
        assert gin.shape == np.shape(x)
        assert_linear_close(rows(gin), rows(g), w.T, dtype=dtype)
    x2 = np.concatenate([rows(x) for x in xs])
    g2 = np.concatenate([rows(g) for g in gs])
    assert weight_grad.shape == w.shape
    assert_linear_close(weight_grad, g2.T, x2.T, dtype=dtype)
    if layer.bias is not None:
        assert bias_grad.shape == (layer.out_features,)
        assert_linear_close(bias_grad[:, None], g2.T,
                            np.ones((1, len(g2))), dtype=dtype)
    else:
        assert bias_grad is None


def nan_strided(data, flip=True):
    """data placed every 2nd element along each axis of a NaN buffer (reversed
    if flip): reading the gaps would put NaN into the gradients."""
    buf = np.full([2 * s + 1 for s in data.shape], np.nan, dtype=data.dtype)
    view = buf[tuple(slice(1, 2 * s + 1, 2) for s in data.shape)]
    if flip:
        view = view[(slice(None, None, -1),) * data.ndim]
    view[...] = data
    return view


def run_and_compare(layer, x, g, dtype, data_x=None, data_g=None):
    """One backward of layer, checked against the reference and torch."""
    data_x = x if data_x is None else data_x
    data_g = g if data_g is None else data_g
    x_before, g_before = np.array(x, copy=True), np.array(g, copy=True)
    w_before = layer.weight.copy()
    grad_in = layer.backward(x, g)
    assert grad_in.dtype == dtype
    # Inputs and weights are left alone.
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(g, g_before)
    np.testing.assert_array_equal(layer.weight, w_before)
    check_grads(layer, [data_x], [data_g], [grad_in], layer.weight_grad,
                layer.bias_grad, dtype)
    (tx,), tw, tb = torch_grads(layer, [data_x], [data_g])
    check_grads(layer, [data_x], [data_g], [tx], tw, tb, dtype)
    return grad_in


LEADING = {1: (), 2: (7,), 3: (3, 5), 4: (2, 3, 4)}


@pytest.mark.parametrize("rank", [1, 2, 3, 4])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_backward_matches_torch(rank, bias, dtype, rng):
    in_f, out_f = 37, 19
    layer = make_layer(in_f, out_f, dtype, bias)
    lead = LEADING[rank]
    x = rng.standard_normal((*lead, in_f)).astype(dtype)
    g = rng.standard_normal((*lead, out_f)).astype(dtype)
    grad_in = run_and_compare(layer, x, g, dtype)
    assert grad_in.shape == x.shape


@pytest.mark.parametrize("shape", [(9, 300, 70), (300, 257, 40), (4, 20, 513)],
                         ids=lambda s: "x".join(map(str, s)))
def test_backward_larger_shapes(shape, dtype, rng):
    """Inner dimensions past a K block (256) for each of the three products."""
    m, in_f, out_f = shape
    layer = make_layer(in_f, out_f, dtype)
    x = rng.standard_normal((m, in_f)).astype(dtype)
    g = rng.standard_normal((m, out_f)).astype(dtype)
    run_and_compare(layer, x, g, dtype)


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("which", ["x", "g", "both"])
def test_backward_strided_inputs(rank, which, dtype, rng):
    in_f, out_f = 29, 23
    lead = (13,) if rank == 2 else (3, 5)
    layer = make_layer(in_f, out_f, dtype)
    data_x = rng.standard_normal((*lead, in_f)).astype(dtype)
    data_g = rng.standard_normal((*lead, out_f)).astype(dtype)
    x = nan_strided(data_x) if which in ("x", "both") else data_x
    g = nan_strided(data_g) if which in ("g", "both") else data_g
    grad_in = run_and_compare(layer, x, g, dtype, data_x, data_g)
    # Same values as with contiguous inputs.
    fresh = make_layer(in_f, out_f, dtype)
    np.testing.assert_array_equal(grad_in, fresh.backward(data_x, data_g))
    np.testing.assert_array_equal(layer.weight_grad, fresh.weight_grad)
    np.testing.assert_array_equal(layer.bias_grad, fresh.bias_grad)


def test_backward_fortran_and_broadcast_grad(dtype, rng):
    """A column-major x and a zero-stride (broadcast) grad_output."""
    in_f, out_f, m = 33, 17, 11
    layer = make_layer(in_f, out_f, dtype)
    x = np.asfortranarray(rng.standard_normal((m, in_f)).astype(dtype))
    g = np.broadcast_to(rng.standard_normal(out_f).astype(dtype), (m, out_f))
    run_and_compare(layer, x, g, dtype, np.ascontiguousarray(x),
                    np.ascontiguousarray(g))


def test_float64_input_into_float32_layer(rng):
    """x and grad_output are rounded to float32 first."""
    layer = make_layer(31, 13, np.float32)
    x = rng.standard_normal((6, 31))
    g = rng.standard_normal((6, 13))
    grad_in = layer.backward(x, g)
    assert grad_in.dtype == np.float32
    check_grads(layer, [x], [g], [grad_in], layer.weight_grad,
                layer.bias_grad, np.float32)
    fresh = make_layer(31, 13, np.float32)
    np.testing.assert_array_equal(
        grad_in, fresh.backward(x.astype(np.float32), g.astype(np.float32)))
    np.testing.assert_array_equal(layer.weight_grad, fresh.weight_grad)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_two_backwards_accumulate(bias, dtype, rng):
    in_f, out_f = 21, 11
    layer = make_layer(in_f, out_f, dtype, bias)
    xs = [rng.standard_normal((5, in_f)).astype(dtype),
          rng.standard_normal((2, 3, in_f)).astype(dtype)]
    gs = [rng.standard_normal((5, out_f)).astype(dtype),
          rng.standard_normal((2, 3, out_f)).astype(dtype)]
    grad_ins = [layer.backward(x, g) for x, g in zip(xs, gs)]
    check_grads(layer, xs, gs, grad_ins, layer.weight_grad, layer.bias_grad,
                dtype)
    tx, tw, tb = torch_grads(layer, xs, gs)
    check_grads(layer, xs, gs, tx, tw, tb, dtype)
    # grad_input does not accumulate: the second equals a lone call.
    np.testing.assert_array_equal(
        grad_ins[1],
        make_layer(in_f, out_f, dtype, bias).backward(xs[1], gs[1]))


def test_zero_grad(dtype, rng):
    layer = make_layer(16, 9, dtype)
    assert layer.weight_grad is None and layer.bias_grad is None
    x = rng.standard_normal((4, 16)).astype(dtype)
    g = rng.standard_normal((4, 9)).astype(dtype)
    layer.backward(x, g)
    first_w, first_b = layer.weight_grad.copy(), layer.bias_grad.copy()
    layer.backward(x, g)
    assert not np.array_equal(layer.weight_grad, first_w)  # accumulated
    layer.zero_grad()
    assert layer.weight_grad is None and layer.bias_grad is None
    # A fresh accumulation starts from zero again.
    layer.backward(x, g)
    np.testing.assert_array_equal(layer.weight_grad, first_w)
    np.testing.assert_array_equal(layer.bias_grad, first_b)
    layer.zero_grad()
    layer.zero_grad()  # twice is fine
    assert layer.weight_grad is None


def test_zero_grad_without_bias(dtype, rng):
    layer = make_layer(5, 3, dtype, bias=False)
    layer.backward(rng.standard_normal((2, 5)), rng.standard_normal((2, 3)))
    assert layer.weight_grad is not None and layer.bias_grad is None
    layer.zero_grad()
    assert layer.weight_grad is None and layer.bias_grad is None


@pytest.mark.parametrize("lead", [(0,), (3, 0), (0, 4, 2)])
def test_zero_size_batch(lead, dtype, rng):
    layer = make_layer(6, 4, dtype)
    x = np.empty((*lead, 6), dtype)
    g = np.empty((*lead, 4), dtype)
    grad_in = layer.backward(x, g)
    assert grad_in.shape == x.shape and grad_in.dtype == dtype
    np.testing.assert_array_equal(layer.weight_grad, np.zeros((4, 6)))
    np.testing.assert_array_equal(layer.bias_grad, np.zeros(4))
    # An empty batch after a real one leaves the sums as they were.
    xr = rng.standard_normal((3, 6)).astype(dtype)
    gr = rng.standard_normal((3, 4)).astype(dtype)
    layer.backward(xr, gr)
    w, b = layer.weight_grad.copy(), layer.bias_grad.copy()
    layer.backward(x, g)
    np.testing.assert_array_equal(layer.weight_grad, w)
    np.testing.assert_array_equal(layer.bias_grad, b)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_in_features_zero(dtype, rng):
    layer = make_layer(0, 4, dtype)
    x = np.empty((5, 0), dtype)
    g = rng.standard_normal((5, 4)).astype(dtype)
    grad_in = layer.backward(x, g)
    assert grad_in.shape == (5, 0)
    assert layer.weight_grad.shape == (4, 0)
    assert_linear_close(layer.bias_grad[:, None], g.T, np.ones((1, 5)),
                        dtype=dtype)
    (tx,), tw, tb = torch_grads(layer, [x], [g])
    assert tw.shape == (4, 0)
    assert_linear_close(tb[:, None], g.T, np.ones((1, 5)), dtype=dtype)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_out_features_zero(dtype, rng):
    layer = make_layer(6, 0, dtype)
    x = rng.standard_normal((5, 6)).astype(dtype)
    g = np.empty((5, 0), dtype)
    grad_in = layer.backward(x, g)
    # An empty sum over out_features: zeros, not garbage.
    np.testing.assert_array_equal(grad_in, np.zeros((5, 6)))
    assert grad_in.dtype == dtype
    assert layer.weight_grad.shape == (0, 6)
    assert layer.bias_grad.shape == (0,)
    (tx,), _, _ = torch_grads(layer, [x], [g])
    np.testing.assert_array_equal(tx, np.zeros((5, 6)))


@pytest.mark.parametrize("shape", [(300, 200, 150), (6, 500, 800)],
                         ids=["blocked", "few-rows"])
def test_backward_one_vs_two_threads_bitwise(shape, dtype, rng,
                                             restore_threads):
    """Both shapes are big enough (over 4e6 flops per product) that the
    gradient products are split between two threads."""
    m, in_f, out_f = shape
    data_x = rng.standard_normal((m, in_f)).astype(dtype)
    data_g = rng.standard_normal((m, out_f)).astype(dtype)
    results = []
    for n in (2, 1):
        linearc.set_num_threads(n)
        layer = make_layer(in_f, out_f, dtype)
        grad_in = layer.backward(nan_strided(data_x), data_g)
        layer.backward(data_x, nan_strided(data_g))  # accumulate once more
        results.append((grad_in, layer.weight_grad.copy(),
                        layer.bias_grad.copy()))
    for two, one in zip(*results):
        np.testing.assert_array_equal(one, two)
    grad_in, wg, bg = results[1]
    check_grads(make_layer(in_f, out_f, dtype), [data_x, data_x],
                [data_g, data_g], [grad_in, grad_in], wg, bg, dtype)


# --- many threads, one layer ------------------------------------------------

def test_concurrent_backward_accumulates_every_call(dtype, rng):
    """Backward passes from many threads on one layer all land in the sums."""
    import threading
    layer = linearc.Linear(64, 48, dtype=dtype, seed=4)
    batches = [(rng.standard_normal((40, 64)).astype(dtype),
                rng.standard_normal((40, 48)).astype(dtype)) for _ in range(8)]
    barrier = threading.Barrier(len(batches))

    def work(x, g):
        barrier.wait()
        for _ in range(5):
            layer.backward(x, g)

    threads = [threading.Thread(target=work, args=b) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    X = np.concatenate([x for x, _ in batches] * 5)
    G = np.concatenate([g for _, g in batches] * 5)
    assert_linear_close(layer.weight_grad, G.T, X.T)
    assert_linear_close(layer.bias_grad[None, :], np.ones((1, len(G))), G.T)
