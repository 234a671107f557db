"""Build and install wirematch: one `wirematch` package, native parts inside.

setuptools, with the native build as a real build step: `build_py` runs the
Makefile (the one build of the C library, the XDP object it embeds, the DPDK
plugin where DPDK is present, the load generator, the replayer and the cffi
extension) and copies what the package runs into `wirematch/_native/`, so a
wheel is a platform wheel that needs no source tree.  An editable install
(`pip install -e .`, what `make deps` does) builds the same way and finds the
native parts in build/<variant>/ of the checkout (WIREMATCH_BUILD picks the
variant).  Why setuptools and not scikit-build-core or meson-python: the
native build already is a Makefile with three variants, a BPF compile and an
optional plugin; both alternatives would need it described a second time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent

# wirematch.<name> -> folder of the checkout.  The folders stay at the top of
# the repository; every package below them installs under `wirematch`.
FOLDERS = {
    "wirematch": "wirematch",
    "wirematch.pipeline": "pipeline",
    "wirematch.nic": "nic",
    "wirematch.classify": "classify",
    "wirematch.replay": "replay",
}

# What the installed package runs, relative to build/release/ and to
# wirematch/_native/ (the same layout, so the loader needs one rule).
NATIVE_FILES = ("libwirematch.so", "tools/loadgen", "tools/wm_replay")
NATIVE_OPTIONAL = ("libwirematch_dpdk.so",)  # only where DPDK was found


def packages() -> tuple[list[str], dict[str, str]]:
    names: list[str] = []
    dirs: dict[str, str] = {}
    for pkg, folder in FOLDERS.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            name = ".".join((pkg, *rel.parts)) if rel.parts else pkg
            names.append(name)
            dirs[name] = str(Path(folder, *rel.parts))
    return names, dirs


def make(*targets: str) -> None:
    cmd = ["make", "-C", str(ROOT), "--no-print-directory", f"PYTHON={sys.executable}"]
    subprocess.run([*cmd, *targets], check=True)


class BuildPy(build_py):
    """Build the native core, then carry it in the package (wheels only)."""

    def run(self) -> None:
        if getattr(self, "editable_mode", False):
            make("build")  # the checkout's build/<variant>/ serves the install
        else:
            make("runtime", "VARIANT=release")
        super().run()
        if not getattr(self, "editable_mode", False):
            self.copy_native()

    def copy_native(self) -> None:
        src = ROOT / "build" / "release"
        dst = Path(self.build_lib) / "wirematch" / "_native"
        if dst.exists():
            shutil.rmtree(dst)
        for rel in NATIVE_FILES + tuple(r for r in NATIVE_OPTIONAL if (src / r).exists()):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dst / rel)
        ext = sorted((src / "python").glob("_wirematch_cffi*.so"))
        if not ext:
            raise RuntimeError(f"no cffi extension in {src / 'python'}")
        (dst / "python").mkdir(parents=True, exist_ok=True)
        shutil.copy2(ext[0], dst / "python" / ext[0].name)
        for exe in ("tools/loadgen", "tools/wm_replay"):
            os.chmod(dst / exe, 0o755)


class PlatformDistribution(Distribution):
    """The package carries compiled code: a platform wheel, never py3-none-any."""

    def has_ext_modules(self) -> bool:
        return True


names, dirs = packages()
setup(
    packages=names,
    package_dir=dirs,
    package_data={"wirematch.pipeline.ops": ["dashboard.html"]},
    cmdclass={"build_py": BuildPy},
    distclass=PlatformDistribution,
    # setuptools' own staging goes beside the Makefile's variants, not over them.
    options={"build": {"build_base": "build/setuptools"}},
)
