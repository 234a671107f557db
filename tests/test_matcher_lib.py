"""The matcher as a library of its own (Makefile, "The matcher library").

- `make install-matcher` into a scratch prefix, then the C example built
  only from what was installed (`pkg-config --cflags --libs
  wirematch-matcher`, shared and static) runs; the library needs libc alone.
  The Python example prints the same lines.
- The portable build (VARIANT=portable, -march=x86-64) has no AVX or BMI
  instruction, passes the matcher's C test on an emulated CPU without AVX2
  (where the default build cannot run), and its event stream hash equals the
  AVX2 build's on the same pseudo-random stream; so does the aarch64 build's
  (cross-compiled, run under qemu-user)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import ROOT, needs

# The installed library of a sanitizer build needs the sanitizer runtime in
# every program linked to it; the release build is the one integrators take.
pytestmark = pytest.mark.no_sanitizer

VARIANT = os.environ.get("WIREMATCH_BUILD", "release")
NIC_LIBS = ("liburing", "libxdp", "libbpf", "libelf", "libz", "librte_", "libpcap")

EXAMPLE_C = ROOT / "examples" / "matcher_embed.c"
EXAMPLE_PY = ROOT / "examples" / "matcher_embed.py"
# What both examples print (docs/matching.md quotes it).
EXAMPLE_OUTPUT = """\
cmd 0: ACCEPTED BOOKED(5)
cmd 1: ACCEPTED BOOKED(3)
cmd 2: ACCEPTED EXECUTED(maker 5 @ 100, trade 1) EXECUTED(taker 5 @ 100, trade 1) \
EXECUTED(maker 2 @ 101, trade 2) EXECUTED(taker 2 @ 101, trade 2)
depth sell 100: rc 0, qty 0, orders 0
depth sell 101: rc 0, qty 1, orders 1
cmd 3: CANCELLED(1)
cmd 4: REJECTED(reason 20)
depth sell 101: rc 0, qty 0, orders 0
live orders 0, hash 0
"""


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, **kw)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def needed(binary: Path) -> list[str]:
    """The DT_NEEDED entries of an ELF file."""
    out = run(["readelf", "-d", str(binary)]).stdout
    return [ln.split("[", 1)[1].rstrip("]") for ln in out.splitlines() if "(NEEDED)" in ln]


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    needs.program("pkg-config", "apt: pkg-config")
    needs.program("readelf", "apt: binutils")
    dest = tmp_path_factory.mktemp("prefix")
    run(
        ["make", "--no-print-directory", "install-matcher", f"VARIANT={VARIANT}", f"PREFIX={dest}"],
        cwd=ROOT,
    )
    return dest


def pkg_config(prefix: Path, *args: str) -> list[str]:
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    return run(["pkg-config", *args, "wirematch-matcher"], env=env).stdout.split()


def test_installed_files(prefix: Path) -> None:
    lib = prefix / "lib"
    assert (lib / "libwirematch_matcher.so").resolve() == lib / "libwirematch_matcher.so.0"
    assert (lib / "libwirematch_matcher.a").is_file()
    assert sorted(p.name for p in (prefix / "include" / "wirematch").iterdir()) == [
        "common.h",
        "matcher.h",
    ]
    assert needed(lib / "libwirematch_matcher.so.0") == ["libc.so.6"]
    # Only the matcher's API is exported (the pool inside it is not).
    syms = run(["nm", "-D", "--defined-only", str(lib / "libwirematch_matcher.so.0")]).stdout
    names = [ln.split()[-1].split("@")[0] for ln in syms.splitlines() if " T " in ln]
    assert names and all(n.startswith("wm_matcher_") for n in names), names
    assert "wm_matcher_apply" in names


@pytest.mark.parametrize("linkage", ["shared", "static"])
def test_example_built_with_pkg_config(prefix: Path, tmp_path: Path, linkage: str) -> None:
    """examples/matcher_embed.c, built from the installed files alone."""
    exe = tmp_path / "matcher_embed"
    cflags = pkg_config(prefix, "--cflags")
    assert cflags == [f"-I{prefix}/include"]
    if linkage == "shared":
        libs = [*pkg_config(prefix, "--libs"), f"-Wl,-rpath,{prefix}/lib"]
    else:
        libs = ["-Wl,-Bstatic", *pkg_config(prefix, "--libs", "--static"), "-Wl,-Bdynamic"]
    run(["cc", "-std=c11", "-Wall", "-Werror", *cflags, "-o", str(exe), str(EXAMPLE_C), *libs])
    assert run([str(exe)]).stdout == EXAMPLE_OUTPUT
    deps = needed(exe)
    assert not [d for d in deps if d.startswith(NIC_LIBS)], deps
    if linkage == "shared":
        assert "libwirematch_matcher.so.0" in deps
        ldd = run(["ldd", str(exe)]).stdout
        assert str(prefix / "lib" / "libwirematch_matcher.so.0") in ldd
        assert not [ln for ln in ldd.splitlines() if ln.strip().startswith(NIC_LIBS)], ldd
    else:
        assert deps == ["libc.so.6"]


def test_examples_print_the_same() -> None:
    """The C example as `make build` builds it, and the Python example."""
    built = ROOT / "build" / VARIANT / "examples" / "matcher_embed"
    assert built.exists(), f"{built} not built: run `make build`"
    assert run([str(built)]).stdout == EXAMPLE_OUTPUT
    proc = run([sys.executable, str(EXAMPLE_PY)], cwd=ROOT / "examples")
    assert proc.stdout == EXAMPLE_OUTPUT


# The line test_matcher prints for its pseudo-random stream (events, trades, hash).
STREAM_LINE = re.compile(r"^test_matcher: stream .*hash [0-9a-f]{16}$", re.M)
# Instructions a plain x86-64 CPU lacks: anything VEX-encoded (AVX, AVX2,
# BMI's andn/shlx...) and the other x86-64-v2/v3 additions.  Not tzcnt: GCC's
# count-trailing-zeros is `rep bsf`, shown as tzcnt, which runs as bsf there.
NOT_BASELINE = re.compile(
    r"\t(v[a-z0-9]+|lzcnt|andn|shlx|shrx|sarx|rorx|blsr|blsi|blsmsk|bzhi|pdep|pext|"
    r"popcnt|movbe|pshufb|pmulld|ptest|crc32)\b"
)


def make_matcher_lib(variant: str) -> Path:
    run(["make", "--no-print-directory", "matcher-lib", f"VARIANT={variant}"], cwd=ROOT)
    return ROOT / "build" / variant


def stream_line(proc: subprocess.CompletedProcess[str]) -> str:
    m = STREAM_LINE.search(proc.stdout)
    assert m, proc.stdout
    return m.group(0)


@pytest.fixture(scope="module")
def portable() -> Path:
    needs.program("objdump", "apt: binutils")
    return make_matcher_lib("portable")


@pytest.fixture(scope="module")
def default_stream() -> str:
    binary = ROOT / "build" / VARIANT / "tests" / "test_matcher"
    assert binary.exists(), f"{binary} not built: run `make build`"
    return stream_line(run([str(binary)]))


def disassembly(obj: Path) -> str:
    return run(["objdump", "-d", "--no-show-raw-insn", str(obj)]).stdout


def test_portable_build_uses_baseline_instructions_only(portable: Path) -> None:
    for obj in ("matcher/matcher.o", "pool/pool.o"):
        bad = NOT_BASELINE.findall(disassembly(portable / "obj" / obj))
        assert not bad, f"{obj}: {sorted(set(bad))[:10]}"
    # The check finds what it looks for: the default build hashes with AVX2.
    assert "%ymm" in disassembly(ROOT / "build" / VARIANT / "obj" / "matcher" / "matcher.o")


def test_portable_stream_hash_equals_default(portable: Path, default_stream: str) -> None:
    proc = run([str(portable / "tests" / "test_matcher")])
    assert "0 failed" in proc.stdout
    assert stream_line(proc) == default_stream


def test_portable_runs_without_avx2(portable: Path, default_stream: str) -> None:
    """On an emulated x86-64 CPU without AVX (qemu64): the portable test
    passes with the same hash; the default build stops at its first AVX
    instruction."""
    qemu = needs.program("qemu-x86_64", "apt: qemu-user")
    proc = run([qemu, "-cpu", "qemu64", str(portable / "tests" / "test_matcher")])
    assert stream_line(proc) == default_stream
    example = portable / "examples" / "matcher_embed"
    assert run([qemu, "-cpu", "qemu64", str(example)]).stdout == EXAMPLE_OUTPUT
    default = ROOT / "build" / VARIANT / "tests" / "test_matcher"
    bad = subprocess.run(
        [qemu, "-cpu", "qemu64", str(default)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert bad.returncode != 0, "the default build ran on a CPU without AVX2"


def test_aarch64_cross_build(default_stream: str) -> None:
    """The matcher library and its C test cross-compiled for aarch64 and run
    under qemu-user: the test passes and the stream hash is the same."""
    needs.program("aarch64-linux-gnu-gcc", "apt: gcc-aarch64-linux-gnu libc6-dev-arm64-cross")
    qemu = needs.program("qemu-aarch64", "apt: qemu-user")
    build = make_matcher_lib("aarch64")
    binary = build / "tests" / "test_matcher"
    header = run(["readelf", "-h", str(binary)]).stdout
    assert re.search(r"Machine:\s+AArch64", header), header
    proc = run([qemu, "-L", "/usr/aarch64-linux-gnu", str(binary)])
    assert "0 failed" in proc.stdout
    assert stream_line(proc) == default_stream
    example = build / "examples" / "matcher_embed"
    assert run([qemu, "-L", "/usr/aarch64-linux-gnu", str(example)]).stdout == EXAMPLE_OUTPUT
