"""Load the cffi extension of the native core.

The build variant comes from WIREMATCH_BUILD (release, asan or tsan; default
release); `make build VARIANT=...` produces it under build/<variant>/python.
Everything else in Python reaches C through `ffi` and `lib` from here.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class NativeBuildMissing(ImportError):
    """The native extension has not been built for the requested variant."""


def build_variant() -> str:
    return os.environ.get("WIREMATCH_BUILD", "release")


def build_dir(variant: str | None = None) -> Path:
    return ROOT / "build" / (variant or build_variant())


def _load() -> tuple[Any, Any]:
    pydir = build_dir() / "python"
    if not pydir.is_dir():
        raise NativeBuildMissing(
            f"native extension not built for variant {build_variant()!r}: "
            f"run `make build VARIANT={build_variant()}` in {ROOT}"
        )
    if str(pydir) not in sys.path:
        sys.path.insert(0, str(pydir))
    mod = importlib.import_module("_wirematch_cffi")
    return mod.ffi, mod.lib


ffi, lib = _load()


def check(rc: int, what: str) -> int:
    """Turn a negative errno return into OSError naming the operation."""
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc
