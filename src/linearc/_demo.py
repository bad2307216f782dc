"""The walk-through this project started from, run by ``python -m linearc``.

A Linear(4, 2) on a (32, 3, 4) input: which shapes it goes through, how
many parameters and multiply-accumulates that takes, then one timing
against NumPy's ``x @ W.T + b`` on a bigger layer, both libraries on the
same number of threads (``python -m linearc --help`` lists the options).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ._counting import summary
from ._linearc import Linear, get_num_threads, set_num_threads

# Idle OpenMP and OpenBLAS workers keep spinning for up to ~0.1 s after a
# call and take a core from whoever runs next; on a 2-core machine that turns
# a fair comparison into a 3x "loss". Each contender is therefore timed in
# bursts, each burst after a pause long enough for every pool to fall asleep.
_PAUSE_S = 0.25
_CALLS = 20
_MAX_THREADS = 256  # what set_num_threads accepts
# Variables that set the thread count of the BLAS NumPy may be built on.
_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
DTYPES = ("float32", "float64", "float16", "bfloat16")


def _burst_times(funcs: list[Callable[[], object]], rounds: int = 5,
                 calls: int = _CALLS) -> list[float]:
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


def ratio_text(t_linearc: float, t_numpy: float) -> str:
    """'linearc is 1.21x faster than NumPy' (or 'slower'), from the two
    times per call."""
    if t_linearc <= t_numpy:
        return f"linearc is {t_numpy / t_linearc:.2f}x faster than NumPy"
    return f"linearc is {t_linearc / t_numpy:.2f}x slower than NumPy"


def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an int in low..high."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an integer") from None
        if not low <= n <= high:
            raise argparse.ArgumentTypeError(f"{n} is not in {low}..{high}")
        return n
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m linearc",
        description=(
            "The walk-through linearc started from: Linear(4, 2) on a "
            "(32, 3, 4) input, the shapes it goes through, its parameters "
            "and MACs; then linearc timed against NumPy's x @ W.T + b on a "
            "(128, 1024) -> 1024 layer, both libraries on the same number of "
            "threads when threadpoolctl is installed (otherwise each "
            "library's thread count is stated)."),
        epilog=("python -m linearc tune measures this machine's block sizes for "
                "linearc's GEMM in about a minute and keeps them for later "
                "imports (python -m linearc tune --help)."))
    parser.add_argument(
        "--threads", type=_int_in(1, _MAX_THREADS), metavar="N",
        help=("threads for linearc and NumPy's BLAS in the timing, 1 to "
              f"{_MAX_THREADS} (default: the smaller of the two libraries' "
              "current counts, so a limit such as OPENBLAS_NUM_THREADS=1 or "
              "OMP_NUM_THREADS=1 applies to both)"))
    parser.add_argument(
        "--repeat", type=_int_in(1, 1000), default=5, metavar="N",
        help=(f"timing rounds of {_CALLS} calls per library, 1 to 1000 "
              "(default 5); the median call is reported"))
    parser.add_argument("--no-timing", action="store_true",
                        help="print the walk-through only")
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float32",
        help=("the layers' dtype (default float32); float16 and bfloat16 "
              "layers store half the bytes and compute in float32, and NumPy, "
              "which has no fast product of either, is timed in float32 on "
              "the same values; bfloat16 needs ml_dtypes "
              '(pip install "linearc[bfloat16]")'))
    return parser


@dataclass
class _Threads:
    """The thread counts the timing runs on, as they can be told."""

    linearc: int
    numpy: int | None  # None: unknown (no threadpoolctl)
    numpy_note: str  # how NumPy's count is known, for the unknown case

    def text(self) -> str:
        if self.numpy == self.linearc:
            return f"linearc and NumPy both on {self.linearc} thread(s)"
        if self.numpy is not None:
            return (f"linearc on {self.linearc} thread(s), NumPy on "
                    f"{self.numpy}")
        return f"linearc on {self.linearc} thread(s), NumPy {self.numpy_note}"


@contextlib.contextmanager
def _same_threads(requested: int | None) -> Iterator[_Threads]:
    """Run both libraries on one thread count while the block runs.

    With threadpoolctl, NumPy's BLAS and OpenMP (which linearc follows) are
    limited to `requested`, or to the smaller of their current counts; the
    limits are lifted afterwards. Without it, NumPy's count cannot be read
    or set: linearc runs on `requested` (or its current count) and the
    result says what is known of NumPy's.
    """
    try:  # an optional tool, not a dependency of linearc
        tpc = importlib.import_module("threadpoolctl")
    except ImportError:
        tpc = None
    if tpc is None:
        if requested is not None:
            set_num_threads(requested)
        try:
            set_vars = [f"{name}={os.environ[name]}" for name in _BLAS_ENV
                        if name in os.environ]
            note = ("on a thread count that cannot be read without "
                    "threadpoolctl" + (f" ({', '.join(set_vars)})"
                                       if set_vars else
                                       " (its default: usually one per core)"))
            yield _Threads(get_num_threads(), None, note)
        finally:
            if requested is not None:
                set_num_threads(None)
        return

    blas = [lib["num_threads"] for lib in tpc.threadpool_info()
            if lib["user_api"] == "blas"]
    n = requested
    if n is None:
        n = min([get_num_threads()] + blas)
    with tpc.threadpool_limits(limits=n):
        blas_now = {lib["num_threads"] for lib in tpc.threadpool_info()
                    if lib["user_api"] == "blas"}
        numpy_n = blas_now.pop() if len(blas_now) == 1 else None
        note = ("with no BLAS threadpoolctl can see" if not blas else
                "on several BLAS libraries")
        yield _Threads(get_num_threads(), numpy_n, note)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the walk-through; argv as on the command line (default sys.argv)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        layer = Linear(4, 2, bias=False, dtype=args.dtype, seed=0)
    except ImportError as error:  # bfloat16 without ml_dtypes
        parser.error(str(error))
    dtype = layer.dtype
    x = np.random.default_rng(0).standard_normal((32, 3, 4)).astype(dtype)

    print("nn.Linear transforms only the last dimension:")
    print(f"  {layer!r} on an input of shape {x.shape}\n")
    print(summary(layer, x))
    print()
    rows = x.shape[0] * x.shape[1]
    print(f"The weight {layer.weight.shape} is shared by every leading "
          f"position, so the layer has {layer.num_parameters} parameters.")
    print(f"Each of the {x.shape[0]}*{x.shape[1]} = {rows} positions costs "
          f"{layer.in_features}*{layer.out_features} multiply-accumulates: "
          f"{x.shape[0]}*{x.shape[1]}*({layer.in_features}*"
          f"{layer.out_features}) = {layer.macs(x)} MACs.")
    out_shape = x.shape[:-1] + (layer.out_features,)
    print(f"Shapes: x {x.shape} -> viewed as {(rows, layer.in_features)} "
          f"-> times weight.T {layer.weight.T.shape} -> "
          f"{(rows, layer.out_features)} -> {out_shape}")

    y = layer(x)
    print(f"Running it: layer(x).shape = {y.shape}")
    if args.no_timing:
        return

    # One timing line on a layer big enough for the GEMM to matter.
    big = Linear(1024, 1024, dtype=dtype, seed=0)
    xb = np.random.default_rng(1).standard_normal((128, 1024)).astype(dtype)
    # NumPy's float16 product is a slow scalar loop and it has no bfloat16
    # of its own: for a half layer it computes in float32, on the same values.
    half = dtype.itemsize == 2
    numpy_dtype = np.dtype(np.float32) if half else dtype
    xn = xb.astype(numpy_dtype)
    w = big.weight.astype(numpy_dtype)
    b = big.state_dict()["bias"].astype(numpy_dtype)
    with _same_threads(args.threads) as threads:
        t_linearc, t_numpy = _burst_times(
            [lambda: big(xb), lambda: xn @ w.T + b], rounds=args.repeat)
    note = (f" (in float32: NumPy has no fast {dtype.name} product)"
            if half else "")
    print(f"\nTiming (128, 1024) -> 1024 {dtype.name}, {threads.text()}: linearc "
          f"{t_linearc * 1e3:.3f} ms, numpy x @ W.T + b {t_numpy * 1e3:.3f} ms "
          f"per call{note}; {ratio_text(t_linearc, t_numpy)}.")
    print(f"(Medians of {args.repeat} round(s) of {_CALLS} calls; before each "
          f"round the other library's idle threads\n were given {_PAUSE_S} s "
          f"to stop spinning, so neither steals a core from the other.)")


if __name__ == "__main__":
    main()
