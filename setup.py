"""`pip install -e .` builds the native core through the Makefile first."""

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop


def build_native() -> None:
    subprocess.run(["make", "-C", str(Path(__file__).parent), "build"], check=True)


class BuildPy(build_py):
    def run(self) -> None:
        build_native()
        super().run()


class Develop(develop):
    def run(self) -> None:
        build_native()
        super().run()


setup(cmdclass={"build_py": BuildPy, "develop": Develop})
