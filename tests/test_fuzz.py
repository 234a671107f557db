"""The libFuzzer targets (native/fuzz/, one per decoder) build, replay the
saved corpus cleanly, and survive a short fuzz run under ASan + UBSan.
`make fuzz` runs the long version (FUZZ_SECONDS each)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests import ROOT, needs

TARGETS = sorted(p.stem for p in (ROOT / "native" / "fuzz").glob("fuzz_*.c"))
SECONDS = int(os.environ.get("WIREMATCH_FUZZ_SECONDS", "3"))


@pytest.fixture(autouse=True)
def _clang() -> None:
    needs.program(os.environ.get("FUZZ_CC", "clang"), "apt: clang")


def build(target: str) -> Path:
    proc = subprocess.run(
        ["make", "--no-print-directory", f"build/fuzz/{target}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0 and "libclang_rt.fuzzer" in proc.stderr:
        pytest.fail("clang's libFuzzer runtime is missing (apt: libclang-rt-14-dev)")
    assert proc.returncode == 0, proc.stderr
    return ROOT / "build" / "fuzz" / target


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)  # the target is instrumented itself
    # libFuzzer's RSS limit reads the peak RSS, which Linux carries across
    # exec: a target started from this (large, under ASan 2+ GB) pytest
    # process would start "out of memory".  A single allocation over the
    # malloc limit is still a failure.
    cmd = [cmd[0], "-rss_limit_mb=0", "-malloc_limit_mb=2048", *cmd[1:]]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=SECONDS + 120, env=env, check=False
    )


def test_every_decoder_has_a_target() -> None:
    assert TARGETS == [
        "fuzz_gateway",
        "fuzz_itch",
        "fuzz_journal",
        "fuzz_mold",
        "fuzz_ouch_in",
        "fuzz_ouch_out",
        "fuzz_rx_frame",
        "fuzz_soup",
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_saved_corpus_replays_clean(target: str) -> None:
    binary = build(target)
    corpus = ROOT / "native" / "fuzz" / "corpus" / target
    seeds = sorted(corpus.iterdir())
    assert seeds, f"no saved corpus in {corpus}"
    proc = run([str(binary), "-runs=0", str(corpus)])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "ERROR" not in proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_short_fuzz_run(target: str, tmp_path: Path) -> None:
    binary = build(target)
    scratch = tmp_path / "corpus"
    scratch.mkdir()
    corpus = ROOT / "native" / "fuzz" / "corpus" / target
    proc = run(
        [
            str(binary),
            f"-max_total_time={SECONDS}",
            "-print_final_stats=1",
            f"-artifact_prefix={tmp_path}/",
            str(scratch),
            str(corpus),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    runs = [ln for ln in proc.stderr.splitlines() if "number_of_executed_units" in ln]
    # It replayed the saved corpus and then ran mutated inputs: a count, not
    # a speed (rates on a loaded 2-core machine vary several-fold).
    seeds = len(list(corpus.iterdir()))
    assert runs and int(runs[0].split()[-1]) > seeds + 200, proc.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*"))
