"""Benchmark linearc.Linear against NumPy, torch.nn.Linear and MKL.

The code lives in benchmarks/linearc_bench/; `python benchmarks/bench.py
--help` lists the options.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from linearc_bench.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
