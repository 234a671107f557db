"""`wirematch top` as an operator uses it: a real appliance (`wirematch run`
on loopback) and the full-screen view in a real terminal (tmux, 80x24):
views switch on keys, pause shows, a resize redraws, q quits; and every
view's lines fit 80x24."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runinstance import run_instance
from wirematch.pipeline.ops import status, top

pytestmark = pytest.mark.no_sanitizer  # the appliance runs in a subprocess


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_instance(tmp_path_factory.mktemp("top")) as inst:
        yield inst.name


def test_every_view_fits_80x24(instance: str) -> None:
    report = status.read_status(instance, interval=0.2)
    for view in top.VIEWS:
        lines = top.screen(report, view, 80, 24, 1.0, False)
        assert len(lines) <= 24 and all(len(ln) < 80 for ln in lines), (view, lines)
        assert f"[{top.VIEWS.index(view) + 1} {view}]" in lines[1]


def test_top_in_a_terminal(instance: str, tmp_path: Path) -> None:
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.fail("tmux is not installed (apt: tmux; `make deps` installs it)", pytrace=False)
    sock = str(tmp_path / "tmux.sock")
    t = [tmux, "-S", sock]

    def pane() -> str:
        return subprocess.run([*t, "capture-pane", "-p", "-t", "top"], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip

    def wait_for(text: str) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            screen = pane()
            if text in screen:
                return screen
            time.sleep(0.2)
        pytest.fail(f"{text!r} never showed; the screen:\n{pane()}")

    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    cmd = f"{sys.executable} -m wirematch top --name {instance} --interval 0.3"
    subprocess.run([*t, "new-session", "-d", "-s", "top", "-x", "80", "-y", "24", cmd],
                   check=True, env=env)  # fmt: skip
    try:
        screen = wait_for("[1 overview]")
        assert "ORDERS" in screen and "LOSS (in window)" in screen and "running" in screen
        subprocess.run([*t, "send-keys", "-t", "top", "2"], check=True)
        assert "rx.q0" in wait_for("[2 stages]")
        subprocess.run([*t, "send-keys", "-t", "top", "p"], check=True)
        wait_for("PAUSED")
        subprocess.run([*t, "resize-window", "-t", "top", "-x", "100", "-y", "30"], check=True)
        subprocess.run([*t, "send-keys", "-t", "top", "Tab"], check=True)
        wait_for("[3 latency]")
        subprocess.run([*t, "send-keys", "-t", "top", "q"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = subprocess.run([*t, "has-session", "-t", "top"], capture_output=True)
            if alive.returncode != 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail("q did not end wirematch top")
    finally:
        subprocess.run([*t, "kill-server"], capture_output=True)
