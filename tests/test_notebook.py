"""examples/linear_walkthrough.ipynb: it runs, its stored outputs are current,
and it exports to HTML that loads nothing from the internet.

The notebook is stored with its outputs, so that it shows its picture and
its plot when browsed. Here it runs top to bottom in a fresh python3 kernel
(this interpreter) with examples/ as its working directory, and every output
is compared with the stored one: texts exactly, except the values that
depend on the clock or on this machine's BLAS (masked by VOLATILE below) and
the cell tagged "machine-dependent" (show_config: only its keys); images by
presence and alt text, not bytes. After an intended change, refresh the
stored outputs with

    python tests/test_notebook.py
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOK = EXAMPLES / "linear_walkthrough.ipynb"
CELL_TIMEOUT = 120  # seconds per cell; the whole notebook takes a few seconds

RATIO_LINE = re.compile(r"final/initial loss = ([0-9.]+) \(< 0\.2\)")

# Values that differ from run to run or machine to machine: the training
# time, the local part of torch's version (its build), and the rounding errors of NumPy's and torch's BLAS (linearc's own
# bits are the same everywhere, but the float64 reference they are measured
# against comes from NumPy's BLAS).
VOLATILE = [
    (re.compile(r"\d+\.\d+ s\b"), "<seconds> s"),
    (re.compile(r"(torch \d+\.\d+\.\d+)\+\w+"), r"\1"),  # +cpu, +cu128...
    (re.compile(r"(difference:) \S+"), r"\1 <error>"),
    (re.compile(r"max error \S+\s+\(\d+% of the bound"),
     "max error <error> (<share> of the bound"),
]


def _python3_kernel_spec_manager(tmp_dir: Path) -> KernelSpecManager:
    """A kernelspec manager whose 'python3' runs this very interpreter.

    Always used, not only when no python3 kernelspec is installed: an
    installed one may point at another Python (a system Jupyter, another
    virtualenv) that cannot import this checkout of linearc.
    """
    spec_dir = tmp_dir / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher",
                 "-f", "{connection_file}"],
        "display_name": "Python 3 (linearc tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(tmp_dir / "kernels")],
                             ensure_native_kernel=False)


def execute(nb, tmp_dir: Path):
    """Run every cell of nb in place, as the stored outputs were made."""
    ksm = _python3_kernel_spec_manager(tmp_dir)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    client = nbclient.NotebookClient(
        nb, km=km, kernel_name="python3", timeout=CELL_TIMEOUT,
        startup_timeout=120, record_timing=False,
        resources={"metadata": {"path": str(EXAMPLES)}})
    # The kernel inherits this environment: a non-interactive matplotlib
    # backend, so nothing needs a display.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPLBACKEND", "Agg")
        client.execute()  # raises CellExecutionError on the first failing cell
    return nb


@pytest.fixture(scope="module")
def stored():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after running every cell (module scope: run it once)."""
    return execute(nbformat.read(NOTEBOOK, as_version=4),
                   tmp_path_factory.mktemp("jupyter"))


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _tagged(nb, tag):
    cells = [c for c in _code_cells(nb) if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{len(cells)} cells tagged {tag!r}, expected 1"
    return cells[0]


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def _stable(text: str, machine_dependent: bool) -> str:
    """text without what may change between runs and machines."""
    if machine_dependent:  # keep the first word of each line
        return "\n".join(line.split(" ", 1)[0] for line in text.splitlines())
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def _comparable(cell):
    """What of a cell's outputs must be the same on every run."""
    machine = "machine-dependent" in cell.metadata.get("tags", [])
    outputs = []
    for out in cell.outputs:
        if out.output_type == "stream":
            outputs.append(("stream", out.name, _stable(out.text, machine)))
        elif out.output_type in ("execute_result", "display_data"):
            data = {}
            for mime, value in out.data.items():
                if mime.startswith("image/"):
                    data[mime] = "<image>"  # bytes vary with fonts, versions
                else:
                    data[mime] = _stable(value if isinstance(value, str)
                                         else json.dumps(value), machine)
            outputs.append((out.output_type, data,
                            json.loads(_stable(json.dumps(out.metadata),
                                               machine))))
        else:
            outputs.append((out.output_type, out.get("ename"),
                            out.get("evalue")))
    return cell.execution_count, outputs


def test_notebook_is_stored_with_its_outputs(stored):
    assert stored.metadata.kernelspec.name == "python3"
    cells = _code_cells(stored)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    assert all(c.outputs for c in cells)  # every cell shows something
    # The two pictures a browser must show: summary's and the loss plot.
    summary = _tagged(stored, "summary").outputs
    assert any("<svg" in o.get("data", {}).get("text/html", "")
               for o in summary)
    plot = _tagged(stored, "loss-plot").outputs
    assert [o.output_type for o in plot] == ["display_data"]
    assert set(plot[0].data) == {"image/png", "text/plain"}
    for cell in cells:  # no run-time timestamps stored
        assert "execution" not in cell.metadata, cell.source


def test_stored_outputs_are_current(stored, executed):
    stored_cells, run_cells = _code_cells(stored), _code_cells(executed)
    assert [c.source for c in stored_cells] == [c.source for c in run_cells]
    for old, new in zip(stored_cells, run_cells):
        assert _comparable(old) == _comparable(new), (
            "stored outputs are out of date (refresh: python "
            f"tests/test_notebook.py) in the cell:\n{new.source}")


def test_every_cell_ran_without_error(executed):
    cells = _code_cells(executed)
    assert cells
    for cell in cells:
        assert cell.execution_count is not None, cell.source
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, (cell.source, errors)


def test_summary_cell_displays_html_with_svg(executed):
    cell = _tagged(executed, "summary")
    results = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert len(results) == 1, cell.outputs
    data = results[0].data
    assert "text/html" in data, sorted(data)
    html = data["text/html"]
    assert "<svg" in html and 'role="img"' in html
    # The walk-through's numbers: 8 parameters, 768 MACs, (32, 3, 2) out.
    assert re.search(r"<td>parameters</td>\s*<td>8</td>", html), html
    assert re.search(r"<td>MACs</td>\s*<td>768</td>", html), html
    assert "(32, 3, 2)" in html


def test_loss_plot_has_a_text_alternative(executed):
    (out,) = _tagged(executed, "loss-plot").outputs
    alt = out.metadata["image/png"]["alt"]
    assert alt == out.data["text/plain"]
    assert re.fullmatch(r"Line plot of the training loss \(mean squared error, "
                        r"log scale\) against the SGD step, over 600 steps: it falls "
                        r"from \d\.\d{4} to \d\.\d{4}, \d+ times lower\.", alt), alt
    assert out.data["image/png"]  # base64 of a PNG
    assert out.data["image/png"].startswith("iVBORw0KGgo")


def test_training_reduced_the_loss(executed):
    text = _stdout(_tagged(executed, "training-result"))
    match = RATIO_LINE.search(text)
    assert match, f"no final/initial loss line in {text!r}"
    assert float(match.group(1)) < 0.2


# -- HTML without the internet ------------------------------------------------

SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", re.I)


def test_html_export_loads_nothing_from_the_internet(stored):
    """The README's command: nbconvert's "basic" template writes the cells
    and outputs, images embedded, with no <script> at all, where the default
    "lab" template loads require.js and MathJax from a CDN."""
    nbconvert = pytest.importorskip("nbconvert")
    offline, _ = nbconvert.HTMLExporter(template_name="basic").from_notebook_node(
        stored)
    assert not SCRIPT_SRC.search(offline)
    assert "<script" not in offline
    assert "cdnjs" not in offline and "unpkg" not in offline
    # What it must show: the summary's picture with its text alternative,
    # and the plot embedded, with its alt.
    svgs = re.findall(r"<svg\b[^>]*>", offline)
    assert len(svgs) == 1 and 'role="img"' in svgs[0]
    assert 'aria-label="x @ W.T = y: x 96 x 4' in svgs[0]
    images = re.findall(r"<img\b[^>]*>", offline)
    assert len(images) == 1
    assert 'src="data:image/png;base64,' in images[0]
    assert 'alt="Line plot of the training loss' in images[0]
    default, _ = nbconvert.HTMLExporter().from_notebook_node(stored)
    assert SCRIPT_SRC.search(default), "the default template changed: " \
        "update the README's note on exporting the notebook"


if __name__ == "__main__":  # refresh the stored outputs
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        notebook = execute(nbformat.read(NOTEBOOK, as_version=4), Path(tmp))
    nbformat.write(notebook, NOTEBOOK)
    print(f"wrote {NOTEBOOK}")
