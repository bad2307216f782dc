"""A tour of linearc's public API, written to pass ``mypy --strict``.

Run it with ``python examples/typed_usage.py``; type-check it with
``mypy --strict examples/typed_usage.py``. The annotations on the left of
the assignments are there so mypy checks what each call returns.
"""
from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

import linearc
from linearc import Linear

FloatArray = NDArray[np.floating[Any]]


def train_step(layer: Linear, x: FloatArray, target: FloatArray,
               lr: float) -> float:
    """One step of plain SGD on the squared error; returns the loss."""
    layer.zero_grad()
    y = layer(x)
    diff = y - target
    loss = float(np.mean(diff**2))
    grad_output = 2.0 * diff / diff.size
    grad_input: FloatArray = layer.backward(x, grad_output)
    assert grad_input.shape == x.shape
    weight_grad = layer.weight_grad
    assert weight_grad is not None  # set by backward()
    # In-place updates go straight into the layer's memory.
    layer.weight[...] -= lr * weight_grad
    bias, bias_grad = layer.bias, layer.bias_grad
    if bias is not None and bias_grad is not None:
        bias[...] -= lr * bias_grad
    return loss


def main() -> None:
    rng = np.random.default_rng(0)

    # Construction: sizes, bias, dtype, reproducible seed.
    layer = Linear(8, 4, dtype=np.float32, seed=0)
    print(layer, layer.dtype, layer.num_parameters)
    n_in: int = layer.in_features
    n_out: int = layer.out_features

    # Calling and forward() on any rank; the result has shape (*, out).
    x = rng.standard_normal((2, 3, n_in)).astype(np.float32)
    y: FloatArray = layer(x)
    assert y.shape == (2, 3, n_out) and y.dtype == layer.dtype
    assert np.array_equal(layer.forward(x), y)

    # out= is returned as given, with its precise type.
    buf: NDArray[np.float32] = np.empty((2, 3, n_out), dtype=np.float32)
    same: NDArray[np.float32] = layer(x, out=buf)
    assert same is buf and np.array_equal(buf, y)

    # Training: backward() accumulates weight_grad and bias_grad.
    target = np.zeros((2, 3, n_out), dtype=np.float32)
    losses = [train_step(layer, x, target, lr=0.1) for _ in range(5)]
    assert losses[-1] < losses[0]
    print("loss", losses[0], "->", losses[-1])

    # Parameters: views, names, and a copyable state.
    params: list[FloatArray] = layer.parameters()
    names = [name for name, _ in layer.named_parameters()]
    assert names == ["weight", "bias"] and len(params) == 2
    state: dict[str, FloatArray] = layer.state_dict()
    clone = Linear(n_in, n_out, seed=1)
    assert clone.load_state_dict(state).missing_keys == []
    assert np.array_equal(clone(x), layer(x))
    # As torch's: strict=False loads what matches and reports the rest.
    missing, unexpected = clone.load_state_dict({"weight": state["weight"]},
                                                strict=False)
    assert (missing, unexpected) == (["bias"], [])

    # weight and bias are assigned by copying in any array-like.
    clone.weight = np.ones((n_out, n_in))
    clone.bias = None if clone.bias is None else [0.5] * n_out
    restored = pickle.loads(pickle.dumps(layer))
    assert np.array_equal(restored(x), layer(x))
    layer.reset_parameters(seed=3)

    # Counting, as thop and torch's FlopCounterMode do: from the input or
    # from its shape (a tuple of ints), as every counting helper takes them.
    macs: int = layer.macs(x.shape)
    flops: int = layer.flops(x, backward=True)
    assert flops == 6 * macs
    counted_macs, counted_params = linearc.profile(layer, x)
    assert (counted_macs, counted_params) == (macs, layer.num_parameters)
    assert linearc.profile(layer, inputs=(x,), verbose=False) == (macs, counted_params)
    print("MACs", linearc.clever_format(macs), "params", counted_params)
    print(linearc.summary(layer, x))

    # The functional form, in float64 here because the weight is.
    w64 = rng.standard_normal((n_out, n_in))
    y64: FloatArray = linearc.linear(x, w64, np.zeros(n_out))
    assert y64.dtype == np.float64 and y64.shape == (2, 3, n_out)

    # float16 (and, with ml_dtypes, dtype="bfloat16") layers: parameters in
    # half the memory, the float32 layer's values rounded; products are
    # float32 chains rounded once, gradients float32.
    half = Linear(n_in, n_out, dtype="float16", seed=0)
    full = Linear(n_in, n_out, seed=0)
    assert np.array_equal(half.weight, full.weight.astype(np.float16))
    assert 2 * half.weight.nbytes == full.weight.nbytes
    y16: FloatArray = half(x)
    assert y16.dtype == np.float16
    half.backward(x, np.ones_like(y16))
    assert half.weight_grad is not None and half.weight_grad.dtype == np.float32

    # Threads: the result does not depend on the thread count.
    before: int = linearc.get_num_threads()
    try:
        linearc.set_num_threads(1)
        one = layer(x)
        linearc.set_num_threads(2)
        assert np.array_equal(layer(x), one)
    finally:
        linearc.set_num_threads(before)

    config: dict[str, Any] = linearc.show_config()
    assert config["isa"] in config["isa_supported"]
    # linearc.tune() measures the machine for up to a minute and writes a file
    # to the user's cache folder; here only its type is checked.
    tune: Callable[..., dict[str, Any]] = linearc.tune
    assert callable(tune)
    print("linearc", linearc.__version__)


if __name__ == "__main__":
    main()
