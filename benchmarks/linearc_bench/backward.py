"""Forward + backward of one layer: linearc (forward, then backward, which
returns grad_input and accumulates the weight and bias gradients) against
torch autograd (x.requires_grad, so grad_input is computed too) and numpy
doing the three products by hand. The gradients of one step are checked
against the float64 reference before timing.

Beside the step, linearc's forward and backward are timed apart, in the
same interleaved rounds: the backward's two products (grad_input and the
weight gradient) and the bias gradient against the forward's one product,
as GFLOP/s per product ("backward / forward" = 2 t_forward / t_backward;
1.0 is "backward at forward speed")."""
from __future__ import annotations

from . import tables
from .cases import BACKWARD_CASES
from .contenders import BACKWARD
from .measure import Bench, add_rates, make_row, measure
from .problem import make_problem
from .timing import make_loop, time_rounds


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
                                 threads=bench.threads,
                                 backward_vs_forward=_backward_vs_forward(
                                     bench, p)))
            print(table.line(rows[-1]), flush=True)
    return rows


def _backward_vs_forward(bench: Bench, p) -> float:
    """2 t_forward / t_backward for linearc on p: the backward's rate per
    product over the forward's."""
    ns = {"layer": p.layer, "x": p.x, "g": p.g}
    loops = {"forward": make_loop("_y = layer(x)", ns),
             "backward": make_loop("layer.zero_grad(); _gi = layer.backward(x, g)",
                                   ns)}
    t = time_rounds(loops, bench.budget)
    return 2 * t["forward"]["median_s"] / t["backward"]["median_s"]
