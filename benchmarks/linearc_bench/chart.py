"""latest.png: GFLOP/s bars per forward case, one panel per dtype, with
the measured FMA peaks as lines; the title names the CPU."""
from __future__ import annotations

from .contenders import NAMES
from .probes import peak_for

COLORS = {"linearc": "tab:blue", "numpy": "tab:orange", "torch": "tab:red",
          "mkl": "tab:green", "linearc avx2": "tab:cyan"}


def _value(row: dict, series: str) -> float:
    v = row.get("avx2", {}).get("results", {}).get("linearc") \
        if series == "linearc avx2" else row["results"].get(series)
    return v.get("gflops", 0) if v else 0


def _panel(ax, rows: list[dict], series: list[str], report: dict) -> None:
    width = 0.8 / len(series)
    for i, s in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width
              for j in range(len(rows))]
        ax.bar(xs, [_value(r, s) for r in rows], width, label=s,
               color=COLORS[s])
    threads = report["machine"]["threads"]
    dtype = rows[0]["dtype"]
    for isa, style in ((rows[0]["isa"], "-"), ("avx2", "--")):
        peak = peak_for(report["peaks"], isa, dtype, threads)
        if peak and (isa == rows[0]["isa"] or "linearc avx2" in series):
            ax.axhline(peak, color="black" if style == "-" else "gray",
                       lw=1, ls=style,
                       label=f"{isa} FMA peak ({threads} threads)")
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["case"] for r in rows], rotation=15, fontsize=8)
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"Linear forward, {dtype}")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def chart(report: dict, path: str) -> str | None:
    """Write the chart; returns why not, if it could not."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed"
    rows = report.get("forward") or []
    if not rows:
        return "no forward results"
    dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
    series = [n for n in NAMES if any(n in r["results"] for r in rows)]
    if any("avx2" in r for r in rows):
        series.append("linearc avx2")
    fig, axes = plt.subplots(len(dtypes), 1, figsize=(14, 4.5 * len(dtypes)),
                             squeeze=False)
    for ax, dtype in zip(axes[:, 0], dtypes):
        _panel(ax, [r for r in rows if r["dtype"] == dtype], series, report)
    m = report["machine"]
    fig.suptitle(f"linearc {m['contenders']['linearc'].get('version')} on "
                 f"{m['cpu']['label']}, {m['threads']} threads "
                 f"({report['mode']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
