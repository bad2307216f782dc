"""Per-call overhead on tiny shapes, with and without out=, and the
resident memory across many calls (leaks show up there)."""
from __future__ import annotations

import gc
import os

import numpy as np

from . import tables
from .cases import MEMORY_CASE, OVERHEAD_CASES
from .contenders import FORWARD, FORWARD_OUT
from .measure import Bench, make_row, measure
from .problem import make_problem
from .timing import Budget, make_loop


def run_overhead(bench: Bench, dtypes: list[str]) -> list[dict]:
    table = tables.overhead(bench.names, bench.cpu)
    print("\n" + "\n".join(table.header()), flush=True)
    rows = []
    for dtype in dtypes:
        for case in OVERHEAD_CASES:
            p = make_problem(case, dtype, bench.linearc)
            for with_out in (False, True):
                with bench.torch_no_grad():
                    results = measure(bench, p,
                                      FORWARD_OUT if with_out else FORWARD,
                                      min_inner=1000)
                rows.append(make_row(p, results, with_out=with_out))
                print(table.line(rows[-1]), flush=True)
    return rows


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_memory(linearc, budget: Budget) -> dict:
    """RSS before and after many calls of the founding example."""
    import resource
    n, case = budget.memory_calls, MEMORY_CASE
    print(f"\n== memory: {n} calls of {case.name}", flush=True)
    layer = linearc.Linear(case.in_features, case.out_features,
                           bias=case.bias, seed=0)
    x = np.random.default_rng(0).standard_normal(case.input_shape).astype(
        np.float32)
    y = np.empty(case.output_shape, np.float32)
    out = {}
    for stmt in ("layer(x)", "layer(x, out=y)"):
        loop = make_loop(stmt, {"layer": layer, "x": x, "y": y})
        loop(1000)  # reach steady state (buffers, freelists) first
        gc.collect()
        before = rss_bytes()
        elapsed = loop(n) / 1e9
        gc.collect()
        after = rss_bytes()
        out[stmt] = {"calls": n, "rss_before": before, "rss_after": after,
                     "rss_delta": after - before, "seconds": elapsed}
        print(memory_line(case.name, stmt, out[stmt]), flush=True)
    out["ru_maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ws = getattr(getattr(linearc, "_linearc", None), "_workspace_bytes", None)
    if ws is not None:
        out["workspace_bytes"] = ws()
    return out


def memory_line(case_name: str, stmt: str, v: dict) -> str:
    return (f"Memory, {v['calls']} calls of `{stmt}` ({case_name}): RSS "
            f"{v['rss_before'] / 2**20:.1f} -> {v['rss_after'] / 2**20:.1f} "
            f"MiB ({v['rss_delta'] / 2**10:+.0f} KiB) in "
            f"{v['seconds']:.2f} s.")
