"""The command line's manners: every flag explains itself, --version, errors
as JSON under --json, an unknown backend refused, and no traceback when the
reader of its output goes away (`wirematch ... | head`)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from wirematch import __version__
from wirematch.pipeline.cli import build_parser, main


def subparsers(parser: argparse.ArgumentParser, path: str = "wirematch"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}", sub
                yield from subparsers(sub, f"{path} {name}")


def test_every_flag_has_help_text() -> None:
    missing = []
    for path, sub in subparsers(build_parser()):
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "arguments without help text:\n" + "\n".join(missing)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"wirematch {__version__}"


def test_errors_are_json_under_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["shm", "show", "no-such-region-for-this-test", "--json"])
    assert rc == 1
    err = json.loads(capsys.readouterr().out)
    assert err["command"] == "shm show" and "no-such-region-for-this-test" in err["error"]


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--backend", "carrier-pigeon"],
        ["replay", "run", "x.pcap", "--backend", "carrier-pigeon"],
    ],
)
def test_an_unknown_backend_is_an_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "invalid choice: 'carrier-pigeon'" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly() -> None:
    """stdout is a pipe whose reader is gone: the command stops with 141 and
    prints no traceback."""
    code = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "from wirematch.pipeline.cli import main\n"
        "sys.exit(main(['config', 'default']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 141, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
