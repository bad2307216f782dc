"""The per-CPU configuration (csrc/config.c) as _build_config() reports it:
the block-size model, recomputed here from docs/design.md's rules on this
machine's caches for every instruction set, and how get_config() says where
the block sizes in use come from.

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

import linearc
from linearc import _linearc

CONFIG = _linearc._build_config()
PARAMS = ("kc", "kc_max", "mc", "nc", "kc_direct", "kc_stream", "direct_rows", "direct_cols",
          "serial_flops", "parallel_bytes", "direct_block_bytes")
ORIGINS = {"default", "model", "measured", "tuned", "environment"}
ISAS = CONFIG["isa_supported"].split()
SIZES = {"float32": 4, "float64": 8}


def child_config(**env: str) -> tuple[dict, dict]:
    """(get_config(), _build_config()) of a fresh interpreter under env."""
    code = ("import json, linearc; from linearc import _linearc; "
            "print(json.dumps([linearc.get_config(), _linearc._build_config()]))")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("LINEARC_BLOCKING", "LINEARC_ISA"))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**clean, **env}, check=True)
    shown, raw = json.loads(proc.stdout)
    return shown, raw


def round_up(value: int, to: int) -> int:
    return -(-value // to) * to


def ways_for(cache: dict, size: int) -> int:
    """Ways of `cache` that `size` bytes of one stream occupy (at least 1)."""
    return max(-(-size // (cache["sets"] * cache["line"])), 1)


def c_round_trip_kc(mr: int, nr: int) -> int:
    """The least kc for which an mr x nr tile's round trip through C
    (2 mr nr elements per K block) is about 5% of its reads of A and B
    (kc (mr + nr) elements)."""
    return round_up(40 * mr * nr // (mr + nr), 8)


def model(cpu: dict, tile: tuple[int, int], direct_tile: tuple[int, int], size: int) -> dict:
    """docs/design.md's model: kc the larger of Low et al.'s L1 term, a B
    micro-panel in an eighth of L2 and the C round-trip floor, at most 1024;
    mc and nc from L2 and L3 (the kc x nc panel at most 32 MiB)."""
    l1, l2, l3 = cpu["l1d"], cpu["l2"], cpu["l3"]
    mr, nr = tile
    a_ways = max(int((l1["ways"] - 1) / (1 + nr / mr)), 1)
    kc_l1 = a_ways * l1["sets"] * l1["line"] // (mr * size)
    kc_l2 = l2["size"] // 8 // (nr * size)
    kc = max(kc_l1, kc_l2, c_round_trip_kc(mr, nr))
    kc = min(max(kc // 8 * 8, 32), 1024)
    a_ways2 = max(l2["ways"] - 1 - ways_for(l2, kc * nr * size), 1)
    mc = a_ways2 * l2["sets"] * l2["line"] // (kc * size)
    mc = min(mc, l2["size"] // 2 // (kc * size))
    mc = max(mc // mr * mr, mr)
    a_ways3 = ways_for(l3, mc * kc * size * max(l3["sharing"], 1))
    nc = max(l3["ways"] - 1 - a_ways3, 1) * l3["sets"] * l3["line"] // (kc * size)
    nc = min(nc, (32 << 20) // (kc * size))
    nc = min(max(nc // nr * nr, nr), 16384)
    dmr, dnr = direct_tile
    kc_direct = max(l1["size"] // 2 // (dnr * size) // 8 * 8, c_round_trip_kc(dmr, dnr))
    return {"kc": kc, "mc": mc, "nc": nc, "kc_direct": min(kc_direct, 256),
            "direct_block_bytes": l2["size"] // 4}


@pytest.fixture(scope="module", params=ISAS)
def isa_config(request):
    """_build_config() with each instruction set this CPU runs."""
    return child_config(LINEARC_ISA=request.param)[1]


@pytest.mark.parametrize("dtype", SIZES)
def test_model_follows_the_documented_rules(isa_config, dtype):
    d = isa_config[dtype]
    expected = model(isa_config["cpu"], tuple(d["tile"]), tuple(d["direct_tile"]), SIZES[dtype])
    assert {key: d["model"][key] for key in expected} == expected
    assert d["model"]["kc_max"] == round_up(d["model"]["kc"] * 5 // 4, 8)


@pytest.mark.parametrize("dtype", SIZES)
def test_model_kc_pays_for_the_round_trip_through_c(isa_config, dtype):
    d = isa_config[dtype]
    mr, nr = d["tile"]
    dmr, dnr = d["direct_tile"]
    assert 2 * mr * nr <= 0.051 * d["model"]["kc"] * (mr + nr)
    assert d["model"]["kc_direct"] >= min(c_round_trip_kc(dmr, dnr), 256)


@pytest.mark.parametrize("dtype", SIZES)
def test_model_block_of_a_takes_at_most_half_of_l2(isa_config, dtype):
    d = isa_config[dtype]
    mr = d["tile"][0]
    m = d["model"]
    assert m["mc"] % mr == 0
    assert m["mc"] == mr or m["mc"] * m["kc"] * SIZES[dtype] <= isa_config["cpu"]["l2"]["size"] // 2


@pytest.mark.parametrize("dtype", SIZES)
def test_model_panel_of_b_is_bounded(isa_config, dtype):
    """The packed kc x nc panel of B stays within 32 MiB (a team keeps two,
    and the pool keeps them), unless nc is down to one micro-panel."""
    d = isa_config[dtype]
    m, size = d["model"], SIZES[dtype]
    assert m["kc"] * m["nc"] * size <= 32 << 20 or m["nc"] == d["tile"][1]


def shown_line(dtype: str, **env: str) -> str:
    """The float32 / float64 line show_config() prints in a child under env."""
    code = "import linearc; linearc.show_config()"
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("LINEARC_BLOCKING", "LINEARC_ISA"))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**clean, **env}, check=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(dtype)]
    assert len(lines) == 1, proc.stdout
    return lines[0]


def test_the_model_alone_is_not_repeated_when_it_is_in_use():
    # No CPU has measured values for the portable kernels: the model rules.
    shown, raw = child_config(LINEARC_ISA="generic")
    for dtype in SIZES:
        assert shown[dtype]["origin"]["kc"] == "model"
        assert shown[dtype]["measured"] is None
        assert "cache model alone" not in shown_line(dtype, LINEARC_ISA="generic")
        for key in ("kc", "mc", "nc", "kc_direct", "direct_rows"):
            assert raw[dtype][key] == raw[dtype]["model"][key]


def test_an_override_is_reported_beside_the_model():
    shown, raw = child_config(LINEARC_BLOCKING_F32="256,96,2048")
    model_f32 = raw["float32"]["model"]
    assert (raw["float32"]["kc"], raw["float32"]["mc"], raw["float32"]["nc"]) == (256, 96, 2048)
    assert [raw["float32"]["origin"][k] for k in ("kc", "kc_max", "mc", "nc")] == \
        ["environment"] * 4
    assert raw["float32"]["kc_max"] == 320  # a quarter more than kc
    text = shown_line("float32", LINEARC_BLOCKING_F32="256,96,2048")
    assert "KC 256, MC 96, NC 2048 (LINEARC_BLOCKING_F32 / _F64)" in text
    assert (f"the cache model alone: KC {model_f32['kc']}, MC {model_f32['mc']}, "
            f"NC {model_f32['nc']}") in text
    # an override does not move the model, nor what it does not name
    plain = child_config()[1]
    assert raw["float32"]["origin"]["kc_direct"] == plain["float32"]["origin"]["kc_direct"]
    assert raw["float32"]["model"] == plain["float32"]["model"]
    assert raw["float64"]["model"] == plain["float64"]["model"]


def test_get_config_gives_numbers():
    """get_config() is numbers in dicts (numpy.show_config(mode="dicts")'s
    way): every parameter an int, every origin one of five words."""
    config = linearc.get_config()
    assert linearc.show_config(mode="dicts") == config
    assert isinstance(config["openmp"], bool) and isinstance(config["threads"], int)
    assert config["cpu"]["l1d"]["size"] == CONFIG["cpu"]["l1d"]["size"] > 0
    for dtype in SIZES:
        d = config[dtype]
        for name in PARAMS:
            assert isinstance(d[name], int) and not isinstance(d[name], bool), name
            assert d["origin"][name] in ORIGINS, name
            assert isinstance(d["model"][name], int), name
        assert d["kc"] <= d["kc_max"]
        assert d["mc"] % d["tile"][0] == 0 and d["nc"] % d["tile"][1] == 0
    with pytest.raises(ValueError, match="mode"):
        linearc.show_config(mode="text")


def test_the_measured_table_fits_its_kernel_sets():
    """Every row of config.c's table of measured values, for whichever CPU,
    passes the checks a context must pass on import."""
    assert _linearc._check_measured_table() is None
