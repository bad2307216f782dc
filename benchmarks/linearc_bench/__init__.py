"""Benchmark linearc.Linear against NumPy, torch.nn.Linear and MKL's GEMM.

Run ``python benchmarks/bench.py --help`` (or ``python -m
benchmarks.linearc_bench`` from the repository root). Modules:

    cases.py       the shapes timed, as dataclasses
    problem.py     one case's arrays, and the accuracy check of a result
    contenders.py  linearc, numpy, torch and mkl: the statements timed
    mkl.py         MKL's cblas_?gemm through ctypes
    timing.py      timing loops, settling, rotation, medians
    measure.py     check, time and compare the contenders on one problem
    forward.py     the forward section and its LINEARC_ISA=avx2 re-run
    overhead.py    per-call overhead and resident memory over many calls
    backward.py    forward + backward against torch autograd and numpy
    widths.py      power-of-two output widths against 16 wider
    half.py        float16 and bfloat16 layers (--half), against float32,
                   numpy, ml_dtypes and torch
    probes.py      the FMA peak and read-bandwidth probes (C, built here)
    machine.py     what the numbers were measured on
    tables.py      the tables, for the console and the markdown report
    report.py      markdown and JSON files, and where they go
    chart.py       the PNG chart
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = os.path.dirname(HERE)
BENCH_PY = os.path.join(BENCHMARKS, "bench.py")
RESULTS = os.path.join(BENCHMARKS, "results")
