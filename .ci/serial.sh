#!/usr/bin/env bash
# A compiler without OpenMP must still build a working (serial) module that
# says so in show_config(). Build one in a scratch copy with the OpenMP probe
# skipped, and run the numerical tests against it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/linearc-serial.XXXXXX")"
trap 'rm -rf "$work"' EXIT

(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$work")
(cd "$work" && LINEARC_NO_OPENMP=1 "$python" setup.py -q build_ext --inplace >build.log 2>&1) || {
    cat "$work/build.log"
    exit 1
}
cd "$work"
export PYTHONPATH="$work/src${PYTHONPATH:+:$PYTHONPATH}"
"$python" - <<'PY'
import contextlib
import io

import linearc

with contextlib.redirect_stdout(io.StringIO()):
    config = linearc.show_config()
assert linearc._linearc.__file__.startswith(__import__("os").environ["PYTHONPATH"].split(":")[0])
assert config["threads"] == 1 and config["openmp"] is False, config
print("serial: built without OpenMP, show_config says openmp:", config["openmp"])
PY
"$python" -m pytest -p no:cacheprovider -q tests/test_forward.py tests/test_backward.py \
    tests/test_gemm_edges.py tests/test_threads.py tests/test_properties.py tests/test_fork.py
