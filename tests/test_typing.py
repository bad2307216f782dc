"""The type stubs of linearc._linearc, the typed package and the example.

stubtest checks the whole installed package (the stub of the C module
wherever the C functions carry a text signature, and the Python modules),
mypy --strict checks the package and the typed example; the tests below
cover what stubtest cannot see (the constructor, the private functions) by
reading the stub with ast. CI runs the two mypy checks again against the
oldest NumPy linearc supports (.ci/package.sh).
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

def run(args, cwd_override=None, **kwargs):
    return subprocess.run(args, cwd=cwd_override or ROOT, capture_output=True,
                          text=True, timeout=300, **kwargs)


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


def test_stubtest_whole_package(mypy_cache, tmp_path):
    # From an empty folder: the installed package is what gets checked.
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\ncache_dir = {mypy_cache}\n")
    proc = run([sys.executable, "-m", "mypy.stubtest", "--mypy-config-file",
                str(config), "linearc"], cwd_override=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout, proc.stdout


def test_mypy_strict_package(mypy_cache, tmp_path):
    proc = run([sys.executable, "-m", "mypy", "--strict", "--cache-dir",
                str(mypy_cache), "-p", "linearc"], cwd_override=tmp_path)
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
    text = linearc.Linear.__text_signature__
    assert text, "Linear has no text signature"
    runtime = ast.parse(f"def f{text}: pass").body[0].args
    new = stub_defs(stub_defs(stub.body)["Linear"].body)["__new__"]
    assert parameters(new.args) == parameters(runtime)


PUBLIC_CALLABLES = [
    linearc.Linear, linearc.linear, linearc.set_num_threads,
    linearc.get_num_threads, linearc.show_config, linearc.tune,
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
    assert ("Linear(in_features, out_features, bias=True, *, "
            "dtype='float32', seed=None)") in rendered, rendered[:400]
    assert inspect.signature(linearc.Linear).parameters["dtype"].default == "float32"


def test_readme_shows_the_constructor_signature():
    """The README's API section quotes the same signature as help()."""
    readme = (ROOT / "README.md").read_text()
    assert ("`Linear(in_features, out_features, bias=True, *, dtype='float32', "
            "seed=None)`") in readme


def literal_values(node):
    """The values of a Literal[...] annotation node."""
    items = node.slice
    elts = items.elts if isinstance(items, ast.Tuple) else [items]
    return {e.value for e in elts}


def typed_dict_fields(stub, name):
    """A TypedDict's fields, its bases' first."""
    node = stub_defs(stub.body)[name]
    fields = {}
    for base in node.bases:
        if base.id != "TypedDict":
            fields.update(typed_dict_fields(stub, base.id))
    fields.update({n.target.id: n.annotation for n in node.body
                   if isinstance(n, ast.AnnAssign)})
    return fields


def type_aliases(stub):
    """name -> annotation of the stub's module-level aliases (X = Literal[...])."""
    return {n.targets[0].id: n.value for n in stub.body
            if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)}


def check_typed(stub, value, annotation, where):
    """value has the type the stub's annotation gives it (TypedDicts, aliases
    and `X | None` too)."""
    if isinstance(annotation, ast.BinOp):  # X | None
        if value is not None:
            check_typed(stub, value, annotation.left, where)
        return
    if isinstance(annotation, ast.Name) and annotation.id in type_aliases(stub):
        annotation = type_aliases(stub)[annotation.id]
    if isinstance(annotation, ast.Subscript) and annotation.value.id == "tuple":
        assert isinstance(value, tuple), where
        assert len(value) == len(annotation.slice.elts), where
        for i, (v, a) in enumerate(zip(value, annotation.slice.elts)):
            check_typed(stub, v, a, f"{where}[{i}]")
    elif isinstance(annotation, ast.Subscript):  # Literal[...]
        assert value in literal_values(annotation), where
    elif annotation.id in stub_defs(stub.body):  # a TypedDict of the stub
        fields = typed_dict_fields(stub, annotation.id)
        assert isinstance(value, dict) and value.keys() == fields.keys(), where
        for key, sub in fields.items():
            check_typed(stub, value[key], sub, f"{where}.{key}")
    else:
        assert type(value).__name__ == annotation.id, where


def test_build_config_matches_typed_dict(stub):
    config = _linearc._build_config()
    fields = typed_dict_fields(stub, "_BuildConfig")
    assert config.keys() == fields.keys()
    for key, annotation in fields.items():
        check_typed(stub, config[key], annotation, key)


def test_private_functions_match_stub(stub):
    """Called as the stub declares them, they return what it says."""
    aliases = {n.targets[0].id: n.value for n in stub.body
               if isinstance(n, ast.Assign)}
    paths = literal_values(aliases["_GemmPath"])
    for m, k in ((100, 0), (4, 50), (500, 500)):  # fill, direct, blocked
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
