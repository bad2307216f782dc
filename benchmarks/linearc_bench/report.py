"""The result files: JSON (everything, to compare runs later), markdown
(the header and the tables) and the PNG chart, written to
<results root>/<cpu slug>/ so that a run writes only its own CPU's folder.
"""
from __future__ import annotations

import datetime
import json
import os

from . import machine, probes, tables
from .chart import chart
from .contenders import NAMES
from .overhead import memory_line


def _names(rows: list[dict]) -> list[str]:
    """The contenders that appear in these rows, in the usual order."""
    return [n for n in NAMES if any(n in r["results"] for r in rows)]


def header(report: dict) -> list[str]:
    m = report["machine"]
    lines = [f"## linearc benchmark on {m['cpu']['label']}", ""]
    lines += [f"- {line}" for line in machine.describe(m)]
    lines += [f"- {line}" for line in
              probes.describe(report["peaks"], report["bandwidth"])]
    lines.append(f"- mode {report['mode']}, {report['elapsed_s']:.0f} s; "
                 f"load average (1 min) {m['loadavg_start'][0]:.2f} at "
                 f"start, {report['loadavg_end'][0]:.2f} at end")
    lines += ["", report["fairness"], ""]
    return lines


def _section_tables(report: dict, where: str) -> list[str]:
    lines = []
    fwd = report.get("forward") or []
    if fwd:
        lines += tables.forward(_names(fwd), where).render(fwd)
    avx2 = [r["avx2"] for r in fwd if "avx2" in r]
    if avx2:
        lines += tables.forward(_names(avx2), where, "avx2").render(avx2)
    weight = [r for r in fwd if r.get("weight_bound")]
    if weight:
        lines += tables.weight_read(_names(weight), where).render(weight)
    over = report.get("overhead") or []
    if over:
        lines += tables.overhead(_names(over), where).render(over)
    for stmt, v in (report.get("memory") or {}).items():
        if isinstance(v, dict):
            lines.append(memory_line(report["memory_case"], stmt, v))
    if report.get("memory"):
        lines.append("")
    back = report.get("backward") or []
    if back:
        lines += tables.backward(_names(back), where).render(back)
    widths = report.get("widths") or []
    if widths:
        names = [n for n in NAMES if any(n in r["gflops"] for r in widths)]
        lines += tables.widths(names, where).render(widths)
    half = report.get("half") or []
    if half:
        lines += tables.half(where).render(half)
    return lines


def markdown(report: dict) -> str:
    where = report["machine"]["cpu"]["label"]
    return "\n".join(header(report) + _section_tables(report, where))


def write(report: dict, root: str) -> tuple[str, list[str]]:
    """Write the files; returns (folder, what was written or noted)."""
    folder = os.path.join(root, report["machine"]["cpu"]["slug"])
    os.makedirs(folder, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    written = []
    for name in (f"bench-{stamp}.json", "latest.json"):
        with open(os.path.join(folder, name), "w") as f:
            json.dump(report, f, indent=1, default=str)
        written.append(name)
    with open(os.path.join(folder, "latest.md"), "w") as f:
        f.write(markdown(report) + "\n")
    written.append("latest.md")
    png = os.path.join(folder, "latest.png")
    note = chart(report, png)
    if note and os.path.exists(png):
        os.remove(png)  # it showed an older run: latest.* agree or go
    written.append(f"no latest.png ({note})" if note else "latest.png")
    return folder, written
