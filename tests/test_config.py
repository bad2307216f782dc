"""The per-CPU configuration (csrc/config.c) as _build_config() reports it:
the rules of the block-size model on this machine's caches, and how
get_config() says where the block sizes in use come from.

Neighbours: the bits not depending on the block sizes is test_arithmetic.py;
every path at the edges of the blocks in use is test_gemm_edges.py; a
malformed LINEARC_BLOCKING_* is test_errors.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from linearc import _linearc

CONFIG = _linearc._build_config()
DTYPES = (("float32", 4), ("float64", 8))


def round_up(value: int, to: int) -> int:
    return -(-value // to) * to


def c_round_trip_kc(mr: int, nr: int) -> int:
    """The least kc for which an mr x nr tile's round trip through C
    (2 mr nr elements per K block) is about 5% of its reads of A and B
    (kc (mr + nr) elements), as docs/design.md states the rule."""
    return round_up(40 * mr * nr // (mr + nr), 8)


@pytest.mark.parametrize("dtype,size", DTYPES)
def test_model_kc_pays_for_the_round_trip_through_c(dtype, size):
    d = CONFIG[dtype]
    mr, nr = d["tile"]
    model = d["model"]
    assert model["kc"] % 8 == 0
    assert model["kc"] >= c_round_trip_kc(mr, nr)
    assert 2 * mr * nr <= 0.051 * model["kc"] * (mr + nr)


@pytest.mark.parametrize("dtype,size", DTYPES)
def test_model_kc_direct_pays_for_the_round_trip_up_to_256(dtype, size):
    d = CONFIG[dtype]
    dmr, dnr = d["direct_tile"]
    kc_direct = d["model"]["kc_direct"]
    assert kc_direct == min(max(kc_direct, c_round_trip_kc(dmr, dnr)), 256)
    assert kc_direct >= min(c_round_trip_kc(dmr, dnr), 256)


@pytest.mark.parametrize("dtype,size", DTYPES)
def test_model_blocks_fit_their_caches(dtype, size):
    d = CONFIG[dtype]
    mr, nr = d["tile"]
    model = d["model"]
    l2 = CONFIG["cpu"]["l2"]["size"]
    assert model["mc"] % mr == 0 and model["mc"] >= mr
    # the mc x kc block of A takes at most half of L2 (one tile row at least)
    assert model["mc"] == mr or model["mc"] * model["kc"] * size <= l2 // 2
    assert model["nc"] % nr == 0 and nr <= model["nc"] <= max(16384, nr)


def child_config(**env: str) -> dict:
    code = ("import json, linearc; from linearc import _linearc; "
            "print(json.dumps([linearc.get_config(), _linearc._build_config()]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env}, check=True)
    return json.loads(proc.stdout)


def test_an_override_is_reported_beside_the_model():
    shown, raw = child_config(LINEARC_BLOCKING_F32="256,96,2048")
    text = shown["blocking_float32"]
    model = CONFIG["float32"]["model"]
    assert (raw["float32"]["kc"], raw["float32"]["mc"], raw["float32"]["nc"]) == (256, 96, 2048)
    assert raw["float32"]["blocking_source"] == "LINEARC_BLOCKING_F32"
    assert "KC 256, MC 96, NC 2048;" in text
    assert (f"the cache model alone: KC {model['kc']}, MC {model['mc']}, NC {model['nc']}, "
            f"direct KC {model['kc_direct']}") in text
    # the model does not move with an override
    assert raw["float32"]["model"] == model
    assert raw["float64"]["model"] == CONFIG["float64"]["model"]
