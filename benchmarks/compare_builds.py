#!/usr/bin/env python3
"""Time two builds of linearc against each other, interleaved, in one run.

    python benchmarks/compare_builds.py --baseline DIR [--rounds 7] [--large] [--isa ISA]
    python benchmarks/compare_builds.py --untuned-baseline [--large]

DIR is the `src` folder of another linearc checkout with its extension built
in place (`git worktree add /tmp/base <commit> && cd /tmp/base &&
python setup.py build_ext --inplace`, then DIR=/tmp/base/src). Each round
runs one fresh process per build, alternating which goes first; a process
times every case in bursts (a warm-up, then the median of a burst) after a
pause that lets idle threads fall asleep. The report gives the median over
rounds of each build's time per call and the ratio this/baseline (below 1:
this build is faster). This is how the per-call and GEMV limits of a change
are checked ("within 10% / 5% of before"). With --untuned-baseline both
sides are this build, the baseline with LINEARC_TUNING=off: the tuner's
values (`python -m linearc tune`) against the cache model's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

# name, input shape, out_features, dtype, with out=
CASES = [
    ("founding (32,3,4)->2", (32, 3, 4), 2, "float32", False),
    ("(1,64)->64", (1, 64), 64, "float32", False),
    ("(1,64)->64 out=", (1, 64), 64, "float32", True),
    ("(16,128)->128", (16, 128), 128, "float32", False),
    ("founding (32,3,4)->2", (32, 3, 4), 2, "float64", False),
    ("(1,64)->64", (1, 64), 64, "float64", False),
    ("GEMV (1,4096)->4096", (1, 4096), 4096, "float32", False),
    ("GEMV (1,4096)->4096", (1, 4096), 4096, "float64", False),
]

# --large: the shapes whose speed is the GEMM's, not the call's.
LARGE = [
    ("small (64,256)->256", (64, 256), 256, "float64", False),
    ("tall-skinny (100000,64)->64", (100000, 64), 64, "float32", False),
    ("tall-skinny (100000,64)->64", (100000, 64), 64, "float64", False),
    ("medium (256,1024)->1024", (256, 1024), 1024, "float32", False),
    ("medium (256,1024)->1024", (256, 1024), 1024, "float64", False),
    ("MLP (8,512,768)->3072", (8, 512, 768), 3072, "float32", False),
    ("MLP (8,512,768)->3072", (8, 512, 768), 3072, "float64", False),
    ("square (2048,2048)->2048", (2048, 2048), 2048, "float32", False),
    ("square (2048,2048)->2048", (2048, 2048), 2048, "float64", False),
]

CHILD = r"""
import json, statistics, sys, time
import numpy as np
import linearc

cases = json.loads(sys.argv[1])
result = []
for name, shape, n, dtype, with_out in cases:
    layer = linearc.Linear(shape[-1], n, bias=name[:8] != "founding", dtype=dtype, seed=0)
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    out = layer(x)
    call = (lambda: layer(x, out=out)) if with_out else (lambda: layer(x))
    time.sleep(0.25)
    call()
    per = []
    for _ in range(15):
        start = time.perf_counter()
        count = 0
        while time.perf_counter() - start < 0.02 or count == 0:
            call()
            count += 1
        per.append((time.perf_counter() - start) / count)
    result.append(statistics.median(per))
print(json.dumps({"file": linearc.__file__, "times": result}))
"""


def run(src: str | None, cases, untuned: bool = False) -> list[float]:
    env = dict(os.environ)
    if untuned:
        env["LINEARC_TUNING"] = "off"
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cases)], env=env,
                          capture_output=True, text=True, check=True, timeout=600)
    return json.loads(proc.stdout.splitlines()[-1])["times"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--baseline", help="src folder of the other build")
    which.add_argument("--untuned-baseline", action="store_true",
                       help="baseline: this build with LINEARC_TUNING=off")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--large", action="store_true",
                    help="time the GEMM-bound shapes instead of the per-call ones")
    ap.add_argument("--isa", choices=("avx512", "avx2", "generic"),
                    help="LINEARC_ISA for both builds")
    args = ap.parse_args()
    cases = LARGE if args.large else CASES
    if args.isa:
        os.environ["LINEARC_ISA"] = args.isa
    times = {"this": [], "baseline": []}
    for r in range(args.rounds):
        order = ("this", "baseline") if r % 2 == 0 else ("baseline", "this")
        for which in order:
            base = which == "baseline"
            times[which].append(run(args.baseline if base else None, cases,
                                    untuned=base and args.untuned_baseline))
    print(f"{'case':<28} {'dtype':<8} {'this':>11} {'baseline':>11} {'this/baseline':>14}")
    for i, (name, _, _, dtype, _) in enumerate(cases):
        mine = statistics.median(t[i] for t in times["this"])
        base = statistics.median(t[i] for t in times["baseline"])
        print(f"{name:<28} {dtype:<8} {mine * 1e6:9.2f}us {base * 1e6:9.2f}us "
              f"{mine / base:13.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
