"""The README's examples, run as a reader would run them.

Every ```python block of README.md runs as written, in order, in one fresh
interpreter in an empty folder; what a block prints must be what the README
says it prints (the "Output:" block after it, or the "It prints `...`"
sentence), and the folder must still be empty afterwards: a reader who runs
the examples finds no file left behind (the Dask block wrote 160 MiB).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
MARK = "<<<readme block {}>>>"


def python_blocks(text):
    """(code, what the README says it prints or None) for each block."""
    blocks = []
    for match in re.finditer(r"```python\n(.*?)```", text, re.S):
        after = text[match.end():match.end() + 2500]
        shown = None
        output = re.match(r"\s*Output:\s*```\n(.*?)```", after, re.S)
        sentence = re.match(r"\s*It prints `([^`]*)`", after)
        if output:
            shown = output.group(1).rstrip("\n")
        elif sentence:
            shown = sentence.group(1)
        blocks.append((match.group(1), shown))
    return blocks


@pytest.fixture(scope="module")
def blocks():
    found = python_blocks(README.read_text())
    assert len(found) >= 4, "the README lost its examples"
    return found


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("readme")


@pytest.fixture(scope="module")
def printed(blocks, folder):
    """What each block printed, run in order in one interpreter."""
    pytest.importorskip("dask")
    assert list(folder.iterdir()) == []
    script = "\n".join(f"print({MARK.format(i)!r}, flush=True)\n{code}"
                       for i, (code, _) in enumerate(blocks))
    proc = subprocess.run([sys.executable, "-c", script], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    parts = re.split(r"<<<readme block \d+>>>\n", proc.stdout)[1:]
    assert len(parts) == len(blocks)
    return [p.rstrip("\n") for p in parts]


def test_every_block_runs(printed, blocks):
    assert len(printed) == len(blocks)


def test_blocks_leave_no_file_behind(printed, folder):
    assert printed
    assert sorted(p.name for p in folder.iterdir()) == []


def test_blocks_print_what_the_readme_shows(printed, blocks):
    checked = 0
    for (code, shown), got in zip(blocks, printed):
        if shown is not None:
            assert got == shown, f"block printed:\n{got}\nREADME shows:\n{shown}"
            checked += 1
    assert checked >= 3


def test_readme_cites_only_files_in_the_repository():
    text = README.read_text()
    root = README.parent
    for path in set(re.findall(r"`((?:docs|tests|benchmarks|examples|csrc|src|\.ci)/[\w./-]+)`",
                               text)):
        assert (root / path).exists(), path
    # links too, and nothing outside the repository (a "../" path)
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not re.match(r"[a-z]+://", target):
            assert (root / target).exists(), target
    assert not re.search(r"\.\./", text)
