"""The FMA peak (peak_probe.c) and the read bandwidth (bandwidth_probe.c).

Both are C programs beside this package, compiled at run time with the
system cc ($CC) and run once per bench run. The peak is the FMA rate per
unit of each thread's own CPU time, summed over threads, so other processes
on a shared host do not lower it (the wall-clock rates are kept under
"wall_clock"). The bandwidth is the best wall-clock read rate over several
passes of a buffer much bigger than the L3.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from . import BENCHMARKS


def _build(name: str, tmp: str, flags: list[str]) -> tuple[str | None, str]:
    """Compile benchmarks/<name>.c; (executable, "") or (None, error)."""
    cc = os.environ.get("CC", "cc")
    src = os.path.join(BENCHMARKS, f"{name}.c")
    if not os.path.exists(src):
        return None, f"{src} not found"
    if shutil.which(cc) is None:
        return None, f"compiler {cc!r} not found"
    exe = os.path.join(tmp, name)
    proc = subprocess.run([cc, *flags, "-fopenmp", src, "-o", exe],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None, (f"{name}.c failed to compile ({cc} exited with "
                      f"{proc.returncode}) {proc.stderr.strip()[-500:]}")
    return exe, ""


def _run_peak(exe: str, threads: int, seconds: float) -> dict:
    peaks, walls = {}, {}
    for isa in ("avx512", "avx2"):
        for dtype in ("float32", "float64"):
            for t in sorted({1, threads}):
                out = subprocess.run([exe, isa, dtype, str(t), str(seconds)],
                                     capture_output=True, text=True,
                                     check=False)
                if out.returncode == 2:
                    break  # the CPU lacks this ISA
                if out.returncode != 0:
                    return {"error": f"peak_probe {isa} {dtype} {t}: "
                            + out.stderr.strip()}
                # "gflops <CPU-time rate> wall <wall-clock rate>"
                words = out.stdout.split()
                peaks.setdefault(isa, {}).setdefault(dtype, {})[str(t)] = \
                    float(words[1])
                walls[f"{isa} {dtype} {t}"] = float(words[3])
    if walls:
        peaks["wall_clock"] = walls
    return peaks


def _run_bandwidth(exe: str, threads: int) -> dict:
    counts = [str(t) for t in sorted({1, threads})]
    out = subprocess.run([exe, *counts], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        return {"error": f"bandwidth_probe: {out.stderr.strip()[-300:]}"}
    result = {"gbs": {}}
    for line in out.stdout.splitlines():
        words = line.split()
        if words[0] == "buffer_mib":  # "buffer_mib N isa NAME"
            result.update(buffer_mib=int(words[1]), isa=words[3])
        elif words[0] == "threads":  # "threads T gbs RATE"
            result["gbs"][words[1]] = float(words[3])
    return result


def measure(threads: int, peak_s: float) -> tuple[dict, dict]:
    """(peaks, bandwidth); each {"error": message} when not measured.

    peaks: {isa: {dtype: {threads: GFLOP/s}}, "wall_clock": {...}};
    bandwidth: {"buffer_mib", "isa", "gbs": {threads: GB/s}}.
    """
    with tempfile.TemporaryDirectory(prefix="linearc-probes-") as tmp:
        exe, err = _build("peak_probe", tmp, ["-O2", "-march=native"])
        peaks = _run_peak(exe, threads, peak_s) if exe else {"error": err}
        exe, err = _build("bandwidth_probe", tmp, ["-O3"])
        bandwidth = _run_bandwidth(exe, threads) if exe else {"error": err}
    return peaks, bandwidth


def peak_for(peaks: dict, isa: str, dtype: str, threads: int):
    try:
        return peaks[isa][dtype][str(threads)]
    except (KeyError, TypeError):
        return None


def bandwidth_for(bandwidth: dict, threads: int):
    return bandwidth.get("gbs", {}).get(str(threads))


def describe(peaks: dict, bandwidth: dict) -> list[str]:
    """Lines saying what the probes measured, for the console and report."""
    if "error" in peaks:
        lines = [f"FMA peak not measured ({peaks['error']}): no % of peak"]
    else:
        lines = ["FMA peak, GFLOP/s (registers only, best of trials): "
                 + "; ".join(
                     f"{isa} {dtype} " + ", ".join(
                         f"{t} thr {v:.0f}" for t, v in by_t.items())
                     for isa, by_dtype in peaks.items()
                     if isa != "wall_clock"
                     for dtype, by_t in by_dtype.items())]
    if "error" in bandwidth:
        lines.append(f"read bandwidth not measured ({bandwidth['error']})")
    else:
        lines.append(
            f"read bandwidth, GB/s ({bandwidth.get('buffer_mib')} MiB "
            f"buffer, {bandwidth.get('isa')} loads, best of trials): "
            + ", ".join(f"{t} thr {v:.1f}"
                        for t, v in bandwidth["gbs"].items()))
    return lines
