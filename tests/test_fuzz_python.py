"""The atheris targets of the Python parsers (tools/fuzz/: the configuration
loader and the flow-rule language) replay their saved corpus cleanly and
survive a short coverage-guided run: the saved inputs plus a fixed number of
mutations (a count, not a speed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import ROOT, needs

TARGETS = sorted(p.stem for p in (ROOT / "tools" / "fuzz").glob("fuzz_*.py"))
MUTATIONS = 2000

pytestmark = pytest.mark.no_sanitizer  # atheris instruments Python, not the C library


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    needs.module("atheris", "pip: atheris, a dev dependency")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    return subprocess.run(
        [sys.executable, *args, f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_every_python_parser_has_a_target() -> None:
    assert TARGETS == ["fuzz_config", "fuzz_rules"]


@pytest.mark.parametrize("target", TARGETS)
def test_python_target_replays_its_corpus_and_mutates(target: str, tmp_path: Path) -> None:
    corpus = ROOT / "tools" / "fuzz" / "corpus" / target
    seeds = len(list(corpus.iterdir()))
    assert seeds, f"no saved corpus in {corpus}"
    scratch = tmp_path / "corpus"
    scratch.mkdir()
    proc = run(
        [f"tools/fuzz/{target}.py", str(scratch), str(corpus), f"-runs={seeds + MUTATIONS}"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"Done {seeds + MUTATIONS} runs" in proc.stderr, proc.stderr[-2000:]
