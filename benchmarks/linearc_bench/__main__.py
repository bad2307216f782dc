"""Benchmark linearc.Linear against NumPy, torch.nn.Linear and MKL.

Usage (from the repository root):
    python benchmarks/bench.py [--quick] [--sections forward,overhead,backward]
        [--threads N] [--out DIR] [--dtypes float32,float64]
        [--contenders linearc,numpy,torch,mkl] [--isa avx512|avx2|generic]
        [--no-avx2] [--large-only] [--settle SECONDS] [--half]
    python -m benchmarks.linearc_bench [the same options]

Sections:
    forward   small to large shapes, float32 and float64: time, GFLOP/s, %
              of the measured FMA peak, GB/s of the weight read for GEMV;
              the large cases again with LINEARC_ISA=avx2 (a subprocess).
    overhead  per-call cost on tiny shapes, with and without out=, and the
              resident memory across 10**6 calls.
    backward  forward + backward of one layer against torch autograd and
              numpy doing the three products by hand.
    widths    output widths 1024-4096 (rows of the result a power of two
              apart) against 16 wider: GFLOP/s of every contender, ratio.
    half      (--half; not in the default run) linearc float16 and bfloat16
              layers against linearc float32, NumPy float16 and ml_dtypes
              bfloat16 matmuls, torch float16 and bfloat16 nn.Linear.

Every ratio is other time / linearc time: > 1 means linearc is faster.
Results go to DIR/<cpu slug>/ (DIR defaults to benchmarks/results):
bench-<timestamp>.json, latest.json, latest.md and latest.png.
"""
from __future__ import annotations

import argparse
import sys

from . import RESULTS
from .machine import prepare_environment

SECTIONS = ("forward", "overhead", "backward", "widths", "half")
# half is left out of the default run: NumPy's float16 matmul alone takes
# about half a minute on the large cases (--half adds it)
DEFAULT_SECTIONS = ("forward", "overhead", "backward", "widths")
CONTENDERS = ("linearc", "numpy", "torch", "mkl")


def _list(text: str) -> list[str]:
    return [s for s in text.split(",") if s]


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--quick", action="store_true",
                    help="short budgets (a smoke run, noisier numbers)")
    ap.add_argument("--sections", type=_list, default=list(DEFAULT_SECTIONS),
                    help="comma list of " + ", ".join(SECTIONS)
                    + " (default: all but half)")
    ap.add_argument("--half", action="store_true",
                    help="add the half section (float16 and bfloat16 layers)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for every contender "
                    "(default linearc.get_num_threads())")
    ap.add_argument("--out", default=RESULTS,
                    help="results root; a run writes DIR/<cpu slug>/")
    ap.add_argument("--dtypes", type=_list, default=["float32", "float64"])
    ap.add_argument("--contenders", type=_list, default=list(CONTENDERS),
                    help="comma list of " + ", ".join(CONTENDERS)
                    + " (linearc is always timed: the ratios need it)")
    ap.add_argument("--isa", choices=("avx512", "avx2", "generic"),
                    help="run linearc with LINEARC_ISA set to this")
    ap.add_argument("--no-avx2", action="store_true",
                    help="skip the LINEARC_ISA=avx2 re-run of large cases")
    ap.add_argument("--large-only", action="store_true",
                    help="only the large forward cases")
    ap.add_argument("--settle", type=float, default=0.25,
                    help="seconds of sleep before each timed burst")
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for name, given, known in (("sections", args.sections, SECTIONS),
                               ("dtypes", args.dtypes,
                                ("float32", "float64")),
                               ("contenders", args.contenders, CONTENDERS)):
        if set(given) - set(known):
            ap.error(f"unknown {name} {sorted(set(given) - set(known))}; "
                     f"known: {', '.join(known)}")
    if args.half and "half" not in args.sections:
        args.sections.append("half")
    if "linearc" not in args.contenders:
        args.contenders.insert(0, "linearc")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # before numpy, linearc or torch load: their pools read the environment
    dropped = prepare_environment(args.isa)
    from .run import run
    return run(args, dropped)


if __name__ == "__main__":
    sys.exit(main())
