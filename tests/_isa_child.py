"""The battery tests/test_isa.py runs under each LINEARC_ISA, in a fresh
interpreter (the kernel set is chosen once, at import):

    python -c "import sys; sys.path.insert(0, TESTS); import _isa_child;
               _isa_child.main([isa, out_path])"

It checks that the forced ISA is the one in use, runs a compact set of edge
cases (forward and the three gradients, contiguous and strided with NaN in
the gaps, float64 converted into a float32 layer), checks each result
against the float64 reference with the K-scaled bound, saves every result
and its operands to out_path (.npz) for the cross-ISA comparison, and
prints "OK <isa> <number of results>" last.
"""
from __future__ import annotations

import contextlib
import io
import sys

import numpy as np

import linearc
from linearc._accuracy import assert_linear_close

# Shapes (m, n, k) fixed across ISAs, so results can be compared: 5 and 8
# rows take the few-rows paths, 29 the few-rows path where the kernel set
# has one for that many rows (blocked otherwise), 257 the blocked one; 35
# and 37 columns and K = 257, 513 leave partial tiles and K blocks for every
# kernel set, and 257 rows pass every MC.
SHAPES = [(5, 35, 1), (8, 35, 257), (29, 35, 1), (29, 35, 257),
          (257, 37, 513)]
DTYPES = (np.float32, np.float64)
CONVERSION_ROWS = (5, 29)


def expected_count():
    """How many results main() saves: per dtype, shape, bias and layout a
    forward and two or three gradients, plus the conversions."""
    cases = len(DTYPES) * len(SHAPES) * 2 * 2  # x bias x strides
    return cases * 3 + cases // 2 + len(CONVERSION_ROWS)


def nan_strided(data):
    """data in a NaN-filled buffer, every 2nd row and 3rd column, reversed:
    a read outside the view would put NaN into the result."""
    m, k = data.shape
    buf = np.full((2 * m + 1, 3 * k + 2), np.nan, dtype=data.dtype)
    view = buf[2 * m - 1::-2, 3 * k - 1::-3]
    view[...] = data
    return view


class Battery:
    """Every check is recorded as (result, a, b, bias) with result ~
    a @ b.T + bias."""

    def __init__(self):
        self.saved = {}

    def check(self, name, result, a, b, bias, dtype):
        assert result.dtype == dtype, (name, result.dtype)
        assert_linear_close(result, a, b, bias, dtype=dtype)
        self.saved[name + "|y"] = result
        self.saved[name + "|a"] = a
        self.saved[name + "|b"] = b
        if bias is not None:
            self.saved[name + "|bias"] = bias

    def run_case(self, rng, dtype, shape, bias, strided):
        m, n, k = shape
        name = (f"{np.dtype(dtype).name}-{m}x{n}x{k}"
                f"-b{int(bias)}-s{int(strided)}")
        layer = linearc.Linear(k, n, bias=bias, dtype=dtype, seed=m + n + k)
        data = rng.standard_normal((m, k)).astype(dtype)
        x = nan_strided(data) if strided else data
        w = layer.weight.copy()
        b = None if layer.bias is None else layer.bias.copy()
        self.check("fwd-" + name, layer(x), data, w, b, dtype)

        # grad_input = G @ W, weight_grad = G.T @ X, bias_grad = G.T @ 1
        gdata = rng.standard_normal((m, n)).astype(dtype)
        g = nan_strided(gdata) if strided else gdata
        grad_in = layer.backward(x, g)
        self.check("gin-" + name, grad_in, gdata, w.T.copy(), None, dtype)
        self.check("wg-" + name, layer.weight_grad.copy(), gdata.T.copy(),
                   data.T.copy(), None, dtype)
        if bias:
            self.check("bg-" + name, layer.bias_grad[:, None].copy(),
                       gdata.T.copy(), np.ones((1, m), dtype), None, dtype)

    def run(self):
        rng = np.random.default_rng(2024)
        for dtype in DTYPES:
            for shape in SHAPES:
                for bias in (True, False):
                    for strided in (False, True):
                        self.run_case(rng, dtype, shape, bias, strided)
        # float64 input into a float32 layer: converted while packing
        for m in CONVERSION_ROWS:
            layer = linearc.Linear(257, 35, dtype=np.float32, seed=m)
            data = rng.standard_normal((m, 257))
            self.check(f"conv-{m}", layer(nan_strided(data)), data,
                       layer.weight.copy(), layer.bias.copy(), np.float32)


def main(argv):
    isa, out_path = argv
    with contextlib.redirect_stdout(io.StringIO()):
        config = linearc.show_config()
    assert config["isa"] == isa, (config["isa"], isa)
    battery = Battery()
    battery.run()
    np.savez(out_path, **battery.saved)
    count = sum(key.endswith("|y") for key in battery.saved)
    assert count == expected_count(), (count, expected_count())
    print("OK", isa, count)


if __name__ == "__main__":
    main(sys.argv[1:])
