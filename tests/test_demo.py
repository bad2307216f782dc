"""`python -m linearc` runs the founding walk-through, and its options work.

The timing line must be fair and say so: both libraries on one thread count
when threadpoolctl is installed (issue 23: with OPENBLAS_NUM_THREADS=1 it
had printed a 2-thread linearc against a 1-thread NumPy), each library's
count stated when it is not.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from linearc._demo import ratio_text

RATIO = r"linearc is \d+\.\d\dx (faster|slower) than NumPy\.$"


def run(*args, env=None, code=None):
    """python -m linearc *args (or python -c code), its stdout checked."""
    command = ([sys.executable, "-c", code, *args] if code else
               [sys.executable, "-m", "linearc", *args])
    environ = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        environ.pop(name, None)
    environ.update(env or {})
    return subprocess.run(command, capture_output=True, text=True,
                          timeout=120, env=environ)


def timing_line(out):
    lines = [line for line in out.splitlines() if line.startswith("Timing")]
    assert len(lines) == 1, out
    return lines[0]


def test_python_m_linearc_runs_the_walk_through():
    proc = run()  # the README's command, as it is
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "(32, 3, 4)" in out
    assert "(96, 4)" in out and "(96, 2)" in out
    assert "8 parameters" in out
    assert "32*3*(4*2) = 768" in out
    assert "layer(x).shape = (32, 3, 2)" in out
    # The timing line names both times, the threads and their ratio.
    timing = timing_line(out)
    assert re.search(r"linearc [\d.]+ ms", timing)
    assert re.search(r"numpy x @ W\.T \+ b [\d.]+ ms", timing)
    assert re.search(RATIO, timing), timing
    assert "numpy/linearc" not in timing
    assert "Medians of 5 round(s)" in out and "stop spinning" in out


def test_help_prints_usage_and_runs_nothing():
    for flag in ("--help", "-h"):
        proc = run(flag)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("usage: python -m linearc [-h] "
                                      "[--threads N] [--repeat N] "
                                      "[--no-timing]")
        for option in ("--threads N", "--repeat N", "--no-timing"):
            assert option in proc.stdout
        assert "nn.Linear transforms" not in proc.stdout
        assert "Timing" not in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--threads", "0"], "0 is not in 1..256"),
    (["--threads", "two"], "'two' is not an integer"),
    (["--repeat", "0"], "0 is not in 1..1000"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_options_are_refused_with_usage(args, message):
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: python -m linearc")
    assert message in proc.stderr
    assert proc.stdout == ""


def test_no_timing_prints_the_walk_through_only():
    proc = run("--no-timing")
    assert proc.returncode == 0, proc.stderr
    assert "layer(x).shape = (32, 3, 2)" in proc.stdout
    assert "Timing" not in proc.stdout and "Medians" not in proc.stdout


def test_threads_and_repeat_with_threadpoolctl():
    pytest.importorskip("threadpoolctl")
    proc = run("--threads", "1", "--repeat", "1")
    assert proc.returncode == 0, proc.stderr
    timing = timing_line(proc.stdout)
    assert "linearc and NumPy both on 1 thread(s)" in timing, timing
    assert re.search(RATIO, timing), timing
    assert "Medians of 1 round(s) of 20 calls" in proc.stdout


def test_a_blas_limit_applies_to_both_with_threadpoolctl():
    """The issue's case: OPENBLAS_NUM_THREADS=1 and linearc's default."""
    pytest.importorskip("threadpoolctl")
    proc = run("--repeat", "1", env={"OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "linearc and NumPy both on 1 thread(s)" in timing_line(proc.stdout)


WITHOUT_THREADPOOLCTL = (
    "import sys; sys.modules['threadpoolctl'] = None  # import fails\n"
    "from linearc._demo import main; main(sys.argv[1:])")


def test_without_threadpoolctl_each_count_is_stated():
    proc = run("--repeat", "1", code=WITHOUT_THREADPOOLCTL,
               env={"OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    timing = timing_line(proc.stdout)
    assert re.search(r"linearc on \d+ thread\(s\), NumPy on a thread count "
                     r"that cannot be read without threadpoolctl "
                     r"\(OPENBLAS_NUM_THREADS=1\)", timing), timing
    assert "both on" not in timing
    assert re.search(RATIO, timing), timing
    proc = run("--repeat", "1", "--threads", "1", code=WITHOUT_THREADPOOLCTL)
    timing = timing_line(proc.stdout)
    assert "linearc on 1 thread(s), NumPy on a thread count that cannot be " \
        "read without threadpoolctl (its default" in timing, timing


def test_ratio_wording():
    assert ratio_text(1.0, 1.21) == "linearc is 1.21x faster than NumPy"
    assert ratio_text(1.21, 1.0) == "linearc is 1.21x slower than NumPy"
    assert ratio_text(2.0, 2.0) == "linearc is 1.00x faster than NumPy"


def test_main_leaves_thread_settings_as_they_were():
    import linearc
    from linearc._demo import main

    before = linearc.get_num_threads()
    main(["--threads", "1", "--repeat", "1"])
    assert linearc.get_num_threads() == before
