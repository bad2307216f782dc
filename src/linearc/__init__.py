"""linearc: torch.nn.Linear for NumPy arrays of any rank, on its own GEMM.

    >>> import numpy as np
    >>> from linearc import Linear
    >>> layer = Linear(4, 2, bias=False, seed=0)
    >>> layer(np.ones((32, 3, 4), dtype=np.float32)).shape
    (32, 3, 2)
"""
from __future__ import annotations

import importlib.util
import sys
from importlib import metadata as _metadata
from typing import Any

from . import _linearc, _tune
from ._linearc import Linear, get_num_threads, linear, set_num_threads
from ._counting import clever_format, profile, summary
from ._tune import tune

try:
    __version__ = _metadata.version("linearc")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

# This machine's tuning file (python -m linearc tune), unless LINEARC_TUNING=off.
_tune.load(__version__)

__all__ = [
    "Linear",
    "linear",
    "set_num_threads",
    "get_num_threads",
    "get_config",
    "show_config",
    "tune",
    "profile",
    "clever_format",
    "summary",
    "__version__",
]


def get_config() -> dict[str, Any]:
    """How linearc was built and what it runs on, as numbers in dicts.

    Keys: version, arch (the architecture this build is for: "x86-64",
    "aarch64", ...), compiler, openmp (bool), openmp_version, threads,
    max_threads, isa (the kernel set in use, which
    LINEARC_ISA=avx512|avx2|neon|generic can lower), isa_supported (list), cpu
    (vendor, family, model, stepping, brand, and the caches l1d, l2, l3 as
    dicts of size, ways, line, sets, sharing, from CPUID or sysfs), planner
    (the GEMM's fixed limits), and for each of float32 and float64: the
    register tiles and every planner parameter in use (kc, kc_max, mc, nc,
    kc_direct, kc_stream, direct_rows, direct_cols, serial_flops,
    parallel_bytes, direct_block_bytes), "origin" (where each comes from: default,
    model, measured, tuned or environment), "model" (what the defaults and
    the cache model alone give) and "measured" (the provenance of the
    measured values used, or None); "dtypes": for each layer dtype
    (float32, float64, float16, bfloat16) the type its products compute in
    ("compute": float16 and bfloat16 run on the float32 kernels and
    parameters), its "itemsize" (bytes per parameter) and whether it is
    "available" (bfloat16 needs ml_dtypes: pip install "linearc[bfloat16]");
    "tuning": whether this machine's
    tuning file (tune(), python -m linearc tune) is in use, as a dict of
    status ("tuned", "not tuned", "off" for LINEARC_TUNING=off, or
    "ignored"), file (its path), date (when it was measured) and why (what
    was wrong with an ignored file). show_config() prints it as sentences.
    """
    raw = _linearc._build_config()
    config: dict[str, Any] = {"version": __version__}
    for key in ("arch", "compiler", "openmp", "openmp_version", "threads", "max_threads", "isa"):
        config[key] = raw[key]
    config["isa_supported"] = raw["isa_supported"].split()
    config["cpu"] = raw["cpu"]
    config["planner"] = raw["planner"]
    for dtype in ("float32", "float64"):
        d: dict[str, Any] = dict(raw[dtype])
        d["tile"], d["direct_tile"] = list(d["tile"]), list(d["direct_tile"])
        config[dtype] = d
    config["dtypes"] = {}
    for name in ("float32", "float64", "float16", "bfloat16"):
        config["dtypes"][name] = {**raw["dtypes"][name],
                                  "available": name != "bfloat16" or _has_ml_dtypes()}
    config["tuning"] = dict(_tune.status)
    return config


def _has_ml_dtypes() -> bool:
    """Whether bfloat16 layers can be made: ml_dtypes imported or importable
    (looked up without importing it)."""
    if "ml_dtypes" in sys.modules:
        return sys.modules["ml_dtypes"] is not None
    try:
        return importlib.util.find_spec("ml_dtypes") is not None
    except (ImportError, ValueError):  # a finder that refuses it
        return False


# The parameters show_config() describes, in its words.
_PARAMS_SHOWN = (("kc", "KC"), ("mc", "MC"), ("nc", "NC"), ("kc_direct", "direct KC"),
                 ("direct_rows", "direct rows"))


def show_config(mode: str = "stdout") -> dict[str, Any]:
    """Print how linearc was built and what it runs on, one line per topic,
    and return get_config(). mode="dicts" only returns it, as
    numpy.show_config(mode="dicts") does."""
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts', got {mode!r}")
    config = get_config()
    if mode == "stdout":
        for key, value in _describe(config).items():
            print(f"{key:<16}  {value}")
    return config


def _describe(config: dict[str, Any]) -> dict[str, str]:
    """get_config() as sentences, for show_config()."""
    cpu = config["cpu"]
    lines = {
        "version": config["version"],
        "compiler": config["compiler"],
        "openmp": (f"yes ({config['openmp_version']})" if config["openmp"]
                   else "no (built without OpenMP: the GEMM runs on one thread)"),
        "threads": f"{config['threads']} (at most {config['max_threads']})",
        "isa": (f"{config['isa']} (supported: {' '.join(config['isa_supported'])}; "
                f"built for {config['arch']})"),
        "cpu": (f"{cpu['brand'].strip() or cpu['vendor']} (family {cpu['family']}, "
                f"model {cpu['model']}, stepping {cpu['stepping']})"),
        "caches": ", ".join(
            f"{name} {_size(cpu[key]['size'])} {cpu[key]['ways']}-way"
            for name, key in (("L1d", "l1d"), ("L2", "l2"), ("L3", "l3")))
        + f" (from {cpu['cache_source']})",
    }
    for dtype in ("float32", "float64"):
        d = config[dtype]
        groups: dict[str, list[str]] = {}
        for key, label in _PARAMS_SHOWN:
            groups.setdefault(d["origin"][key], []).append(f"{label} {d[key]}")
        sources = "; ".join(f"{', '.join(items)} ({_origin(origin, d)})"
                            for origin, items in groups.items())
        lines[dtype] = (f"tile {d['tile'][0]}x{d['tile'][1]}, direct tile "
                        f"{d['direct_tile'][0]}x{d['direct_tile'][1]}; {sources}")
        changed = [f"{label} {d['model'][key]}" for key, label in _PARAMS_SHOWN
                   if d["origin"][key] not in ("model", "default")]
        if changed:
            lines[dtype] += f"; the cache model alone: {', '.join(changed)}"
    half = [name for name, d in config["dtypes"].items() if d["compute"] != name]
    lines["dtypes"] = (", ".join(config["dtypes"]) + f"; {' and '.join(half)} stored as "
                       "such, computed in float32")
    if not config["dtypes"]["bfloat16"]["available"]:
        lines["dtypes"] += '; bfloat16 needs ml_dtypes: pip install "linearc[bfloat16]"'
    lines["tuning"] = _tune.describe(config["tuning"])
    return lines


def _origin(origin: str, d: dict[str, Any]) -> str:
    if origin == "model":
        return "cache model on this CPU's caches"
    if origin == "measured":
        return str(d["measured"])
    if origin == "environment":
        return "LINEARC_BLOCKING_F32 / _F64"
    if origin == "tuned":
        return "tuned on this machine"
    return origin


def _size(nbytes: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale} {unit}"
    return f"{nbytes} B"
