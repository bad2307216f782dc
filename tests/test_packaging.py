"""A published package's basics: the license the metadata declares, in the
sdist with the changelog and the design notes the README points to."""
from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if not (ROOT / "pyproject.toml").is_file():  # tests installed without sources
    pytest.skip("no source tree next to the tests", allow_module_level=True)


def test_license_is_the_mit_license_pyproject_declares():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 The linearc authors\n")
    assert "Permission is hereby granted, free of charge" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = "MIT"$', pyproject, re.M)
    assert re.search(r'^license-files = \["LICENSE"\]$', pyproject, re.M)


def test_changelog_has_unreleased_and_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    version = re.search(r'^version = "([^"]+)"$',
                        (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings[:2] == ["Unreleased", version]
    unreleased = text.split("## [Unreleased]")[1].split(f"## [{version}]")[0]
    for kind in ("### Added", "### Changed", "### Fixed"):
        assert kind in unreleased


def test_sdist_carries_license_changelog_and_docs(tmp_path):
    pytest.importorskip("setuptools")
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys; from setuptools import build_meta; "
         "print(build_meta.build_sdist(sys.argv[1]))", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    name = proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / name) as sdist:
        top = name[:-len(".tar.gz")]
        members = {m.name[len(top) + 1:] for m in sdist.getmembers()}
        pkg_info = sdist.extractfile(f"{top}/PKG-INFO").read().decode()
    for path in ("LICENSE", "CHANGELOG.md", "docs/design.md", "README.md",
                 "examples/linear_walkthrough.ipynb"):
        assert path in members, path
    assert "License-Expression: MIT" in pkg_info
    assert "License-File: LICENSE" in pkg_info


SETUP_PROBE = """
import runpy, sys, setuptools
setuptools.setup = lambda **kw: None  # only the module-level probing
ns = runpy.run_path("setup.py")
print(ns["omp_compile"], dict(ns["macros"])["LINEARC_COMPILER"])
"""


@pytest.mark.parametrize("cc", ["env cc", "cc -O1"])
def test_setup_finds_openmp_with_a_cc_of_several_words(cc):
    """CC="ccache gcc" (or a compiler with flags) is a command, as setuptools
    takes it: setup.py looked the whole string up as one program, found
    none, and built the serial GEMM without a word."""
    import os
    import shutil
    if shutil.which("cc") is None:
        pytest.skip("no cc")
    base = subprocess.run([sys.executable, "-c", SETUP_PROBE], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "CC": "cc"}, timeout=120)
    assert base.returncode == 0, base.stderr
    if "-fopenmp" not in base.stdout:
        pytest.skip("cc has no OpenMP here")
    proc = subprocess.run([sys.executable, "-c", SETUP_PROBE], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "CC": cc}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "-fopenmp" in proc.stdout, proc.stdout + proc.stderr
    assert f'"{cc}"' in proc.stdout
