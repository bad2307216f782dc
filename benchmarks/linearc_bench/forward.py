"""The forward section, and the re-run of its large cases with
LINEARC_ISA=avx2 in a subprocess (linearc picks its kernels when it loads).

The subprocess times the same contenders again, interleaved, so that the
ratios against linearc-avx2 compare timings from the same moments.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from . import BENCH_PY, tables
from .cases import FORWARD_CASES
from .contenders import FORWARD
from .measure import Bench, add_rates, make_row, measure
from .probes import bandwidth_for, peak_for
from .problem import make_problem


def _weight_read(results: dict, weight_bytes: int, bandwidth) -> dict:
    """GB/s at which each contender reads the weight, and % of bandwidth."""
    out = {}
    for name, v in results.items():
        if "median_s" in v:
            gbs = weight_bytes / v["median_s"] / 1e9
            out[name] = {"gbs": gbs, "pct_bandwidth":
                         100 * gbs / bandwidth if bandwidth else None}
    return out


def forward_case(bench: Bench, case, dtype: str) -> dict:
    p = make_problem(case, dtype, bench.linearc)
    with bench.torch_no_grad():
        results = measure(bench, p, FORWARD)
    add_rates(results, p.flops,
              peak_for(bench.peaks, bench.isa, dtype, bench.threads))
    row = make_row(p, results, large=case.large,
                   weight_bound=case.weight_bound, isa=bench.isa,
                   threads=bench.threads)
    if case.weight_bound:
        row["weight_read"] = _weight_read(
            results, p.W.nbytes, bandwidth_for(bench.bandwidth,
                                               bench.threads))
    return row


def run_forward(bench: Bench, dtypes: list[str], large_only: bool,
                child: bool = False) -> list[dict]:
    table = tables.forward(bench.names, bench.cpu,
                           isa=bench.isa if child else "")
    print("\n" + "\n".join(table.header()), flush=True)
    rows = []
    for dtype in dtypes:
        for case in FORWARD_CASES:
            if case.large or not large_only:
                rows.append(forward_case(bench, case, dtype))
                print(table.line(rows[-1]), flush=True)
    weight_rows = [r for r in rows if r["weight_bound"]]
    if weight_rows and not child:
        print("\n" + "\n".join(tables.weight_read(
            bench.names, bench.cpu).render(weight_rows)), flush=True)
    return rows


def run_avx2_child(bench: Bench, dtypes: list[str], quick: bool) -> dict:
    """Time the large cases again with LINEARC_ISA=avx2; the child's
    report, or {"error": message}."""
    fd, path = tempfile.mkstemp(prefix="linearc-avx2-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, BENCH_PY, "--isa", "avx2", "--child-out", path,
           "--sections", "forward", "--large-only",
           "--contenders", ",".join(bench.names),
           "--threads", str(bench.threads), "--dtypes", ",".join(dtypes),
           "--settle", str(bench.budget.settle_s)] + \
        (["--quick"] if quick else [])
    print("\n== forward, large cases with LINEARC_ISA=avx2 (subprocess)",
          flush=True)
    try:
        proc = subprocess.run(cmd, check=False,
                              env=dict(os.environ, LINEARC_ISA="avx2"))
        if proc.returncode != 0:
            return {"error": f"subprocess exited with {proc.returncode}"}
        with open(path) as f:
            return json.load(f)
    finally:
        os.unlink(path)


def merge_avx2(bench: Bench, rows: list[dict], child: dict) -> str | None:
    """Attach the child's rows as row["avx2"], % of peak against the AVX2
    peak; returns why nothing was merged, if so."""
    if "error" in child:
        return f"AVX2 run failed: {child['error']}"
    if child.get("isa") != "avx2":
        return f"AVX2 run used isa {child.get('isa')!r}; not merged"
    by_key = {(r["case"], r["dtype"]): r for r in child.get("forward", [])}
    for row in rows:
        c = by_key.get((row["case"], row["dtype"]))
        if c is not None:
            add_rates(c["results"], c["flops"], peak_for(
                bench.peaks, "avx2", row["dtype"], bench.threads))
            row["avx2"] = c
    return None
