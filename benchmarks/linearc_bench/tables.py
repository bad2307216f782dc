"""The tables, as markdown: printed row by row while measuring, and again
in latest.md. Every ratio is other time / linearc time (> 1: linearc is
faster); every title names the CPU."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .timing import fmt_time

RATIO_NOTE = "ratio = other time / linearc time, > 1 means linearc is faster"


@dataclass
class Table:
    title: str
    columns: list[tuple[str, Callable[[dict], str]]]

    def header(self) -> list[str]:
        heads = [name for name, _ in self.columns]
        align = ["---" if i < 2 else "---:" for i in range(len(heads))]
        return [f"### {self.title}", "", "| " + " | ".join(heads) + " |",
                "|" + "|".join(align) + "|"]

    def line(self, row: dict) -> str:
        return "| " + " | ".join(cell(row) for _, cell in self.columns) + " |"

    def render(self, rows: list[dict]) -> list[str]:
        return self.header() + [self.line(r) for r in rows] + [""]


def _timing(row, name):
    return row["results"].get(name)


def _cell(name: str, fmt: Callable[[dict], str]) -> Callable[[dict], str]:
    """A cell from contender `name`'s timing: "wrong", "-" or fmt(it)."""
    def cell(row):
        v = _timing(row, name)
        if v is None:
            return "-"
        return "wrong" if "wrong" in v else fmt(v)
    return cell


def _ratio(key: str) -> Callable[[dict], str]:
    def cell(row):
        v = row["ratios"].get(key)
        return "-" if v is None else f"{v:.2f}x"
    return cell


def _best(row) -> str:
    v = row["ratios"].get("best rival/linearc")
    return "-" if v is None else f"{v:.2f}x ({row['best_rival']})"


def _pct(v) -> str:
    return "-" if v.get("pct_peak") is None else f"{v['pct_peak']:.0f}%"


def _case_columns(*extra) -> list:
    return [("case", lambda r: r["case"]), ("dtype", lambda r: r["dtype"]),
            *extra]


def _ratio_columns(names: list[str]) -> list:
    rivals = [n for n in names if n != "linearc"]
    return [(f"{n}/linearc", _ratio(f"{n}/linearc")) for n in rivals] + \
        [("best rival/linearc", _best)]


def forward(names: list[str], where: str, isa: str = "") -> Table:
    label = f", LINEARC_ISA={isa} (% of the {isa} FMA peak)" if isa else ""
    gflops = [(f"{n} GFLOP/s", _cell(n, lambda v: f"{v['gflops']:.1f}"))
              for n in names]
    return Table(
        f"Forward{label}: median time per call, GFLOP/s; {RATIO_NOTE} "
        f"({where})",
        _case_columns(
            ("linearc", _cell("linearc", lambda v: fmt_time(v["median_s"]))),
            gflops[0], ("% peak", _cell("linearc", _pct)))
        + gflops[1:] + _ratio_columns(names))


def weight_read(names: list[str], where: str) -> Table:
    """GB/s of the weight read, and % of the probe's read bandwidth."""
    def cell(name):
        def fmt(row):
            v = row["weight_read"].get(name)
            if v is None:
                return "-" if name not in row["results"] else "wrong"
            pct = "" if v["pct_bandwidth"] is None else \
                f" ({v['pct_bandwidth']:.0f}%)"
            return f"{v['gbs']:.1f}{pct}"
        return fmt
    return Table(
        "Weight read rate of the memory-bound cases, GB/s (% of the "
        f"measured read bandwidth) ({where})",
        _case_columns() + [(n, cell(n)) for n in names])


def overhead(names: list[str], where: str) -> Table:
    return Table(
        f"Per-call overhead, µs; {RATIO_NOTE}; targets numpy/linearc >= 2, "
        f"torch/linearc >= 3.3 ({where})",
        _case_columns(("out=", lambda r: "yes" if r["with_out"] else "no"))
        + [(f"{n} µs", _cell(n, lambda v: f"{v['median_s'] * 1e6:.2f}"))
           for n in names] + _ratio_columns(names))


def backward(names: list[str], where: str) -> Table:
    return Table(
        f"Forward + backward (one step, median); {RATIO_NOTE} ({where})",
        _case_columns(("linearc GFLOP/s",
                       _cell("linearc", lambda v: f"{v['gflops']:.1f}")))
        + [(n, _cell(n, lambda v: fmt_time(v["median_s"]))) for n in names]
        + _ratio_columns(names)
        + [("linearc backward / forward GFLOP/s", _backward_vs_forward_cell)])


def _backward_vs_forward_cell(row) -> str:
    v = row.get("backward_vs_forward")
    return "-" if v is None else f"{v:.2f}"


def widths(names: list[str], where: str) -> Table:
    """GFLOP/s at a power-of-two width and 16 wider, and their ratio."""
    def gf(name, key):
        return lambda r: "-" if r[key].get(name) is None else f"{r[key][name]:.1f}"

    def ratio(name):
        return lambda r: "-" if name not in r["ratio"] else f"{r['ratio'][name]:.3f}"
    columns = [("output width", lambda r: f"{r['width']} vs {r['width'] + 16}"),
               ("dtype", lambda r: r["dtype"])]
    for n in names:
        columns += [(f"{n} GFLOP/s", lambda r, n=n: f"{gf(n, 'gflops')(r)} / "
                     f"{gf(n, 'gflops_wider')(r)}"),
                    (f"{n} ratio", ratio(n))]
    return Table(
        "Power-of-two output widths against 16 wider: GFLOP/s of "
        "(2048, 1024) -> width / -> width + 16, and their ratio (1.00: the "
        f"width costs nothing) ({where})", columns)


HALF_NOTE = ("GFLOP/s of x @ W.T + b; * one call only (it took over 3 s); "
             "† a result outside the half-precision bound (timed all the same); "
             "float16/float32 = linearc float16 GFLOP/s / linearc float32 GFLOP/s "
             "(> 1: the half layer is faster); other/linearc = other time / linearc "
             "time of the same half type (> 1: linearc is faster); numpy float16 "
             "runs on one thread (no BLAS); ml_dtypes bfloat16 @ returns float32")


def half(where: str) -> Table:
    """The half-precision section: GFLOP/s of every contender, the half
    layers against linearc float32, the others against linearc."""
    def gf(name):
        def cell(row):
            v = row["results"].get(name)
            if v is None:
                return "-"
            if "wrong" in v:
                return "wrong"
            return (f"{v['gflops']:.1f}" + ("*" if v.get("single_call") else "")
                    + ("†" if v.get("outside_bound") else ""))
        return cell

    def ratio(key):
        def cell(row):
            v = row["ratios"].get(key)
            return "-" if v is None else f"{v:.2f}x"
        return cell
    columns = [("case", lambda r: r["case"]),
               ("linearc float32", gf("linearc float32")),
               ("linearc float16", gf("linearc float16")),
               ("float16/float32", ratio("float16/float32")),
               ("linearc bfloat16", gf("linearc bfloat16")),
               ("bfloat16/float32", ratio("bfloat16/float32"))]
    columns += [(name, gf(name)) for name in
                ("numpy float16", "ml_dtypes bfloat16", "torch float16", "torch bfloat16")]
    columns += [(label, ratio(f"{other}/{ours}")) for label, other, ours in (
        ("numpy f16/linearc", "numpy float16", "linearc float16"),
        ("torch f16/linearc", "torch float16", "linearc float16"),
        ("ml_dtypes bf16/linearc", "ml_dtypes bfloat16", "linearc bfloat16"),
        ("torch bf16/linearc", "torch bfloat16", "linearc bfloat16"))]
    return Table(f"Half precision forward: GFLOP/s (median); {HALF_NOTE} ({where})", columns)
