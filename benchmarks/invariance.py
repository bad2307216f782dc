#!/usr/bin/env python3
"""A row alone against the same row in a batch, for every library at hand.

    python benchmarks/invariance.py [--rows 256] [--features 1024] [--threads 2]

For a (rows, features) -> features layer in float32 and float64, counts the
rows i for which f(X)[i] differs, in any bit, from f(X[i:i+1])[0], for
linearc, NumPy (x @ W.T + b), torch.nn.Linear and MKL (cblas, bias pre-filled,
beta = 1), all with the same weights and thread count, in one run. The README
shows its output.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from linearc_bench import machine, mkl  # noqa: E402

import linearc  # noqa: E402


def with_mkl(lib, dtype):
    gemm = lib.gemm(dtype)

    def forward(x, w, b):
        m, k = x.shape
        n = w.shape[0]
        y = np.empty((m, n), dtype)
        y[...] = b
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
        gemm(mkl.ROW_MAJOR, mkl.NO_TRANS, mkl.TRANS, m, n, k, 1.0, x.ctypes.data, k,
             w.ctypes.data, k, 1.0, y.ctypes.data, n)
        return y
    return forward


def contenders(threads, dtype):
    found = {"linearc": None,
             "numpy": lambda x, w, b: x @ w.T + b}
    try:
        import torch
        torch.set_num_threads(threads)

        def with_torch(x, w, b):
            with torch.no_grad():
                return torch.nn.functional.linear(
                    torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)).numpy()
        found["torch"] = with_torch
    except ImportError:
        pass
    lib = mkl.load()
    if lib is not None:
        lib.set_num_threads(threads)
        found["mkl"] = with_mkl(lib, dtype)
    return found


def count_differing_rows(fn, x, w, b):
    batch = fn(x, w, b)
    alone = np.stack([fn(x[i:i + 1], w, b)[0] for i in range(len(x))])
    rows = batch.view(np.uint8).reshape(len(x), -1) != alone.view(np.uint8).reshape(len(x), -1)
    return int(rows.any(axis=1).sum())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--features", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    linearc.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads, user_api="blas")
    except ImportError:
        pass
    cpu = machine.cpu_identity()
    print(f"CPU: {cpu['label']}; "
          f"{args.threads} threads; a ({args.rows}, {args.features}) -> "
          f"{args.features} layer; rows whose result differs from the row computed alone:")
    print("| library | float32 | float64 |")
    print("|---|---:|---:|")
    results = {}
    for dtype in ("float32", "float64"):
        layer = linearc.Linear(args.features, args.features, dtype=dtype, seed=0)
        w, b = np.ascontiguousarray(layer.weight), np.array(layer.bias)
        x = np.random.default_rng(0).standard_normal((args.rows, args.features)).astype(dtype)
        for name, fn in contenders(args.threads, dtype).items():
            fn = fn or (lambda x, w, b, layer=layer: layer(x))
            results.setdefault(name, {})[dtype] = count_differing_rows(fn, x, w, b)
    for name, counts in results.items():
        print(f"| {name} | {counts['float32']} of {args.rows} | {counts['float64']} of "
              f"{args.rows} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
