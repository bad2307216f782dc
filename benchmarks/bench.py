#!/usr/bin/env python3
"""Benchmark linearc.Linear against NumPy and torch.nn.Linear.

Usage:
    python benchmarks/bench.py [--quick] [--sections forward,overhead,backward]
                               [--threads N] [--out benchmarks/results]

Sections:
    forward   throughput on small to large shapes, float32 and float64, with
              GFLOP/s, % of the measured FMA peak and time ratios
              (numpy/linearc, torch/linearc: > 1 means linearc is faster);
              the large cases are re-run with LINEARC_ISA=avx2 in a subprocess.
    overhead  per-call cost on tiny shapes, with and without out=, and the
              resident memory across 10**6 calls (ratios linearc/other here:
              the targets are <= 0.5 against numpy and <= 0.3 against torch).
    backward  forward + backward of one layer against torch autograd.

Contenders are timed interleaved (round-robin inside every repetition) and
the medians of repeated samples are reported, so the ratios come from the same
moments of a possibly busy machine. Outputs go to --out:
bench-<timestamp>.json, latest.json, latest.md (the tables printed at the
end) and latest.png.
The peak comes from peak_probe.c, compiled at run time with the system cc.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REEXEC_MARK = "LINEARC_BENCH_UNSET_OPENBLAS"

# name, input shape, out_features, bias, large (also timed with AVX2)
FORWARD_CASES = [
    ("founding (32,3,4)->2", (32, 3, 4), 2, False, False),
    ("small (64,256)->256", (64, 256), 256, True, False),
    ("medium (256,1024)->1024", (256, 1024), 1024, True, True),
    ("MLP (8,512,768)->3072", (8, 512, 768), 3072, True, True),
    ("square (4096,4096)->4096", (4096, 4096), 4096, True, True),
    ("GEMV (1,4096)->4096", (1, 4096), 4096, True, False),
    ("tall-skinny (100000,64)->64", (100000, 64), 64, True, True),
]
OVERHEAD_CASES = [
    ("founding (32,3,4)->2", (32, 3, 4), 2, False),
    ("(1,64)->64", (1, 64), 64, True),
    ("(16,128)->128", (16, 128), 128, True),
]
BACKWARD_CASES = [
    ("medium (256,1024)->1024", (256, 1024), 1024, True),
    ("MLP (8,512,768)->3072", (8, 512, 768), 3072, True),
]
CONTENDERS = ("linearc", "numpy", "torch")


# Idle worker threads that keep spinning steal a core from whichever
# contender runs next in the interleaved loop. OpenBLAS's spin for 2**28
# cycles (~60 ms) by default: linearc's medium case measured 2.9 ms right
# after a numpy call and 1.1 ms alone; libgomp's spin (linearc, torch) slows
# numpy the same way. These make every pool go to sleep soon after a call.
QUIET_POOLS = {"OPENBLAS_THREAD_TIMEOUT": "4", "GOMP_SPINCOUNT": "10000"}


def _reexec_with_fair_env() -> None:
    """Drop OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which slow a current numpy,
    and set QUIET_POOLS (unless already set, or LINEARC_BENCH_KEEP_SPIN=1).

    Thread pools read these when they load, hence a fresh process.
    """
    found = {k: os.environ[k] for k in OPENBLAS_VARS if k in os.environ}
    missing = {} if os.environ.get("LINEARC_BENCH_KEEP_SPIN") == "1" else {
        k: v for k, v in QUIET_POOLS.items() if k not in os.environ}
    if not found and not missing:
        return
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
    env.update(missing)
    env[REEXEC_MARK] = " ".join(f"{k}={v}" for k, v in found.items())
    print(f"[bench] re-executing without {env[REEXEC_MARK] or 'nothing'} "
          "(they slow numpy's OpenBLAS), with "
          + (" ".join(f"{k}={v}" for k, v in missing.items()) or "nothing")
          + " (idle pools stop spinning)", flush=True)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

class Config:
    """Timing budgets for full and --quick runs."""

    def __init__(self, quick: bool):
        self.quick = quick
        # one timing sample: a loop of calls lasting about this long
        self.sample_s = 0.005 if quick else 0.02
        # all samples of one case, all contenders together
        self.case_s = 0.15 if quick else 1.5
        self.min_reps = 3 if quick else 5
        self.max_reps = 30 if quick else 200
        self.peak_s = 0.3 if quick else 1.0
        self.memory_calls = 10**5 if quick else 10**6


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------

def make_loop(stmt: str, namespace: dict):
    """Compile `for _ in range(n): <stmt>` with the names bound as locals.

    Timing a statement inline (as timeit does) avoids the ~50 ns of a lambda
    call per iteration, which matters for the 1 µs calls of the overhead
    section.
    """
    names = sorted(namespace)
    params = "".join(f", {n}={n}" for n in names)
    src = (f"def _loop(_n, _clock=_clock{params}):\n"
           f"    _t0 = _clock()\n"
           f"    for _ in range(_n):\n"
           f"        {stmt}\n"
           f"    return _clock() - _t0\n")
    scope = dict(namespace, _clock=time.perf_counter_ns)
    exec(compile(src, f"<bench {stmt[:40]}>", "exec"), scope)
    return scope["_loop"]


def time_interleaved(loops: dict, cfg: Config, *, min_inner: int = 1,
                     case_s: float | None = None) -> dict:
    """Time each compiled loop, round-robin within every repetition.

    Returns {name: {"median_s", "samples_s", "inner"}}, times per call.
    """
    case_s = cfg.case_s if case_s is None else case_s
    per_call = {}
    for name, loop in loops.items():
        # warm-up: first-touch pages, thread pools, packing buffers
        first = loop(1) / 1e9
        if first >= 0.05:
            # a long call: the warm-up call is estimate enough
            per_call[name] = first
            continue
        loop(2)
        # calibrate: grow the count until a loop lasts >= 1 ms
        n = 1
        t = loop(n) / 1e9
        while t < 1e-3 and n < 10**7:
            n *= 4
            t = loop(n) / 1e9
        per_call[name] = t / n
    inner = {k: max(min_inner, math.ceil(cfg.sample_s / v))
             for k, v in per_call.items()}
    rep_s = sum(inner[k] * per_call[k] for k in loops)
    reps = int(min(cfg.max_reps, max(cfg.min_reps, case_s / rep_s)))
    samples = {k: [] for k in loops}
    names = list(loops)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(reps):
            # rotate the order so no contender always follows the same one
            for name in names[r % len(names):] + names[:r % len(names)]:
                samples[name].append(loops[name](inner[name]) / 1e9
                                     / inner[name])
    finally:
        if was_enabled:
            gc.enable()
    return {k: {"median_s": median(v), "min_s": min(v), "samples_s": v,
                "inner": inner[k]}
            for k, v in samples.items()}


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"


def fmt_ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


# --------------------------------------------------------------------------
# Machine description and peak
# --------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(np, linearc, torch) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):
        config = linearc.show_config()
    info = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "linearc_version": linearc.__version__,
        "linearc_config": config,
        "linearc_threads": linearc.get_num_threads(),
        "linearc_isa_env": os.environ.get("LINEARC_ISA"),
        "numpy_version": np.__version__,
        "openblas_vars_unset": os.environ.get(REEXEC_MARK),
        "openblas_vars_set": {k: os.environ[k] for k in OPENBLAS_VARS
                              if k in os.environ},
        "pool_spin_env": {k: os.environ.get(k) for k in QUIET_POOLS},
        "loadavg_start": os.getloadavg(),
        "torch_version": torch.__version__ if torch else None,
        "torch_threads": torch.get_num_threads() if torch else None,
    }
    try:
        import threadpoolctl
        info["threadpools"] = threadpoolctl.threadpool_info()
        blas = [p for p in info["threadpools"] if p.get("user_api") == "blas"]
        info["numpy_blas"] = ", ".join(
            f"{p.get('internal_api')} {p.get('version')} "
            f"kernel={p.get('architecture')} threads={p.get('num_threads')}"
            for p in blas) or "unknown"
    except ImportError:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            np.show_config()
        info["numpy_blas"] = "see np.show_config(): " + " ".join(
            buf.getvalue().split())[:300]
    return info


def print_machine(info: dict) -> None:
    cfg = info["linearc_config"]
    print("== machine")
    print(f"CPU            {info['cpu_model']} ({info['cpu_count']} logical "
          "CPUs)")
    print(f"threads used   {info['linearc_threads']}")
    print(f"linearc        {info['linearc_version']}, isa {cfg.get('isa')} "
          f"(supported {cfg.get('isa_supported')}), {cfg.get('compiler')}")
    print(f"numpy          {info['numpy_version']}, BLAS {info['numpy_blas']}")
    if info["openblas_vars_unset"]:
        print(f"               (re-executed with {info['openblas_vars_unset']}"
              " unset)")
    if info["openblas_vars_set"]:
        print(f"               WARNING: {info['openblas_vars_set']} still set")
    print("idle pools     " + " ".join(f"{k}={v}" for k, v in
                                       info["pool_spin_env"].items()))
    if info["torch_version"]:
        print(f"torch          {info['torch_version']}, "
              f"{info['torch_threads']} threads")
    else:
        print("torch          not installed or not selected: no torch column")
    print(f"python         {info['python']}")
    load = info["loadavg_start"][0]
    print(f"load average   {load:.2f} (1 min)"
          + ("  WARNING: other processes are busy; expect noisy timings"
             if load > 0.5 else ""))


def measure_peaks(threads: int, cfg: Config) -> dict:
    """Compile and run peak_probe.c; return {"isa": {"dtype": {"T": GF/s}}}.

    The peak is the FMA rate per unit of each thread's own CPU time, summed
    over threads, so other processes on a shared host do not lower it; the
    wall-clock rates (what was available at that moment) are kept under
    "wall_clock". On failure returns {"error": message}.
    """
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        return {"error": f"compiler {cc!r} not found"}
    with tempfile.TemporaryDirectory(prefix="linearc-peak-") as tmp:
        exe = os.path.join(tmp, "peak_probe")
        cmd = [cc, "-O2", "-march=native", "-fopenmp",
               os.path.join(HERE, "peak_probe.c"), "-o", exe]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": f"peak_probe.c failed to compile ({cc} exited "
                    f"with {proc.returncode}) {proc.stderr.strip()[-500:]}"}
        peaks, walls = {}, {}
        for isa in ("avx512", "avx2"):
            for dtype in ("float32", "float64"):
                for t in sorted({1, threads}):
                    out = subprocess.run(
                        [exe, isa, dtype, str(t), str(cfg.peak_s)],
                        capture_output=True, text=True)
                    if out.returncode == 2:
                        break  # the CPU lacks this ISA
                    if out.returncode != 0:
                        return {"error": f"peak_probe {isa} {dtype} {t}: "
                                + out.stderr.strip()}
                    # "gflops <CPU-time rate> wall <wall-clock rate>"
                    words = out.stdout.split()
                    peaks.setdefault(isa, {}).setdefault(dtype, {})[str(t)] = \
                        float(words[1])
                    walls.setdefault(f"{isa} {dtype} {t}", float(words[3]))
        if walls:
            peaks["wall_clock"] = walls
    return peaks


def peak_for(peaks: dict, isa: str, dtype: str, threads: int):
    try:
        return peaks[isa][dtype][str(threads)]
    except (KeyError, TypeError):
        return None


def print_peaks(peaks: dict) -> None:
    print("== FMA peak (registers only, best of trials), GFLOP/s")
    if "error" in peaks:
        print(f"peak not measured ({peaks['error']}): % of peak is skipped")
        return
    for isa, by_dtype in peaks.items():
        if isa == "wall_clock":
            continue
        for dtype, by_t in by_dtype.items():
            rates = ", ".join(f"{t} thread{'s' if t != '1' else ''}: {v:.1f}"
                              for t, v in by_t.items())
            print(f"{isa:7s} {dtype}  {rates}")


# --------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------

def make_problem(np, linearc, torch, shape, out_features, bias, dtype,
                 seed=0):
    """Same x, W, b for every contender, with fixed seeds."""
    rng = np.random.default_rng(seed)
    k = shape[-1]
    layer = linearc.Linear(k, out_features, bias=bias, dtype=dtype, seed=seed)
    x = rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
    w = np.ascontiguousarray(layer.weight)
    b = np.ascontiguousarray(layer.bias) if bias else None
    p = {"layer": layer, "x": x, "W": w, "WT": w.T, "b": b,
         "y": np.empty(shape[:-1] + (out_features,), dtype=dtype),
         "flops": 2 * math.prod(shape[:-1]) * k * out_features}
    if torch is not None:
        tdtype = torch.float32 if dtype == "float32" else torch.float64
        lin = torch.nn.Linear(k, out_features, bias=bias, dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            if bias:
                lin.bias.copy_(torch.from_numpy(b))
        p.update(lin=lin, tx=torch.from_numpy(x.copy()),
                 ty=torch.empty(shape[:-1] + (out_features,), dtype=tdtype),
                 tW=lin.weight.detach(),
                 tb=lin.bias.detach() if bias else None,
                 F=torch.nn.functional)
    return p


def sanity_check(np, p, results: dict) -> str | None:
    """Compare each contender with a float64 reference (K-scaled bound).

    Rows are independent, so the first 64 rows are checked: cheap even for
    the largest cases.
    """
    k = p["x"].shape[-1]
    rows = 64
    x64 = p["x"].reshape(-1, k)[:rows].astype(np.float64)
    w64 = p["W"].astype(np.float64)
    ref = x64 @ w64.T
    scale = np.abs(x64) @ np.abs(w64).T
    if p["b"] is not None:
        ref += p["b"]
        scale += np.abs(p["b"])
    u = 2.0**-24 if p["x"].dtype == np.float32 else 2.0**-53
    bound = 4 * math.sqrt(k) * u * scale
    bad = []
    for name, y in results.items():
        n_out = p["W"].shape[0]
        if y.shape != p["y"].shape or not np.all(
                np.abs(y.reshape(-1, n_out)[:rows] - ref) <= bound):
            bad.append(name)
    return ", ".join(bad) or None


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------

def run_forward(np, linearc, torch, args, cfg, peaks, threads, dtypes):
    print("\n== forward: median time per call; ratios other/linearc "
          "(> 1: linearc faster)")
    with contextlib.redirect_stdout(io.StringIO()):
        isa = linearc.show_config()["isa"]
    cases = [c for c in FORWARD_CASES if c[4] or not args.large_only]
    rows = []
    for dtype in dtypes:
        peak = peak_for(peaks, isa, dtype, threads)
        for name, shape, n_out, bias, large in cases:
            p = make_problem(np, linearc, torch, shape, n_out, bias, dtype)
            loops = {}
            if "linearc" in args.contenders:
                loops["linearc"] = make_loop("layer(x)", p)
            if "numpy" in args.contenders:
                stmt = "x @ WT + b" if bias else "x @ WT"
                loops["numpy"] = make_loop(stmt, p)
            if torch is not None and "torch" in args.contenders:
                loops["torch"] = make_loop("lin(tx)", p)
            with _no_grad(torch):
                outs = {"linearc": p["layer"](p["x"])}
                if "numpy" in loops:
                    outs["numpy"] = (p["x"] @ p["WT"]
                                     + (p["b"] if bias else 0))
                if "torch" in loops:
                    outs["torch"] = p["lin"](p["tx"]).numpy()
                bad = sanity_check(np, p, outs)
                del outs
                res = time_interleaved(loops, cfg)
            row = {"case": name, "dtype": dtype, "shape": list(shape),
                   "out_features": n_out, "bias": bias, "large": large,
                   "flops": p["flops"], "isa": isa, "threads": threads,
                   "peak_gflops": peak, "mismatch": bad, "results": res}
            for v in res.values():
                v["gflops"] = p["flops"] / v["median_s"] / 1e9
                v["pct_peak"] = (100 * v["gflops"] / peak) if peak else None
            lin_t = res.get("linearc", {}).get("median_s")
            row["ratios"] = {
                f"{k}/linearc": (res[k]["median_s"] / lin_t
                                 if lin_t and k in res else None)
                for k in ("numpy", "torch")}
            rows.append(row)
            print_forward_row(row)
            del p
    return rows


def print_forward_row(row):
    res = row["results"]
    parts = [f"{row['case']:28s} {row['dtype']}"]
    for k in CONTENDERS:
        if k in res:
            v = res[k]
            pct = f" {v['pct_peak']:5.1f}%" if v["pct_peak"] else ""
            parts.append(f"{k} {fmt_time(v['median_s']):>11s} "
                         f"{v['gflops']:8.2f} GF/s{pct}")
    parts += [f"{k} {fmt_ratio(v)}" for k, v in row["ratios"].items()
              if v is not None]
    if row.get("mismatch"):
        parts.append(f"MISMATCH vs float64 reference: {row['mismatch']}")
    print(" | ".join(parts), flush=True)


def run_avx2_child(args, threads, dtypes) -> dict:
    """Re-run the large forward cases with LINEARC_ISA=avx2.

    numpy runs alongside, interleaved, so numpy/linearc-avx2 compares two
    timings from the same moments even if the load changed since the main
    run.
    """
    fd, path = tempfile.mkstemp(prefix="linearc-avx2-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), "--isa", "avx2",
           "--child-out", path, "--sections", "forward", "--large-only",
           "--contenders", "linearc,numpy", "--threads", str(threads),
           "--dtypes", ",".join(dtypes)]
    if args.quick:
        cmd.append("--quick")
    env = dict(os.environ, LINEARC_ISA="avx2")
    print("\n== forward, large cases with LINEARC_ISA=avx2 (subprocess)",
          flush=True)
    try:
        proc = subprocess.run(cmd, env=env)
        if proc.returncode != 0:
            return {"error": f"subprocess exited with {proc.returncode}"}
        with open(path) as f:
            return json.load(f)
    finally:
        os.unlink(path)


def merge_avx2(rows, child, peaks, threads):
    if "error" in child:
        print(f"AVX2 run failed: {child['error']}")
        return
    if child.get("isa") != "avx2":
        print(f"AVX2 run used isa {child.get('isa')!r}; not merged")
        return
    by_key = {(r["case"], r["dtype"]): r for r in child.get("forward", [])}
    for row in rows:
        c = by_key.get((row["case"], row["dtype"]))
        if c is None:
            continue
        v = c["results"]["linearc"]
        peak = peak_for(peaks, "avx2", row["dtype"], threads)
        row["avx2"] = {"median_s": v["median_s"], "min_s": v["min_s"],
                       "samples_s": v["samples_s"],
                       "gflops": v["gflops"], "peak_gflops": peak,
                       "pct_peak": 100 * v["gflops"] / peak if peak else None,
                       "numpy/linearc": c["ratios"].get("numpy/linearc"),
                       "mismatch": c.get("mismatch")}


@contextlib.contextmanager
def _no_grad(torch):
    if torch is None:
        yield
    else:
        with torch.no_grad():
            yield


def run_overhead(np, linearc, torch, args, cfg, dtypes):
    print("\n== overhead: per-call time; ratios linearc/other "
          "(targets <= 0.5x numpy, <= 0.3x torch)")
    torch_out_ok = False
    if torch is not None:
        try:
            torch.nn.functional.linear(torch.ones(1, 1), torch.ones(1, 1),
                                       out=torch.empty(1, 1))
            torch_out_ok = True
        except TypeError:
            print("torch.nn.functional.linear has no out=: torch uses lin(x)")
    rows = []
    for dtype in dtypes:
        for name, shape, n_out, bias in OVERHEAD_CASES:
            p = make_problem(np, linearc, torch, shape, n_out, bias, dtype)
            for with_out in (False, True):
                loops = {}
                if with_out:
                    loops["linearc"] = make_loop("layer(x, out=y)", p)
                    loops["numpy"] = make_loop(
                        "np.matmul(x, WT, out=y); y += b" if bias
                        else "np.matmul(x, WT, out=y)", dict(p, np=np))
                    if torch is not None:
                        loops["torch"] = make_loop(
                            "F.linear(tx, tW, tb, out=ty)" if torch_out_ok
                            else "lin(tx)", p)
                else:
                    loops["linearc"] = make_loop("layer(x)", p)
                    loops["numpy"] = make_loop(
                        "x @ WT + b" if bias else "x @ WT", p)
                    if torch is not None:
                        loops["torch"] = make_loop("lin(tx)", p)
                loops = {k: v for k, v in loops.items()
                         if k in args.contenders}
                with _no_grad(torch):
                    res = time_interleaved(loops, cfg, min_inner=1000,
                                           case_s=cfg.case_s / 2)
                lin_t = res.get("linearc", {}).get("median_s")
                row = {"case": name, "dtype": dtype, "shape": list(shape),
                       "out_features": n_out, "bias": bias,
                       "with_out": with_out, "results": res,
                       "ratios": {f"linearc/{k}": (lin_t / res[k]["median_s"]
                                                   if lin_t and k in res
                                                   else None)
                                  for k in ("numpy", "torch")}}
                rows.append(row)
                mark = "out=" if with_out else "    "
                parts = [f"{name:22s} {dtype} {mark}"]
                parts += [f"{k} {res[k]['median_s'] * 1e6:8.3f} µs"
                          for k in CONTENDERS if k in res]
                parts += [f"{k} {fmt_ratio(v)}"
                          for k, v in row["ratios"].items() if v is not None]
                print(" | ".join(parts), flush=True)
    return rows


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_memory(np, linearc, cfg):
    """RSS before/after many calls of the founding example: leaks show up."""
    import resource
    n = cfg.memory_calls
    print(f"\n== memory: {n} calls of the founding example (32,3,4)->2")
    layer = linearc.Linear(4, 2, bias=False, seed=0)
    x = np.random.default_rng(0).standard_normal((32, 3, 4)).astype(
        np.float32)
    y = np.empty((32, 3, 2), np.float32)
    out = {}
    for label, stmt in (("layer(x)", "layer(x)"),
                        ("layer(x, out=y)", "layer(x, out=y)")):
        loop = make_loop(stmt, {"layer": layer, "x": x, "y": y})
        loop(1000)  # reach steady state (buffers, freelists) first
        gc.collect()
        before = rss_bytes()
        elapsed = loop(n) / 1e9
        gc.collect()
        after = rss_bytes()
        out[label] = {"calls": n, "rss_before": before, "rss_after": after,
                      "rss_delta": after - before, "seconds": elapsed}
        print(f"{label:16s} RSS {before / 2**20:8.2f} MiB -> "
              f"{after / 2**20:8.2f} MiB "
              f"(delta {(after - before) / 2**10:+.0f} KiB) "
              f"in {elapsed:.2f} s")
    out["ru_maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ws = getattr(getattr(linearc, "_linearc", None), "_workspace_bytes", None)
    if ws is not None:
        out["workspace_bytes"] = ws()
    return out


def run_backward(np, linearc, torch, args, cfg, threads, dtypes):
    print("\n== backward: forward + backward of one layer; ratios "
          "other/linearc (> 1: linearc faster)")
    rows = []
    for dtype in dtypes:
        for name, shape, n_out, bias in BACKWARD_CASES:
            p = make_problem(np, linearc, torch, shape, n_out, bias, dtype)
            rng = np.random.default_rng(1)
            g = rng.uniform(-1, 1, size=shape[:-1] + (n_out,)).astype(dtype)
            k = shape[-1]
            ns = dict(p, g=g, x2=p["x"].reshape(-1, k),
                      g2=g.reshape(-1, n_out), gW=np.zeros_like(p["W"]),
                      gb=np.zeros(n_out, dtype))
            loops = {}
            if "linearc" in args.contenders:
                loops["linearc"] = make_loop(
                    "layer.zero_grad(); y = layer(x); "
                    "gi = layer.backward(x, g)", ns)
            if "numpy" in args.contenders:
                # the same work written by hand: forward, grad_input, and
                # accumulated weight/bias gradients
                loops["numpy"] = make_loop(
                    "y = x2 @ WT + b; gi = g2 @ W; gW += g2.T @ x2; "
                    "gb += g2.sum(axis=0)", ns)
            if torch is not None and "torch" in args.contenders:
                tx = torch.from_numpy(p["x"].copy()).requires_grad_()
                ns.update(tx=tx, tg=torch.from_numpy(g))
                loops["torch"] = make_loop(
                    "tx.grad = None; lin.zero_grad(); y = lin(tx); "
                    "y.backward(tg)", ns)
            res = time_interleaved(loops, cfg)
            flops = 3 * p["flops"]
            for v in res.values():
                v["gflops"] = flops / v["median_s"] / 1e9
            lin_t = res.get("linearc", {}).get("median_s")
            row = {"case": name, "dtype": dtype, "shape": list(shape),
                   "out_features": n_out, "flops": flops, "threads": threads,
                   "results": res,
                   "ratios": {f"{k}/linearc": (res[k]["median_s"] / lin_t
                                               if lin_t and k in res else None)
                              for k in ("numpy", "torch")}}
            rows.append(row)
            parts = [f"{name:24s} {dtype}"]
            parts += [f"{k} {fmt_time(res[k]['median_s']):>11s} "
                      f"{res[k]['gflops']:7.2f} GF/s"
                      for k in CONTENDERS if k in res]
            parts += [f"{k} {fmt_ratio(v)}" for k, v in row["ratios"].items()
                      if v is not None]
            print(" | ".join(parts), flush=True)
    return rows


# --------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------

def _pct(v) -> str:
    return "-" if v is None else f"{v:.0f}%"


def markdown(report: dict) -> str:
    m = report["machine"]
    cfg = m["linearc_config"]
    lines = [
        f"Machine: {m['cpu_model']}, {m['cpu_count']} logical CPUs, "
        f"{m['linearc_threads']} threads; linearc {m['linearc_version']} "
        f"isa {cfg.get('isa')}; numpy {m['numpy_version']} "
        f"({m['numpy_blas']}); torch {m['torch_version'] or 'not used'}"
        f". Idle pools: " + " ".join(f"{k}={v}" for k, v in
                                     m.get("pool_spin_env", {}).items())
        + f". Mode: {report['mode']}. Load average (1 min) "
        f"{m['loadavg_start'][0]:.2f} at start, "
        f"{report['loadavg_end'][0]:.2f} at end.", ""]
    peaks = report["peaks"]
    if "error" not in peaks:
        t = str(m["linearc_threads"])
        lines.append("Measured FMA peak, GFLOP/s ({} threads): ".format(t)
                     + "; ".join(f"{isa} {dt} {v.get(t, 0):.0f}"
                                 for isa, d in peaks.items()
                                 if isa != "wall_clock"
                                 for dt, v in d.items()))
        lines.append("")
    if report.get("forward"):
        lines += [
            "### Forward (median per call; ratio = other time / linearc "
            "time, > 1 means linearc is faster)", "",
            "| case | dtype | linearc | GFLOP/s | % peak | numpy GFLOP/s "
            "| torch GFLOP/s | numpy/linearc | torch/linearc "
            "| AVX2 GFLOP/s | % AVX2 peak | numpy/AVX2 |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in report["forward"]:
            res, avx2 = r["results"], r.get("avx2")
            lc = res.get("linearc")
            cells = [r["case"], r["dtype"], _t(lc), _gf(lc),
                     _pct(lc["pct_peak"]) if lc else "-",
                     _gf(res.get("numpy")), _gf(res.get("torch")),
                     fmt_ratio(r["ratios"].get("numpy/linearc")),
                     fmt_ratio(r["ratios"].get("torch/linearc")),
                     _gf(avx2), _pct(avx2["pct_peak"]) if avx2 else "-",
                     fmt_ratio(avx2["numpy/linearc"]) if avx2 else "-"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if report.get("overhead"):
        lines += [
            "### Per-call overhead (ratio = linearc time / other time; "
            "targets <= 0.5x numpy, <= 0.3x torch)", "",
            "| case | dtype | out= | linearc µs | numpy µs | torch µs "
            "| linearc/numpy | linearc/torch |",
            "|---|---|---|---:|---:|---:|---:|---:|"]
        for r in report["overhead"]:
            res = r["results"]
            lines.append(
                f"| {r['case']} | {r['dtype']} | "
                f"{'yes' if r['with_out'] else 'no'} | "
                + " | ".join(_us(res.get(k)) for k in CONTENDERS)
                + f" | {fmt_ratio(r['ratios'].get('linearc/numpy'))} "
                f"| {fmt_ratio(r['ratios'].get('linearc/torch'))} |")
        lines.append("")
    if report.get("memory"):
        for label, v in report["memory"].items():
            if isinstance(v, dict):
                lines.append(
                    f"Memory, {v['calls']} calls of `{label}` (founding "
                    f"example): RSS {v['rss_before'] / 2**20:.1f} -> "
                    f"{v['rss_after'] / 2**20:.1f} MiB "
                    f"({v['rss_delta'] / 2**10:+.0f} KiB).")
        lines.append("")
    if report.get("backward"):
        lines += [
            "### Forward + backward (median per step; ratio = other / "
            "linearc)", "",
            "| case | dtype | linearc | GFLOP/s | numpy | torch "
            "| numpy/linearc | torch/linearc |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in report["backward"]:
            res = r["results"]
            lc = res.get("linearc")
            cells = [r["case"], r["dtype"], _t(lc), _gf(lc),
                     _t(res.get("numpy")), _t(res.get("torch")),
                     fmt_ratio(r["ratios"].get("numpy/linearc")),
                     fmt_ratio(r["ratios"].get("torch/linearc"))]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _gf(v) -> str:
    return "-" if not v else f"{v['gflops']:.1f}"


def _us(v) -> str:
    return "-" if not v else f"{v['median_s'] * 1e6:.2f}"


def _t(v) -> str:
    return "-" if not v else fmt_time(v["median_s"])


def chart(report: dict, path: str) -> str | None:
    """Grouped GFLOP/s bars per forward case, one panel per dtype."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no chart"
    rows = report.get("forward") or []
    if not rows:
        return "no forward results: no chart"
    dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
    series = [k for k in CONTENDERS if any(k in r["results"] for r in rows)]
    if any("avx2" in r for r in rows):
        series.append("linearc avx2")
    colors = {"linearc": "tab:blue", "numpy": "tab:orange",
              "torch": "tab:red", "linearc avx2": "tab:cyan"}
    fig, axes = plt.subplots(len(dtypes), 1, figsize=(14, 4.5 * len(dtypes)),
                             squeeze=False)
    threads = str(report["machine"]["linearc_threads"])
    peaks = report["peaks"]
    for ax, dtype in zip(axes[:, 0], dtypes):
        drows = [r for r in rows if r["dtype"] == dtype]
        width = 0.8 / len(series)
        for i, s in enumerate(series):
            vals = []
            for r in drows:
                v = r.get("avx2") if s == "linearc avx2" else \
                    r["results"].get(s)
                vals.append(v["gflops"] if v else 0)
            xs = [j + (i - (len(series) - 1) / 2) * width
                  for j in range(len(drows))]
            ax.bar(xs, vals, width, label=s, color=colors[s])
        isa = drows[0]["isa"]
        pk = peak_for(peaks, isa, dtype, int(threads))
        if pk:
            ax.axhline(pk, color="black", lw=1,
                       label=f"{isa} FMA peak ({threads} threads)")
        pk2 = peak_for(peaks, "avx2", dtype, int(threads))
        if pk2 and "linearc avx2" in series:
            ax.axhline(pk2, color="gray", lw=1, ls="--",
                       label=f"avx2 FMA peak ({threads} threads)")
        ax.set_yscale("log")
        ax.set_xticks(range(len(drows)))
        ax.set_xticklabels([r["case"] for r in drows], rotation=15,
                           fontsize=8)
        ax.set_ylabel("GFLOP/s")
        ax.set_title(f"Linear forward, {dtype}")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    m = report["machine"]
    fig.suptitle(f"linearc {m['linearc_version']} on {m['cpu_model']}, "
                 f"{threads} threads ({report['mode']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short budgets (a smoke run, noisier numbers)")
    ap.add_argument("--sections", default="forward,overhead,backward",
                    help="comma list of forward, overhead, backward")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for linearc, torch and numpy's BLAS "
                    "(default linearc.get_num_threads())")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="directory for the JSON, markdown and PNG outputs")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--isa", choices=("avx512", "avx2", "generic"),
                    help="run with LINEARC_ISA set to this (re-executes)")
    ap.add_argument("--no-avx2", action="store_true",
                    help="skip the LINEARC_ISA=avx2 re-run of large cases")
    ap.add_argument("--large-only", action="store_true",
                    help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.sections = [s for s in args.sections.split(",") if s]
    bad = set(args.sections) - {"forward", "overhead", "backward"}
    if bad:
        ap.error(f"unknown sections {sorted(bad)}")
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    if set(args.dtypes) - {"float32", "float64"}:
        ap.error("dtypes must be float32 and/or float64")
    args.contenders = [c for c in args.contenders.split(",") if c]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.isa and os.environ.get("LINEARC_ISA") != args.isa:
        # linearc picks its kernels at import: set the variable, start anew
        os.environ["LINEARC_ISA"] = args.isa
        os.execv(sys.executable, [sys.executable, *sys.argv])
    _reexec_with_fair_env()

    import numpy as np
    import linearc
    torch = None
    if "torch" in args.contenders:
        try:
            import torch
        except ImportError:
            torch = None

    if args.threads:
        linearc.set_num_threads(args.threads)
    threads = linearc.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        # same thread count for numpy's BLAS, for the whole run
        import threadpoolctl
        threadpoolctl.threadpool_limits(threads, user_api="blas")
    except ImportError:
        pass

    cfg = Config(args.quick)
    info = machine_info(np, linearc, torch)
    child = args.child_out is not None
    if child:
        print(f"[avx2 subprocess] isa {info['linearc_config'].get('isa')}, "
              f"{threads} threads")
    else:
        print_machine(info)

    peaks = {"error": "not measured in the subprocess"} if child else \
        measure_peaks(threads, cfg)
    if not child:
        print_peaks(peaks)

    report = {"timestamp": datetime.datetime.now().isoformat(
                  timespec="seconds"),
              "argv": sys.argv, "mode": "quick" if args.quick else "full",
              "machine": info, "peaks": peaks,
              "isa": info["linearc_config"].get("isa")}
    started = time.perf_counter()
    if "forward" in args.sections:
        report["forward"] = run_forward(np, linearc, torch, args, cfg, peaks,
                                        threads, args.dtypes)
        if not child and not args.no_avx2 \
                and "avx2" in info["linearc_config"].get("isa_supported", []) \
                and info["linearc_config"].get("isa") != "avx2" \
                and "linearc" in args.contenders:
            result = run_avx2_child(args, threads, args.dtypes)
            merge_avx2(report["forward"], result, peaks, threads)
            report["avx2_run"] = {"isa": result.get("isa"),
                                  "error": result.get("error")}
            for row in report["forward"]:
                if "avx2" in row:
                    a = row["avx2"]
                    pct = f" ({a['pct_peak']:.1f}% of AVX2 peak)" \
                        if a["pct_peak"] else ""
                    print(f"{row['case']:28s} {row['dtype']} avx2 "
                          f"{fmt_time(a['median_s'])} {a['gflops']:.2f} "
                          f"GF/s{pct}, numpy/linearc-avx2 "
                          f"{fmt_ratio(a['numpy/linearc'])}")
    if "overhead" in args.sections:
        report["overhead"] = run_overhead(np, linearc, torch, args, cfg,
                                          args.dtypes)
        report["memory"] = run_memory(np, linearc, cfg)
    if "backward" in args.sections:
        report["backward"] = run_backward(np, linearc, torch, args, cfg,
                                          threads, args.dtypes)
    report["elapsed_s"] = time.perf_counter() - started
    report["loadavg_end"] = os.getloadavg()

    if child:
        with open(args.child_out, "w") as f:
            json.dump(report, f)
        return 0

    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    md = markdown(report)
    for name in (f"bench-{stamp}.json", "latest.json"):
        with open(os.path.join(args.out, name), "w") as f:
            json.dump(report, f, indent=1, default=str)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(md + "\n")
    note = chart(report, os.path.join(args.out, "latest.png"))
    print("\n" + md)
    print(f"wrote {args.out}/bench-{stamp}.json, latest.json, latest.md"
          + ("" if note else ", latest.png") + (f" ({note})" if note else "")
          + f"; {report['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
