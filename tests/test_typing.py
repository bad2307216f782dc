"""The type stubs of linearc._linearc and the typed example.

stubtest checks linearc/_linearc.pyi against the built module wherever the
C functions carry a text signature; the tests below cover what it cannot
see (the constructor, the private functions) by reading the stub with ast.
"""
from __future__ import annotations

import ast
import inspect
import pydoc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import linearc
from linearc import _linearc

ROOT = Path(__file__).resolve().parent.parent
# The stub as installed: this also checks that the package ships it.
STUB = Path(linearc.__file__).resolve().parent / "_linearc.pyi"
EXAMPLE = ROOT / "examples" / "typed_usage.py"

# stubtest builds the whole linearc package; errors in its Python modules
# are the strict mypy run's business, so here only the stub's count.
STUBTEST_CONFIG = """\
[mypy]
cache_dir = {cache}
[mypy-linearc]
ignore_errors = True
[mypy-linearc.*]
ignore_errors = True
[mypy-linearc._linearc]
ignore_errors = False
"""


def run(args, **kwargs):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                          timeout=300, **kwargs)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory):
    pytest.importorskip("mypy")
    return tmp_path_factory.mktemp("mypy_cache")


@pytest.fixture(scope="module")
def stub():
    return ast.parse(STUB.read_text())


def stub_defs(body):
    """name -> node for the functions, classes and properties in body."""
    names = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.setdefault(node.name, node)
    return names


def test_stubtest(mypy_cache, tmp_path):
    config = tmp_path / "stubtest.ini"
    config.write_text(STUBTEST_CONFIG.format(cache=mypy_cache))
    proc = run([sys.executable, "-m", "mypy.stubtest",
                "--mypy-config-file", str(config), "linearc._linearc"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_example(mypy_cache):
    proc = run([sys.executable, "-m", "mypy", "--strict",
                "--cache-dir", str(mypy_cache), str(EXAMPLE)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_rejects_misuse(mypy_cache, tmp_path):
    """The stub is precise enough to catch these mistakes statically."""
    bad = tmp_path / "misuse.py"
    mistakes = {
        "layer.in_features = 5": "read-only",
        "layer.weight_grad = layer.weight": "read-only",
        "Linear(3, 2, dtype=np.int32)": "dtype",
        "layer.flops((4, 3), True)": "Too many positional",
        "layer(np.ones(3), out=np.empty(2, np.int64))": "_OutT",
        "n: str = layer.macs((4, 3))": "Incompatible types",
        "linearc.set_num_threads('2')": "set_num_threads",
    }
    lines = ["import numpy as np", "import linearc",
             "from linearc import Linear", "layer = Linear(3, 2)"]
    first = len(lines) + 1
    bad.write_text("\n".join(lines + list(mistakes)) + "\n")
    proc = run([sys.executable, "-m", "mypy", "--strict",
                "--cache-dir", str(mypy_cache), str(bad)])
    report = proc.stdout
    for line, (code, expected) in enumerate(mistakes.items(), start=first):
        errors = [e for e in report.splitlines()
                  if e.startswith(f"{bad}:{line}: error")]
        assert any(expected in e for e in errors), (code, report)


def test_example_runs():
    proc = run([sys.executable, str(EXAMPLE)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Linear(in_features=8, out_features=4, bias=True)" in proc.stdout


def test_stub_names_every_runtime_name(stub):
    """stubtest skips private names; the stub must still have them all."""
    module = stub_defs(stub.body)
    runtime = {n for n in vars(_linearc) if not n.startswith("__")}
    assert runtime - module.keys() == set()
    klass = stub_defs(module["Linear"].body)
    members = {n for n in vars(linearc.Linear) if not n.startswith("__")}
    assert members - klass.keys() == set()


def parameters(args):
    """[(name, kind)] of an ast.arguments, self/cls dropped."""
    kinds = ([(a.arg, "positional-only") for a in args.posonlyargs]
             + [(a.arg, "positional") for a in args.args]
             + [(a.arg, "keyword-only") for a in args.kwonlyargs])
    return [(n, k) for n, k in kinds if n not in ("self", "cls", "$self")]


def test_constructor_stub_matches_text_signature(stub):
    # inspect cannot build this signature (see the next test), so compare
    # the raw text signature with the stub's __new__.
    text = linearc.Linear.__text_signature__
    assert text, "Linear has no text signature"
    runtime = ast.parse(f"def f{text}: pass").body[0].args
    new = stub_defs(stub_defs(stub.body)["Linear"].body)["__new__"]
    assert parameters(new.args) == parameters(runtime)


PUBLIC_CALLABLES = [
    linearc.Linear, linearc.linear, linearc.set_num_threads,
    linearc.get_num_threads, linearc.show_config,
] + [getattr(linearc.Linear, name) for name in (
    "forward", "backward", "zero_grad", "reset_parameters", "parameters",
    "named_parameters", "state_dict", "load_state_dict", "macs", "flops")]


@pytest.mark.parametrize("func", PUBLIC_CALLABLES,
                         ids=lambda f: getattr(f, "__qualname__", str(f)))
def test_inspect_signature(func):
    """help() and IDEs show these signatures: inspect must parse them."""
    signature = inspect.signature(func)
    assert "args" not in signature.parameters  # a real one, not (*args)


def test_help_shows_constructor_signature():
    rendered = pydoc.render_doc(linearc.Linear, renderer=pydoc.plaintext)
    assert "Linear(in_features, out_features" in rendered, rendered[:400]


def literal_values(node):
    """The values of a Literal[...] annotation node."""
    items = node.slice
    elts = items.elts if isinstance(items, ast.Tuple) else [items]
    return {e.value for e in elts}


def test_build_config_matches_typed_dict(stub):
    fields = {n.target.id: n.annotation
              for n in stub_defs(stub.body)["_BuildConfig"].body
              if isinstance(n, ast.AnnAssign)}
    config = _linearc._build_config()
    assert config.keys() == fields.keys()
    for key, annotation in fields.items():
        if isinstance(annotation, ast.Subscript) and annotation.value.id == "tuple":
            assert isinstance(config[key], tuple), key
            assert len(config[key]) == len(annotation.slice.elts), key
            assert all(type(v).__name__ == a.id
                       for v, a in zip(config[key], annotation.slice.elts)), key
        elif isinstance(annotation, ast.Subscript):  # Literal[...]
            assert config[key] in literal_values(annotation), key
        else:
            assert type(config[key]).__name__ == annotation.id, key


def test_private_functions_match_stub(stub):
    """Called as the stub declares them, they return what it says."""
    aliases = {n.targets[0].id: n.value for n in stub.body
               if isinstance(n, ast.Assign)}
    paths = literal_values(aliases["_GemmPath"])
    for m, k in ((100, 0), (4, 50), (500, 500)):  # fill, dot, blocked
        path, used = _linearc._gemm_path(m, 50, k, np.float32, 2)
        assert path in paths and isinstance(used, int)
    assert isinstance(_linearc._workspace_bytes(), int)
    layer = linearc.Linear(3, 2, seed=0)
    rebuild, args = layer.__reduce__()
    assert rebuild is _linearc._rebuild and len(args) == 6
    types = (int, int, bool, str, np.ndarray, np.ndarray)
    assert all(isinstance(a, t) for a, t in zip(args, types))
    assert repr(_linearc._rebuild(*args)) == repr(layer)


def test_stub_ships_with_package():
    # py.typed and the .pyi must sit next to the extension module.
    package = Path(linearc.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "_linearc.pyi").exists()
