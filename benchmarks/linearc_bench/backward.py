"""Forward + backward of one layer: linearc (forward, then backward, which
returns grad_input and accumulates the weight and bias gradients) against
torch autograd (x.requires_grad, so grad_input is computed too) and numpy
doing the three products by hand. The gradients of one step are checked
against the float64 reference before timing."""
from __future__ import annotations

from . import tables
from .cases import BACKWARD_CASES
from .contenders import BACKWARD
from .measure import Bench, add_rates, make_row, measure
from .problem import make_problem


def run_backward(bench: Bench, dtypes: list[str]) -> list[dict]:
    names = bench.names_for(BACKWARD)
    table = tables.backward(names, bench.cpu)
    print("\n" + "\n".join(table.header()), flush=True)
    rows = []
    for dtype in dtypes:
        for case in BACKWARD_CASES:
            p = make_problem(case, dtype, bench.linearc, grad=True)
            results = measure(bench, p, BACKWARD)
            add_rates(results, 3 * p.flops, None)  # three products
            rows.append(make_row(p, results, flops=3 * p.flops,
                                 threads=bench.threads))
            print(table.line(rows[-1]), flush=True)
    return rows
