"""ml_dtypes' bfloat16, which the C extension loads through here on first need.

NumPy has no bfloat16: ml_dtypes (the optional ``bfloat16`` extra) registers
it. linearc imports ml_dtypes only when a bfloat16 layer, dtype or result is
asked for, so that everything else works without it, and says how to get it
when it is missing.
"""
from __future__ import annotations

import importlib
from typing import Any

import numpy as np

MISSING = 'bfloat16 needs the ml_dtypes package: pip install "linearc[bfloat16]"'


def dtype() -> np.dtype[Any]:
    """numpy.dtype(ml_dtypes.bfloat16), or ImportError naming the extra."""
    try:  # not a static import: ml_dtypes is optional, for mypy too
        ml_dtypes = importlib.import_module("ml_dtypes")
    except ImportError as error:
        raise ImportError(MISSING, name="ml_dtypes") from error
    bfloat16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
    return bfloat16
