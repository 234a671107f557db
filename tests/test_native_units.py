"""Run the C unit and stress tests (native/tests/test_*.c) of the current
build variant, one pytest case each, so `pytest` is the one test command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

# Paths only: this module must not load the extension, so that the TSan build
# (whose runtime cannot be loaded into CPython) runs its C programs from here.
ROOT = Path(__file__).resolve().parents[1]


def build_dir() -> Path:
    return ROOT / "build" / os.environ.get("WIREMATCH_BUILD", "release")


SOURCES = sorted((ROOT / "native" / "tests").glob("test_*.c"))


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_c_unit(source: Path) -> None:
    binary = build_dir() / "tests" / source.stem
    assert binary.exists(), f"{binary} not built: run `make build`"
    env = dict(os.environ)
    # Sanitizer builds: the C programs are instrumented themselves and must
    # not inherit the preload meant for the Python process.
    env.pop("LD_PRELOAD", None)
    proc = subprocess.run(
        [str(binary)], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert proc.returncode == 0, f"{source.stem} failed:\n{proc.stdout}\n{proc.stderr}"


def test_matcher_batch_prefetch_survives_compilation() -> None:
    """The batch prefetch's hints are in the compiled matcher.  GCC deletes
    calls to a helper whose only work is __builtin_prefetch (it finds it
    const): written that way, two of the three stages compile to nothing and
    only a benchmark can tell.  Each stage's hints (id slot, order record,
    the links) appear in the prologue and in the loop: at least 10."""
    obj = build_dir() / "obj" / "matcher" / "matcher.o"
    assert obj.exists(), f"{obj} not built: run `make build`"
    proc = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(obj)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"objdump failed: {proc.stderr}"
    hints = [ln for ln in proc.stdout.splitlines() if "\tprefetch" in ln]
    assert len(hints) >= 10, f"only {len(hints)} prefetch instructions in {obj}"
