"""The appliance's web page, as an operator opens it: a real appliance
(`wirematch run` on loopback) with orders flowing from the load generator,
its /dashboard/status.json, and the page rendered by headless Chromium (the
script ran: the cards hold the numbers the JSON says; a screenshot is
written and is not blank)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nic_helpers import loadgen_path
from tests.runinstance import Instance, run_instance

pytestmark = pytest.mark.no_sanitizer  # the appliance runs in a subprocess

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with run_instance(tmp_path_factory.mktemp("dash")) as inst:
        host, port = inst.order_entry
        lg = subprocess.Popen(
            [str(loadgen_path()), "--dst", host, "--dport", str(port), "--sessions", "1",
             "--msgs", "4", "--pps", "2000", "--duration", "20", "--hello",
             "--mix", "WMTA,WMTB", "--mid", "1000000", "--tick", "100"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield inst
        finally:
            lg.terminate()
            lg.wait(10)


def get(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read(), r.headers.get("Content-Type", "")


def status_json(inst: Instance) -> dict:
    deadline = time.monotonic() + 20
    while True:
        _, body, _ = get(f"http://{inst.metrics}/dashboard/status.json")
        state = json.loads(body)
        if state["history"] and state["history"][-1]["orders_in"] > 0:
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"no orders in the dashboard's windows: {state['history'][-3:]}")
        time.sleep(0.5)


def test_status_json_has_windows_drops_latency_and_sessions(instance: Instance) -> None:
    state = status_json(instance)
    report = state["report"]
    assert report["running"] and report["name"] == instance.name
    last = state["history"][-1]
    assert last["orders_in"] > 0 and last["accepted"] > 0
    match = next(h for h in report["histograms"] if h["metric"] == "rx_to_match_ns")
    assert match["window"]["count"] > 0 and match["window_buckets"]
    assert state["flows"] and state["flows"][0]["session"] == 1
    code, body, ctype = get(f"http://{instance.metrics}/metrics")
    assert code == 200 and b"wirematch_up 1" in body and ctype.startswith("text/plain")


def test_the_page_renders_in_chromium(instance: Instance, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (apt: chromium; `make deps` installs it)",
                    pytrace=False)  # fmt: skip
    status_json(instance)  # orders are flowing
    url = f"http://{instance.metrics}/dashboard"
    common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
              "--window-size=1000,1100", "--virtual-time-budget=5000"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120, env=env, check=False).stdout  # fmt: skip
    card = re.search(r'id="orders-in-rate">([^<]*)<', dom)
    assert card and re.fullmatch(r"[\d,]+", card.group(1)), (card, dom[:2000])
    assert int(card.group(1).replace(",", "")) > 0
    assert "rx_to_match_ns" in dom and "<polyline" in dom
    shot = tmp_path / "dashboard.png"
    subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=120,
                   env=env, check=False)  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 20_000, "no screenshot, or a blank one"
