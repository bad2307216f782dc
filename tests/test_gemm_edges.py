"""GEMM edge cases: sizes just below, at and past every register-tile and
cache-block edge of the kernel set in use, both forward paths (dot for
M <= 8 rows, blocked otherwise), strided inputs through the packers, dtype
conversion, and bit-identical results for 1 vs 2 threads.

The tile sizes come from the extension itself, so the test follows whatever
ISA was picked at import (LINEARC_ISA)."""
from __future__ import annotations

import numpy as np
import pytest

import linearc
from linearc import _linearc

from conftest import assert_linear_close, expected_path, requires_openmp

CONFIG = _linearc._build_config()
ISA = CONFIG["isa"]
DOT_MAX_ROWS = CONFIG["dot_max_rows"]


def block_sizes(dtype):
    """(MR, NR, KC, MC, NC) of the kernel set in use, from the extension."""
    key = "blocking_f32" if np.dtype(dtype) == np.float32 else "blocking_f64"
    return CONFIG[key]


def kc(dtype):
    return block_sizes(dtype)[2]


def tile(dtype):
    """(MR, NR) of the register tile for dtype; tile_* is MR * 1000 + NR."""
    code = CONFIG["tile_f32" if np.dtype(dtype) == np.float32 else "tile_f64"]
    return divmod(code, 1000)


def blocks(dtype):
    """(MC, NC)"""
    return block_sizes(dtype)[3:]


def check_path(m, n, k, dtype):
    """The shape takes the path the test means to exercise."""
    path, _ = _linearc._gemm_path(m, n, k, np.dtype(dtype).name, 1)
    assert path == expected_path(m, n, k, dtype), (m, n, k, path)


def make_layer(k, n, dtype, bias=True, seed=0):
    return linearc.Linear(k, n, bias=bias, dtype=dtype, seed=seed)


def run_case(m, n, k, dtype, rng, bias=True):
    check_path(m, n, k, dtype)
    layer = make_layer(k, n, dtype, bias)
    x = rng.standard_normal((m, k)).astype(dtype)
    y = layer(x)
    assert y.dtype == dtype and y.shape == (m, n)
    assert_linear_close(y, x, layer.weight, layer.bias)


def around(v):
    return [v - 1, v, v + 1]


@pytest.fixture
def threads():
    """Restore the thread count a test changes."""
    saved = linearc.get_num_threads()
    yield
    linearc.set_num_threads(saved)


# --- register-tile edges ---------------------------------------------------

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_tile_edges(dtype, bias, rng):
    mr, nr = tile(dtype)
    ms = sorted({1, DOT_MAX_ROWS, DOT_MAX_ROWS + 1, *around(mr),
                 *around(2 * mr), 3 * mr + 1} - {0})
    ns = sorted({1, 2, *around(nr), *around(2 * nr), 3 * nr + 1} - {0})
    for m in ms:
        for n in ns:
            run_case(m, n, 7, dtype, rng, bias)


# --- K edges ----------------------------------------------------------------

K_EDGES = {"0": lambda b: 0, "1": lambda b: 1, "KC-1": lambda b: b - 1,
           "KC": lambda b: b, "KC+1": lambda b: b + 1, "2KC+1": lambda b: 2 * b + 1}


@pytest.mark.parametrize("k_edge", list(K_EDGES))
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_k_edges(k_edge, dtype, bias, rng):
    k = K_EDGES[k_edge](kc(dtype))
    mr, nr = tile(dtype)
    for m in sorted({1, DOT_MAX_ROWS, DOT_MAX_ROWS + 1, mr + 1}):
        for n in (nr - 1, nr + 1):
            run_case(m, n, k, dtype, rng, bias)


# --- cache-block edges -----------------------------------------------------

def test_mc_edges(dtype, rng):
    """M around MC (and 2 * MC) with K crossing a KC block."""
    mc, _ = blocks(dtype)
    _, nr = tile(dtype)
    for m in [*around(mc), 2 * mc + 1]:
        run_case(m, nr + 3, kc(dtype) + 1, dtype, rng)


def test_nc_edges(dtype, rng):
    """N around NC on both paths; K tiny keeps this cheap."""
    _, nc = blocks(dtype)
    mr, _ = tile(dtype)
    for n in around(nc):
        for m in (3, mr + 1):
            run_case(m, n, 3, dtype, rng)
    # Past NC with K crossing a KC block: the B panel is repacked per block.
    for m in (3, mr + 1):
        run_case(m, nc + 1, kc(dtype) + 1, dtype, rng, bias=False)


def test_all_edges_at_once(dtype, rng):
    """Partial tiles, partial M block and three K blocks in one problem."""
    mr, nr = tile(dtype)
    mc, _ = blocks(dtype)
    run_case(mc + mr + 1, 2 * nr + 3, 2 * kc(dtype) + 1, dtype, rng)


def test_empty_shapes(dtype, rng):
    for m, n, k in [(0, 5, 3), (4, 0, 3), (20, 0, 3), (0, 0, 0), (0, 5, 0)]:
        check_path(m, n, k, dtype)
        layer = make_layer(k, n, dtype)
        y = layer(rng.standard_normal((m, k)))
        assert y.shape == (m, n) and y.dtype == dtype


# --- strided inputs through the packers ------------------------------------

def nan_strided(data, steps, flip=False):
    """A view of a NaN-filled buffer holding data at the given steps (per
    axis), reversed along every axis if flip: the gaps are NaN, so any read
    outside the view shows up in the result."""
    shape = data.shape
    buf = np.full([s * st + st for s, st in zip(shape, steps)], np.nan,
                  dtype=data.dtype)
    index = tuple(slice(1, 1 + s * st, st) for s, st in zip(shape, steps))
    view = buf[index]
    if flip:
        view = view[(slice(None, None, -1),) * data.ndim]
    view[...] = data
    assert not view.flags.c_contiguous or data.size <= 1
    np.testing.assert_array_equal(view, data)
    return view


STRIDE_CASES = {
    "rows": ((3, 1), False),
    "cols": ((1, 2), False),
    "both": ((2, 3), False),
    "neg-both": ((2, 3), True),
    "neg-rows": ((1, 1), True),
}


@pytest.mark.parametrize("case", list(STRIDE_CASES))
def test_strided_input_nan_gaps(case, dtype, rng):
    steps, flip = STRIDE_CASES[case]
    mr, nr = tile(dtype)
    for m, k in [(5, 19), (DOT_MAX_ROWS, kc(dtype) + 1), (2 * mr + 1, 2 * kc(dtype) + 1)]:
        n = nr + 1
        check_path(m, n, k, dtype)
        layer = make_layer(k, n, dtype)
        data = rng.standard_normal((m, k)).astype(dtype)
        x = nan_strided(data, steps, flip)
        y = layer(x)
        assert_linear_close(y, data, layer.weight, layer.bias)
        # Same values as the contiguous input's result, on the same path.
        np.testing.assert_array_equal(y, layer(np.ascontiguousarray(data)))


def test_fortran_and_rank3_strided(dtype, rng):
    """Column-major input, and a rank-3 view whose leading axes do not
    collapse into one stride (so rows are found one by one)."""
    mr, nr = tile(dtype)
    k, n = kc(dtype) + 3, nr + 2
    layer = make_layer(k, n, dtype)
    for m in (6, 2 * mr + 1):
        data = rng.standard_normal((m, k)).astype(dtype)
        xf = np.asfortranarray(data)
        assert_linear_close(layer(xf), data, layer.weight, layer.bias)
    for lead in [(2, 3), (3, 5)]:  # 6 rows: dot path; 15 rows: blocked
        data = rng.standard_normal((*lead, k)).astype(dtype)
        x = nan_strided(data, (2, 3, 2), flip=True)
        y = layer(x)
        assert y.shape == (*lead, n)
        assert_linear_close(y.reshape(-1, n), data.reshape(-1, k),
                            layer.weight, layer.bias)


def test_strided_weight_functional(dtype, rng):
    """linear() with a strided, negative-stride weight and bias: the weight
    goes through the B packer (or is copied) with NaN gaps around it."""
    mr, nr = tile(dtype)
    k, n = kc(dtype) + 1, 2 * nr + 1
    wdata = rng.standard_normal((n, k)).astype(dtype)
    bdata = rng.standard_normal(n).astype(dtype)
    w = nan_strided(wdata, (2, 3), flip=True)
    b = nan_strided(bdata, (2,), flip=True)
    for m in (4, 2 * mr + 1):
        data = rng.standard_normal((m, k)).astype(dtype)
        x = nan_strided(data, (3, 2))
        y = linearc.linear(x, w, b)
        assert y.dtype == dtype
        assert_linear_close(y, data, wdata, bdata)


# --- conversion in the packer ----------------------------------------------

@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
def test_float64_into_float32_layer(strided, rng):
    mr, nr = tile(np.float32)
    kc32 = kc(np.float32)
    for m, k in [(3, 7), (DOT_MAX_ROWS, kc32 + 1), (2 * mr + 1, 2 * kc32 + 1)]:
        n = nr + 1
        layer = make_layer(k, n, np.float32)
        # float64 values that float32 cannot hold exactly
        data = rng.standard_normal((m, k))
        x = nan_strided(data, (2, 3), flip=True) if strided else data
        y = layer(x)
        assert y.dtype == np.float32
        assert_linear_close(y, data, layer.weight, layer.bias,
                            dtype=np.float32)
        # Rounding happens first: same as feeding the float32 values.
        np.testing.assert_array_equal(y, layer(data.astype(np.float32)))


def test_integer_and_float16_inputs(dtype, rng):
    mr, nr = tile(dtype)
    for m in (4, 2 * mr + 1):
        layer = make_layer(kc(dtype) + 1, nr + 1, dtype)
        for src in (np.int32, np.float16, np.int8):
            x = (rng.standard_normal((m, kc(dtype) + 1)) * 8).astype(src)
            assert_linear_close(layer(x), x, layer.weight, layer.bias,
                                dtype=dtype)


# --- threads ---------------------------------------------------------------

# Problems under this many flops run on one thread (LC_SERIAL_FLOPS).
SERIAL_FLOPS = 4.0e6


def past_serial(fixed, k, unit):
    """A size that is a multiple of unit plus a partial tile, big enough that
    a (fixed x size x k) problem is split between threads."""
    tiles = int(SERIAL_FLOPS / (2 * fixed * k * unit)) + 1
    return tiles * unit + unit // 2 + 1


def thread_shapes(dtype):
    mr, nr = tile(dtype)
    mc, _ = blocks(dtype)
    k = 2 * kc(dtype) + 1
    m_rows = max(mc + mr + 1, past_serial(2 * nr + 5, k, mr))
    rows_max = CONFIG["rows_max_f32" if np.dtype(dtype) == np.float32 else "rows_max_f64"]
    m_wide = max(2 * mr + 1, rows_max + 1)
    n_cols = past_serial(m_wide, k, nr)
    return [
        (DOT_MAX_ROWS, 600, kc(dtype) + 45),    # dot path, W split by columns
        (m_rows, 2 * nr + 5, k),         # blocked, split by rows
        (m_wide, n_cols, k),             # blocked, split by columns
        # rows path (AVX-512; blocked elsewhere), split by 14-column tiles
        (DOT_MAX_ROWS + 3, past_serial(DOT_MAX_ROWS + 3, k, 14), k),
    ]


@requires_openmp
@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_one_vs_two_threads_bitwise(dtype, bias, strided, rng, threads):
    for m, n, k in thread_shapes(dtype):
        check_path(m, n, k, dtype)
        linearc.set_num_threads(2)
        # Two threads really split the work for these shapes.
        used = _linearc._gemm_path(m, n, k, np.dtype(dtype).name, 2)[1]
        assert used == 2, (m, n, k)
        layer = make_layer(k, n, dtype, bias)
        data = rng.standard_normal((m, k)).astype(dtype)
        x = nan_strided(data, (2, 3), flip=True) if strided else data
        y2 = layer(x)
        linearc.set_num_threads(1)
        y1 = layer(x)
        np.testing.assert_array_equal(y1, y2)
        assert_linear_close(y1, data, layer.weight, layer.bias)
        # Repeated calls agree too.
        np.testing.assert_array_equal(layer(x), y1)


# --- the rows path gives the blocked path's bits ----------------------------

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_rows_path_matches_blocked_bitwise(dtype, bias, rng):
    """A few rows (rows path on AVX-512) are the first rows of a tall batch
    (blocked path): both run the same FMA chain per element, K blocks too."""
    rows_max = CONFIG["rows_max_f32" if np.dtype(dtype) == np.float32 else "rows_max_f64"]
    if rows_max == 0:
        pytest.skip(f"the {ISA} kernel set has no rows path")
    big = rows_max + 40
    for k in (1, 7, kc(dtype) - 1, 2 * kc(dtype) + 3):
        for n in (1, 13, 14, 15, 29):
            layer = make_layer(k, n, dtype, bias, seed=k + n)
            X = rng.standard_normal((big, k)).astype(dtype)
            check_path(big, n, k, dtype)
            y_big = layer(X)
            for m in range(DOT_MAX_ROWS + 1, rows_max + 1):
                check_path(m, n, k, dtype)
                np.testing.assert_array_equal(layer(X[:m]), y_big[:m])
