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
    "show_config",
    "profile",
    "clever_format",
    "summary",
    "__version__",
]


def show_config() -> dict[str, Any]:
    """Print and return how linearc was built and what it runs on.

    Keys: version, compiler, openmp, threads, isa (the kernel set in use,
    which LINEARC_ISA=avx512|avx2|generic can lower) and isa_supported.
    """
    raw = _linearc._build_config()
    config = {
        "version": __version__,
        "compiler": raw["compiler"],
        "openmp": raw["openmp"],
        "threads": raw["threads"],
        "isa": raw["isa"],
        "isa_supported": raw["isa_supported"].split(),
        "tile_f32": f"{raw['tile_f32'] // 1000}x{raw['tile_f32'] % 1000}",
        "tile_f64": f"{raw['tile_f64'] // 1000}x{raw['tile_f64'] % 1000}",
    }
    if not raw["openmp"]:
        config["openmp"] = "no (built without OpenMP: the GEMM runs on one thread)"
    width = max(map(len, config))
    for key, value in config.items():
        print(f"{key:<{width}}  {value}")
    return config
