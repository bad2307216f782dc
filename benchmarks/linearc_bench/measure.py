"""Check, time and compare the contenders on one problem.

Every contender's result is checked against the float64 reference before
it is timed; one that fails is reported as wrong (its message is kept) and
not timed. Ratios are always other time / linearc time: > 1 means linearc
is faster. "best rival" is the fastest of the others (numpy, torch, mkl).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from .contenders import BACKWARD, FORWARD, Contender
from .problem import Problem, check_backward, check_forward
from .timing import Budget, make_loop, time_rounds


@dataclass
class Bench:
    """What the sections share."""

    contenders: list[Contender]
    budget: Budget
    threads: int
    linearc: object
    isa: str  # the kernel set linearc uses in this process
    cpu: str  # the CPU model, named in every table
    peaks: dict = field(default_factory=dict)
    bandwidth: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.contenders]

    def names_for(self, kind: str) -> list[str]:
        return [c.name for c in self.contenders if kind in c.kinds]

    def torch_no_grad(self):
        """torch.no_grad() if torch is a contender, else a null context."""
        for c in self.contenders:
            if c.name == "torch":
                return c.torch.no_grad()
        return contextlib.nullcontext()


def _run_once(c: Contender, stmt: str, ns: dict, kind: str):
    scope = dict(ns)
    exec(stmt, scope)  # noqa: S102 (the statements are the bench's own)
    if kind == BACKWARD:
        return tuple(None if v is None else c.to_array(v)
                     for v in c.grads(scope))
    return c.to_array(scope["_y" if kind == FORWARD else c.out_name])


def check(c: Contender, stmt: str, ns: dict, kind: str,
          p: Problem) -> str | None:
    """None if the contender's result is right, else what is wrong."""
    try:
        value = _run_once(c, stmt, ns, kind)
    except Exception as e:  # noqa: BLE001 (a contender that raises is wrong)
        return f"raised {type(e).__name__}: {e}"
    if kind == BACKWARD:
        return check_backward(value, p)
    return check_forward(value, p)


def measure(bench: Bench, p: Problem, kind: str, *,
            min_inner: int = 1) -> dict:
    """{name: timing, or {"wrong": message}} for the contenders that run
    `kind` on p."""
    loops, results = {}, {}
    for c in bench.contenders:
        stmt = c.statement(p, kind)
        if stmt is None:
            continue
        ns = c.namespace(p)
        wrong = check(c, stmt, ns, kind, p)
        if wrong:
            print(f"WRONG {c.name} on {p.case.name} {p.dtype} ({kind}): "
                  f"{wrong}", flush=True)
            results[c.name] = {"wrong": wrong}
            continue
        loops[c.name] = make_loop(stmt, ns)
    results.update(time_rounds(loops, bench.budget, min_inner=min_inner))
    return results


def ratios(results: dict) -> tuple[dict, str | None]:
    """({"numpy/linearc": ..., "best rival/linearc": ...}, best rival)."""
    lin = results.get("linearc", {}).get("median_s")
    rivals = {k: v["median_s"] for k, v in results.items()
              if k != "linearc" and "median_s" in v}
    if not lin or not rivals:
        return {}, None
    out = {f"{k}/linearc": t / lin for k, t in rivals.items()}
    best = min(rivals, key=rivals.get)
    out["best rival/linearc"] = rivals[best] / lin
    return out, best


def add_rates(results: dict, flops: int, peak: float | None) -> None:
    """GFLOP/s (and % of the FMA peak, when known) of every timing."""
    for v in results.values():
        if "median_s" in v:
            v["gflops"] = flops / v["median_s"] / 1e9
            v["pct_peak"] = 100 * v["gflops"] / peak if peak else None


def make_row(p: Problem, results: dict, flops: int | None = None,
             **extra) -> dict:
    """The JSON row of one case: its shape, the timings and the ratios."""
    rat, best = ratios(results)
    return dict(case=p.case.name, dtype=p.dtype,
                shape=list(p.case.input_shape),
                out_features=p.case.out_features, bias=p.case.bias,
                flops=flops or p.flops, results=results, ratios=rat,
                best_rival=best, **extra)
