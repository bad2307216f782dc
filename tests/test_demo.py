"""`python -m linearc` runs the founding walk-through."""
from __future__ import annotations

import re
import subprocess
import sys


def test_python_m_linearc_runs_the_walk_through():
    proc = subprocess.run([sys.executable, "-m", "linearc"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "(32, 3, 4)" in out
    assert "(96, 4)" in out and "(96, 2)" in out
    assert "8 parameters" in out
    assert "32*3*(4*2) = 768" in out
    assert "layer(x).shape = (32, 3, 2)" in out
    # The timing line names both times, their ratio and how it was fair.
    timing = next(line for line in out.splitlines()
                  if line.startswith("Timing"))
    assert re.search(r"on \d+ thread\(s\)", timing)
    assert re.search(r"linearc [\d.]+ ms", timing)
    assert re.search(r"numpy x @ W\.T \+ b [\d.]+ ms", timing)
    assert re.search(r"numpy/linearc [\d.]+x", timing)
    assert "stop spinning" in out
