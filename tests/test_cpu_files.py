"""csrc/cpu.c's readers of Linux's files (sysfs cache directories, the MIDR
register, /proc/cpuinfo), which aarch64 and any CPU without CPUID's cache
leaves depend on, fed fake trees through tests/_cpu_files.c: whatever the
files say or lack, the result is usable by the cache model (positive sizes,
ways, lines and sets that multiply to the size) or left to its defaults,
and nothing crashes."""
from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CSRC = HERE.parent / "csrc"
if not (CSRC / "cpu.c").exists():
    pytest.skip("csrc/ is not next to the tests", allow_module_level=True)


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    exe = tmp_path_factory.mktemp("cpu") / "cpu_files"
    subprocess.run([*cc, "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{CSRC}", "-o", str(exe),
                    str(HERE / "_cpu_files.c"), str(CSRC / "cpu.c"), "-lpthread"], check=True)

    def run(cpu_dir, midr="/nonexistent", cpuinfo="/nonexistent"):
        proc = subprocess.run([str(exe), str(cpu_dir), str(midr), str(cpuinfo)],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        out = {}
        for line in proc.stdout.splitlines():
            key, _, rest = line.partition(" ")
            out[key] = rest if key in ("source", "id") else tuple(map(int, rest.split()))
        return out
    return run


def tree(root: Path, levels: list[dict]) -> Path:
    """cpu0/cache/index<i>/ with the given files (a value None: no file)."""
    cpu = root / "cpu0"
    for i, files in enumerate(levels):
        d = cpu / "cache" / f"index{i}"
        d.mkdir(parents=True)
        for name, text in files.items():
            if text is not None:
                (d / name).write_text(text)
    cpu.mkdir(exist_ok=True)
    return cpu


def full(level, type_="Data", size="32K", ways="8", line="64", sets="64", shared="0"):
    return {"level": str(level), "type": type_, "size": size, "ways_of_associativity": ways,
            "coherency_line_size": line, "number_of_sets": sets, "shared_cpu_list": shared}


def sane(k):
    size, ways, line, sets, sharing = k
    return size > 0 and ways > 0 and line > 0 and sets > 0 and sharing >= 1 and \
        ways * line * sets == size


def test_a_complete_tree(reader, tmp_path):
    cpu = tree(tmp_path, [full(1), full(1, "Instruction"),
                          full(2, "Unified", "1024K", "8", "64", "2048", "0-3"),
                          full(3, "Unified", "32M", "16", "64", "32768", "0-31,64-95")])
    out = reader(cpu)
    assert out["source"] == "sysfs"
    assert out["l1d"] == (32768, 8, 64, 64, 1)
    assert out["l2"] == (1 << 20, 8, 64, 2048, 4)
    assert out["l3"] == (32 << 20, 16, 64, 32768, 64)


def test_no_cache_dir_reads_nothing(reader, tmp_path):
    out = reader(tree(tmp_path, []))
    assert out["source"] == "assumed"
    assert out["l1d"] == out["l2"] == out["l3"] == (0, 0, 0, 0, 0)


def test_size_in_bytes_or_k_or_m(reader, tmp_path):
    cpu = tree(tmp_path, [full(1, size="32768"), full(2, "Unified", "1M", "16", "64", "1024")])
    out = reader(cpu)
    assert out["l1d"][0] == 32768 and out["l2"][0] == 1 << 20


def test_missing_size_comes_from_the_geometry(reader, tmp_path):
    """Missing size: it was read as -1 and kept, a cache of 2^64 - 1 bytes."""
    out = reader(tree(tmp_path, [full(1, size=None)]))
    assert out["l1d"] == (32768, 8, 64, 64, 1)


@pytest.mark.parametrize("ways,sets", [("0", "64"), (None, None), ("0", None), (None, "64"),
                                       ("-3", "x")])
def test_size_without_ways_or_sets_is_kept(reader, tmp_path, ways, sets):
    """Linux hides ways and sets that firmware does not give (arm64 ACPI):
    the size is still the real one, with common values for the rest; the
    level was dropped for the assumed 32 KiB before."""
    out = reader(tree(tmp_path, [full(1, size="64K", ways=ways, sets=sets)]))
    assert out["source"] == "sysfs"
    assert out["l1d"][0] == 65536 and sane(out["l1d"]), out


@pytest.mark.parametrize("size", ["", "garbage", "0", "-32K", "0K", "99999999999999999999",
                                  "9223372036854775807K", "12"])
def test_unusable_sizes_leave_the_level_to_the_defaults(reader, tmp_path, size):
    out = reader(tree(tmp_path, [full(1, size=size, ways=None, sets=None)]))
    assert out["l1d"] == (0, 0, 0, 0, 0), out
    assert out["source"] == "assumed"


@pytest.mark.parametrize("line", [None, "0", "-64", "1000000"])
def test_odd_line_sizes(reader, tmp_path, line):
    out = reader(tree(tmp_path, [full(2, "Unified", "1M", "16", line, "1024")]))
    assert sane(out["l2"]), out


@pytest.mark.parametrize("shared,count", [("0-63", 64), ("5", 1), ("0,2,4-7", 6), ("", 1),
                                          ("7-3", 1), ("a-b", 1), ("0-3,junk", 4)])
def test_shared_cpu_list(reader, tmp_path, shared, count):
    out = reader(tree(tmp_path, [full(3, "Unified", "8M", "16", "64", "8192", shared)]))
    assert out["l3"][4] == count, out


def test_level_and_type_missing_or_odd(reader, tmp_path):
    cpu = tree(tmp_path, [{"size": "32K"}, dict(full(1), level="4"), dict(full(1), type=""),
                          dict(full(2), level="x")])
    out = reader(cpu)
    assert out["source"] == "assumed"


MIDR_N1 = "0x00000000413fd0c1\n"
CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

processor\t: 1
CPU implementer\t: 0x61
CPU part\t: 0x022
"""


def test_midr_from_sysfs(reader, tmp_path):
    (tmp_path / "midr").write_text(MIDR_N1)
    out = reader(tree(tmp_path, []), midr=tmp_path / "midr")
    assert out["id"] == "ARM 65 3340 49 ARM Neoverse-N1"


def test_midr_from_cpuinfo_first_cpu(reader, tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    out = reader(tree(tmp_path, []), cpuinfo=tmp_path / "cpuinfo")
    assert out["id"] == "ARM 65 3340 49 ARM Neoverse-N1"


@pytest.mark.parametrize("text", ["", "processor\t: 0\nBogoMIPS\t: 50.00\n",
                                  "CPU implementer\t: 0x41\n", "CPU part\t: 0xd0c\n",
                                  "CPU implementer\t: zz\nCPU part\t: 0xd0c\n", "\0\0\0",
                                  "x" * 10000])
def test_cpuinfo_without_the_fields_says_nothing(reader, tmp_path, text):
    (tmp_path / "cpuinfo").write_text(text)
    (tmp_path / "midr").write_text("not hex\n")
    out = reader(tree(tmp_path, []), midr=tmp_path / "midr", cpuinfo=tmp_path / "cpuinfo")
    assert out["id"] == "- 0 0 0 -"


def test_unknown_implementer_is_its_code(reader, tmp_path):
    (tmp_path / "cpuinfo").write_text("CPU implementer\t: 0xfe\nCPU part\t: 0x1234\n")
    out = reader(tree(tmp_path, []), cpuinfo=tmp_path / "cpuinfo")
    assert out["id"] == "0xFE 254 564 0 -"
