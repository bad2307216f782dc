"""The tuner: ``linearc.tune()`` and ``python -m linearc tune``.

It times linearc's own GEMM on this machine with candidate values of four
planner parameters per element type (the packed path's K block ``kc`` and
row block ``mc``, the direct path's K block ``kc_direct``, and
``direct_rows``, the most rows the direct path takes), keeps what wins, and
stores it in a small JSON file in the user's cache folder, one per CPU
signature; ``import linearc`` applies the file for this machine
(``LINEARC_TUNING=off`` stops that). Every output element is one fixed chain
of FMAs (docs/design.md, "The arithmetic"), so these values change speed,
never a bit: the tuner may try anything the C side accepts.

The rule (``_decide``): candidates are timed in rounds, interleaved (each
round times every candidate once, as a short burst, in a rotating order),
and a candidate replaces the incumbent only if its median over the rounds is
more than 3% below the incumbent's median over the same rounds, and its
per-round ratio to the incumbent is too (so a win in one round only, or by
2%, keeps the incumbent). Among several such candidates the one with the
lowest median wins.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import numbers
import os
import re
import stat
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar, cast

from . import _linearc

FORMAT = 1  # of the file; a file of another format is stale
TUNED = ("kc", "mc", "kc_direct", "direct_rows")  # the parameters measured
DTYPES = ("float32", "float64")
SIZES = {"float32": 4, "float64": 8}
MARGIN = 0.03  # a candidate must be more than 3% faster to replace the incumbent
MIN_ROUNDS, MAX_ROUNDS = 3, 7
DEFAULT_SECONDS = 60.0
OFF_WORDS = ("off", "0", "no", "false")  # LINEARC_TUNING values that disable it
ON_WORDS = ("", "on", "1", "yes", "true")  # and those that leave it on
REWRITE = "`python -m linearc tune` rewrites it"
NOT_TUNED = "not tuned (python -m linearc tune measures this machine in about a minute)"

_KC_LIMIT = 8192        # csrc/config.c
_FILE_LIMIT = 1 << 20   # bytes of a tuning file read at import (they take ~10 KiB)
# What tune() writes for "date" (isoformat(timespec="seconds")), fractions of
# a second allowed: show_config() prints it, so nothing else is taken.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
                   r"([+-][0-9]{2}:[0-9]{2})?")
_PANEL_LIMIT = 256 << 20  # bytes of one packed kc_max x nc panel of B
_BURST_S = 0.02  # a burst times calls for about this long (at least one after the warm-up)
_SAFETY = 1.3  # a stage starts only if this times its estimate is left
_FORCE_DIRECT = 1 << 30  # direct_rows that sends every shape down the direct path

K = TypeVar("K", bound=Hashable)


def _config() -> dict[str, Any]:
    """_build_config() as plain dicts (its keys are read by variable here)."""
    return cast(dict[str, Any], _linearc._build_config())


# ---------------------------------------------------------------------------
# Where the file goes, and for which machine.

def cache_folder() -> Path:
    """$XDG_CACHE_HOME/linearc, else ~/.cache/linearc. A relative
    XDG_CACHE_HOME is ignored, as the XDG Base Directory spec says (it
    would name a folder under whatever the current directory is)."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "linearc"


def signature(version: str) -> dict[str, Any]:
    """What a tuning is valid for: this CPU, its caches, the kernel set in
    use, the thread count, linearc's version and the file's format, and
    what the tuner measured against: per dtype the register tiles, the cache
    model's block sizes and the measured table's row in use (so that a build
    with other kernels or other defaults, even of the same version, does not
    take values tuned against the old ones)."""
    raw = _config()
    cpu = raw["cpu"]
    sig: dict[str, Any] = {"format": FORMAT, "linearc": version}
    for key in ("vendor", "family", "model", "stepping"):
        sig[key] = cpu[key]
    sig["brand"] = cpu["brand"].strip()
    for level in ("l1d", "l2", "l3"):
        cache = cpu[level]
        sig[level] = {"size": cache["size"], "ways": cache["ways"]}
    sig["isa"] = raw["isa"]
    sig["threads"] = _linearc.get_num_threads()
    sig["planner"] = {
        d: {"tile": list(raw[d]["tile"]), "direct_tile": list(raw[d]["direct_tile"]),
            "model": {p: raw[d]["model"][p] for p in ("kc", "mc", "nc", "kc_direct",
                                                      "direct_rows")},
            "measured": raw[d]["measured"]}
        for d in DTYPES}
    return sig


def file_for(sig: Mapping[str, Any]) -> Path:
    """cache_folder()/tuning-<16 hex digits of the signature's sha256>.json."""
    canonical = json.dumps(sig, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return cache_folder() / f"tuning-{digest}.json"


# ---------------------------------------------------------------------------
# Applying values, at import or after a tune.

def _kc_max_for(kc: int) -> int:
    """kc_max as config.c derives it: a quarter more, rounded up to 8."""
    return min(-(-(kc + kc // 4) // 8) * 8, _KC_LIMIT)


def _ordered(values: Mapping[str, int], current_kc: int) -> dict[str, int]:
    """values as the C side applies them, one at a time, each checked: a new
    kc comes with its kc_max (config.c lets kc_max follow kc only while
    kc_max's own origin is weaker, which a tuned kc_max is not), the bigger
    of the two set first so that kc <= kc_max holds at every step."""
    out: dict[str, int] = {}
    if "kc" in values:
        kc = values["kc"]
        pair = [("kc_max", _kc_max_for(kc)), ("kc", kc)]
        out.update(pair if kc >= current_kc else pair[::-1])
    out.update((k, v) for k, v in values.items() if k != "kc")
    return out


def _apply(values: Mapping[str, Mapping[str, int]]) -> None:
    """Plan from these values from now on (origin "tuned"); all or nothing.
    ValueError or TypeError if the C side rejects one."""
    raw = _config()
    f32, f64 = (_ordered(values.get(d, {}), raw[d]["kc"])
                for d in DTYPES)
    _linearc._tune_params(f32, f64)


# What get_config()["tuning"] reports; set at import and by tune().
status: dict[str, Any] = {"status": "not tuned", "file": None, "date": None, "why": None}

# The tuned parameters as they were before any tuning file was applied (the
# model's, the measured table's or the environment's): what tune() measures
# against, so that a second tune does not start from the first one's noise.
baseline: dict[str, dict[str, int]] = {}


def _current() -> dict[str, dict[str, int]]:
    raw = _config()
    return {d: {p: raw[d][p] for p in TUNED} for d in DTYPES}


def _set_status(state: str, path: Path | None, date: str | None = None,
                why: str | None = None) -> None:
    status.update(status=state, file=None if path is None else str(path), date=date,
                  why=why)


def _check(data: Any, sig: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, int]]]:
    """(date, values) of a parsed file, or ValueError saying why it does not
    apply here."""
    if not isinstance(data, dict):
        raise ValueError(f"not a tuning file (a JSON {type(data).__name__}, not an object)")
    if data.get("format") != FORMAT:
        raise ValueError(f"stale: format {data.get('format')!r}, this linearc reads "
                         f"format {FORMAT}")
    theirs = data.get("signature")
    if theirs != sig:
        if not isinstance(theirs, dict):
            raise ValueError("malformed: no signature")
        differ = sorted(k for k in set(sig) | set(theirs) if sig.get(k) != theirs.get(k))
        # the file's own keys as repr(): no control character reaches a terminal
        named = (k if k in sig else repr(k) for k in differ)
        raise ValueError("foreign: made for another machine or setup (its signature "
                         f"differs in {', '.join(named)})")
    date, values = data.get("date"), data.get("values")
    if not isinstance(date, str):
        raise ValueError("malformed: 'date' must be a string")
    if not _is_date(date):
        raise ValueError("malformed: 'date' must be an ISO 8601 date-time as tune() "
                         "writes it (YYYY-MM-DDTHH:MM:SS+HH:MM)")
    if not isinstance(values, dict) or set(values) != set(DTYPES):
        raise ValueError("malformed: 'values' must hold float32 and float64")
    for dtype in DTYPES:
        given = values[dtype]
        if not isinstance(given, dict):
            raise ValueError(f"malformed: values of {dtype} must be an object")
        for name, value in given.items():
            if name not in TUNED:
                raise ValueError(f"malformed: {dtype} has an unknown parameter {name!r}")
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"malformed: {dtype} {name} must be an integer, "
                                 f"got {value!r}")
    return date, values


def _is_date(text: str) -> bool:
    if _DATE.fullmatch(text) is None:
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _read(path: Path) -> str:
    """The text of a tuning file: a regular file of at most _FILE_LIMIT
    bytes, opened without blocking (a FIFO there must not hang the
    import). FileNotFoundError where there is none (nor can be: a file
    stands where a folder of the path should be); ValueError saying why
    anything else cannot be used."""
    flags = (os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_CLOEXEC", 0))
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(path) from None
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc})") from None
    chunks: list[bytes] = []
    size = 0
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a directory" if stat.S_ISDIR(info.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(info.st_mode) else
                    "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a socket" if stat.S_ISSOCK(info.st_mode) else "special")
            raise ValueError(f"cannot be read (not a regular file: {kind})")
        if info.st_size > _FILE_LIMIT:
            raise ValueError(f"larger than 1 MiB ({info.st_size} bytes): not a tuning file")
        while size <= _FILE_LIMIT:  # it may grow while read
            chunk = os.read(fd, _FILE_LIMIT + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > _FILE_LIMIT:
            raise ValueError("larger than 1 MiB: not a tuning file")
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc})") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot be read ({exc})") from None


def load(version: str) -> None:
    """At import: apply this machine's tuning file, if any and unless
    LINEARC_TUNING=off. A file that cannot be used is ignored with one
    RuntimeWarning; no file is silence. Never raises."""
    try:
        path: Path | None = None
        baseline.update(_current())
        switch = os.environ.get("LINEARC_TUNING", "").strip().lower()
        if switch in OFF_WORDS:
            _set_status("off", None)
            return
        if switch not in ON_WORDS:  # "disable", "of": say so, and read the file
            warnings.warn(f"LINEARC_TUNING={os.environ['LINEARC_TUNING']!r} is neither "
                          f"{'/'.join(OFF_WORDS)} nor {'/'.join(ON_WORDS[1:])}: the tuning "
                          "file is read (LINEARC_TUNING=off ignores it)",
                          RuntimeWarning, stacklevel=2)
        sig = signature(version)
        path = file_for(sig)
        try:
            text = _read(path)
        except FileNotFoundError:
            _set_status("not tuned", path)
            return
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        date, values = _check(data, sig)
        try:
            _apply(values)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"rejected by linearc: {exc}") from None
        _set_status("tuned", path, date)
        return
    except Exception as exc:  # noqa: BLE001 - a tuning file never stops an import
        why = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        _set_status("ignored", path, why=why)
    warnings.warn(f"linearc ignores the tuning file {path}: {why}; {REWRITE}",
                  RuntimeWarning, stacklevel=2)


def describe(tuning: Mapping[str, Any]) -> str:
    """get_config()["tuning"] as a sentence, for show_config()."""
    state = tuning["status"]
    if state == "tuned":
        where = tuning["file"] or f"in this process only: {tuning['why']}"
        return f"tuned on this machine, {tuning['date']} ({where})"
    if state == "off":
        return "off (LINEARC_TUNING=off)"
    if state == "ignored":
        return f"ignored: {tuning['why']}"
    return NOT_TUNED


# ---------------------------------------------------------------------------
# The decision.

def _decide(times: Mapping[K, Sequence[float]], incumbent: K,
            margin: float = MARGIN) -> K:
    """The key that wins, from seconds per round of each candidate (all
    measured in the same rounds, the incumbent among them): the incumbent
    unless a candidate's median is more than `margin` below the incumbent's
    and its per-round ratio to the incumbent has a median that is too. Of
    several such candidates, the lowest median."""
    base = times[incumbent]
    rounds = len(base)
    if rounds == 0 or any(len(t) != rounds for t in times.values()):
        raise ValueError("every candidate needs the same rounds as the incumbent")
    threshold = statistics.median(base) / (1.0 + margin)
    best, best_median = incumbent, statistics.median(base)
    for key, seconds in times.items():
        if key == incumbent:
            continue
        median = statistics.median(seconds)
        paired = statistics.median(b / s for b, s in zip(base, seconds))
        if median < threshold and paired > 1.0 + margin and median < best_median:
            best, best_median = key, median
    return best


# ---------------------------------------------------------------------------
# Progress, on stderr.

class _Progress:
    """A one-line progress bar: rewritten in place on a terminal, one line
    per update otherwise; nothing when disabled."""

    WIDTH = 24

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.shown = 0  # characters of the bar on screen (tty)

    def bar(self, fraction: float, text: str) -> None:
        if not self.enabled:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        done = int(round(fraction * self.WIDTH))
        line = f"tuning [{'#' * done}{'.' * (self.WIDTH - done)}] {fraction:4.0%}  {text}"
        if self.tty:
            self.stream.write("\r" + line.ljust(self.shown))
            self.shown = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own (the bar, on a terminal, is redrawn after it)."""
        if not self.enabled:
            return
        if self.tty and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.shown = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = 0


# ---------------------------------------------------------------------------
# What is measured.

Shape = tuple[int, int, int]  # m, n, k: an (m, k) input, n outputs


def _shape_text(s: Shape) -> str:
    return f"({s[0]}, {s[2]})->{s[1]}"


def _packed_shapes(dtype: str) -> list[Shape]:
    """The packed path's shapes, each call some 10-25 ms on 2 cores: a
    square-ish product with a K long enough for two big K blocks, an MLP
    layer, the same at a power-of-two width (slower on Intel), and a medium
    layer."""
    if dtype == "float32":  # 4.3, 4.8, 1.6 and 0.5 GFLOP
        return [(1024, 1024, 2048), (1024, 3072, 768), (1024, 1024, 768), (256, 1024, 1024)]
    # float64 runs at half the rate: 2.4, 2.4, 1.6 and 0.5 GFLOP
    return [(1024, 768, 1536), (512, 3072, 768), (1024, 1024, 768), (256, 1024, 1024)]


_ROW_GRID = (32, 64, 128, 192, 256, 384, 512)  # direct_rows' candidates


def _row_shapes(rows: int) -> list[Shape]:
    """Few-row shapes for the direct/blocked limit: medium and MLP widths,
    and a small layer, since the one limit serves every shape."""
    return [(rows, 1024, 1024), (rows, 3072, 768), (rows, 256, 256)]


_DIRECT_SHAPES: list[Shape] = [(32, 1024, 2048), (128, 3072, 1024)]

# Which calibration probe estimates a stage of each parameter.
_KIND = {"kc": "packed", "mc": "packed", "direct_rows": "rows", "kc_direct": "direct"}


def _scaled(current: int, factors: Sequence[float], step: int, low: int,
            high: int) -> list[int]:
    """current * each factor, rounded to a multiple of step, within [low, high]."""
    out = []
    for f in factors:
        v = int(round(current * f / step)) * step
        out.append(min(max(v, low), high))
    return out


@dataclass
class _Comparison:
    """Candidates (label -> parameters) timed on the same shapes, one of
    them the incumbent; seconds[label][round][shape]."""

    name: str
    shapes: list[Shape]
    candidates: dict[Any, dict[str, int]]
    incumbent: Any
    seconds: dict[Any, list[list[float]]] = field(default_factory=dict)

    def scores(self, rounds: int) -> dict[Any, list[float]]:
        """Per round, each candidate's geometric mean over the shapes: its
        ratios to the incumbent are the geometric means of the shapes'."""
        return {label: [math.exp(statistics.fmean(math.log(t) for t in per_round))
                        for per_round in runs[:rounds]]
                for label, runs in self.seconds.items()}


@dataclass
class _Stage:
    """One parameter of one dtype: its comparisons, run together in rounds."""

    dtype: str
    param: str
    build: Callable[[], list[_Comparison]]
    finish: Callable[[list[_Comparison], int], dict[str, Any]]
    second: bool = False  # a second pass, run only with time to spare


class _OutOfTime(Exception):
    pass


class _Tuner:
    def __init__(self, seconds: float, progress: _Progress) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + seconds
        self.budget = seconds
        self.progress = progress
        self.threads = _linearc.get_num_threads()
        raw = _config()
        self.raw = raw
        # The incumbents: the values before any tuning (see `baseline`).
        self.current = {d: dict(baseline.get(d) or _current()[d]) for d in DTYPES}
        self.nc = {d: int(raw[d]["nc"]) for d in DTYPES}
        self.context_kc = {d: int(raw[d]["kc"]) for d in DTYPES}  # what _time_gemm starts from
        self.model = {d: dict(raw[d]["model"]) for d in DTYPES}
        # What LINEARC_BLOCKING_F32 / _F64 set stays, so it is not measured.
        self.env = {d: [p for p in TUNED if raw[d]["origin"][p] == "environment"]
                    for d in DTYPES}
        # flop/s per (dtype, parameter), from a first call of a shape like its stage's
        self.rate: dict[tuple[str, str], float] = {}
        # Seconds measured and estimated so far, per parameter and overall ("*"):
        # their ratio scales the estimates (few-row products, and any product
        # on a busy machine, run far below the first call's rate).
        self.spent: dict[str, list[float]] = {"*": [0.0, 0.0]}
        self.costs: list[float] = []  # estimated seconds per round of each stage
        self.fraction = 0.0  # of the run done, as the progress bar shows it
        self.chosen: dict[str, dict[str, int]] = {d: {} for d in DTYPES}
        self.measured: dict[str, dict[str, Any]] = {d: {} for d in DTYPES}
        self.stopped: str | None = None

    # -- timing -------------------------------------------------------------

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def calibrate(self, dtype: str) -> None:
        """The rates every estimate starts from: one packed product, one
        few-row product on the packed path (the slower of the two that
        direct_rows compares) and one on the direct path."""
        probes = {
            "packed": (_packed_shapes(dtype)[0], 1, self.params(dtype, direct_rows=0)),
            "rows": ((128, 1024, 1024), 3, self.params(dtype, direct_rows=0)),
            "direct": (_DIRECT_SHAPES[0], 3, self.params(dtype, direct_rows=_FORCE_DIRECT)),
        }
        for kind, (s, repeats, params) in probes.items():
            t0 = time.monotonic()
            seconds = _linearc._time_gemm(s[0], s[1], s[2], dtype, self.threads, params,
                                          repeats, "fwd")
            wall = time.monotonic() - t0
            rate = 2.0 * s[0] * s[1] * s[2] / max(min(seconds), 1e-6)
            for param, of in _KIND.items():
                if of == kind:
                    self.rate[dtype, param] = rate
            # what the warm-up and the operands cost beyond the estimate
            self.spent["*"][0] += wall
            self.spent["*"][1] += (repeats + 1) * min(seconds) + self._fill(s)

    def call_est(self, dtype: str, param: str, s: Shape) -> float:
        return 2.0 * s[0] * s[1] * s[2] / self.rate[dtype, param]

    def repeats(self, dtype: str, param: str, s: Shape) -> int:
        return min(max(round(_BURST_S / self.call_est(dtype, param, s)), 1), 8)

    @staticmethod
    def _fill(s: Shape) -> float:
        """Seconds to allocate and fill a shape's operands, roughly."""
        return (s[0] * s[2] + s[2] * s[1] + s[0] * s[1]) * 1e-9

    def burst_est(self, dtype: str, param: str, s: Shape) -> float:
        # the calls, a warm-up among them, and filling the operands
        return ((self.repeats(dtype, param, s) + 1) * self.call_est(dtype, param, s)
                + self._fill(s))

    def round_est(self, stage: _Stage, comparisons: list[_Comparison]) -> float:
        return sum(len(c.candidates) * self.burst_est(stage.dtype, stage.param, s)
                   for c in comparisons for s in c.shapes)

    def burst(self, dtype: str, param: str, s: Shape, params: dict[str, int]) -> float:
        """The fastest of a short burst of calls (for a stage of `param`)."""
        if time.monotonic() >= self.deadline:
            raise _OutOfTime
        t0 = time.monotonic()
        seconds = _linearc._time_gemm(s[0], s[1], s[2], dtype, self.threads, params,
                                      self.repeats(dtype, param, s), "fwd")
        wall, est = time.monotonic() - t0, self.burst_est(dtype, param, s)
        for key in ("*", param):
            spent = self.spent.setdefault(key, [0.0, 0.0])
            spent[0] += wall
            spent[1] += est
        return min(seconds)

    # -- candidates ---------------------------------------------------------

    def params(self, dtype: str, **overrides: int) -> dict[str, int]:
        """All four tuned parameters for a timing: the incumbents, with what
        earlier stages chose and then `overrides` (so that values an older
        tuning file put into this process play no part)."""
        values = {**self.current[dtype], **self.chosen[dtype], **overrides}
        return _ordered(values, self.context_kc[dtype])

    def _kc_ok(self, dtype: str, kc: int) -> bool:
        nc = self.nc[dtype]
        return _kc_max_for(kc) * nc * SIZES[dtype] <= _PANEL_LIMIT

    # The block sizes, each in two passes: the incumbent times a few factors,
    # then, only if a candidate at an end of that range won and time is
    # left, further in that direction from it.
    _FACTORS = {"kc": (0.5, 0.75, 1, 1.5, 2, 3), "mc": (0.25, 0.5, 0.75, 1, 1.5, 2),
                "kc_direct": (0.5, 0.75, 1, 1.5, 2, 3)}

    def _range(self, dtype: str, param: str) -> tuple[int, int, int]:
        """(step, lowest, highest) of a block size's candidates."""
        if param != "mc":
            return 8, 32, 2048
        tile_rows = int(self.raw[dtype]["tile"][0])
        kc = {**self.current[dtype], **self.chosen[dtype]}["kc"]
        fits = self.raw["cpu"]["l2"]["size"] // (kc * SIZES[dtype])
        # Rows beyond what a thread gets in any shape cannot be told apart.
        per_thread = max(-(-s[0] // self.threads) for s in _packed_shapes(dtype))
        high = min(fits // tile_rows, -(-per_thread // tile_rows)) * tile_rows
        return tile_rows, tile_rows, max(high, tile_rows)

    def _candidate(self, dtype: str, param: str, value: int) -> dict[str, int]:
        if param == "kc_direct":
            return self.params(dtype, kc_direct=value, direct_rows=_FORCE_DIRECT)
        return self.params(dtype, **{param: value, "direct_rows": 0})

    def stage_block(self, dtype: str, param: str,
                    around: tuple[int, int] | None = None) -> _Stage:
        """kc, mc or kc_direct; `around` (winner, +1 or -1) for a second pass."""
        def build() -> list[_Comparison]:
            step, low, high = self._range(dtype, param)
            if around is None:
                incumbent = self.current[dtype][param]
                values = _scaled(incumbent, self._FACTORS[param], step, low, high)
                values.append(self.model[dtype][param])
            else:
                incumbent, direction = around
                factors = (4 / 3, 5 / 3, 2) if direction > 0 else (0.5, 0.75)
                values = _scaled(incumbent, factors, step, low, high)
            ok = {v for v in values if low <= v <= high
                  and (param != "kc" or self._kc_ok(dtype, v))}
            cands = {v: self._candidate(dtype, param, v) for v in sorted(ok | {incumbent})}
            shapes = _DIRECT_SHAPES if param == "kc_direct" else _packed_shapes(dtype)
            return [_Comparison(f"{dtype} {param}", shapes, cands, incumbent)]
        return _Stage(dtype, param, build, self._finish_block(param), around is not None)

    def second_pass(self, stage: _Stage, record: dict[str, Any]) -> _Stage | None:
        """Another pass of a block size whose winner was at an end of its
        candidates (and not the incumbent), beyond that end; else None."""
        if stage.second or stage.param == "direct_rows" or record["chose"] == record["was"]:
            return None
        tried = sorted(int(v) for v in record["speed_vs_was"])
        step, low, high = self._range(stage.dtype, stage.param)
        win = record["chose"]
        if win == tried[-1] and win < high:
            return self.stage_block(stage.dtype, stage.param, (win, +1))
        if win == tried[0] and win > low:
            return self.stage_block(stage.dtype, stage.param, (win, -1))
        return None

    def _finish_block(self, param: str) -> Callable[[list[_Comparison], int], dict[str, Any]]:
        def finish(comparisons: list[_Comparison], rounds: int) -> dict[str, Any]:
            (comp,) = comparisons
            scores = comp.scores(rounds)
            win = _decide(scores, comp.incumbent)
            base = statistics.median(scores[comp.incumbent])
            speed = {str(label): round(base / statistics.median(s), 3)
                     for label, s in scores.items()}
            return {"value": win, "record": {
                "was": comp.incumbent, "chose": win, "speedup": speed[str(win)],
                "rounds": rounds, "shapes": [_shape_text(s) for s in comp.shapes],
                "speed_vs_was": speed}}
        return finish

    def stage_direct_rows(self, dtype: str) -> _Stage:
        def build() -> list[_Comparison]:
            cur = self.current[dtype]["direct_rows"]
            return [_Comparison(f"{dtype} direct/blocked at {r} rows", _row_shapes(r),
                                {"direct": self.params(dtype, direct_rows=_FORCE_DIRECT),
                                 "blocked": self.params(dtype, direct_rows=0)},
                                "direct" if r <= cur else "blocked")
                    for r in _ROW_GRID]

        def finish(comparisons: list[_Comparison], rounds: int) -> dict[str, Any]:
            floor = self.raw[dtype]["direct_tile"][0]
            value, ratios = floor, {}
            for r, comp in zip(_ROW_GRID, comparisons):
                scores = comp.scores(rounds)
                ratios[str(r)] = round(statistics.median(scores["blocked"])
                                       / statistics.median(scores["direct"]), 3)
                if _decide(scores, comp.incumbent) == "direct":
                    value = max(value, r)
            return {"value": value, "record": {
                "was": self.current[dtype]["direct_rows"], "chose": value,
                "rounds": rounds, "shapes": [_shape_text(s) for s in _row_shapes(0)],
                "blocked_over_direct": ratios}}
        return _Stage(dtype, "direct_rows", build, finish)

    # -- the run ------------------------------------------------------------

    def stages(self) -> list[_Stage]:
        """In order of value: the packed path's kc then mc (a coordinate
        search: mc with the best kc), float32 then float64, then the direct
        path's limit and its K block."""
        out = [self.stage_block(d, p) for d in DTYPES for p in ("kc", "mc")]
        out += [self.stage_direct_rows(d) for d in DTYPES]
        out += [self.stage_block(d, "kc_direct") for d in DTYPES]
        return [st for st in out if st.param not in self.env[st.dtype]]

    def run(self) -> None:
        stages = self.stages()
        for dtype in DTYPES:
            if self.left() <= 0:
                break
            self.calibrate(dtype)
        if len(self.rate) < len(DTYPES) * len(_KIND):
            self.stopped = "the time ran out while calibrating"
            self.progress.note(f"stopped early: {self.stopped}; nothing measured")
            return
        # Seconds per round of each stage, from the first calls' rate; each
        # stage's own is refreshed when it starts (mc's depends on kc's result).
        self.costs = [self.round_est(st, st.build()) for st in stages]
        i = 0
        while i < len(stages):  # second passes join the end of the list
            stage = stages[i]
            i += 1
            comparisons = stage.build()
            self.costs[i - 1] = self.round_est(stage, comparisons)
            this = self.costs[i - 1] * self.slow(stage.param)

            def later(i: int = i) -> float:
                """Seconds of one round of each first pass after this one."""
                return sum(self.costs[j] * self.slow(stages[j].param)
                           for j in range(i, len(stages)) if not stages[j].second)

            # An equal number of rounds for this stage and the ones after it.
            rounds = min(max(int(0.9 * self.left() / (this + later())), MIN_ROUNDS),
                         MAX_ROUNDS)
            if _SAFETY * MIN_ROUNDS * this > self.left():
                why = (f"needs ~{MIN_ROUNDS * this:.0f} s, "
                       f"{max(self.left(), 0):.0f} s left")
                if stage.second:  # optional: the first pass stands
                    self.measured[stage.dtype][stage.param]["second_pass"] = {"skipped": why}
                    continue
                self.measured[stage.dtype][stage.param] = {"skipped": why}
                self.progress.note(f"skipped {stage.dtype} {stage.param}: {why}")
                self.stopped = "not everything fit in the time budget"
                continue
            began = time.monotonic()
            done = self._measure(stage, comparisons, rounds, later)
            if done < MIN_ROUNDS and stage.second:
                self.measured[stage.dtype][stage.param]["second_pass"] = {
                    "skipped": f"no time for {MIN_ROUNDS} rounds (did {done})"}
                continue
            if done < MIN_ROUNDS:
                self.measured[stage.dtype][stage.param] = {
                    "skipped": f"no time for {MIN_ROUNDS} rounds (did {done})"}
                self.progress.note(f"gave up {stage.dtype} {stage.param}: no time for "
                                   f"{MIN_ROUNDS} rounds (did {done})")
                self.stopped = "not everything fit in the time budget"
                continue
            result = stage.finish(comparisons, done)
            record = result["record"]
            record["seconds"] = round(time.monotonic() - began, 1)
            self.chosen[stage.dtype][stage.param] = int(result["value"])
            self.progress.note(self._sentence(stage, record))
            if stage.second:
                first = self.measured[stage.dtype][stage.param]
                first["second_pass"] = record
                first["chose"] = record["chose"]
                first["speedup"] = round(first["speedup"] * record["speedup"], 3)
                continue
            self.measured[stage.dtype][stage.param] = record
            extra = self.second_pass(stage, record)
            if extra is not None:
                stages.append(extra)
                self.costs.append(self.round_est(extra, extra.build()))

    def slow(self, param: str) -> float:
        """Measured over estimated seconds, for a stage of this parameter
        (of any, before one has run)."""
        wall, est = self.spent.get(param) or self.spent["*"]
        return wall / est if est > 0 else 1.0

    def _measure(self, stage: _Stage, comparisons: list[_Comparison], rounds: int,
                 later: Callable[[], float]) -> int:
        """Time the comparisons round after round; the rounds completed.
        Stops before a round that cannot end in time, or past MIN_ROUNDS
        before one that would leave less than MIN_ROUNDS of each later stage
        (`later()`: one round of each, in seconds, as now estimated)."""
        for comp in comparisons:
            comp.seconds = {label: [] for label in comp.candidates}
        began = time.monotonic()
        for r in range(rounds):
            if r:
                per_round = (time.monotonic() - began) / r
                if r < MIN_ROUNDS and (MIN_ROUNDS - r) * per_round > self.left():
                    return r
                if (r >= MIN_ROUNDS
                        and per_round > self.left() - _SAFETY * MIN_ROUNDS * later()):
                    return r
            try:
                for comp in comparisons:
                    labels = list(comp.candidates)
                    for label in labels:
                        comp.seconds[label].append([])
                    for si, s in enumerate(comp.shapes):
                        shift = (r + si) % len(labels)
                        for label in labels[shift:] + labels[:shift]:
                            t = self.burst(stage.dtype, stage.param, s,
                                           comp.candidates[label])
                            comp.seconds[label][r].append(t)
            except _OutOfTime:
                return r
            elapsed = time.monotonic() - self.start
            per_round = (time.monotonic() - began) / (r + 1)
            rest = (rounds - r - 1) * per_round + MIN_ROUNDS * later()
            self.fraction = max(self.fraction,
                                elapsed / (elapsed + max(min(rest, self.left()), 0.0)))
            self.progress.bar(self.fraction,
                              f"{stage.dtype} {stage.param}: round {r + 1}/{rounds}, "
                              f"{elapsed:.0f} s of {self.budget:.0f}")
        return rounds

    def _sentence(self, stage: _Stage, record: dict[str, Any]) -> str:
        head = f"{stage.dtype} {stage.param}{' (second pass)' if stage.second else ''}: "
        if stage.param == "direct_rows":
            ratios = ", ".join(f"{r}: {v:.2f}" for r, v in
                               record["blocked_over_direct"].items())
            return (head + f"{record['chose']} (was {record['was']}; blocked/direct "
                    f"time by rows {ratios}; {record['rounds']} rounds in "
                    f"{record['seconds']:.0f} s)")
        kept = record["chose"] == record["was"]
        return head + (f"{record['chose']} (kept; " if kept else
                       f"{record['chose']} (was {record['was']}, {record['speedup']:.3f}x; ") + \
            f"{record['rounds']} rounds in {record['seconds']:.0f} s)"


# ---------------------------------------------------------------------------
# Writing the file.

def _write(path: Path, record: Mapping[str, Any]) -> None:
    """record as JSON at path, atomically (a temporary file, then os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tuning-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _file_in_the_way(folder: Path) -> Path | None:
    """The first of folder and its parents that exists and is no folder
    (XDG_CACHE_HOME naming a file), or None."""
    for p in (folder, *folder.parents):
        if os.path.lexists(p):
            return None if p.is_dir() else p
    return None


def _load_average() -> float | None:
    """The 1-minute load average, or None where there is none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def tune(seconds: float = DEFAULT_SECONDS, *, progress: bool = True) -> dict[str, Any]:
    """Measure this machine's best block sizes, apply them in this process
    and store them for the next ``import linearc``.

    Times linearc's GEMM (on ``get_num_threads()`` threads) with candidate
    values of, for float32 and float64: ``kc`` and ``mc`` of the packed path
    (on a square-ish product, an MLP layer at widths 3072 and 1024, and a
    medium layer), ``direct_rows`` (the direct and the packed path compared
    at 32 to 512 rows; the largest row count where the direct path still
    wins) and ``kc_direct`` (on few-row shapes). Candidates are linearc's
    own values (the model's or the measured table's, never an earlier
    tuning's) times 0.5-3 and the cache model's; a block size whose winner
    lies at an end of those gets a second pass beyond it if time is left.
    Within a round every
    candidate is timed once, as a short burst, in a rotating order; a
    candidate replaces the incumbent only if its median over the rounds is
    more than 3% below the incumbent's median over the same rounds (and so
    is its median per-round ratio to it), so noise keeps what is there.

    ``seconds`` bounds the whole run (default 60): the rounds per parameter
    (3 to 7) are planned to fit, the time is checked before every burst, and
    what does not fit is skipped and reported; a bool or a string is a
    TypeError, zero, a negative, NaN or infinity a ValueError. Only what was measured is
    stored and applied. Block sizes change speed only, never a bit of any
    result.

    The file, ``tuning-<hash of this machine's signature>.json`` in
    ``$XDG_CACHE_HOME/linearc`` (else, or if it is not an absolute path,
    ``~/.cache/linearc``), is written
    atomically; if it cannot be written, a RuntimeWarning says so and the
    values apply in this process only. ``LINEARC_TUNING=off`` only stops
    ``import linearc`` from reading the file: ``tune()`` always writes and
    applies. ``progress=False`` prints nothing (otherwise a progress bar on
    stderr). Returns the record written, with "file" (its path, or None).
    """
    from . import __version__

    # bool is an int, and float("10") a number: neither is a time given as one
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise TypeError(f"seconds must be a real number, not {type(seconds).__name__}")
    seconds = float(seconds)
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    raw = _config()
    blocked = [name for name, dtype in (("LINEARC_BLOCKING_F32", "float32"),
                                        ("LINEARC_BLOCKING_F64", "float64"))
               if any(raw[dtype]["origin"][p] == "environment" for p in TUNED)]
    bar = _Progress(progress)
    if blocked:
        bar.note(f"{' and '.join(blocked)} set: their values stay and are not tuned")
    sig = signature(__version__)
    path = file_for(sig)
    load_before = _load_average()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if load_before is not None and cpus and load_before > 0.5 * cpus:
        bar.note(f"note: load average {load_before:.1f} on {cpus} CPUs: other programs "
                 "are running, so timings are noisy (only wins over 3% count)")
    tuner = _Tuner(seconds, bar)
    bar.bar(0.0, f"measuring this machine, at most {seconds:.0f} s")
    try:
        tuner.run()
    finally:
        bar.close()
    elapsed = time.monotonic() - tuner.start
    values = {d: {p: tuner.chosen[d][p] for p in TUNED if p in tuner.chosen[d]}
              for d in DTYPES}
    date = datetime.now().astimezone().isoformat(timespec="seconds")
    record: dict[str, Any] = {
        "format": FORMAT,
        "signature": sig,
        "date": date,
        "seconds": round(elapsed, 1),
        "complete": tuner.stopped is None,
        "load_average": [load_before, _load_average()],  # before and after, 1 min
        "values": values,
        "before": {d: {p: tuner.current[d][p] for p in TUNED} for d in DTYPES},
        "model": {d: {p: tuner.model[d][p] for p in TUNED} for d in DTYPES},
        "measured": tuner.measured,
    }
    if tuner.stopped:
        bar.note(f"stopped early ({tuner.stopped}) after {elapsed:.0f} s; "
                 "what was measured is kept")
    if not any(values.values()):
        bar.note("nothing was measured: no file written")
        record["file"] = None
        return record
    _apply(values)
    try:
        _write(path, record)
    except OSError as exc:
        blocker = _file_in_the_way(path.parent)
        why = (f"could not write {path}: {blocker} is a file, not a folder"
               if blocker is not None else f"could not write {path}: {exc}")
        _set_status("tuned", None, date, why)
        warnings.warn(f"linearc.tune(): {why}; the values apply in this process only",
                      RuntimeWarning, stacklevel=2)
        record["file"] = None
        return record
    _set_status("tuned", path, date)
    bar.note(f"wrote {path} in {elapsed:.0f} s")
    record["file"] = str(path)
    return record


# ---------------------------------------------------------------------------
# python -m linearc tune

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m linearc tune",
        description=(
            "Measure this machine's block sizes for linearc's GEMM (kc and mc "
            "of the packed path, kc_direct and direct_rows of the direct path, "
            "for float32 and float64), apply them and store them in "
            f"{cache_folder()} for every later `import linearc` "
            "(LINEARC_TUNING=off ignores the file). They change speed only, "
            "never a bit of a result."))
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, metavar="S",
                        help=f"the most time to spend, in seconds (default "
                             f"{DEFAULT_SECONDS:.0f})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _table(record: Mapping[str, Any]) -> Iterator[str]:
    yield f"{'':8} {'parameter':12} {'model':>6} {'before':>6} {'chosen':>6}  measured"
    for dtype in DTYPES:
        for p in TUNED:
            chosen = record["values"][dtype].get(p)
            m = record["measured"][dtype].get(p, {})
            if "skipped" in m:
                what = f"not measured: {m['skipped']}"
            elif p == "direct_rows" and m:
                what = "blocked/direct " + ", ".join(
                    f"{r}:{v:.2f}" for r, v in m["blocked_over_direct"].items())
            elif m:
                what = f"{m['speedup']:.3f}x as fast as before, {m['rounds']} rounds"
                second = m.get("second_pass", {})
                if "rounds" in second:
                    what += f" + {second['rounds']} beyond the first candidates"
            else:
                what = "not measured"
            yield (f"{dtype:8} {p:12} {record['model'][dtype][p]:>6} "
                   f"{record['before'][dtype][p]:>6} "
                   f"{'-' if chosen is None else chosen:>6}  {what}")


def main(argv: Sequence[str] | None = None) -> None:
    """python -m linearc tune [--seconds S] [--quiet]."""
    args = _parser().parse_args(argv)
    if not args.seconds > 0 or math.isinf(args.seconds):
        _parser().error(f"--seconds must be a positive number, got {args.seconds}")
    record = tune(args.seconds, progress=not args.quiet)
    for line in _table(record):
        print(line)
    print(f"file: {record['file'] or 'none written'}")
