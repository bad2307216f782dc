"""Build the C extension linearc._linearc.

Only what pyproject.toml cannot say lives here: the extension's sources, NumPy's
include directory, and the OpenMP flags, found by compiling a probe so that a
compiler without OpenMP still builds a (serial) module.

Every kernel file is compiled on every architecture: each is guarded by its
architecture's macros (kernels/avx2.c and avx512.c build to nothing off
x86-64, neon.c to nothing off aarch64), so the compiler's target, not this
script, decides. A cross-compiler (CC=aarch64-linux-gnu-gcc, as .ci/arm64.sh
does) builds for its own target; the OpenMP probe then only compiles and
links, since a program for another architecture cannot run here.

Environment knobs, for CI and development:
  LINEARC_WERROR=1    add -Werror
  LINEARC_SANITIZE=1  build with -fsanitize=address,undefined (tests preload libasan)
  LINEARC_NO_OPENMP=1 skip the probe and build the serial module
"""
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from glob import glob

import numpy
from setuptools import Extension, setup

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


def _compiler() -> list[str]:
    """The C compiler as a command: CC may carry words ("ccache gcc",
    "aarch64-linux-gnu-gcc -mcpu=neoverse-n1"), as setuptools allows."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc) or ["cc"]


def _arch(name: str) -> str:
    """One spelling per architecture: macOS and Windows say arm64 / AMD64,
    Linux and GCC's triples aarch64 / x86_64 (clang on macOS: arm64-apple-...)."""
    name = name.lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name)


def _cross_compiling(cc: list[str]) -> bool:
    """True when cc builds for another architecture than this machine's
    (its -dumpmachine triple does not start with platform.machine())."""
    try:
        triple = subprocess.run([*cc, "-dumpmachine"], check=True, capture_output=True,
                                text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(triple) and _arch(triple.split("-")[0]) != _arch(platform.machine())


def openmp_flags() -> tuple[list[str], list[str]]:
    """(compile flags, link flags) that build and run an OpenMP program, or ([], [])."""
    if os.environ.get("LINEARC_NO_OPENMP") == "1":
        return [], []
    cc = _compiler()
    if shutil.which(cc[0]) is None:
        print(f"linearc: compiler {cc[0]!r} not found; building the serial GEMM",
              file=sys.stderr)
        return [], []
    cross = _cross_compiling(cc)
    for flag in ("-fopenmp", "-qopenmp"):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            exe = os.path.join(tmp, "probe")
            with open(src, "w") as f:
                f.write(OPENMP_PROBE)
            try:
                subprocess.run([*cc, flag, src, "-o", exe], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if not cross:  # a foreign binary cannot run here: linking is the test
                    subprocess.run([exe], check=True, timeout=30)
            except (OSError, subprocess.SubprocessError):
                continue
            return [flag], [flag]
    print("linearc: no OpenMP found; building the serial GEMM", file=sys.stderr)
    return [], []


omp_compile, omp_link = openmp_flags()
# -ffp-contract=off: no a * b + c is ever fused behind the code's back; the
# kernels' fma() calls and intrinsics define the arithmetic (docs/design.md).
compile_args = ["-std=c11", "-O3", "-Wall", "-Wextra", "-fno-strict-aliasing",
                "-ffp-contract=off", "-fvisibility=hidden"] + omp_compile
link_args = list(omp_link)
macros = [
    # The oldest NumPy whose ABI this build targets; numpy>=2 headers honor it.
    ("NPY_TARGET_VERSION", "NPY_1_23_API_VERSION"),
    ("NPY_NO_DEPRECATED_API", "NPY_1_23_API_VERSION"),
    # The compiler, as get_config()["compiler"] shows it: CC as given, or
    # Python's compiler's name; a C string, so no quotes or backslashes.
    ("LINEARC_COMPILER", '"' + (" ".join(_compiler()) if os.environ.get("CC") else _compiler()[0])
     .replace('"', "").replace("\\", "") + '"'),
]
if omp_compile:
    macros.append(("LINEARC_HAVE_OPENMP", "1"))
if os.environ.get("LINEARC_WERROR") == "1":
    compile_args.append("-Werror")
if os.environ.get("LINEARC_SANITIZE") == "1":
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
           "-fno-sanitize-recover=undefined"]
    compile_args = [a for a in compile_args if a != "-O3"] + ["-O1", "-g"] + san
    link_args += san

sources = sorted(glob("csrc/*.c")) + sorted(glob("csrc/kernels/*.c"))

setup(
    ext_modules=[
        Extension(
            "linearc._linearc",
            sources=sources,
            include_dirs=[numpy.get_include(), "csrc"],
            define_macros=macros,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            libraries=["m"],
            depends=sorted(glob("csrc/*.h")) + sorted(glob("csrc/kernels/*.h")),
        )
    ],
)
