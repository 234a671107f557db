"""Tests that need a tool or privilege this machine lacks fail, naming it.

A skipped test hides a missing piece of the appliance; the project's rule is
that such a test fails with the reason and how to get what is missing.
"""

from __future__ import annotations

import importlib
import shutil
from types import ModuleType

import pytest


def program(name: str, how: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed ({how}; `make deps` installs it)", pytrace=False)
    return path


def module(name: str, how: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"Python module {name} is missing ({how}): {exc}", pytrace=False)
