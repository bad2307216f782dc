"""linearc's OpenMP pool and the thread-pool ecosystem: threadpoolctl,
OMP_NUM_THREADS, and torch in the same process.

Each check runs in a fresh interpreter: linearc.get_num_threads() follows
OpenMP's setting only until set_num_threads() is called, which other tests
do, and which library loads libgomp first depends on import order.

Neighbours: set_num_threads() itself is in test_threads.py (and its errors
in test_errors.py); fork() after torch started libgomp's pool in
test_fork.py.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

from conftest import requires_openmp, run_python

pytest.importorskip("threadpoolctl")
pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")

CORES = os.cpu_count() or 1


def run_probe(code, *, with_gomp=False, **env):
    """Run code in a fresh interpreter; it prints one JSON value last.
    with_gomp defines mapped_gomp() for it."""
    environ = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    environ.update(env)
    source = (MAPPED_GOMP if with_gomp else "") + textwrap.dedent(code)
    proc = run_python(source, env=environ)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


# Shared by the probes: the libgomp files mapped into the process.
MAPPED_GOMP = """
import os
def mapped_gomp():
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "libgomp" in line}
    return sorted(os.path.realpath(p) for p in paths)
"""


def linearc_gomp_info():
    """linearc's extension file, the libgomp files mapped once it ran, and
    the OpenMP pools threadpoolctl reports, from a fresh interpreter."""
    return run_probe("""
        import json, numpy as np, threadpoolctl, linearc
        linearc.Linear(64, 64, seed=0)(np.ones((64, 64), np.float32))
        print(json.dumps({
            "so": linearc._linearc.__file__,
            "mapped": mapped_gomp(),
            "pools": [[os.path.realpath(p["filepath"]), p["num_threads"]]
                      for p in threadpoolctl.threadpool_info()
                      if p["user_api"] == "openmp"],
        }))
    """, with_gomp=True)


@requires_openmp
def test_threadpoolctl_lists_linearc_libgomp():
    info = linearc_gomp_info()
    # Nothing but linearc loads an OpenMP runtime here, so the one mapped
    # is linearc's, and threadpoolctl must report it.
    assert len(info["mapped"]) == 1, info
    gomp = info["mapped"][0]
    assert gomp in [path for path, _ in info["pools"]], info


@requires_openmp
@pytest.mark.skipif(not shutil.which("ldd"), reason="no ldd")
def test_mapped_libgomp_is_the_one_linked():
    info = linearc_gomp_info()
    ldd = subprocess.run(["ldd", info["so"]], capture_output=True,
                         text=True, check=True).stdout
    linked = [line.split("=>")[1].split()[0] for line in ldd.splitlines()
              if "libgomp" in line and "=>" in line]
    assert [os.path.realpath(p) for p in linked] == info["mapped"], ldd


@requires_openmp
def test_threadpool_limits_caps_linearc():
    result = run_probe("""
        import hashlib, json, numpy as np, linearc
        from threadpoolctl import threadpool_limits
        layer = linearc.Linear(300, 200, seed=0)
        x = np.random.default_rng(0).standard_normal((600, 300))
        m, n, k = 600, 200, 300
        def run():
            threads = linearc.get_num_threads()
            used = linearc._linearc._gemm_path(m, n, k, "float32", threads)[1]
            digest = hashlib.sha256(layer(x).tobytes()).hexdigest()
            return threads, used, digest
        before = run()
        with threadpool_limits(limits=1):
            limited = run()
        after = run()
        print(json.dumps([before, limited, after]))
    """)
    before, limited, after = result
    # Unlimited, OpenMP's default is one thread per CPU we may run on.
    assert before[0] == len(os.sched_getaffinity(0))
    assert limited[:2] == [1, 1]  # asked for, and what the GEMM would use
    assert after == before  # the limit is lifted on exit
    assert limited[2] == before[2]  # bit-identical on 1 thread


def test_omp_num_threads_env():
    threads = run_probe("import linearc; print(linearc.get_num_threads())",
                        OMP_NUM_THREADS="1")
    assert threads == 1


@requires_openmp
@pytest.mark.parametrize("asked", [None, 2], ids=["default", "set-2"])
def test_omp_thread_limit_caps_the_count(asked):
    """OMP_THREAD_LIMIT=1 with OMP_NUM_THREADS=2: OpenMP runs one thread,
    and linearc says so (get_num_threads, show_config's count), whether the
    2 comes from OpenMP or from set_num_threads(2); a GEMM big enough for
    two threads starts none (the process keeps its thread count)."""
    result = run_probe(f"""
        import json, os, numpy as np, linearc
        layer = linearc.Linear(512, 512, seed=0)
        x = np.ones((512, 512), np.float32)
        asked = {asked!r}
        if asked is not None:
            linearc.set_num_threads(asked)
        before = len(os.listdir("/proc/self/task"))
        layer(x)
        print(json.dumps({{
            "threads": linearc.get_num_threads(),
            "config": linearc._linearc._build_config()["threads"],
            "started": len(os.listdir("/proc/self/task")) - before,
            "path": linearc._linearc._gemm_path(512, 512, 512, "float32", 2),
        }}))
    """, OMP_THREAD_LIMIT="1", OMP_NUM_THREADS="2")
    # The premise: uncapped, this product would run on two threads.
    assert result["path"] == ["blocked", 2], result
    assert result["threads"] == 1 and result["config"] == 1, result
    assert result["started"] == 0, result


def test_set_num_threads_overrides_openmp_setting():
    """As documented: set_num_threads() wins over threadpoolctl."""
    result = run_probe("""
        import json, linearc
        from threadpoolctl import threadpool_limits
        linearc.set_num_threads(2)
        with threadpool_limits(limits=1):
            print(json.dumps(linearc.get_num_threads()))
    """)
    assert result == 2


@pytest.mark.parametrize("first", ["linearc", "torch"])
def test_torch_in_same_process_no_oversubscription(first):
    pytest.importorskip("torch")
    second = "torch" if first == "linearc" else "linearc"
    result = run_probe(f"""
        import json, threading
        import {first}, {second}
        import numpy as np

        def tasks():
            return len(os.listdir("/proc/self/task"))

        layer = linearc.Linear(512, 512, seed=0)
        x = np.ones((1024, 512), np.float32)
        t = torch.ones(512, 512)
        layer(x), t @ t  # start each library's pool once
        baseline = tasks()

        peak, done = 0, threading.Event()
        def sample():
            global peak
            while not done.is_set():
                peak = max(peak, tasks())
                done.wait(0.001)
        def torch_work():
            for _ in range(20):
                t @ t
        def linearc_work():
            for _ in range(20):
                layer(x)
        ours = [threading.Thread(target=f)
                for f in (sample, torch_work, linearc_work)]
        for th in ours:
            th.start()
        for th in ours[1:]:
            th.join()
        done.set()
        ours[0].join()
        print(json.dumps({{
            "torch": torch.get_num_threads(),
            "linearc": linearc.get_num_threads(),
            "spawned": peak - baseline - len(ours),
            "mapped": mapped_gomp(),
        }}))
    """, with_gomp=True)
    assert 1 <= result["torch"] <= CORES, result
    assert 1 <= result["linearc"] <= CORES, result
    # Native threads started while both libraries ran at once, beyond the
    # three Python threads of the probe: each caller's OpenMP team.
    assert result["spawned"] <= 2 * CORES, result
