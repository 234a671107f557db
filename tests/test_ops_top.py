"""`wirematch top` as an operator uses it: a real appliance (`wirematch run`
on loopback) and the full-screen view in a real terminal (tmux, 80x24):
views switch on keys, pause shows, a resize redraws, q quits; and every
view's lines fit 80x24."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wirematch.pipeline.native.shm import Region, RegionError
from wirematch.pipeline.ops import status, top

pytestmark = pytest.mark.no_sanitizer  # the appliance runs in a subprocess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"top{uuid.uuid4().hex[:8]}"
    cfg = tmp_path_factory.mktemp("top") / "app.toml"
    text = subprocess.run(
        [sys.executable, "-m", "wirematch", "config", "default"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    text = text.replace('name = "wirematch"', f'name = "{name}"')
    for old in ("127.0.0.1:15000", "127.0.0.1:9108", "127.0.0.1:8780"):
        text = text.replace(old, f"127.0.0.1:{free_port()}")
    cfg.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wirematch", "run", str(cfg), "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with Region.attach(name) as r:
                    if r.counters("appliance")["running"]:
                        break
            except (RegionError, KeyError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the appliance did not start: {proc.stderr.read() if proc.stderr else ''}"
                )
            time.sleep(0.2)
        yield name
    finally:
        proc.terminate()
        proc.wait(20)
        Region.unlink(name, missing_ok=True)


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
