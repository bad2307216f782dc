"""Execute examples/linear_walkthrough.ipynb and check what it shows.

The notebook runs top to bottom in a fresh python3 kernel with the examples/
directory as its working directory. Beyond "no cell errored", the test checks
the two outputs the notebook exists for: the HTML (with its SVG picture) of
linearc.summary, and the printed final/initial loss ratio of the training run.
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


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after running every cell (module scope: run it once)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    ksm = _python3_kernel_spec_manager(tmp_path_factory.mktemp("jupyter"))
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    client = nbclient.NotebookClient(
        nb, km=km, kernel_name="python3", timeout=CELL_TIMEOUT,
        startup_timeout=120,
        resources={"metadata": {"path": str(EXAMPLES)}})
    # The kernel inherits this environment: a non-interactive matplotlib
    # backend, so the test never needs a display.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPLBACKEND", "Agg")
        client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _tagged(nb, tag):
    cells = [c for c in _code_cells(nb) if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{len(cells)} cells tagged {tag!r}, expected 1"
    return cells[0]


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.source


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
    assert "<svg" in html
    # The walk-through's numbers: 8 parameters, 768 MACs, (32, 3, 2) out.
    assert re.search(r"<td>parameters</td>\s*<td>8</td>", html), html
    assert re.search(r"<td>MACs</td>\s*<td>768</td>", html), html
    assert "(32, 3, 2)" in html


def test_training_reduced_the_loss(executed):
    text = _stdout(_tagged(executed, "training-result"))
    match = RATIO_LINE.search(text)
    assert match, f"no final/initial loss line in {text!r}"
    assert float(match.group(1)) < 0.2
