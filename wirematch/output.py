"""What every command module shares, below everything else: the declaration
of a subcommand, the operator-facing error, and printing a result as text or
JSON.  The CLI (wirematch.pipeline.cli) collects the declared commands; the
modules that declare them never import the CLI."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class CliError(Exception):
    """An operator-facing error: printed as one line, exit status 1."""


@dataclass(frozen=True)
class Command:
    """One subcommand: its words, what runs it, its help and its arguments
    (argparse flags and keyword arguments)."""

    path: tuple[str, ...]
    func: Callable[[argparse.Namespace], None]
    help: str
    arguments: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = ()


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print a command's result: `data` as JSON under --json, else `text`."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text)
