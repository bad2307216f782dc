"""linearc.tune() / python -m linearc tune, and the tuning file read at import.

Every test that tunes or reads a file does it in a child interpreter whose
XDG_CACHE_HOME is the test's own tmp_path, so nothing here touches the
user's cache or the session's (conftest.py gives the session an empty one),
and the tuned values never reach this process.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import datetime

import pytest
from conftest import TEST_CACHE

import linearc
from linearc import _tune

TUNED = ("kc", "mc", "kc_direct", "direct_rows")
DTYPES = ("float32", "float64")
HINT = "python -m linearc tune"

# The shortest tune that measures something even when another process holds
# a core (CI's machines are shared: 6 s measured nothing once under such a
# load). A sanitized build runs the timed calls several times slower:
# calibration alone takes about 3 s there, and the cheapest stage about 4 s
# more.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
SHORT_TUNE_S = "20" if UNDER_ASAN else "12"

# What a child reports after `import linearc`: the warnings the import gave,
# get_config()'s tuning entry and parameters, and show_config()'s lines.
REPORT = """
import contextlib, io, json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import linearc
config = linearc.get_config()
with contextlib.redirect_stdout(io.StringIO()) as shown:
    linearc.show_config()
lines = {line[:16].strip(): line[18:] for line in shown.getvalue().splitlines()}
print(json.dumps({
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    "tuning": config["tuning"],
    "shown": lines,
    "params": {d: {k: config[d][k] for k in %r} for d in %r},
    "origin": {d: {k: config[d]["origin"][k] for k in %r} for d in %r},
    "model": {d: {k: config[d]["model"][k] for k in %r} for d in %r},
    "tile": {d: config[d]["tile"] for d in %r},
}))
""" % (TUNED + ("kc_max",), DTYPES, TUNED + ("kc_max",), DTYPES, TUNED, DTYPES, DTYPES)


def child_env(cache, **env):
    """os.environ with this cache folder, no tuning switch and no blocking
    override unless given."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LINEARC_BLOCKING", "LINEARC_TUNING", "LINEARC_ISA"))}
    return {**base, "XDG_CACHE_HOME": str(cache), **env}


def run(code, cache, *args, timeout=120, **env):
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=timeout, env=child_env(cache, **env))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def report(cache, timeout=120, **env):
    return json.loads(run(REPORT, cache, timeout=timeout, **env).stdout)


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    """(signature, file name, rows of the packed tile per dtype, the
    parameters in use without tuning) of a child on this machine."""
    cache = tmp_path_factory.mktemp("sig")
    code = ("import json, linearc; from linearc import _tune; "
            "s = _tune.signature(linearc.__version__); "
            "c = linearc.get_config(); "
            "print(json.dumps([s, _tune.file_for(s).name, "
            "{d: c[d]['tile'][0] for d in ('float32', 'float64')}]))")
    sig, name, tile_rows = json.loads(run(code, cache).stdout)
    return sig, name, tile_rows, report(cache)["params"]


def write_file(cache, machine, **changes):
    """A valid tuning file for this machine in cache, with changes applied
    (values, signature, format, date...); its path."""
    sig, name, tile_rows, _ = machine
    record = {"format": _tune.FORMAT, "signature": sig, "date": "2026-12-01T10:00:00+00:00",
              "values": {"float32": {"kc": 256, "mc": 10 * tile_rows["float32"],
                                     "kc_direct": 128, "direct_rows": 192},
                         "float64": {"kc": 256, "mc": 8 * tile_rows["float64"],
                                     "kc_direct": 96, "direct_rows": 128}},
              "measured": {}}
    record.update(changes)
    path = cache / "linearc" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def assert_untuned(rep, machine):
    """The values of a child without tuning (the model's, or the measured
    table's on a CPU it has a row for) are in use."""
    assert rep["params"] == machine[3]
    for dtype in DTYPES:
        for key in TUNED:
            assert rep["origin"][dtype][key] != "tuned", (dtype, key)
        assert "tuned on this machine" not in rep["shown"][dtype]


# ---------------------------------------------------------------------------
# Reading the file at import.

def test_the_test_session_never_sees_the_users_cache():
    """conftest.py points XDG_CACHE_HOME at an empty folder before linearc is
    imported: this process looked for its file there, and children inherit it."""
    assert os.environ["XDG_CACHE_HOME"] == TEST_CACHE
    tuning = linearc.get_config()["tuning"]
    assert tuning["status"] == "not tuned"
    assert tuning["file"].startswith(os.path.join(TEST_CACHE, "linearc", "tuning-"))
    code = "import linearc; print(linearc.get_config()['tuning']['file'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.startswith(os.path.join(TEST_CACHE, "linearc")), proc.stderr


def test_no_file_is_silence(tmp_path, machine):
    rep = report(tmp_path)
    assert rep["warnings"] == []
    assert rep["tuning"] == {"status": "not tuned", "date": None, "why": None,
                             "file": str(tmp_path / "linearc" / machine[1])}
    assert rep["shown"]["tuning"] == (
        "not tuned (python -m linearc tune measures this machine in about a minute)")
    assert_untuned(rep, machine)


def test_a_valid_file_is_applied_and_shown(tmp_path, machine):
    path = write_file(tmp_path, machine)
    rep = report(tmp_path)
    assert rep["warnings"] == []
    assert rep["tuning"] == {"status": "tuned", "file": str(path), "why": None,
                             "date": "2026-12-01T10:00:00+00:00"}
    assert rep["shown"]["tuning"] == (
        f"tuned on this machine, 2026-12-01T10:00:00+00:00 ({path})")
    written = json.loads(path.read_text())["values"]
    for dtype in DTYPES:
        assert rep["params"][dtype] == {**written[dtype],
                                        "kc_max": _tune._kc_max_for(written[dtype]["kc"])}
        assert set(rep["origin"][dtype].values()) == {"tuned"}
        assert "(tuned on this machine)" in rep["shown"][dtype]


def test_the_file_name_is_the_signature_hash(machine, tmp_path, monkeypatch):
    sig, name = machine[:2]
    canonical = json.dumps(sig, sort_keys=True, separators=(",", ":"))
    assert name == f"tuning-{hashlib.sha256(canonical.encode()).hexdigest()[:16]}.json"
    assert sig["format"] == _tune.FORMAT and sig["threads"] >= 1
    assert {"vendor", "family", "model", "stepping", "brand", "l1d", "l2", "l3", "isa",
            "linearc", "planner"} <= set(sig)
    assert {"tile", "direct_tile", "model", "measured"} == set(sig["planner"]["float32"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _tune.cache_folder() == tmp_path / "linearc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _tune.cache_folder() == tmp_path / "home" / ".cache" / "linearc"
    # The XDG spec: a relative path is invalid and ignored, and so is ""
    for ignored in ("relative/cache", "cache", "./cache", ""):
        monkeypatch.setenv("XDG_CACHE_HOME", ignored)
        assert _tune.cache_folder() == tmp_path / "home" / ".cache" / "linearc", ignored


def test_a_relative_xdg_cache_home_is_ignored(tmp_path, machine):
    """It named a folder under whatever the current directory was: a
    tuning file found in one project's directory and not another's, or a
    planted one applied."""
    planted = write_file(tmp_path / "rel", machine)
    home = tmp_path / "home"
    proc = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path,
                          env=child_env("rel", HOME=str(home)))
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["warnings"] == []
    assert rep["tuning"]["status"] == "not tuned"
    assert rep["tuning"]["file"] == str(home / ".cache" / "linearc" / planted.name)
    assert_untuned(rep, machine)


def test_xdg_cache_home_naming_a_file_is_no_tuning_file(tmp_path, machine):
    """Nothing can be under a file: import is silent (tune() says why it
    cannot write, test_an_unwritable_cache_warns_and_still_applies)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    rep = report(blocker)
    assert rep["warnings"] == [] and rep["tuning"]["status"] == "not tuned"
    assert_untuned(rep, machine)


BAD_FILES = {
    "not JSON": ("{ not json", "not valid JSON"),
    "not an object": ("[1, 2]", "not a tuning file"),
    "a string value": ({"values": {"float32": {"kc": "352"}, "float64": {}}},
                       "float32 kc must be an integer"),
    "a bool value": ({"values": {"float32": {}, "float64": {"direct_rows": True}}},
                     "float64 direct_rows must be an integer"),
    "an unknown parameter": ({"values": {"float32": {"nc": 2048}, "float64": {}}},
                             "unknown parameter 'nc'"),
    "a missing dtype": ({"values": {"float32": {"kc": 256}}}, "float32 and float64"),
    "a date that is no string": ({"date": 20261201}, "'date' must be a string"),
    # show_config() prints the date: a crafted one could move the cursor,
    # clear the screen or retitle the terminal.
    "a date with escape codes": ({"date": "2026-12-01T10:00:00\x1b[2J\x1b]0;owned\x07"},
                                 "'date' must be an ISO 8601 date-time"),
    "a date with a control character": ({"date": "2026-12-01\x0710:00:00"},
                                        "'date' must be an ISO 8601 date-time"),
    "a date that is no date": ({"date": "yesterday"}, "'date' must be an ISO 8601 date-time"),
    "a date past its month": ({"date": "2026-02-30T10:00:00"},
                              "'date' must be an ISO 8601 date-time"),
    "mc off the tile": ({"values": {"float32": {"mc": 13}, "float64": {}}},
                        "mc must be a multiple of the tile's rows"),
    "kc of 0": ({"values": {"float32": {}, "float64": {"kc": 0}}},
                "rejected by linearc"),
    "stale format": ({"format": _tune.FORMAT + 1}, "stale: format"),
    "no format": ({"format": None}, "stale: format None"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_ignored_with_one_warning(case, tmp_path, machine):
    content, why = BAD_FILES[case]
    if isinstance(content, dict):
        path = write_file(tmp_path, machine, **content)
    else:
        path = write_file(tmp_path, machine)
        path.write_text(content)
    rep = report(tmp_path)
    assert len(rep["warnings"]) == 1, rep["warnings"]
    category, message = rep["warnings"][0]
    assert category == "RuntimeWarning"
    assert str(path) in message and why in message and HINT in message, message
    assert rep["tuning"]["status"] == "ignored" and why in rep["tuning"]["why"]
    assert rep["shown"]["tuning"].startswith("ignored: ") and why in rep["shown"]["tuning"]
    assert_untuned(rep, machine)


def test_a_foreign_file_is_ignored(tmp_path, machine):
    other_build = json.loads(json.dumps(machine[0]["planner"]))
    other_build["float64"]["tile"][0] += 2  # other kernels, same version
    for change, differ in (({"model": machine[0]["model"] + 1,
                             "threads": machine[0]["threads"] + 3}, "model, threads"),
                           ({"planner": other_build}, "planner")):
        path = write_file(tmp_path, machine, signature=dict(machine[0], **change))
        rep = report(tmp_path)
        [[category, message]] = rep["warnings"]
        assert category == "RuntimeWarning" and str(path) in message and HINT in message
        assert "foreign" in message and f"differs in {differ})" in message, message
        assert_untuned(rep, machine)


def test_what_a_file_names_is_shown_escaped(tmp_path, machine):
    """A foreign file's own signature keys are named in the warning: as
    repr(), so that no control character of the file reaches a terminal."""
    path = write_file(tmp_path, machine, signature=dict(machine[0], **{"\x1b[2Jx": 1}))
    rep = report(tmp_path)
    [[category, message]] = rep["warnings"]
    assert category == "RuntimeWarning" and str(path) in message
    assert "\x1b" not in message and "'\\x1b[2Jx'" in message, message
    assert not any(ch < " " for ch in rep["shown"]["tuning"])


def test_valid_dates_are_shown(tmp_path, machine):
    for date in ("2026-12-01T10:00:00+01:00", "2026-12-01T10:00:00.123456-05:30",
                 "2026-12-01T10:00:00"):
        write_file(tmp_path, machine, date=date)
        rep = report(tmp_path)
        assert rep["warnings"] == [] and rep["tuning"]["date"] == date
        assert rep["shown"]["tuning"].startswith(f"tuned on this machine, {date} (")


def test_an_unreadable_file_is_ignored(tmp_path, machine):
    for make in ("directory", "bytes"):
        path = write_file(tmp_path, machine)
        path.unlink()
        if make == "directory":
            path.mkdir()
        else:
            path.write_bytes(b"\xff\xfe{}")
        rep = report(tmp_path)
        [[category, message]] = rep["warnings"]
        assert category == "RuntimeWarning" and "cannot be read" in message, message
        assert str(path) in message and HINT in message
        assert_untuned(rep, machine)
        (path.rmdir if make == "directory" else path.unlink)()


SPECIAL_FILES = {
    # A FIFO blocked the import forever (an open for reading waits for a writer).
    "a FIFO": (os.mkfifo, "not a regular file"),
    "a device": (lambda path: path.symlink_to(os.devnull), "not a regular file"),
    # Sparse: 2 GiB of nothing were read whole, and then parsed.
    "a huge file": (lambda path: open(path, "wb").truncate(2 << 30), "larger than 1 MiB"),
}


@pytest.mark.parametrize("case", sorted(SPECIAL_FILES))
def test_a_special_or_huge_file_is_ignored(case, tmp_path, machine):
    make, why = SPECIAL_FILES[case]
    path = write_file(tmp_path, machine)
    path.unlink()
    make(path)
    rep = report(tmp_path, timeout=30)
    [[category, message]] = rep["warnings"]
    assert category == "RuntimeWarning" and why in message, message
    assert str(path) in message and HINT in message
    assert rep["tuning"]["status"] == "ignored"
    assert_untuned(rep, machine)


def test_a_file_of_1_mib_is_read_and_one_byte_more_is_not(tmp_path, machine):
    path = write_file(tmp_path, machine)
    text = path.read_text()
    path.write_text(text + " " * ((1 << 20) - len(text)))  # JSON allows the spaces
    assert path.stat().st_size == 1 << 20
    rep = report(tmp_path)
    assert rep["warnings"] == [] and rep["tuning"]["status"] == "tuned"
    path.write_text(text + " " * ((1 << 20) - len(text) + 1))
    rep = report(tmp_path)
    [[category, message]] = rep["warnings"]
    assert "larger than 1 MiB" in message, message
    assert_untuned(rep, machine)


def test_linearc_tuning_off_ignores_a_valid_file(tmp_path, machine):
    write_file(tmp_path, machine)
    rep = report(tmp_path, LINEARC_TUNING="off")
    assert rep["warnings"] == []
    assert rep["tuning"]["status"] == "off"
    assert rep["shown"]["tuning"] == "off (LINEARC_TUNING=off)"
    assert_untuned(rep, machine)


def test_an_unknown_linearc_tuning_value_is_named(tmp_path, machine):
    """LINEARC_TUNING=disable read the file in silence; the known words
    stay silent either way."""
    write_file(tmp_path, machine)
    rep = report(tmp_path, LINEARC_TUNING="disable\x1b")
    [[category, message]] = rep["warnings"]
    assert category == "RuntimeWarning" and "LINEARC_TUNING='disable\\x1b'" in message
    assert rep["tuning"]["status"] == "tuned"
    for word, status in (("OFF", "off"), (" no ", "off"), ("on", "tuned"), ("1", "tuned")):
        rep = report(tmp_path, LINEARC_TUNING=word)
        assert rep["warnings"] == [] and rep["tuning"]["status"] == status, word


def test_the_environment_keeps_precedence_over_the_file(tmp_path, machine):
    write_file(tmp_path, machine)
    rep = report(tmp_path, LINEARC_BLOCKING_F32="128,96,2048")
    assert rep["tuning"]["status"] == "tuned"
    assert (rep["params"]["float32"]["kc"], rep["params"]["float32"]["mc"]) == (128, 96)
    assert rep["origin"]["float32"]["kc"] == "environment"
    assert rep["origin"]["float32"]["direct_rows"] == "tuned"  # not in the variable
    assert rep["origin"]["float64"]["kc"] == "tuned"


# ---------------------------------------------------------------------------
# Tuning cannot change a bit.

DIGESTS = """
import hashlib, json, sys
import numpy as np
import linearc
digests = {}
for dtype in ("float32", "float64"):
    for rows, n_in, n_out in [(1, 64, 64), (7, 300, 129), (37, 1000, 515),
                              (300, 517, 129), (200, 64, 1000), (1030, 256, 384)]:
        rng = np.random.default_rng(rows * n_in + n_out)
        layer = linearc.Linear(n_in, n_out, dtype=dtype, seed=rows)
        x = rng.standard_normal((rows, n_in)).astype(dtype)
        g = rng.standard_normal((rows, n_out)).astype(dtype)
        y = layer(x)
        gi = layer.backward(x, g)
        h = hashlib.sha256()
        for a in (y, gi, layer.weight_grad, layer.bias_grad):
            h.update(np.ascontiguousarray(a).tobytes())
        digests[f"{dtype} {rows}x{n_in}->{n_out}"] = h.hexdigest()
config = linearc.get_config()
print(json.dumps([digests, {d: [config[d][k] for k in ("kc", "mc", "kc_direct",
      "direct_rows")] + [config[d]["origin"]["kc"]] for d in ("float32", "float64")}]))
"""


def test_tuned_and_untuned_results_are_bit_identical(tmp_path, machine):
    """Extreme but valid values (kc 8, mc one tile, no direct path, direct
    K block 8) give the same bits as the model's, forward and backward."""
    tiles = report(tmp_path)["tile"]
    extreme = {d: {"kc": 8, "mc": tiles[d][0], "kc_direct": 8, "direct_rows": 0}
               for d in DTYPES}
    write_file(tmp_path, machine, values=extreme)
    off, off_config = json.loads(run(DIGESTS, tmp_path, LINEARC_TUNING="off").stdout)
    on, on_config = json.loads(run(DIGESTS, tmp_path).stdout)
    for d in DTYPES:  # the file was applied, and the model was not this
        assert on_config[d] == [8, tiles[d][0], 8, 0, "tuned"], on_config
        assert off_config[d][4] != "tuned" and off_config[d][:4] != on_config[d][:4]
    assert len(on) == 12 and on == off


# ---------------------------------------------------------------------------
# The decision rule.

def test_a_two_percent_win_keeps_the_incumbent():
    incumbent = [1.00, 1.01, 0.99, 1.02, 1.00]
    times = {"a": incumbent, "b": [t / 1.02 for t in incumbent]}
    assert _tune._decide(times, "a") == "a"


def test_a_five_percent_win_in_every_round_replaces_it():
    incumbent = [1.00, 1.01, 0.99, 1.02, 1.00]
    times = {"a": incumbent, "b": [t / 1.05 for t in incumbent]}
    assert _tune._decide(times, "a") == "b"


def test_a_win_in_one_round_only_does_not():
    times = {"a": [1.0, 1.0, 1.0, 1.0, 1.0], "b": [0.5, 1.0, 1.01, 0.99, 1.0]}
    assert _tune._decide(times, "a") == "a"
    # nor in two rounds of five, however big
    times = {"a": [1.0, 1.0, 1.0, 1.0, 1.0], "b": [0.5, 0.5, 1.0, 1.0, 1.0]}
    assert _tune._decide(times, "a") == "a"


def test_the_fastest_of_several_winners_is_taken():
    base = [1.0, 1.1, 0.9, 1.0, 1.05]
    times = {"x": base, "y": [t / 1.06 for t in base], "z": [t / 1.2 for t in base],
             "w": [t * 1.3 for t in base]}
    assert _tune._decide(times, "x") == "z"
    with pytest.raises(ValueError, match="same rounds"):
        _tune._decide({"x": base, "y": base[:3]}, "x")


def test_medians_not_means_decide():
    # one slow round of the incumbent (another process took the core) does
    # not make a candidate that is level everywhere else a winner
    times = {"a": [1.0, 1.0, 9.0, 1.0, 1.0], "b": [1.0, 1.0, 1.0, 1.0, 1.0]}
    assert _tune._decide(times, "a") == "a"


def test_a_winner_at_an_end_of_the_candidates_gets_a_second_pass():
    tuner = _tune._Tuner(1.0, _tune._Progress(False))  # times nothing until run()
    stage = tuner.stage_block("float32", "kc_direct")
    (comp,) = stage.build()
    values = sorted(comp.candidates)
    assert comp.incumbent in values and len(values) >= 5

    def record(chose):
        return {"was": comp.incumbent, "chose": chose,
                "speed_vs_was": {str(v): 1.0 for v in values}}

    up = tuner.second_pass(stage, record(values[-1]))
    down = tuner.second_pass(stage, record(values[0]))
    assert up is not None and up.second and down is not None and down.second
    (up_comp,) = up.build()
    (down_comp,) = down.build()
    assert up_comp.incumbent == values[-1] and min(up_comp.candidates) == values[-1]
    assert max(up_comp.candidates) > values[-1]
    assert down_comp.incumbent == values[0] and max(down_comp.candidates) == values[0]
    assert min(down_comp.candidates) < values[0]
    # kept, or a winner inside the range, or a second pass itself: no more
    assert tuner.second_pass(stage, record(comp.incumbent)) is None
    assert tuner.second_pass(stage, record(values[1])) is None
    assert tuner.second_pass(up, record(values[-1])) is None


# ---------------------------------------------------------------------------
# Tuning for real, briefly.

TUNE = """
import json, sys, time
import linearc
t0 = time.monotonic()
record = linearc.tune(seconds=float(sys.argv[1]), progress=sys.argv[2] == "1")
record["elapsed"] = time.monotonic() - t0
record["config_tuning"] = linearc.get_config()["tuning"]
print(json.dumps(record))
"""


def test_a_short_tune_writes_a_file_the_next_import_applies(tmp_path, machine):
    proc = run(TUNE, tmp_path, SHORT_TUNE_S, "0")
    record = json.loads(proc.stdout)
    assert proc.stderr == ""  # progress=False is silent
    path = tmp_path / "linearc" / machine[1]
    assert record["file"] == str(path)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file
    stored = json.loads(path.read_text())
    assert stored["format"] == _tune.FORMAT and stored["signature"] == machine[0]
    datetime.fromisoformat(stored["date"])
    values = stored["values"]
    assert set(values) == set(DTYPES)
    measured = [(d, k) for d in DTYPES for k in values[d]]
    assert measured, stored["measured"]  # something fits in the short budget
    for d, k in measured:
        assert k in TUNED and type(values[d][k]) is int
        assert stored["measured"][d][k]["chose"] == values[d][k]
        assert stored["measured"][d][k]["rounds"] >= 3
    assert record["config_tuning"]["status"] == "tuned"  # applied in the tuning process

    rep = report(tmp_path)
    assert rep["warnings"] == []
    assert rep["tuning"] == {"status": "tuned", "file": str(path), "why": None,
                             "date": stored["date"]}
    assert rep["shown"]["tuning"].startswith("tuned on this machine, ")
    for d in DTYPES:
        for k in TUNED:
            if k in values[d]:
                assert rep["params"][d][k] == values[d][k]
                assert rep["origin"][d][k] == "tuned"
                assert "(tuned on this machine)" in rep["shown"][d]
            else:  # what was not measured is not claimed
                assert rep["origin"][d][k] != "tuned"


def test_the_time_budget_is_honoured(tmp_path):
    proc = run(TUNE, tmp_path, "3", "1")
    record = json.loads(proc.stdout)
    # 3 s, plus at most one burst (well under a second) and the bookkeeping
    assert record["elapsed"] < 5.0, record["elapsed"]
    assert record["complete"] is False
    lines = proc.stderr.splitlines()  # stderr is a pipe: one line per update
    assert any(line.startswith("tuning [") for line in lines), proc.stderr
    assert "\r" not in proc.stderr
    assert any(line.startswith("stopped early") for line in lines), proc.stderr


def test_an_unwritable_cache_warns_and_still_applies(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    # A tuner that "measures" instantly, so that only the writing is tested.
    code = """
import json, warnings
import linearc
from linearc import _tune
def run(self):
    self.chosen["float32"]["kc"] = 264
    self.chosen["float64"]["direct_rows"] = 128
_tune._Tuner.run = run
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    record = linearc.tune(seconds=1, progress=False)
config = linearc.get_config()
print(json.dumps([[str(w.message) for w in caught], [w.category.__name__ for w in caught],
                  record["file"], config["tuning"], config["float32"]["kc"],
                  config["float32"]["origin"]["kc"], config["float64"]["direct_rows"]]))
"""
    messages, categories, file, tuning, kc, origin, rows = json.loads(
        run(code, blocker).stdout)
    assert categories == ["RuntimeWarning"] and "could not write" in messages[0]
    assert "this process only" in messages[0]
    assert f"{blocker} is a file, not a folder" in messages[0], messages[0]
    assert file is None and tuning["status"] == "tuned" and tuning["file"] is None
    assert (kc, origin, rows) == (264, "tuned", 128)
    assert "in this process only" in _tune.describe(tuning)


def test_a_second_tune_in_a_tuned_process_can_raise_kc(tmp_path, machine):
    """A tuned kc_max no longer follows kc on the C side: the tuner sets it."""
    write_file(tmp_path, machine)  # kc 256 for both
    code = """
import json, linearc
from linearc import _linearc, _tune
_tune._apply({"float32": {"kc": 1024}, "float64": {"kc": 512}})
_tune._apply({"float32": {"kc": 96}, "float64": {"kc": 768}})
c = _linearc._build_config()
print(json.dumps([[c[d]["kc"], c[d]["kc_max"]] for d in ("float32", "float64")]))
"""
    assert json.loads(run(code, tmp_path).stdout) == [[96, 120], [768, 960]]


def test_a_second_tune_measures_against_the_untuned_values(tmp_path, machine):
    """In a process that applied a file, the incumbents are still the
    model's (or the measured table's), and every timing names all four
    parameters, so the file's values play no part."""
    write_file(tmp_path, machine)  # kc 256, ...
    code = """
import json, linearc
from linearc import _tune
_tune._Tuner.run = lambda self: None
record = linearc.tune(seconds=1, progress=False)
tuner = _tune._Tuner(1.0, _tune._Progress(False))
print(json.dumps([record["before"], record["file"], tuner.params("float32", mc=24),
                  linearc.get_config()["float32"]["kc"]]))
"""
    before, file, params, in_use = json.loads(run(code, tmp_path).stdout)
    untuned = report(tmp_path, LINEARC_TUNING="off")["params"]
    for d in DTYPES:
        del untuned[d]["kc_max"]
    assert before == untuned and in_use == 256 and file is None
    f32 = untuned["float32"]
    assert params == {**f32, "kc_max": _tune._kc_max_for(f32["kc"]), "mc": 24}


# ---------------------------------------------------------------------------
# The command line and the progress bar.

def python_m_linearc(cache, *args):
    return subprocess.run([sys.executable, "-m", "linearc", *args], capture_output=True,
                          text=True, timeout=60, env=child_env(cache))


def test_the_command_line(tmp_path):
    proc = python_m_linearc(tmp_path, "tune", "--help")
    assert proc.returncode == 0
    assert "--seconds" in proc.stdout and "LINEARC_TUNING=off" in proc.stdout
    proc = python_m_linearc(tmp_path, "--help")
    assert proc.returncode == 0
    assert "python -m linearc tune" in proc.stdout and "--no-timing" in proc.stdout
    for seconds in ("0", "-1", "nan", "inf", "-inf", "1e400", "True", "ten", ""):
        bad = python_m_linearc(tmp_path, "tune", f"--seconds={seconds}")
        assert bad.returncode == 2, (seconds, bad.stderr)
        assert "positive" in bad.stderr or "invalid float value" in bad.stderr, bad.stderr
    assert not (tmp_path / "linearc").exists()


@pytest.mark.parametrize("seconds", [0, -1, 0.0, -0.0, float("nan"), float("inf"),
                                     float("-inf"), 1e400])
def test_tune_refuses_a_time_that_is_no_positive_number(seconds, monkeypatch):
    monkeypatch.setattr(_tune, "_Tuner", None)  # nothing may start
    with pytest.raises(ValueError, match="positive"):
        _tune.tune(seconds=seconds)


@pytest.mark.parametrize("seconds", [True, False, "10", b"10", None, [10], 10j])
def test_tune_refuses_seconds_that_are_no_number(seconds, monkeypatch):
    """True is no number of seconds (float(True) was 1 s), nor is "10"."""
    monkeypatch.setattr(_tune, "_Tuner", None)
    with pytest.raises(TypeError, match="seconds must be a real number"):
        _tune.tune(seconds=seconds)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_progress_bar_redraws_in_place_on_a_terminal():
    screen = _Terminal()
    bar = _tune._Progress(True, screen)
    bar.bar(0.25, "float32 kc: round 1/5")
    bar.bar(0.5, "float32 kc: round 2/5")
    bar.note("float32 kc: 352 (kept)")
    bar.bar(0.75, "x")
    bar.close()
    text = screen.getvalue()
    assert text.count("\n") == 2 and text.count("\r") >= 3
    assert "[######..................]  25%" in text and "50%" in text

    pipe = io.StringIO()
    bar = _tune._Progress(True, pipe)
    bar.bar(0.25, "a")
    bar.bar(0.5, "b")
    bar.close()
    assert "\r" not in pipe.getvalue() and len(pipe.getvalue().splitlines()) == 2

    quiet = _Terminal()
    bar = _tune._Progress(False, quiet)
    bar.bar(0.5, "a")
    bar.note("b")
    bar.close()
    assert quiet.getvalue() == ""


def test_a_file_asking_for_a_huge_block_of_a_is_ignored(tmp_path, machine):
    """mc x kc_max elements of A are packed per thread: a crafted file's
    mc 16384 with kc 2048 (320 MiB of float64) is refused at import."""
    rows = machine[2]["float64"]
    mc = -(-16384 // rows) * rows
    path = write_file(tmp_path, machine,
                      values={"float32": {}, "float64": {"kc": 2048, "mc": mc}})
    rep = report(tmp_path)
    [[category, message]] = rep["warnings"]
    assert category == "RuntimeWarning" and str(path) in message
    assert "rejected by linearc" in message and "block of A" in message, message
    assert "256 MiB" in message
    assert_untuned(rep, machine)
