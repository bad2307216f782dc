"""Timing loops and the fair schedule: settle, warm up, burst, rotate.

Before each burst of a contender the bench sleeps `settle_s` (0.25 s), so
that the idle worker threads of whoever ran before have stopped spinning
(OpenBLAS spins about 100 ms after a call, libgomp and MKL's libiomp5 spin
too) and do not steal a core from it; then it makes one warm-up call and
times a burst of calls. The order of the contenders rotates every round,
and the medians over the rounds are reported, so every contender sees the
same moments of a possibly busy machine.
"""
from __future__ import annotations

import contextlib
import gc
import math
import time
from dataclasses import dataclass


@dataclass
class Budget:
    """How long to time, for full and --quick runs."""

    quick: bool
    settle_s: float = 0.25  # sleep before each burst
    burst_s: float = 0.1  # one timed burst lasts about this long
    rounds: int = 9  # bursts per contender; the median is reported
    peak_s: float = 1.0  # budget of one peak_probe run
    memory_calls: int = 10**6

    def fairness(self) -> str:
        """The schedule, in words, for the report header."""
        return (f"Fairness: same thread count for every contender; each "
                f"result checked against a float64 reference before "
                f"timing; before each burst a {self.settle_s:g} s sleep (so "
                f"the previous contender's idle threads stop spinning), one "
                f"warm-up call, then a burst of about "
                f"{self.burst_s * 1e3:g} ms; the order of the contenders "
                f"rotates every round; medians over {self.rounds} rounds.")

    @classmethod
    def make(cls, quick: bool, settle_s: float = 0.25) -> Budget:
        if quick:
            return cls(True, settle_s, burst_s=0.02, rounds=3, peak_s=0.3,
                       memory_calls=10**5)
        return cls(False, settle_s)


def make_loop(stmt: str, namespace: dict):
    """Compile `for _ in range(n): <stmt>` with the names bound as locals.

    The loop returns its duration in ns. Timing a statement inline (as
    timeit does) avoids the ~50 ns of a function call per iteration, which
    matters for the 1 us calls of the overhead section.
    """
    names = sorted(namespace)
    params = "".join(f", {n}={n}" for n in names)
    src = (f"def _loop(_n, _clock=_clock{params}):\n"
           f"    _t0 = _clock()\n"
           f"    for _ in range(_n):\n"
           f"        {stmt}\n"
           f"    return _clock() - _t0\n")
    scope = dict(namespace, _clock=time.perf_counter_ns)
    exec(compile(src, f"<bench {stmt[:40]}>", "exec"), scope)  # noqa: S102
    return scope["_loop"]


def per_call_estimate(loop) -> float:
    """Seconds per call, rough: grow the count until a loop lasts 1 ms."""
    first = loop(1) / 1e9  # also first-touches pages and wakes pools
    if first >= 0.05:
        return first
    n, t = 1, loop(1) / 1e9
    while t < 1e-3 and n < 10**7:
        n *= 4
        t = loop(n) / 1e9
    return t / n


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


@contextlib.contextmanager
def gc_paused():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_rounds(loops: dict, budget: Budget, *, min_inner: int = 1) -> dict:
    """Time each loop in rounds; returns {name: timing}, seconds per call.

    A timing is {"median_s", "min_s", "samples_s", "inner"}: inner calls
    per burst, one sample per round.
    """
    if not loops:
        return {}
    inner = {name: max(min_inner, math.ceil(
                 budget.burst_s / per_call_estimate(loop)))
             for name, loop in loops.items()}
    samples = {name: [] for name in loops}
    names = list(loops)
    with gc_paused():
        for r in range(budget.rounds):
            # rotate the order so no contender always follows the same one
            for name in names[r % len(names):] + names[:r % len(names)]:
                time.sleep(budget.settle_s)
                loops[name](1)  # warm-up
                n = inner[name]
                samples[name].append(loops[name](n) / 1e9 / n)
    return {name: {"median_s": median(v), "min_s": min(v), "samples_s": v,
                   "inner": inner[name]}
            for name, v in samples.items()}


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"
