"""GEMM edge cases: sizes just below, at and past every register-tile and
cache-block edge of the kernel set and blocking in use, on every forward
path as conftest.expected_path() states the rule: "direct" (nothing packed)
for at most direct_rows rows or a single tile of columns, "blocked"
otherwise, "fill" for K == 0 and "empty" when there is nothing to compute.
(More precisely: "direct" also for any number of rows with at most
direct_cols columns.) Also strided inputs
through the packers, dtype conversion, and bit-identical results for 1 vs 2
threads.

The tile and block sizes and the path limits come from the extension itself
(_build_config), so the test follows whatever kernel set (LINEARC_ISA) and
blocking (config.c, LINEARC_BLOCKING_F32/_F64) were picked at import, and
every case checks that it takes the path it means to exercise (_gemm_path).

Neighbours: every ISA at once, more briefly, is test_isa.py; the bits being
the same on every path, block size and ISA is test_arithmetic.py; threads
sharing one layer are test_threads.py; random shapes test_properties.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import linearc
from linearc import _linearc

from conftest import assert_linear_close, expected_path, requires_openmp

CONFIG = _linearc._build_config()
ISA = CONFIG["isa"]


def conf(dtype):
    return CONFIG[np.dtype(dtype).name]


def direct_rows(dtype):
    """The most rows the direct path takes (with more than one column tile)."""
    return conf(dtype)["direct_rows"]


def blocked_n(dtype):
    """The fewest columns that send more than direct_rows rows to the blocked
    path: more than direct_cols."""
    return conf(dtype)["direct_cols"] + 1


def kc(dtype):
    return conf(dtype)["kc"]


def tile(dtype):
    """(MR, NR) of the packed register tile for dtype."""
    return conf(dtype)["tile"]


def direct_tile(dtype):
    """(rows, columns) of the largest direct tile."""
    return conf(dtype)["direct_tile"]


def blocks(dtype):
    """(MC, NC)"""
    return conf(dtype)["mc"], conf(dtype)["nc"]


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


# --- register-tile edges ---------------------------------------------------

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_tile_edges(dtype, bias, rng):
    """Packed tiles: rows past the direct path, columns past one direct tile
    and around multiples of NR."""
    mr, nr = tile(dtype)
    dr, first = direct_rows(dtype), blocked_n(dtype)
    ms = sorted({dr + 1, *around(dr + mr), dr + 2 * mr + 1})
    ns = sorted({first, *(n for v in range(1, 6) for n in around(v * nr) if n >= first)})
    for m in ms:
        for n in ns:
            run_case(m, n, 7, dtype, rng, bias)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_direct_tile_edges(dtype, bias, rng):
    dmr, dnr = direct_tile(dtype)
    ms = sorted({1, 2, *around(dmr), *around(2 * dmr), direct_rows(dtype)} - {0})
    ns = sorted({1, 3, *around(dnr), *around(2 * dnr), 16, 17} - {0})
    for m in ms:
        for n in ns:
            run_case(m, n, 7, dtype, rng, bias)


# --- K edges ----------------------------------------------------------------

K_EDGES = {"0": lambda b: 0, "1": lambda b: 1, "KC-1": lambda b: b - 1,
           "KC": lambda b: b, "KC+1": lambda b: b + 1, "2KC+1": lambda b: 2 * b + 1}


@pytest.mark.parametrize("k_edge", list(K_EDGES))
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_k_edges(k_edge, dtype, bias, rng):
    """K around the packed path's KC (rows past the direct path)."""
    k = K_EDGES[k_edge](kc(dtype))
    mr, nr = tile(dtype)
    for m in (direct_rows(dtype) + 1, direct_rows(dtype) + mr + 1):
        for n in (blocked_n(dtype), 4 * nr + 1):
            run_case(m, n, k, dtype, rng, bias)


@pytest.mark.parametrize("k_edge", list(K_EDGES))
def test_direct_k_edges(k_edge, dtype, rng):
    """K around the direct path's K block, with and without a bias."""
    k = K_EDGES[k_edge](conf(dtype)["kc_direct"])
    dmr, dnr = direct_tile(dtype)
    for m in (1, dmr + 1, direct_rows(dtype)):
        for n in (dnr - 1, dnr + 1):
            run_case(m, n, k, dtype, rng, bias=m != 1)


# --- cache-block edges -----------------------------------------------------

def test_mc_edges(dtype, rng):
    """M around MC (and 2 * MC, past the direct path) with K crossing a KC
    block."""
    mc, _ = blocks(dtype)
    for m in [*around(mc), 2 * mc + 1, direct_rows(dtype) + mc + 1]:
        run_case(m, blocked_n(dtype) + 3, kc(dtype) + 1, dtype, rng)


def test_nc_edges(dtype, rng):
    """N around NC on the blocked path (3 rows: direct, for comparison);
    K tiny keeps this cheap."""
    _, nc = blocks(dtype)
    for n in around(nc):
        for m in (3, direct_rows(dtype) + 1):
            run_case(m, n, 3, dtype, rng)
    # Past NC with K crossing a KC block: the B panel is repacked per block.
    run_case(direct_rows(dtype) + 1, nc + 1, kc(dtype) + 1, dtype, rng, bias=False)


def test_all_edges_at_once(dtype, rng):
    """Partial tiles, partial M block and three K blocks in one problem."""
    mr, nr = tile(dtype)
    mc, _ = blocks(dtype)
    m = direct_rows(dtype) + mc + mr + 1
    run_case(m, blocked_n(dtype) + nr + 3, 2 * kc(dtype) + 1, dtype, rng)


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
    for m, k, n in [(5, 19, nr + 1), (direct_rows(dtype), kc(dtype) + 1, nr + 1),
                    (direct_rows(dtype) + mr + 1, 2 * kc(dtype) + 1, blocked_n(dtype))]:
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
    for m in (6, direct_rows(dtype) + mr + 1):
        data = rng.standard_normal((m, k)).astype(dtype)
        xf = np.asfortranarray(data)
        assert_linear_close(layer(xf), data, layer.weight, layer.bias)
    # 6 rows: direct path (copied first); more: the same, with more rows.
    for lead in [(2, 3), (3, 15)]:
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
    for m in (4, direct_rows(dtype) + mr + 1):
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
    for m, k, n in [(3, 7, nr + 1), (direct_rows(np.float32), kc32 + 1, nr + 1),
                    (direct_rows(np.float32) + mr + 1, 2 * kc32 + 1, blocked_n(np.float32))]:
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
    for m in (4, direct_rows(dtype) + mr + 1):
        layer = make_layer(kc(dtype) + 1, blocked_n(dtype), dtype)
        for src in (np.int32, np.float16, np.int8):
            x = (rng.standard_normal((m, kc(dtype) + 1)) * 8).astype(src)
            assert_linear_close(layer(x), x, layer.weight, layer.bias,
                                dtype=dtype)


# --- threads ---------------------------------------------------------------

def past_serial(fixed, k, unit, dtype):
    """A size that is a multiple of unit plus a partial tile, big enough that
    a (fixed x size x k) problem is split between threads."""
    tiles = int(conf(dtype)["serial_flops"] / (2 * fixed * k * unit)) + 1
    return tiles * unit + unit // 2 + 1


def thread_shapes(dtype):
    mr, nr = tile(dtype)
    mc, _ = blocks(dtype)
    _, dnr = direct_tile(dtype)
    k = 2 * kc(dtype) + 1
    dr = direct_rows(dtype)
    return [
        (dr, past_serial(dr, k, dnr, dtype), k),         # direct, split by columns
        (3, 600, 2 * kc(dtype) + 301),            # direct, W big enough to split
        # direct, narrow: split by rows
        (past_serial(dnr, k, 6 * mr, dtype), conf(dtype)["direct_cols"], k),
        (max(dr + mc + mr + 1, past_serial(blocked_n(dtype), k, mr, dtype)), blocked_n(dtype), k),
        # blocked, few rows and wide N: A shared, tiles split in two dimensions
        (dr + 1, past_serial(dr + 1, k, nr, dtype), k),
    ]


@requires_openmp
@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_one_vs_two_threads_bitwise(dtype, bias, strided, rng, restore_threads):
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


@pytest.mark.parametrize("threads", [1, 2])
def test_negative_strides_in_and_out(threads, dtype, rng, restore_threads):
    """x and out read and written through negative strides (x reversed along
    both axes, out every other row of a buffer, last row first) on the fill,
    direct and blocked paths: the bits of the contiguous result, and nothing
    around out written. The offsets of such rows and columns are negative:
    computed as sizes they wrap around (undefined behaviour in C)."""
    _linearc.set_num_threads(threads)
    mr, nr = tile(dtype)
    for m, k, n in [(7, 0, nr + 1), (5, 19, nr + 1),
                    (direct_rows(dtype) + mr + 1, 2 * kc(dtype) + 1, blocked_n(dtype))]:
        check_path(m, n, k, dtype)
        layer = make_layer(k, n, dtype)
        data = rng.standard_normal((m, k)).astype(dtype)
        expected = layer(np.ascontiguousarray(data))
        for x in (data, nan_strided(data, (2, 3), flip=True)):
            buf = np.full((2 * m + 1, n + 3), 1234.5, dtype)
            out = buf[::-2, 1:n + 1]
            assert out.shape == (m + 1, n) and out.strides[0] < 0
            out = out[:m]
            written = np.zeros(buf.shape, bool)
            written[::-2, 1:n + 1][:m] = True
            assert layer(x, out=out) is out
            assert out.tobytes() == expected.tobytes(), (m, k, n)
            assert (buf[~written] == 1234.5).all()
            y = linearc.linear(x, layer.weight, layer.bias, out=buf[::-2, 1:n + 1][:m])
            assert y.tobytes() == expected.tobytes()
