#!/usr/bin/env bash
# The arithmetic across architectures: linearc cross-built for aarch64 must
# give x86-64's bits. There is no aarch64 machine here, so aarch64 programs
# run under qemu-user (started explicitly: no binfmt_misc), with Debian
# bookworm's arm64 libc, python3.11 and python3-numpy unpacked into a
# folder as the sysroot.
#   1. tests/_gemm_hashes.c, the GEMM core without Python, built natively
#      and run under every x86 kernel set this CPU has, and built for aarch64
#      and run under neon and generic: every line must be equal.
#   1b. tests/_kernel_edges.c for aarch64: every NEON and portable kernel
#      at every edge, operands flush against guard pages, bit-exact.
#   2. The extension cross-built for aarch64 (setup.py with
#      CC=aarch64-linux-gnu-gcc, -Werror, against the host's NumPy 2 headers:
#      NumPy 1.24's lack PyArray_ImportNumPyAPI), imported by the aarch64
#      Python, and tests/_cross_arch.py's digests of the forward and the
#      three backward products (about 240 shapes, both dtypes, specials,
#      K up to 3000, strided inputs) with default and with tiny block sizes,
#      compared with the x86-64 Python's.
# Speed under emulation means nothing; only bits are compared.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/linearc-arm64.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
say() { echo "arm64: $* ($(( $(date +%s) - start )) s)"; }

# --- tools -------------------------------------------------------------------
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if (( ${#missing[@]} )); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- the aarch64 sysroot: Debian's packages, unpacked (not installed) --------
root="$work/root"
mkdir -p "$root" "$work/debs"
pkgs=(libc6 libgcc-s1 libgomp1 libstdc++6 libgfortran5 libblas3 liblapack3
      python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3-numpy
      libexpat1 zlib1g libffi8 libssl3 libbz2-1.0 liblzma5)
# apt's own words are kept: when the second try fails too (no network, a
# mirror without arm64), they say why.
download() { (cd "$work/debs" && apt-get download -qq "${pkgs[@]/%/:arm64}") >"$work/download.log" 2>&1; }
if ! download; then
    dpkg --add-architecture arm64
    apt-get update -qq
    download || {
        echo "arm64: cannot download Debian's arm64 packages (${pkgs[*]}):" >&2
        tail -20 "$work/download.log" >&2
        exit 1
    }
fi
for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root"
done
# Debian points libblas.so.3 / liblapack.so.3 at an implementation through
# update-alternatives, which unpacking does not run.
multiarch="$root/usr/lib/aarch64-linux-gnu"
ln -sf blas/libblas.so.3 "$multiarch/libblas.so.3"
ln -sf lapack/liblapack.so.3 "$multiarch/liblapack.so.3"
qpython=(qemu-aarch64 -L "$root" "$root/usr/bin/python3.11")
"${qpython[@]}" -c 'import numpy, platform; assert platform.machine() == "aarch64"'
say "sysroot ready: $("${qpython[@]}" -c 'import sys, numpy; print("python", sys.version.split()[0], "numpy", numpy.__version__)')"

# --- 1. the GEMM core, C only --------------------------------------------------
core=(tests/_gemm_hashes.c csrc/rng.c csrc/gemm.c csrc/gemm_blocked.c csrc/gemm_half.c csrc/pack.c csrc/workspace.c
      csrc/dispatch.c csrc/config.c csrc/cpu.c csrc/threads.c csrc/kernels/[a-z]*.c)
flags=(-O3 -std=c11 -Wall -Wextra -Werror -ffp-contract=off -fopenmp -DLINEARC_HAVE_OPENMP
       -Icsrc)
(cd "$repo" && cc "${flags[@]}" -o "$work/hashes-x86" "${core[@]}" -lm -lpthread)
(cd "$repo" && aarch64-linux-gnu-gcc "${flags[@]}" -o "$work/hashes-arm64" "${core[@]}" -lm -lpthread)
# Each run's stderr names its kernel set, or says why it failed.
run_hashes() { # isa output command...
    local isa=$1 out=$2 status=0
    shift 2
    LINEARC_ISA=$isa "$@" quick >"$out" 2>"$out.err" || status=$?
    if (( status != 0 )) || ! grep -q '^cases [1-9]' "$out"; then
        echo "arm64: the GEMM hashes under $isa ($*) failed (exit $status):" >&2
        cat "$out.err" >&2
        exit 1
    fi
}
run_hashes generic "$work/ref.txt" "$work/hashes-x86"
compare() { # name file
    if ! cmp -s "$work/ref.txt" "$2"; then
        echo "arm64: $1 differs from x86-64 generic:" >&2
        diff "$work/ref.txt" "$2" | head -20 >&2
        exit 1
    fi
}
x86_sets=$("$python" -c 'from linearc import _linearc; print(_linearc._build_config()["isa_supported"])')
for isa in $x86_sets; do
    [[ $isa == generic ]] && continue
    run_hashes "$isa" "$work/x86-$isa.txt" "$work/hashes-x86"
    compare "x86-64 $isa" "$work/x86-$isa.txt"
done
for isa in neon generic; do
    run_hashes "$isa" "$work/arm64-$isa.txt" qemu-aarch64 -L "$root" "$work/hashes-arm64"
    grep -q "kernel set $isa (aarch64\|kernel set $isa (any" "$work/arm64-$isa.txt.err"
    compare "aarch64 $isa" "$work/arm64-$isa.txt"
done
say "GEMM core: $(tail -1 "$work/ref.txt" | cut -d' ' -f2) hashes equal on x86-64 ($x86_sets) and aarch64 (neon generic)"

# --- 1b. every kernel at every edge, operands against guard pages -------------
# tests/_kernel_edges.c (tests/test_kernel_edges.py runs it natively): a read
# or write one element past any operand faults, a stray write near C or a
# result that is not the scalar fma chain (subnormals included) fails.
edges=(tests/_kernel_edges.c csrc/rng.c csrc/dispatch.c csrc/kernels/[a-z]*.c)
(cd "$repo" && aarch64-linux-gnu-gcc -O2 -std=c11 -Wall -Wextra -Werror -ffp-contract=off \
    -Icsrc -o "$work/edges-arm64" "${edges[@]}" -lm -lpthread)
status=0
qemu-aarch64 -L "$root" "$work/edges-arm64" neon generic >"$work/edges.txt" 2>&1 || status=$?
if (( status != 0 )); then
    echo "arm64: the kernel edge test failed (exit $status) under qemu-aarch64:" >&2
    head -30 "$work/edges.txt" >&2
    exit 1
fi
grep -q "^[1-9][0-9]* passed, 0 failed$" "$work/edges.txt"
say "kernel edges: $(grep -o '^[0-9]* passed' "$work/edges.txt") on aarch64 (neon generic), guard pages, exact"

# --- 2. the extension, cross-built, under the aarch64 Python -----------------
# It is compiled against this Python's headers, so they must be the target's
# version (Debian bookworm: 3.11).
host_ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
target_ver=$("${qpython[@]}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [[ $host_ver != "$target_ver" ]]; then
    echo "arm64: this Python is $host_ver; the aarch64 one is $target_ver: cannot cross-build" >&2
    exit 1
fi
(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$work") # a scratch copy
mkdir "$work/build"
(cd "$work" && CC=aarch64-linux-gnu-gcc LDSHARED="aarch64-linux-gnu-gcc -shared" \
    LINEARC_WERROR=1 "$python" setup.py -q build_ext --build-temp build/tmp --build-lib build/lib \
    >build.log 2>&1) || { cat "$work/build.log" >&2; exit 1; }
so=$(ls "$work"/build/lib/linearc/_linearc*.so)
file -b "$so" 2>/dev/null | grep -q aarch64 || readelf -h "$so" | grep -q AArch64
# The build named it for the host's Python: give it the aarch64 Python's name.
target_suffix=$("${qpython[@]}" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
pkg="$work/arm64-site"
mkdir -p "$pkg"
cp -r "$work/src/linearc" "$pkg/"
cp "$so" "$pkg/linearc/_linearc$target_suffix"
"${qpython[@]}" -c "
import sys; sys.path.insert(0, '$pkg')
import linearc
c = linearc.get_config()
assert c['arch'] == 'aarch64' and c['isa'] == 'neon', c
assert c['isa_supported'] == ['neon', 'generic'], c['isa_supported']
assert c['openmp'], 'the cross-built module came out serial'
print('arm64: imported', linearc.__file__, 'isa', c['isa'], 'threads', c['threads'])
"
tiny=(LINEARC_BLOCKING_F32=7,24,96,3,1,0 LINEARC_BLOCKING_F64=5,28,48,2,1,0)
"$python" "$repo/tests/_cross_arch.py" >"$work/py-x86.txt"
env "${tiny[@]}" "$python" "$repo/tests/_cross_arch.py" >"$work/py-x86-tiny.txt"
cmp "$work/py-x86.txt" "$work/py-x86-tiny.txt"
for run in "neon" "neon tiny" "generic"; do
    set -- $run
    extra=(LINEARC_ISA=$1)
    [[ ${2:-} == tiny ]] && extra+=("${tiny[@]}")
    env "${extra[@]}" PYTHONPATH="$pkg" "${qpython[@]}" "$repo/tests/_cross_arch.py" \
        >"$work/py-arm64.txt"
    if ! cmp -s "$work/py-x86.txt" "$work/py-arm64.txt"; then
        echo "arm64: the aarch64 Python's products ($run) differ from x86-64's:" >&2
        diff "$work/py-x86.txt" "$work/py-arm64.txt" | head -20 >&2
        exit 1
    fi
done
say "Python: $(tail -1 "$work/py-x86.txt" | cut -d' ' -f2) digests (forward + 3 backward) equal on x86-64 and aarch64 (neon, neon with tiny blocks, generic)"
echo "arm64: 3 passed, 0 failed"
