"""Digests of linearc's products for comparing architectures bit for bit:
.ci/arm64.sh runs this under the x86-64 Python and under an aarch64 Python
started through qemu-aarch64 (with linearc cross-built for it), with the
default block sizes and with tiny ones (LINEARC_BLOCKING_F32 / _F64), and
diffs the outputs. One line per case: the case's name and a digest of the
forward result and the three backward products (grad_input, weight_grad,
bias_grad). The last line is "cases N".

The operands come from integer arithmetic only (no random generator, no
libm), so both interpreters, with different NumPy versions, build the same
bits: values with a spread of exponents, and in one case in three NaNs of
both signs with payloads, infinities and zeros in every operand. Inputs are
contiguous, strided (every other column), or 3-D views whose rows need
offset tables (every other row of a larger array).
"""
from __future__ import annotations

import hashlib
import sys

import numpy as np

import linearc

# m rows, k in_features, n out_features: every row count of a direct tile
# and its edges, widths off the vector lengths, K across block boundaries.
M_VALUES = (1, 2, 3, 4, 5, 6, 7, 11, 13, 24, 40, 65, 300)
K_VALUES = (1, 3, 9, 64, 130, 515, 1100, 3000)
N_VALUES = (1, 5, 8, 17, 33, 64, 100)
MAX_FLOPS = 6_000_000  # per product: keeps the emulated run to a minute or so


def shapes() -> list[tuple[int, int, int]]:
    """About 120 (m, k, n): a deterministic walk through the grid, skipping
    the biggest products."""
    out = []
    i = 0
    for m in M_VALUES:
        for k in K_VALUES:
            for n in N_VALUES:
                i += 1
                if m * k * n > MAX_FLOPS or (i * 7919) % 3 != 0:
                    continue
                out.append((m, k, n))
    return out


def values(count: int, seed: int, dtype, specials: bool) -> np.ndarray:
    """count values in (-4, 4), from a multiplicative hash of the index."""
    idx = np.arange(count, dtype=np.uint64) + np.uint64(seed * 1_000_003 + 1)
    h = idx * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    mant = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53) - 0.5
    scale = np.ldexp(1.0, ((h >> np.uint64(3)) % np.uint64(5)).astype(np.int64) - 1)
    v = (mant * scale).astype(dtype)
    if specials:
        bits_type = np.uint32 if dtype == np.float32 else np.uint64
        specials_arr = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0], dtype)
        sb = specials_arr.view(bits_type)
        sb[1] |= bits_type(0x12345)  # a payload, on a negative NaN
        where = (h % np.uint64(47)) == np.uint64(0)
        v[where] = specials_arr[((h[where] >> np.uint64(7)) % np.uint64(6)).astype(np.intp)]
    return v


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def run_case(name, dtype, m, k, n, layout, specials, seed) -> str:
    layer = linearc.Linear(k, n, dtype=dtype, seed=0)
    layer.weight[...] = values(n * k, seed, dtype, specials).reshape(n, k)
    layer.bias[...] = values(n, seed + 1, dtype, specials)
    if layout == "contiguous":
        x = values(m * k, seed + 2, dtype, specials).reshape(m, k)
        g = values(m * n, seed + 3, dtype, specials).reshape(m, n)
    elif layout == "strided":  # every other column
        x = values(m * 2 * k, seed + 2, dtype, specials).reshape(m, 2 * k)[:, ::2]
        g = values(m * 2 * n, seed + 3, dtype, specials).reshape(m, 2 * n)[:, 1::2]
    else:  # (a, b, features) views of every other row: rows need offset tables
        a = 2 if m % 2 == 0 else 1
        b = m // a
        x = values(a * (2 * b + 1) * (k + 3), seed + 2, dtype, specials).reshape(
            a, 2 * b + 1, k + 3)[:, 0:2 * b:2, :k]
        g = values(a * (2 * b + 1) * (n + 5), seed + 3, dtype, specials).reshape(
            a, 2 * b + 1, n + 5)[:, 1::2, 2:n + 2]
    layer.zero_grad()
    y = layer(x)
    gi = layer.backward(x, g)
    return f"{name} {digest(y, gi, layer.weight_grad, layer.bias_grad)}"


def main() -> None:
    lines = []
    for dtype in (np.float32, np.float64):
        tag = "f32" if dtype == np.float32 else "f64"
        for i, (m, k, n) in enumerate(shapes()):
            layout = ("contiguous", "strided", "rows")[i % 3]
            specials = i % 3 == 1
            name = f"{tag} {m}x{k}x{n} {layout}{' specials' if specials else ''}"
            lines.append(run_case(name, dtype, m, k, n, layout, specials, seed=i))
    print("\n".join(lines))
    print(f"cases {len(lines)}")
    config = linearc.get_config()
    print(f"ran on {config['arch']} {config['isa']}, numpy {np.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
