#!/usr/bin/env bash
# Build linearc with AddressSanitizer + UndefinedBehaviorSanitizer in a
# scratch copy of the repository and run the test suite against that build.
#
#   bash .ci/sanitize.sh [extra pytest args...]
#
# Any ASan/UBSan report aborts the interpreter (abort_on_error / halt_on_error),
# so pytest dies with a signal and this script fails. Leak detection is off:
# CPython and NumPy keep allocations alive until exit by design.
#
# Why a copy: the developer tree has a regular (unsanitized) in-place build and
# an editable install pointing at it. The copy gets its own sanitized .so, and
# PYTHONPATH=<copy> puts it first on sys.path: setuptools' editable finder is
# appended to sys.meta_path, after the normal path finder, so PYTHONPATH wins.
# The script checks that by importing linearc and comparing __file__.
#
# Environment knobs:
#   SANITIZE_KEEP=1      keep the scratch copy (its path is printed)
#   SANITIZE_IGNORE="tests/test_x.py ..."  extra test files to leave out
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python}"
start=$(date +%s)

work="$(mktemp -d "${TMPDIR:-/tmp}/linearc-sanitize.XXXXXX")"
cleanup() {
    if [[ "${SANITIZE_KEEP:-0}" == "1" ]]; then
        echo "sanitize: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# Tracked files, plus new files git would not ignore (so a developer can
# sanitize work in progress before committing it); never build/, *.so or
# anything else .gitignore excludes.
echo "sanitize: copying $repo -> $work"
(
    cd "$repo"
    { git ls-files; git ls-files --others --exclude-standard; } |
        sort -u | while IFS= read -r f; do
            if [[ -f "$f" ]]; then printf '%s\0' "$f"; fi
        done | xargs -0 cp --parents -t "$work"
)

echo "sanitize: building with LINEARC_SANITIZE=1"
(
    cd "$work"
    LINEARC_SANITIZE=1 "$python" setup.py -q build_ext --inplace >build.log 2>&1 || {
        cat build.log
        exit 1
    }
)

so="$(ls "$work"/src/linearc/_linearc*.so)"
# ldd's whole output first: `ldd | grep -q` under pipefail fails whenever
# grep stops reading before ldd has finished writing (SIGPIPE).
deps="$(ldd "$so")"
if ! grep -q libasan <<<"$deps"; then
    echo "sanitize: $so is not linked against libasan" >&2
    exit 1
fi

asan_lib="$(gcc -print-file-name=libasan.so)"
ubsan_lib="$(gcc -print-file-name=libubsan.so)"
for lib in "$asan_lib" "$ubsan_lib"; do
    if [[ "$lib" != /* || ! -e "$lib" ]]; then
        echo "sanitize: cannot find $lib (is gcc's libasan/libubsan installed?)" >&2
        exit 1
    fi
done

export PYTHONPATH="$work/src${PYTHONPATH:+:$PYTHONPATH}"
# The extension links the sanitizer runtimes, but python itself does not, so
# they must be loaded first: ASan insists on being the first DSO.
export LD_PRELOAD="$asan_lib $ubsan_lib${LD_PRELOAD:+ $LD_PRELOAD}"
# allocator_may_return_null: tests ask for absurd sizes and expect MemoryError;
# by default ASan aborts on those instead of returning NULL like malloc does.
# Reports also go to files ($work/sanitizer-report.<pid>): pytest captures a
# test's stderr, and a report printed there is lost when it kills the process.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1:detect_odr_violation=0:log_path=$work/sanitizer-report"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$work/sanitizer-report"
# Hypothesis' database lives in the scratch copy anyway; keep runs quiet.
export PYTHONDONTWRITEBYTECODE=1

cd "$work"
# Make sure the sanitized build is the one the tests import.
"$python" - "$work" <<'EOF'
import os
import sys

import linearc
import linearc._linearc as ext

work = os.path.realpath(sys.argv[1])
so = os.path.realpath(ext.__file__)
print(f"sanitize: linearc from {linearc.__file__}, extension {so}")
if not so.startswith(work + os.sep):
    sys.exit(f"sanitize: imported {so}, not the sanitized build in {work}")
linearc.show_config()
EOF

# Test files to leave out: torch is only a test oracle, and its own code is
# not what this run checks. If torch misbehaves under ASan it would fail the
# run for reasons outside linearc, so those files are listed here, with why.
ignore=()
for f in ${SANITIZE_IGNORE:-}; do
    ignore+=("--ignore=$f")
done

echo "sanitize: running pytest"
status=0
"$python" -m pytest -p no:cacheprovider -x -q "${ignore[@]}" tests "$@" 2>&1 |
    tee pytest.log || status=$?
# A sanitizer report is fatal, but check the log too in case a report was
# printed from a child process whose failure pytest did not see.
if grep -E -q "ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer" pytest.log; then
    echo "sanitize: sanitizer report found" >&2
    status=1
fi
for report in "$work"/sanitizer-report.*; do
    [[ -e "$report" ]] || continue
    # ASan's allocator_may_return_null warnings are expected (tests ask for
    # absurd sizes); anything else is a finding.
    findings="$(grep -v -E "WARNING: AddressSanitizer failed to allocate|^$" "$report" || true)"
    if [[ -n "$findings" ]]; then
        echo "sanitize: sanitizer report in $report:" >&2
        cat "$report" >&2
        status=1
    fi
done
echo "sanitize: done in $(( $(date +%s) - start )) s, status $status"
exit "$status"
