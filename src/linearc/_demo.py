"""The walk-through this project started from, run by ``python -m linearc``.

A Linear(4, 2) on a (32, 3, 4) input: which shapes it goes through, how
many parameters and multiply-accumulates that takes, then one timing
against NumPy's ``x @ W.T + b`` on a bigger layer.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from ._counting import summary
from ._linearc import Linear


def _median_times(funcs, repeats):
    """Median seconds per call of each function, the calls interleaved so
    that load from other processes hits them all alike."""
    times = [[] for _ in funcs]
    for func in funcs:  # warm up: page in buffers, start the thread pool
        func()
    for _ in range(repeats):
        for func, bucket in zip(funcs, times):
            start = time.perf_counter()
            func()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def main() -> None:
    layer = Linear(4, 2, bias=False, seed=0)
    x = np.random.default_rng(0).standard_normal((32, 3, 4)).astype(np.float32)

    print("nn.Linear transforms only the last dimension:")
    print(f"  {layer!r} on an input of shape {x.shape}\n")
    print(summary(layer, x.shape))
    print()
    rows = x.shape[0] * x.shape[1]
    print(f"The weight {layer.weight.shape} is shared by every leading "
          f"position, so the layer has {layer.num_parameters} parameters.")
    print(f"Each of the {x.shape[0]}*{x.shape[1]} = {rows} positions costs "
          f"{layer.in_features}*{layer.out_features} multiply-accumulates: "
          f"{x.shape[0]}*{x.shape[1]}*({layer.in_features}*"
          f"{layer.out_features}) = {layer.macs(x.shape)} MACs.")
    out_shape = x.shape[:-1] + (layer.out_features,)
    print(f"Shapes: x {x.shape} -> viewed as {(rows, layer.in_features)} "
          f"-> times weight.T {layer.weight.T.shape} -> "
          f"{(rows, layer.out_features)} -> {out_shape}")

    y = layer(x)
    print(f"Running it: layer(x).shape = {y.shape}")

    # One timing line on a layer big enough for the GEMM to matter.
    big = Linear(1024, 1024, seed=0)
    xb = np.random.default_rng(1).standard_normal((128, 1024)).astype(
        np.float32)
    w, b = big.weight, big.bias
    t_linearc, t_numpy = _median_times(
        [lambda: big(xb), lambda: xb @ w.T + b], repeats=20)
    print(f"\nTiming (128, 1024) -> 1024 float32, median of 20 runs each: "
          f"linearc {t_linearc * 1e3:.2f} ms, numpy x @ W.T + b "
          f"{t_numpy * 1e3:.2f} ms, ratio numpy/linearc "
          f"{t_numpy / t_linearc:.2f}x")


if __name__ == "__main__":
    main()
