"""One bench run: set the contenders up, probe the machine, run the
sections, write the results. The AVX2 subprocess (--child-out) runs the
forward section only and hands its rows back as JSON."""
from __future__ import annotations

import datetime
import json
import os
import sys
import time

import linearc

from . import machine, probes, report
from .backward import run_backward
from .cases import MEMORY_CASE
from .contenders import make_contenders
from .forward import merge_avx2, run_avx2_child, run_forward
from .half import run_half
from .measure import Bench
from .overhead import run_memory, run_overhead
from .timing import Budget
from .widths import run_widths


def setup(args, dropped: dict) -> tuple[Bench, dict]:
    """The Bench (active contenders only) and the machine description."""
    threads = args.threads or linearc.get_num_threads()
    contenders = make_contenders(args.contenders, linearc, threads)
    info = machine.machine_info(contenders, threads, dropped)
    bench = Bench(contenders=[c for c in contenders if not c.skip_reason],
                  budget=Budget.make(args.quick, args.settle),
                  threads=threads, linearc=linearc,
                  isa=linearc.get_config()["isa"], cpu=info["cpu"]["label"])
    return bench, info


def _avx2_wanted(args, bench: Bench) -> bool:
    supported = bench.linearc.get_config()["isa_supported"]
    return (args.child_out is None and not args.no_avx2
            and "avx2" in supported and bench.isa != "avx2")


def run_sections(args, bench: Bench, rep: dict) -> None:
    if "forward" in args.sections:
        rep["forward"] = run_forward(bench, args.dtypes, args.large_only,
                                     child=args.child_out is not None)
        if _avx2_wanted(args, bench):
            child = run_avx2_child(bench, args.dtypes, args.quick)
            note = merge_avx2(bench, rep["forward"], child)
            rep["avx2_run"] = {"isa": child.get("isa"), "note": note}
            if note:
                print(note)
    if "overhead" in args.sections:
        rep["overhead"] = run_overhead(bench, args.dtypes)
        rep["memory"] = run_memory(bench.linearc, bench.budget)
        rep["memory_case"] = MEMORY_CASE.name
    if "backward" in args.sections:
        rep["backward"] = run_backward(bench, args.dtypes)
    if "widths" in args.sections:
        rep["widths"] = run_widths(bench, args.dtypes)
    if "half" in args.sections:
        rep["half"] = run_half(bench)


def _start(args, bench: Bench, info: dict) -> dict:
    """Print what runs where, probe the machine; the report so far."""
    if args.child_out is None:
        print("== machine\n" + "\n".join(machine.describe(info)))
        print(bench.budget.fairness())
        peaks, bandwidth = probes.measure(bench.threads, bench.budget.peak_s)
        print("\n".join(probes.describe(peaks, bandwidth)), flush=True)
    else:
        print(f"[avx2 subprocess] isa {bench.isa}, {bench.threads} threads")
        peaks = bandwidth = {"error": "not measured in the subprocess"}
    bench.peaks, bench.bandwidth = peaks, bandwidth
    return {"timestamp": datetime.datetime.now().isoformat(
                timespec="seconds"),
            "argv": sys.argv, "mode": "quick" if args.quick else "full",
            "isa": bench.isa, "contenders": bench.names,
            "fairness": bench.budget.fairness(), "machine": info,
            "peaks": peaks, "bandwidth": bandwidth}


def run(args, dropped: dict) -> int:
    bench, info = setup(args, dropped)
    rep = _start(args, bench, info)
    started = time.perf_counter()
    run_sections(args, bench, rep)
    rep["elapsed_s"] = time.perf_counter() - started
    rep["loadavg_end"] = list(os.getloadavg())
    if args.child_out is not None:
        with open(args.child_out, "w") as f:
            json.dump(rep, f)
        return 0
    folder, written = report.write(rep, args.out)
    print("\n" + report.markdown(rep))
    print(f"wrote {folder}/: {', '.join(written)}; "
          f"{rep['elapsed_s']:.0f} s")
    return 0
