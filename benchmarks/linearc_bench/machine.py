"""What the numbers were measured on: CPU, threads, versions, environment.

No numpy here: prepare_environment() must run before numpy, linearc or
torch are imported, as their thread pools read the environment when they
load.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys

# Set on some hosts, they make a current numpy's OpenBLAS pick an older
# kernel (OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU) or wrong blocking:
# dropped before numpy loads, in this process and the AVX2 subprocess.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Shown in every report: they change how the thread pools behave.
SHOWN_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "OPENBLAS_THREAD_TIMEOUT", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY",
             "KMP_BLOCKTIME", "LINEARC_ISA")


def prepare_environment(isa: str | None) -> dict:
    """Drop OPENBLAS_OVERRIDES and set LINEARC_ISA (linearc reads it when it
    loads); returns what was dropped."""
    dropped = {k: os.environ.pop(k) for k in OPENBLAS_OVERRIDES
               if k in os.environ}
    if isa:
        os.environ["LINEARC_ISA"] = isa
    return dropped


def _cpuinfo() -> dict:
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return {"model": fields.get("model name"),
            "vendor": fields.get("vendor_id"),
            "family": fields.get("cpu family"),
            "model_number": fields.get("model")}


def _lscpu() -> dict:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True,
                              check=False).stdout
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in text.splitlines()
                  if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return {"model": fields.get("Model name"),
            "vendor": fields.get("Vendor ID"),
            "family": fields.get("CPU family"),
            "model_number": fields.get("Model")}


def cpu_identity() -> dict:
    """{"model", "vendor", "family", "model_number", "label", "slug"}."""
    cpu = _cpuinfo()
    if not cpu["model"]:
        cpu = _lscpu() or cpu
    cpu["model"] = cpu.get("model") or platform.processor() or "unknown CPU"
    family, number = cpu.get("family"), cpu.get("model_number")
    cpu["label"] = cpu["model"] + (
        f" (family {family}, model {number})" if family else "")
    cpu["slug"] = cpu_slug(cpu["model"], family, number)
    return cpu


def cpu_slug(model: str, family=None, number=None) -> str:
    """Results folder name: the model's first two words, family and model,
    e.g. "amd-epyc-family25-model17", "intel-xeon-family6-model207"."""
    words = re.sub(r"\((R|TM|C)\)|\bCPU\b", " ", model, flags=re.IGNORECASE).split()
    slug = "-".join(re.sub(r"[^a-z0-9]+", "-", w.lower()).strip("-")
                    for w in words[:2]) or "unknown-cpu"
    if family:
        slug += f"-family{family}"
    if number:
        slug += f"-model{number}"
    return slug


def machine_info(contenders, threads: int, dropped: dict) -> dict:
    return {
        "cpu": cpu_identity(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "contenders": {c.name: ({"skipped": c.skip_reason}
                                if c.skip_reason else c.describe())
                       for c in contenders},
        "environment": {k: os.environ.get(k) for k in SHOWN_ENV},
        "openblas_overrides_dropped": dropped,
        "loadavg_start": list(os.getloadavg()),
        "argv": sys.argv,
    }


def _caches(cpu: dict) -> str:
    """get_config()["cpu"]'s caches as "L1d 48 KiB 12-way, L2 ..."."""
    parts = []
    for name in ("l1d", "l2", "l3"):
        c = cpu.get(name)
        if c and c.get("size"):
            size = c["size"] // 1024
            text = f"{size // 1024} MiB" if size >= 1024 and size % 1024 == 0 else f"{size} KiB"
            parts.append(f"{name.upper().replace('D', 'd')} {text} {c.get('ways')}-way")
    return ", ".join(parts) or "unknown"


def describe(info: dict) -> list[str]:
    """Lines naming the machine and the versions, for console and report."""
    c = info["contenders"]
    lines = [(f"CPU: {info['cpu']['label']}, {info['logical_cpus']} "
              f"logical CPUs, {info['threads']} threads for every contender")]
    lin = c.get("linearc", {})
    lines.append(f"linearc {lin.get('version')}, isa {lin.get('isa')} "
                 f"(supported {' '.join(lin.get('isa_supported', []))}), "
                 f"{lin.get('compiler')}; caches {_caches(lin.get('cpu') or {})}")
    if lin.get("this_checkout"):
        lines.append(f"linearc from this checkout, {lin.get('commit')}")
    elif lin.get("module"):
        lines.append(f"linearc from {lin['module']}: NOT this checkout "
                     "(an installed copy; `pip install -e .` times the source here)")
    for name in ("numpy", "torch", "mkl"):
        d = c.get(name)
        if d is None:
            lines.append(f"{name}: not selected")
        elif "skipped" in d:
            lines.append(f"{name}: skipped ({d['skipped']})")
        else:
            extra = {k: v for k, v in d.items() if k != "version"}
            lines.append(f"{name} {d.get('version')}: " + ", ".join(
                f"{k} {v}" for k, v in extra.items()))
    env = " ".join(f"{k}={v}" for k, v in info["environment"].items()
                   if v is not None)
    lines.append(f"environment: {env or 'none of ' + ', '.join(SHOWN_ENV)}"
                 " set")
    if info["openblas_overrides_dropped"]:
        lines.append("dropped before numpy loaded: " + " ".join(
            f"{k}={v}" for k, v in
            info["openblas_overrides_dropped"].items()))
    lines.append(f"python {info['python']}; load average (1 min) "
                 f"{info['loadavg_start'][0]:.2f} at start")
    return lines
