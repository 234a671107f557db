"""Load the cffi extension of the native core.

Where the native parts are (`native_dir()`):

- an installed wheel carries them inside the package, in `wirematch/_native/`
  (the library, the DPDK plugin, the cffi extension in `python/`, the load
  generator and the replayer in `tools/`), found through importlib.resources;
- a source checkout installed in editable mode (`make deps`) uses the
  Makefile's `build/<variant>/`, where WIREMATCH_BUILD (release, asan or tsan;
  default release) picks the variant.  Both have the same layout.

Everything else in Python reaches C through `ffi` and `lib` from here.
"""

from __future__ import annotations

import importlib.machinery
import importlib.resources
import importlib.util
import os
from pathlib import Path
from typing import Any


class NativeBuildMissing(ImportError):
    """The native parts of the requested variant were not built or installed."""


def build_variant() -> str:
    return os.environ.get("WIREMATCH_BUILD", "release")


def source_root() -> Path | None:
    """The checkout this package runs from (an editable install), or None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "native" / "build_ffi.py").is_file() else None


def packaged_dir() -> Path | None:
    """The native parts a wheel installed with the package, or None."""
    here = importlib.resources.files("wirematch") / "_native"
    path = Path(str(here))
    return path if (path / "libwirematch.so").is_file() else None


def native_dir(variant: str | None = None) -> Path:
    """The directory holding libwirematch.so, python/, tools/ and bench/."""
    variant = variant or build_variant()
    packaged = packaged_dir()
    if packaged is not None and variant == "release":
        return packaged
    root = source_root()
    if root is not None:
        return root / "build" / variant
    raise NativeBuildMissing(
        f"this installation carries only the release build; WIREMATCH_BUILD={variant!r} "
        "needs a source checkout (make build VARIANT=...)"
    )


def build_dir(variant: str | None = None) -> Path:
    """Alias of native_dir(): benchmarks and tests name the build this way."""
    return native_dir(variant)


def _load() -> tuple[Any, Any]:
    pydir = native_dir() / "python"
    found = sorted(pydir.glob("_wirematch_cffi*.so")) if pydir.is_dir() else []
    if not found:
        where = source_root()
        hint = f"run `make build VARIANT={build_variant()}` in {where}" if where else "reinstall"
        raise NativeBuildMissing(
            f"native extension not built for variant {build_variant()!r} in {pydir}: {hint}"
        )
    # Loaded under this package's name, so nothing is added to sys.path and no
    # top-level module appears; its init symbol is named by the last component.
    name = f"{__name__}._wirematch_cffi"
    loader = importlib.machinery.ExtensionFileLoader(name, str(found[0]))
    spec = importlib.util.spec_from_file_location(name, found[0], loader=loader)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod.ffi, mod.lib


ffi, lib = _load()


def check(rc: int, what: str) -> int:
    """Turn a negative errno return into OSError naming the operation."""
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc
