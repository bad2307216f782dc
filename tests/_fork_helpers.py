"""Code that runs in child processes for tests/test_fork.py.

It lives in its own importable module (not the test file) so a "spawn"
child can import it by name without importing pytest's test module; every
problem is rebuilt from its seed so parent and child compute the same thing.
"""
from __future__ import annotations

import numpy as np

import linearc


def make_problem(rows, in_features, out_features, dtype, seed):
    """A seeded layer and input: the same arrays in every process."""
    layer = linearc.Linear(in_features, out_features, dtype=dtype, seed=seed)
    x = np.random.default_rng(seed).standard_normal((rows, in_features))
    return layer, x.astype(dtype)


def compute(problems):
    """Forward results of make_problem(*p) for each p in problems."""
    results = []
    for problem in problems:
        layer, x = make_problem(*problem)
        results.append(layer(x))
    return results


def child_main(conn, problems, threads=None):
    """Entry point of a child: send ("ok", results, threads) or ("error", text)."""
    try:
        if threads is not None:
            linearc.set_num_threads(threads)
        conn.send(("ok", compute(problems), linearc.get_num_threads()))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        conn.send(("error", repr(exc)))
    finally:
        conn.close()
