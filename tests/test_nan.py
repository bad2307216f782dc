"""Which NaN comes out (docs/design.md, "The arithmetic").

Whether an output element is NaN depends only on its chain's values; which
NaN the hardware returns (sign, payload) depends on operand order and
instruction set. linearc stores every NaN it computes as the canonical quiet
NaN, the bits of NumPy's nan, so the bytes of a result do not depend on the
path, tile, batch size, thread count or instruction set. Checked here with
NaNs of both signs and with payloads, in every operand; across instruction
sets by tests/_arithmetic_child.py (which includes NaN and inf operands).
"""
from __future__ import annotations

import numpy as np
import pytest

import linearc
from linearc import _linearc

CONFIG = _linearc._build_config()

CANONICAL = {np.float32: np.array(0x7FC00000, np.uint32).view(np.float32),
             np.float64: np.array(0x7FF8000000000000, np.uint64).view(np.float64)}
UINT = {np.float32: np.uint32, np.float64: np.uint64}


def nans(dtype):
    """Quiet NaNs of both signs, with and without payloads, and a signalling
    one (as its bits: NumPy would quiet it through arithmetic)."""
    if dtype == np.float32:
        bits = [0x7FC00000, 0xFFC00000, 0x7FC12345, 0xFFD00001, 0x7F800001]
    else:
        bits = [0x7FF8000000000000, 0xFFF8000000000000, 0x7FF8000012345678,
                0xFFFC000000000001, 0x7FF0000000000001]
    return np.array(bits, UINT[dtype]).view(dtype)


def bits(a, dtype):
    return np.ascontiguousarray(a).view(UINT[dtype])


def assert_canonical_where_nan(result, dtype):
    """Every NaN in result is the canonical one, and there is at least one."""
    result = np.asarray(result)
    assert result.dtype == dtype
    mask = np.isnan(result)
    assert mask.any()
    assert (bits(result, dtype)[mask] == bits(CANONICAL[dtype], dtype)).all()


def test_numpy_nan_is_the_canonical_nan(dtype):
    assert bits(np.array(np.nan, dtype), dtype) == bits(CANONICAL[dtype], dtype)


def test_the_issues_reproducer():
    """A -NaN weight and a +NaN input: the row alone and in a batch of 300 had
    differed in sign in the masked column (AVX-512 took x's NaN in full
    tiles and W's in masked ones)."""
    neg_nan = np.array(0xFFC00000, np.uint32).view(np.float32)
    layer = linearc.Linear(1, 97, bias=False, seed=0)
    layer.weight[...] = neg_nan
    alone = layer(np.full((1, 1), np.nan, np.float32))
    batch = layer(np.full((300, 1), np.nan, np.float32))
    assert alone.tobytes() == batch[:1].tobytes()
    assert_canonical_where_nan(batch, np.float32)


# Rows across the direct and blocked paths and tile edges; outputs across
# vector and tile edges; K across K blocks.
ROWS = (1, 5, 13, 300)
SHAPES = [(1, 97), (3, 33), (40, 130), (700, 17)]


@pytest.mark.parametrize("k,n", SHAPES, ids=lambda s: str(s))
@pytest.mark.parametrize("where", ["x", "weight", "bias", "all"])
def test_nan_bits_do_not_depend_on_the_batch(k, n, where, dtype):
    rng = np.random.default_rng(k * n)
    layer = linearc.Linear(k, n, dtype=dtype, seed=k + n)
    x = rng.standard_normal((max(ROWS), k)).astype(dtype)
    pool = nans(dtype)
    if where in ("weight", "all"):
        w = layer.weight.copy()
        w.flat[rng.integers(0, w.size, size=max(1, w.size // 7))] = rng.choice(pool, w.size // 7 or 1)
        layer.weight[...] = w
    if where in ("bias", "all"):
        layer.bias[rng.integers(0, n, size=max(1, n // 3))] = rng.choice(pool, max(1, n // 3))
    if where in ("x", "all"):
        x.flat[rng.integers(0, x.size, size=x.size // 11)] = rng.choice(pool, x.size // 11)
    alone = np.stack([layer(x[i]) for i in range(max(ROWS))])
    assert_canonical_where_nan(alone, dtype)
    for rows in ROWS:
        assert layer(x[:rows]).tobytes() == alone[:rows].tobytes(), rows
    assert linearc.linear(x, layer.weight, layer.bias).tobytes() == alone.tobytes()


def test_invalid_operations_give_the_canonical_nan(dtype):
    """inf * 0 and inf - inf make a NaN of the hardware's choosing (x86's is
    negative): stored as the canonical one."""
    layer = linearc.Linear(2, 40, dtype=dtype, seed=1)
    layer.weight[:, 0] = np.inf
    layer.weight[:, 1] = -np.inf
    for x in ([0.0, 1.0], [1.0, 1.0]):          # inf * 0; inf + (-inf)
        for rows in (1, 7, 300):
            assert_canonical_where_nan(layer(np.tile(np.array(x, dtype), (rows, 1))), dtype)


def test_empty_chain_of_a_nan_bias_is_canonical(dtype):
    """in_features == 0: the result is the bias; a NaN bias comes out as the
    canonical NaN too."""
    layer = linearc.Linear(0, 5, dtype=dtype, seed=0)
    layer.bias[...] = nans(dtype)
    assert_canonical_where_nan(layer(np.empty((3, 0), dtype)), dtype)


def test_backward_nans_are_canonical(dtype):
    rng = np.random.default_rng(3)
    for m, k, n in [(1, 5, 3), (9, 40, 33), (300, 70, 130)]:
        layer = linearc.Linear(k, n, dtype=dtype, seed=m)
        x = rng.standard_normal((m, k)).astype(dtype)
        g = rng.standard_normal((m, n)).astype(dtype)
        g[0, :] = nans(dtype)[np.arange(n) % 5]
        layer.weight[0, 0] = nans(dtype)[1]
        grad_input = layer.backward(x, g)
        for result in (grad_input, layer.weight_grad, layer.bias_grad):
            assert_canonical_where_nan(result, dtype)
        # Row by row, the same bits.
        alone = np.stack([layer.backward(x[i], g[i]) for i in range(m)])
        assert alone.tobytes() == grad_input.tobytes()


def test_accumulated_nan_gradients_stay_canonical(dtype):
    """A chain continued from a NaN gradient (one the user wrote, with a
    payload) ends in the canonical NaN."""
    layer = linearc.Linear(4, 3, dtype=dtype, seed=2)
    x = np.ones((2, 4), dtype)
    g = np.ones((2, 3), dtype)
    layer.backward(x, g)
    layer.weight_grad[0, 0] = nans(dtype)[3]
    layer.bias_grad[1] = nans(dtype)[2]
    layer.backward(x, g)
    assert_canonical_where_nan(layer.weight_grad, dtype)
    assert_canonical_where_nan(layer.bias_grad, dtype)
    assert np.isnan(layer.weight_grad).sum() == 1
    assert np.isnan(layer.bias_grad).sum() == 1
