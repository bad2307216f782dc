"""MKL's cblas_sgemm / cblas_dgemm, called through ctypes from libmkl_rt.

The `mkl` pip package puts libmkl_rt.so.* in <prefix>/lib; the search also
covers the library path and ctypes' own lookup. MKL_INT is 32-bit: libmkl_rt
defaults to the LP64 interface.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
import sysconfig

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS enum values
NOT_FOUND = "MKL not installed: pip install mkl"


def _search_dirs() -> list[str]:
    dirs = [os.path.join(p, "lib") for p in (sys.prefix, sys.base_prefix)]
    purelib = sysconfig.get_paths()["purelib"]
    dirs.append(os.path.normpath(os.path.join(purelib, "..", "..")))
    dirs += os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)
    return [d for d in dict.fromkeys(dirs) if d and os.path.isdir(d)]


def find_mkl_rt() -> str | None:
    """Path of libmkl_rt, or None."""
    for d in _search_dirs():
        found = sorted(glob.glob(os.path.join(d, "libmkl_rt.so*")))
        if found:
            return found[0]
    return ctypes.util.find_library("mkl_rt")


class MKLLibrary:
    """The few entry points of libmkl_rt the benchmark uses."""

    def __init__(self, path: str):
        self.path = path
        self.lib = ctypes.CDLL(path)
        self.thread_setter: str | None = None

    def version(self) -> str:
        buf = ctypes.create_string_buffer(256)
        self.lib.MKL_Get_Version_String(buf, len(buf))
        return buf.value.decode(errors="replace").strip()

    def set_num_threads(self, n: int) -> str | None:
        """Set MKL's thread count; return the entry point used, if any.

        The mixed-case names are the C interface (arguments by value); the
        lower-case ones are the Fortran interface (by reference).
        """
        for name, by_ref in (("MKL_Set_Num_Threads", False),
                             ("mkl_set_num_threads", True),
                             ("MKL_Set_Num_Threads_Local", False),
                             ("mkl_set_num_threads_local", True)):
            fn = getattr(self.lib, name, None)
            if fn is not None:
                fn(ctypes.byref(ctypes.c_int(n)) if by_ref else
                   ctypes.c_int(n))
                self.thread_setter = name
                return name
        return None

    def max_threads(self) -> int | None:
        fn = getattr(self.lib, "MKL_Get_Max_Threads", None)
        return None if fn is None else int(fn())

    def gemm(self, dtype: str):
        """cblas_sgemm or cblas_dgemm, arguments typed (pointers as ints)."""
        scalar = ctypes.c_float if dtype == "float32" else ctypes.c_double
        fn = self.lib.cblas_sgemm if dtype == "float32" else \
            self.lib.cblas_dgemm
        i, p = ctypes.c_int, ctypes.c_void_p
        fn.argtypes = [i, i, i, i, i, i, scalar, p, i, p, i, scalar, p, i]
        fn.restype = None
        return fn


def load() -> MKLLibrary | None:
    path = find_mkl_rt()
    if path is None:
        return None
    try:
        return MKLLibrary(path)
    except OSError:
        return None
