"""`wirematch demo` (the README's run command) as a newcomer reads it: a
paced phase the appliance sustains, then a labelled overload test; every
figure with its unit, counts that reconcile, no Python reprs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.no_sanitizer  # the appliance's workers run in a subprocess


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0:
        pytest.fail("the demo's veth pair needs root (run the suite as root)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.run(
        [sys.executable, "-m", "wirematch", "demo", "--seconds", "1", "--overload-seconds",
         "0.5", *args],
        capture_output=True, text=True, timeout=180, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def test_demo_phases_reconcile() -> None:
    r = json.loads(demo("--json").stdout)
    assert [p["phase"] for p in r["phases"]] == ["paced", "overload"]
    assert r["drained"]
    for p in r["phases"]:
        rc = p["reconcile"]
        assert rc["orders_unexplained"] == 0, rc
        assert rc["orders_to_engine"] == p["orders_in"]
        # Nothing is received that was not sent: what was not seen is >= 0.
        assert rc["packets_not_seen"] >= 0, rc
        assert rc["packets_received"] <= rc["packets_sent"], rc
        assert p["load_generator"]["messages"] > 0 and p["orders_in"] > 0
        assert p["rx_to_match_ns"]["count"] > 0
    paced, overload = r["phases"]
    assert paced["pps"] == 10_000
    lost = paced["reconcile"]["packets_sent"] - paced["reconcile"]["packets_received"]
    assert lost <= 0.05 * paced["reconcile"]["packets_sent"], paced["reconcile"]
    # The orders the load generator sent arrived, but for those lost with packets.
    msgs = paced["load_generator"]["messages"]
    assert msgs * 0.95 <= paced["orders_in"] <= msgs, (msgs, paced["orders_in"])
    assert overload["load_generator"]["pps"] > paced["load_generator"]["pps"]


def test_demo_text_has_units_and_no_reprs() -> None:
    out = demo().stdout
    assert "Paced phase: 10,000 packets/s" in out and "Overload test:" in out
    assert "µs" in out or " ms" in out
    for line in out.splitlines():
        assert "{'" not in line and "[('" not in line, line
        if line.strip().startswith(("sent:", "received:")):
            assert "orders" in line and "packets" in line, line
    assert out.strip().endswith("Clean stop: yes, every ring drained.")
