"""Run by tests/test_arithmetic.py under each LINEARC_ISA: prints one digest
per product (forward on both paths, the three backward products, one and two
threads), so that the parent can compare instruction sets bit for bit."""
from __future__ import annotations

import hashlib

import numpy as np

import linearc

SHAPES = [(1, 300, 70), (5, 1000, 130), (33, 257, 65), (300, 700, 513), (64, 256, 256),
          (2000, 64, 40)]


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
    print(" ".join(out[1:]))


if __name__ == "__main__":
    main()
