"""Build the cffi API-mode extension `_wirematch_cffi` for one build variant.

The cdef is not written by hand: it is the public header `wirematch.h`
preprocessed with WM_CDEF defined (inline code and attributes hide behind it)
and with empty stand-ins for the standard headers (cffi knows their types).
The extension links to build/<variant>/libwirematch.so, which the Makefile
builds first, and lands in build/<variant>/python/.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "native"


def public_cdef() -> str:
    out = subprocess.run(
        [
            "gcc",
            "-E",
            "-P",
            "-nostdinc",
            f"-I{NATIVE / 'cdef'}",
            f"-I{NATIVE / 'include'}",
            "-DWM_CDEF",
            str(NATIVE / "include" / "wirematch.h"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def make_builder(variant: str, cflags: str) -> cffi.FFI:
    builder = cffi.FFI()
    builder.cdef(public_cdef())
    libdir = ROOT / "build" / variant
    builder.set_source(
        "_wirematch_cffi",
        '#include "wirematch.h"\n',
        include_dirs=[str(NATIVE / "include"), str(NATIVE)],
        library_dirs=[str(libdir)],
        libraries=["wirematch"],
        extra_compile_args=["-std=gnu11", "-D_GNU_SOURCE", *shlex.split(cflags)],
        extra_link_args=["-Wl,-rpath,$ORIGIN/..", *shlex.split(cflags)],
    )
    return builder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", default="release")
    parser.add_argument("--cflags", default="-O2")
    args = parser.parse_args()
    outdir = ROOT / "build" / args.variant / "python"
    outdir.mkdir(parents=True, exist_ok=True)
    builder = make_builder(args.variant, args.cflags)
    builder.compile(tmpdir=str(outdir), verbose=False)


if __name__ == "__main__":
    main()
