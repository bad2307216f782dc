"""linearc: torch.nn.Linear for NumPy arrays of any rank, on its own GEMM.

    >>> import numpy as np
    >>> from linearc import Linear
    >>> layer = Linear(4, 2, bias=False, seed=0)
    >>> layer(np.ones((32, 3, 4), dtype=np.float32)).shape
    (32, 3, 2)
"""
from __future__ import annotations

from importlib import metadata as _metadata
from typing import Any

from . import _linearc
from ._linearc import Linear, get_num_threads, linear, set_num_threads
from ._counting import clever_format, profile, summary

try:
    __version__ = _metadata.version("linearc")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "Linear",
    "linear",
    "set_num_threads",
    "get_num_threads",
    "get_config",
    "show_config",
    "profile",
    "clever_format",
    "summary",
    "__version__",
]


def get_config() -> dict[str, Any]:
    """How linearc was built and what it runs on, as a dict.

    Keys: version, compiler, openmp, threads, max_threads, isa (the kernel
    set in use, which LINEARC_ISA=avx512|avx2|generic can lower),
    isa_supported, cpu (model and caches, from CPUID or sysfs), and for each
    of float32 and float64 the register tiles and the block sizes chosen for
    this CPU with where they come from (the cache model, a measurement on
    this CPU family, or LINEARC_BLOCKING_F32 / LINEARC_BLOCKING_F64).
    """
    raw = _linearc._build_config()
    cpu = raw["cpu"]
    config: dict[str, Any] = {
        "version": __version__,
        "compiler": raw["compiler"],
        "openmp": raw["openmp"],
        "threads": raw["threads"],
        "max_threads": raw["max_threads"],
        "isa": raw["isa"],
        "isa_supported": raw["isa_supported"].split(),
        "cpu": (f"{cpu['brand'].strip() or cpu['vendor']} (family {cpu['family']}, "
                f"model {cpu['model']})"),
        "caches": ", ".join(
            f"{name} {_size(cache['size'])} {cache['ways']}-way"
            for name, cache in (("L1d", cpu["l1d"]), ("L2", cpu["l2"]),
                                ("L3", cpu["l3"])))
        + f" (from {cpu['cache_source']})",
    }
    for dtype, d in (("float32", raw["float32"]), ("float64", raw["float64"])):
        config[f"blocking_{dtype}"] = (
            f"tile {d['tile'][0]}x{d['tile'][1]}, KC {d['kc']}, MC {d['mc']}, "
            f"NC {d['nc']}; direct tile {d['direct_tile'][0]}x"
            f"{d['direct_tile'][1]}, KC {d['kc_direct']} ({d['kc_stream']} for one "
            f"tile of rows), up to {d['direct_rows']} rows ({d['blocking_source']})")
        if not d["blocking_source"].startswith("model"):
            m = d["model"]
            config[f"blocking_{dtype}"] += (
                f"; the cache model alone: KC {m['kc']}, MC {m['mc']}, NC {m['nc']}, "
                f"direct KC {m['kc_direct']}")
    if not raw["openmp"]:
        config["openmp"] = "no (built without OpenMP: the GEMM runs on one thread)"
    return config


def show_config() -> dict[str, Any]:
    """Print get_config(), one key per line, and return it."""
    config = get_config()
    width = max(map(len, config))
    for key, value in config.items():
        print(f"{key:<{width}}  {value}")
    return config


def _size(nbytes: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale} {unit}"
    return f"{nbytes} B"
