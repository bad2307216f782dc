"""Run by tests/test_arithmetic.py under each LINEARC_ISA: prints one digest
per product (forward on both paths, the three backward products, one and two
threads; then gapped 3-D operands, whose rows need offset tables, and a
grad_output of the other dtype; then NaN and inf operands), so that the parent
can compare instruction sets and block sizes bit for bit."""
from __future__ import annotations

import hashlib

import numpy as np

import linearc

SHAPES = [(1, 300, 70), (5, 1000, 130), (33, 257, 65), (300, 700, 513), (64, 256, 256),
          (2000, 64, 40)]
# (a, b, in, out): x and grad_output are (a, b, features) views of every
# other row of (a, 2 b + 1, more features) arrays: the gap between blocks
# differs from the gap between rows, so the rows need an offset table.
GAPPED = [(3, 11, 257, 65), (10, 30, 300, 130), (40, 50, 64, 40)]


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    rng = np.random.default_rng(1)
    out = [linearc.get_config()["isa"]]
    for dtype in (np.float32, np.float64):
        for m, k, n in SHAPES:
            layer = linearc.Linear(k, n, dtype=dtype, seed=5)
            x = rng.standard_normal((m, k)).astype(dtype)
            g = rng.standard_normal((m, n)).astype(dtype)
            for threads in (1, 2):
                linearc.set_num_threads(threads)
                layer.zero_grad()
                gi = layer.backward(x, g)
                out.append(digest(layer(x), gi, layer.weight_grad, layer.bias_grad))
        for a, b, k, n in GAPPED:
            layer = linearc.Linear(k, n, dtype=dtype, seed=6)
            x = rng.standard_normal((a, 2 * b + 1, k + 3)).astype(dtype)[:, 0:2 * b:2, :k]
            g = rng.standard_normal((a, 2 * b + 1, n + 5)).astype(dtype)[:, 1::2, 2:n + 2]
            other = np.float64 if dtype == np.float32 else np.float32
            for g_as in (g, g.astype(other)):
                layer.zero_grad()
                gi = layer.backward(x, g_as)
                gi = layer.backward(x, g_as)  # and the chains continued
                out.append(digest(layer(x), gi, layer.weight_grad, layer.bias_grad))
        # NaNs of both signs and with payloads, infinities (inf * 0 and
        # inf - inf make NaNs of the hardware's choosing) in every operand.
        specials = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0], dtype)
        specials_bits = specials.view(np.uint32 if dtype == np.float32 else np.uint64)
        # a payload; a NumPy scalar of the array's type, since NumPy 1.x
        # promotes uint64 | int to float64 and refuses it
        specials_bits[1] |= specials_bits.dtype.type(0x12345)
        for m, k, n in SHAPES[:4]:
            layer = linearc.Linear(k, n, dtype=dtype, seed=7)
            x = rng.standard_normal((m, k)).astype(dtype)
            g = rng.standard_normal((m, n)).astype(dtype)
            layer.weight.flat[rng.integers(0, n * k, 2 * n)] = rng.choice(specials, 2 * n)
            layer.bias[rng.integers(0, n, 3)] = rng.choice(specials, 3)
            x.flat[rng.integers(0, m * k, 2 * m)] = rng.choice(specials, 2 * m)
            g.flat[rng.integers(0, m * n, m)] = rng.choice(specials, m)
            layer.zero_grad()
            gi = layer.backward(x, g)
            out.append(digest(layer(x), gi, layer.weight_grad, layer.bias_grad))
    print(" ".join(out[1:]))


if __name__ == "__main__":
    main()
