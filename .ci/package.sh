#!/usr/bin/env bash
# Packaging checks (issue 8):
#  1. `python -m build` makes an sdist, and a wheel from that sdist;
#  2. the sdist installs with its test extra in a fresh virtual environment,
#     and the whole suite runs against it from outside the source tree, so a
#     file missing from the sdist fails here;
#  3. the wheel runs on the oldest NumPy linearc claims (1.23), and mypy
#     --strict and stubtest are clean against that NumPy's stubs too;
#  4. the sdist builds and runs on the oldest Python linearc claims (3.10),
#     the tests that need no torch (torch is pinned to a Python 3.11 build).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python}"
oldest_numpy="1.23.5"
work="$(mktemp -d "${TMPDIR:-/tmp}/linearc-package.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

echo "package: building sdist and wheel"
"$python" -m pip install -q build
"$python" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 || {
    cat "$work/build.log"
    exit 1
}
sdist="$(ls "$work"/dist/linearc-*.tar.gz)"
wheel="$(ls "$work"/dist/linearc-*.whl)"
echo "package: built $(basename "$sdist") and $(basename "$wheel")"

echo "package: sdist in a fresh venv"
"$python" -m venv "$work/venv"
venv="$work/venv/bin/python"
# torch first, pinned: thop depends on an unpinned torch.
"$venv" -m pip install -q torch==2.13.0
"$venv" -m pip install -q "$sdist[test]"
# Run from outside the tree: only the installed package can be imported.
(cd "$work" && "$venv" -m pytest -p no:cacheprovider -q "$repo/tests")

echo "package: wheel on NumPy $oldest_numpy"
"$python" -m venv "$work/old"
old="$work/old/bin/python"
"$old" -m pip install -q torch==2.13.0 "numpy==$oldest_numpy" pytest hypothesis \
    "thop==0.1.1.post2209072238" mypy
"$old" -m pip install -q --no-deps "$wheel"
(cd "$work" && "$old" -c "import numpy, linearc; print('package: numpy', numpy.__version__, 'linearc', linearc.__version__)")
(cd "$work" && "$old" -m pytest -p no:cacheprovider -q \
    "$repo/tests/test_forward.py" "$repo/tests/test_errors.py" \
    "$repo/tests/test_parameters.py" "$repo/tests/test_gemm_edges.py" \
    "$repo/tests/test_backward.py" "$repo/tests/test_properties.py" \
    "$repo/tests/test_robustness.py" "$repo/tests/test_leaks.py" \
    "$repo/tests/test_arithmetic.py")
echo "package: mypy --strict and stubtest on NumPy $oldest_numpy"
(cd "$work" && "$old" -m mypy --strict --cache-dir "$work/mypy-cache" -p linearc &&
    "$old" -m mypy.stubtest --mypy-config-file /dev/null linearc)

oldest_python="3.10"
# An interpreter that runs, not merely a name on PATH: a pyenv shim for a
# version that is installed but not selected is found by `command -v` and
# then refuses to start.
py310=""
for candidate in "$(command -v "python$oldest_python" || true)" \
        "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/"$oldest_python".*/bin/python; do
    if [[ -n "$candidate" ]] && "$candidate" -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != sys.argv[1])' \
            "$oldest_python" 2>/dev/null; then
        py310="$candidate"
        break
    fi
done
if [[ -z "$py310" ]]; then
    echo "package: WARNING: no working python$oldest_python: the oldest-Python check did not run" >&2
    echo "package: done in $(( $(date +%s) - start )) s"
    exit 0
fi
echo "package: the sdist on Python $("$py310" --version 2>&1 | cut -d' ' -f2) ($py310)"
"$py310" -m venv "$work/py310"
p310="$work/py310/bin/python"
"$p310" -m pip install -q "numpy==$oldest_numpy" pytest hypothesis
"$p310" -m pip install -q "$sdist"
(cd "$work" && "$p310" -m pytest -p no:cacheprovider -q \
    "$repo/tests/test_arithmetic.py" "$repo/tests/test_gemm_edges.py" \
    "$repo/tests/test_robustness.py" "$repo/tests/test_properties.py" \
    "$repo/tests/test_threads.py" "$repo/tests/test_layout.py")
echo "package: done in $(( $(date +%s) - start )) s"
