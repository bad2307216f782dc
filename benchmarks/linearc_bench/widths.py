"""The widths section: output widths a power of two (1024, 2048, 3072,
4096: rows of the result a multiple of 4 KiB apart) against the same widths
plus 16. Rows of C that far apart share L1 sets, and a GEMM whose speed
depends on that loses up to a sixth on real layer widths. The two widths of
a pair are timed in the same rounds, every contender on both, so that the
ratio of GFLOP/s, pow2 / pow2+16 (1.00: the width costs nothing; the
target is >= 0.97), compares timings from the same moments."""
from __future__ import annotations

from . import tables
from .cases import WIDTH_IN, WIDTH_PAIRS, WIDTH_ROWS, ForwardCase
from .contenders import FORWARD
from .measure import Bench, check
from .problem import make_problem
from .timing import make_loop, time_rounds


def _pair(bench: Bench, width: int, dtype: str) -> dict:
    problems = [make_problem(ForwardCase(f"({WIDTH_ROWS},{WIDTH_IN})->{n}",
                                         (WIDTH_ROWS, WIDTH_IN), n), dtype, bench.linearc)
                for n in (width, width + 16)]
    loops, wrong = {}, {}
    for c in bench.contenders:
        for tag, p in zip(("pow2", "wider"), problems):
            stmt = c.statement(p, FORWARD)
            if stmt is None:
                continue
            ns = c.namespace(p)
            message = check(c, stmt, ns, FORWARD, p)
            if message:
                wrong[c.name] = message
                continue
            loops[(c.name, tag)] = make_loop(stmt, ns)
    with bench.torch_no_grad():
        timed = time_rounds(loops, bench.budget)
    row = dict(width=width, dtype=dtype, rows=WIDTH_ROWS, in_features=WIDTH_IN,
               gflops={}, gflops_wider={}, ratio={}, wrong=wrong)
    for (name, tag), v in timed.items():
        p = problems[tag == "wider"]
        row["gflops" if tag == "pow2" else "gflops_wider"][name] = p.flops / v["median_s"] / 1e9
    for name in row["gflops"]:
        if name in row["gflops_wider"]:
            row["ratio"][name] = row["gflops"][name] / row["gflops_wider"][name]
    return row


def run_widths(bench: Bench, dtypes: list[str]) -> list[dict]:
    table = tables.widths(bench.names, bench.cpu)
    print("\n" + "\n".join(table.header()), flush=True)
    rows = []
    for dtype in dtypes:
        for width in WIDTH_PAIRS:
            rows.append(_pair(bench, width, dtype))
            print(table.line(rows[-1]), flush=True)
    return rows
