"""The matcher benchmark's peer runs the same work: liquibook_bench replays
the stream matcher_bench dumps (--dump-stream) and, where the two engines'
rules agree (no replace: Liquibook's replace always loses time priority),
ends with the same trades and the same book.  Also the generator options
the peer cases use: a deep book (--levels above 8000 with --window) and a
drifting price (--drift).  Small runs, seconds each."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "build" / os.environ.get("WIREMATCH_BUILD", "release") / "bench"


def _run(cmd: list[str]) -> dict[str, dict]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["case"]: r for r in recs}


def _matcher(*args: str) -> dict[str, dict]:
    binary = BENCH / "matcher_bench"
    assert binary.exists(), f"{binary} not built: run `make build`"
    return _run([str(binary), "--mode", "throughput", "--seed", "5", *args])


def _liquibook(stream: Path) -> dict[str, dict]:
    binary = BENCH / "liquibook_bench"
    assert binary.exists(), (
        f"{binary} not built: `make build` builds it when the Liquibook headers "
        "(the dev extra `liquibook`, installed by `make deps`) are found"
    )
    return _run([str(binary), "--stream", str(stream)])


def test_same_stream_same_result_without_replaces(tmp_path: Path) -> None:
    stream = tmp_path / "s.bin"
    wm = _matcher("--orders", "3000", "--levels", "20", "--cmds", "40000", "--mix",
                  "50,35,0,15", "--dump-stream", str(stream))  # fmt: skip
    lb = _liquibook(stream)
    assert wm["mixed_throughput"]["hash_ok"]
    for k in ("cmds", "add", "cancel", "replace", "aggressive"):
        assert lb["workload"][k] == wm["workload"][k], k
    assert lb["workload"]["orders"] == wm["workload"]["orders"] == 3000
    w, b = wm["mixed_throughput"], lb["mixed_throughput"]
    assert w["trades"] > 1000
    assert b["trades"] == w["trades"]
    assert b["skipped_filled"] == 0 and b["rejected"] == 0
    assert b["live_after"] == w["live_after"]
    assert (b["best_bid_after"], b["best_ask_after"]) == (w["best_bid_after"], w["best_ask_after"])


def test_replaces_reach_liquibook(tmp_path: Path) -> None:
    stream = tmp_path / "s.bin"
    wm = _matcher("--orders", "3000", "--levels", "20", "--cmds", "40000",
                  "--dump-stream", str(stream))  # fmt: skip
    lb = _liquibook(stream)
    w, b = wm["mixed_throughput"], lb["mixed_throughput"]
    assert b["rejected"] == 0
    # Replaces lose priority in Liquibook only: the fills drift, a little.
    assert abs(b["trades"] - w["trades"]) < w["trades"] * 0.05
    assert b["skipped_filled"] < wm["workload"]["replace"] * 0.05


def test_deep_book_and_window() -> None:
    recs = _matcher(
        "--orders", "100000", "--levels", "20000", "--window", "65536", "--cmds", "20000"
    )
    assert recs["workload"]["bid_levels"] + recs["workload"]["ask_levels"] > 35000
    assert recs["workload"]["window"] == 65536
    assert recs["mixed_throughput"]["hash_ok"] and recs["mixed_throughput"]["rejected"] == 0
    proc = subprocess.run([str(BENCH / "matcher_bench"), "--window", "1000"], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert proc.returncode == 2 and "--window" in proc.stderr


def test_drift_moves_the_price() -> None:
    recs = _matcher("--orders", "5000", "--levels", "20", "--cmds", "100000", "--drift", "20")
    run = recs["mixed_throughput"]
    assert run["hash_ok"] and run["rejected"] == 0
    # The fair price ends 5000 ticks above the reference (1,000,000).
    assert 1_004_000 < run["best_bid_after"] < run["best_ask_after"] < 1_006_000
    assert run["fallback_levels_after"] == 0  # 16,384-tick window: +8,192 not reached
