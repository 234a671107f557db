"""Run the C unit and stress tests (native/tests/test_*.c) of the current
build variant, one pytest case each, so `pytest` is the one test command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

# Not `from pipeline.native import ...`: that loads the cffi extension, and a
# sanitizer build's extension cannot be loaded into a plain CPython (TSan:
# "cannot allocate memory in static TLS block").  The C programs need none of it.
ROOT = Path(__file__).resolve().parent.parent


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
