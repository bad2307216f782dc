"""One arithmetic everywhere (docs/design.md, "The arithmetic").

Every element of y = x @ W.T + b is the chain acc = b[j] (or 0);
acc = fma(x[i, k], W[j, k], acc) for k in order, rounded once per step in
the layer's dtype. Checked bit for bit: against an exact rational reference
on small shapes of every path, across batch sizes and positions, views,
thread counts and instruction sets; and the three backward products are
chains of the same kind.
"""
from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import linearc
from linearc import _linearc

from _exact import exact_chain, round_to
from conftest import requires_openmp

CONFIG = _linearc._build_config()


# --- the exact reference (tests/_exact.py) -----------------------------------

def test_round_to_matches_numpy():
    rng = np.random.default_rng(0)
    for value in rng.standard_normal(200) * 10.0 ** rng.integers(-30, 30, 200):
        assert float(round_to(Fraction(value), np.float32)) == float(np.float32(value))


# Rows on both sides of every path boundary; K and N across tile edges.
EXACT_SHAPES = [(1, 7, 5), (3, 40, 17), (8, 33, 65), (9, 20, 33), (16, 17, 31),
                (32, 12, 40), (33, 9, 34), (40, 24, 18)]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", EXACT_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_forward_is_the_exact_chain(shape, bias, dtype):
    m, k, n = shape
    layer = linearc.Linear(k, n, bias=bias, dtype=dtype, seed=m + k + n)
    x = np.random.default_rng(m).standard_normal((m, k)).astype(dtype)
    expected = exact_chain(x, layer.weight, layer.bias, dtype)
    assert layer(x).tobytes() == expected.tobytes()


def test_float64_input_is_rounded_first():
    layer = linearc.Linear(10, 6, seed=2)
    x = np.random.default_rng(1).standard_normal((5, 10))  # float64
    expected = exact_chain(x.astype(np.float32), layer.weight, layer.bias, np.float32)
    assert layer(x).tobytes() == expected.tobytes()


def test_the_chain_is_not_the_float64_rounded_sum():
    """The promise has teeth: a sum in float64 rounded once would differ."""
    layer = linearc.Linear(300, 20, seed=3)
    x = np.random.default_rng(3).standard_normal((4, 300)).astype(np.float32)
    once = (x.astype(np.float64) @ layer.weight.T.astype(np.float64)
            + layer.bias).astype(np.float32)
    assert layer(x).tobytes() != once.tobytes()


# --- batch invariance -------------------------------------------------------

BATCHES = [1, 2, 5, 8, 9, 16, 17, 31, 32, 33, 64, 100, 256, 257, 300]


@pytest.mark.parametrize("k,n", [(64, 64), (257, 130), (1024, 48), (40, 300)])
def test_a_row_alone_equals_the_row_in_any_batch(k, n, dtype):
    layer = linearc.Linear(k, n, dtype=dtype, seed=k)
    data = np.random.default_rng(k).standard_normal((300, k)).astype(dtype)
    alone = np.stack([layer(data[i]) for i in range(300)])
    for rows in BATCHES:
        for start in (0, 7, 300 - rows):
            got = layer(data[start:start + rows])
            assert got.tobytes() == alone[start:start + rows].tobytes(), (rows, start)


def test_views_and_leading_shapes_give_the_same_rows(dtype):
    layer = linearc.Linear(40, 24, dtype=dtype, seed=5)
    data = np.random.default_rng(5).standard_normal((60, 40)).astype(dtype)
    alone = np.stack([layer(row) for row in data])
    views = {
        "every other row": (data[::2], alone[::2]),
        "reversed": (data[::-1], alone[::-1]),
        "3-d": (data.reshape(3, 20, 40), alone.reshape(3, 20, 24)),
        "4-d transposed": (data.reshape(3, 4, 5, 40).transpose(2, 0, 1, 3),
                           alone.reshape(3, 4, 5, 24).transpose(2, 0, 1, 3)),
        "fortran": (np.asfortranarray(data), alone),
        "gaps in k": (np.repeat(data, 2, axis=1)[:, ::2], alone),
    }
    for name, (x, expected) in views.items():
        assert layer(x).tobytes() == np.ascontiguousarray(expected).tobytes(), name


def test_functional_linear_is_the_same_arithmetic(dtype):
    layer = linearc.Linear(70, 33, dtype=dtype, seed=6)
    x = np.random.default_rng(6).standard_normal((50, 70)).astype(dtype)
    w = np.ascontiguousarray(layer.weight)
    for rows in (1, 5, 50):
        got = linearc.linear(x[:rows], w, layer.bias)
        assert got.tobytes() == layer(x[:rows]).tobytes()


def test_forward_paths_are_all_exercised():
    """The invariance above covers both GEMM paths (n = 130: more than one
    direct tile of columns)."""
    for dtype in (np.float32, np.float64):
        paths = {_linearc._gemm_path(m, 130, 257, dtype, 1)[0] for m in BATCHES}
        assert paths == {"direct", "blocked"}


# --- threads ------------------------------------------------------------------

@pytest.fixture
def restore_threads():
    yield
    linearc.set_num_threads(None)


@requires_openmp
@pytest.mark.parametrize("shape", [(1, 4096, 512), (7, 600, 700), (33, 300, 257),
                                   (300, 500, 400), (1000, 64, 64)],
                         ids=lambda s: "x".join(map(str, s)))
def test_threads_give_the_same_bits(shape, dtype, restore_threads):
    m, k, n = shape
    layer = linearc.Linear(k, n, dtype=dtype, seed=7)
    x = np.random.default_rng(7).standard_normal((m, k)).astype(dtype)
    g = np.random.default_rng(8).standard_normal((m, n)).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        linearc.set_num_threads(threads)
        assert _linearc._gemm_path(m, n, k, dtype, threads)[1] >= 1
        layer.zero_grad()
        gi = layer.backward(x, g)
        results.append(layer(x).tobytes() + gi.tobytes() + layer.weight_grad.tobytes()
                       + layer.bias_grad.tobytes())
    assert results[0] == results[1] == results[2]
    assert _linearc._gemm_path(m, n, k, dtype, 2)[1] == 2  # really split


# --- instruction sets -----------------------------------------------------

ISA_SCRIPT = Path(__file__).with_name("_arithmetic_child.py")


def digest_under(isa, **env):
    proc = subprocess.run([sys.executable, str(ISA_SCRIPT)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "LINEARC_ISA": isa, **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_block_sizes_do_not_change_a_bit():
    """Tiny and odd blocks (every K block a handful of steps, every direct
    sweep one row of B, no direct path at all) give the default's bits."""
    default = digest_under(CONFIG["isa"])
    odd = digest_under(CONFIG["isa"], LINEARC_BLOCKING_F32="7,24,96,3,1,0",
                       LINEARC_BLOCKING_F64="5,28,48,2,1,0")
    assert odd == default
    wide = digest_under(CONFIG["isa"], LINEARC_BLOCKING_F32="3000,960,8192,900,64,1000",
                        LINEARC_BLOCKING_F64="3000,980,8192,900,64,1000")
    assert wide == default


def test_every_instruction_set_gives_the_same_bits():
    supported = CONFIG["isa_supported"].split()
    digests = {isa: digest_under(isa) for isa in supported}
    assert "generic" in digests
    reference = digests["generic"]
    assert len(reference) > 10
    for isa, digest in digests.items():
        assert digest == reference, isa


# --- backward chains ------------------------------------------------------------

def test_backward_products_are_exact_chains(dtype):
    m, k, n = 6, 9, 5
    layer = linearc.Linear(k, n, dtype=dtype, seed=9)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((m, k)).astype(dtype)
    g = rng.standard_normal((m, n)).astype(dtype)
    grad_input = layer.backward(x, g)
    # grad_input[i, k] = chain over j of g[i, j] * W[j, k]
    assert grad_input.tobytes() == exact_chain(g, layer.weight.T, None, dtype).tobytes()
    # weight_grad[j, k] = chain over the rows of g[r, j] * x[r, k]
    assert np.ascontiguousarray(layer.weight_grad).tobytes() == \
        exact_chain(g.T, x.T, None, dtype).tobytes()
    # bias_grad[j] = the rows added in order
    assert layer.bias_grad.tobytes() == \
        exact_chain(g.T, np.ones((1, m), dtype), None, dtype)[:, 0].tobytes()


def test_accumulating_two_batches_equals_one_backward_over_both(dtype):
    layer = linearc.Linear(50, 30, dtype=dtype, seed=10)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((40, 50)).astype(dtype)
    g = rng.standard_normal((40, 30)).astype(dtype)
    layer.backward(x, g)
    whole = layer.weight_grad.copy(), layer.bias_grad.copy()
    layer.zero_grad()
    layer.backward(x[:13], g[:13])
    layer.backward(x[13:], g[13:])
    assert layer.weight_grad.tobytes() == whole[0].tobytes()
    assert layer.bias_grad.tobytes() == whole[1].tobytes()


def test_grad_input_is_batch_invariant(dtype):
    layer = linearc.Linear(64, 48, dtype=dtype, seed=11)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((70, 64)).astype(dtype)
    g = rng.standard_normal((70, 48)).astype(dtype)
    alone = np.stack([layer.backward(x[i], g[i]) for i in range(70)])
    for rows in (1, 8, 9, 33, 70):
        assert layer.backward(x[:rows], g[:rows]).tobytes() == alone[:rows].tobytes()
