"""The walk-through this project started from, run by ``python -m linearc``.

A Linear(4, 2) on a (32, 3, 4) input: which shapes it goes through, how
many parameters and multiply-accumulates that takes, then one timing
against NumPy's ``x @ W.T + b`` on a bigger layer.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from ._counting import summary
from ._linearc import Linear, get_num_threads


# Idle OpenMP and OpenBLAS workers keep spinning for up to ~0.1 s after a
# call and take a core from whoever runs next; on a 2-core machine that turns
# a fair comparison into a 3x "loss". Each contender is therefore timed in
# bursts, each burst after a pause long enough for every pool to fall asleep.
_PAUSE_S = 0.25


def _burst_times(funcs: list[Callable[[], object]], rounds: int = 5,
                 calls: int = 20) -> list[float]:
    """Median seconds per call of each function, timed fairly.

    Round after round, each function runs ``calls`` times back to back after
    a pause (its first call is a warm-up that is not counted), and the
    median of the per-call times over all rounds is returned.
    """
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(rounds):
        for func, bucket in zip(funcs, times):
            time.sleep(_PAUSE_S)
            func()  # wake its thread pool
            for _ in range(calls):
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
    w = big.weight
    b = big.state_dict()["bias"]
    t_linearc, t_numpy = _burst_times([lambda: big(xb), lambda: xb @ w.T + b])
    print(f"\nTiming (128, 1024) -> 1024 float32 on {get_num_threads()} "
          f"thread(s): linearc {t_linearc * 1e3:.3f} ms, numpy x @ W.T + b "
          f"{t_numpy * 1e3:.3f} ms per call; numpy/linearc "
          f"{t_numpy / t_linearc:.2f}x.")
    print(f"(Medians of 5 rounds of 20 calls; before each round the other "
          f"library's idle threads\n were given {_PAUSE_S} s to stop "
          f"spinning, so neither steals a core from the other.)")


if __name__ == "__main__":
    main()
