"""The matcher benchmark program measures what it says: its timed runs
replay the generator's events and no command of the workload is rejected
(a reject, e.g. for capacity, would be timed as a cheap reject instead of
the add or cancel the workload names).  Small runs, seconds each."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench() -> Path:
    build = ROOT / "build" / os.environ.get("WIREMATCH_BUILD", "release")
    binary = build / "bench" / "matcher_bench"
    assert binary.exists(), f"{binary} not built: run `make build`"
    return binary


def _run(*args: str) -> list[dict]:
    proc = subprocess.run(
        [str(_bench()), "--mode", "throughput", "--seed", "3", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    "mix",
    ["48,30,10,12", "100,0,0,0", "0,100,0,0", "60,0,40,0", "50,0,0,50"],
)
def test_matcher_bench_times_the_named_commands(mix: str) -> None:
    recs = _run("--orders", "2000", "--levels", "20", "--cmds", "30000", "--mix", mix)
    work = next(r for r in recs if r["case"] == "workload")
    run = next(r for r in recs if r["case"] == "mixed_throughput")
    assert run["hash_ok"], run
    assert run["rejected"] == 0, run
    if mix == "100,0,0,0":
        # Every add rests: the book grows 16x past the prefill, so the
        # capacity must follow the stream's peak, not the prefill.
        assert run["live_after"] == 2000 + 30000
        assert work["capacity"] > run["live_after"]


def test_matcher_bench_without_hash_and_level_events() -> None:
    """`--options 3` (the bench's hash and LEVEL off row): fewer events, the
    same final book as the generator's, no hash to compare."""
    args = ("--orders", "2000", "--levels", "20", "--cmds", "30000")
    default = next(r for r in _run(*args) if r["case"] == "mixed_throughput")
    lean = next(r for r in _run(*args, "--options", "3") if r["case"] == "mixed_throughput")
    assert default["hash_ok"] and default["state_ok"], default
    assert lean["state_ok"] and lean["hash_ok"] is None, lean
    assert lean["options"] == 3 and lean["rejected"] == 0
    assert lean["trades"] == default["trades"] and lean["live_after"] == default["live_after"]
    assert 0 < lean["events"] < default["events"]
    proc = subprocess.run(
        [str(_bench()), "--mode", "latency", "--options", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "throughput only" in proc.stderr
