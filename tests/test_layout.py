"""The layout of csrc/ keeps the promises docs/design.md makes about it.

Read from the sources themselves: files stay small, dependencies (the
#include graph, a file's .c and .h counted as one module) point one way,
the C core below the Python glue never includes Python, the kernels include
nothing but their contract, and the design notes name every file.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
DESIGN = ROOT / "docs" / "design.md"

if not CSRC.is_dir():  # an installed copy of the tests, without the sources
    pytest.skip("csrc/ is not next to the tests", allow_module_level=True)

SOURCES = sorted(p for p in CSRC.rglob("*") if p.suffix in (".c", ".h"))
# The C core, which knows nothing of Python (docs/design.md, "Layers").
PURE_C = {"common", "types", "threads", "cpu", "config", "workspace", "pack", "gemm", "gemm_parts",
          "gemm_blocked", "gemm_half", "gemm_args", "half", "rng",
          "dispatch", "kernels/kernels", "kernels/generic", "kernels/avx2",
          "kernels/avx512", "kernels/neon"}
INCLUDE = re.compile(r'^#include "([^"]+)"', re.M)


def module_of(path: Path) -> str:
    return path.relative_to(CSRC).with_suffix("").as_posix()


def includes(path: Path) -> set[str]:
    found = set()
    for name in INCLUDE.findall(path.read_text()):
        target = (path.parent / name).resolve()
        found.add(module_of(target))
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in SOURCES:
        module = module_of(path)
        edges.setdefault(module, set()).update(includes(path) - {module})
    return edges


def test_every_module_is_known():
    assert {module_of(p) for p in SOURCES} >= PURE_C


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_files_are_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 600, f"{path.name} has {lines} lines"


def test_dependencies_point_one_way():
    edges = graph()
    state: dict[str, int] = {}

    def visit(node, trail):
        if state.get(node) == 1:
            raise AssertionError("include cycle: " + " -> ".join(trail + [node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, trail + [node])
        state[node] = 2

    for node in sorted(edges):
        visit(node, [])


def test_the_c_core_knows_nothing_of_python():
    for path in SOURCES:
        if module_of(path) in PURE_C:
            text = path.read_text()
            assert "Python.h" not in text and "lc_numpy" not in text, path.name
            assert not (includes(path) - PURE_C), (path.name, includes(path) - PURE_C)


def test_kernels_include_only_their_contract():
    # half.h is part of it: the scalar conversions the vector ones must match.
    for path in (CSRC / "kernels").iterdir():
        if path.suffix == ".c":
            assert includes(path) <= {"kernels/kernels", "common", "half"}, path.name


def test_driver_has_no_intrinsics():
    for name in ("gemm.c", "gemm_blocked.c", "gemm_half.c", "pack.c"):
        text = (CSRC / name).read_text()
        assert "immintrin" not in text and "_mm512_" not in text and "_mm256_" not in text
        assert "arm_neon" not in text and "vfmaq_" not in text


def function_lengths(path: Path):
    """(name, lines) of each function defined at column 0."""
    lines = path.read_text().splitlines()
    start = None
    for i, line in enumerate(lines):
        # Lower-case names only: upper-case ones are macro invocations.
        if start is None and re.match(r"^[a-z_][a-z0-9_]*\(", line):
            start = (line.split("(")[0], i)
        elif start is not None and line == "}":
            yield start[0], i - start[1] + 1
            start = None


@pytest.mark.parametrize("path", [p for p in SOURCES if p.suffix == ".c"],
                         ids=lambda p: p.name)
def test_functions_are_short(path):
    # Kernel bodies are unrolled by design; they are macros or always-inline
    # functions, not counted here.
    long = [(n, k) for n, k in function_lengths(path) if k > 60]
    assert not long, long


def test_design_notes_name_every_file():
    """Every file appears by name ("gemm.c", or "gemm.c/.h" for both)."""
    text = DESIGN.read_text()

    def named(path):
        rel = path.relative_to(CSRC).as_posix()
        pair = rel[:-2] + ".c/.h"
        return rel in text or (pair in text and (CSRC / (rel[:-2] + ".c")).exists())

    missing = [p.name for p in SOURCES if not named(p)]
    assert not missing, missing
