"""`wirematch run` on loopback as a subprocess, for tests of the operator
surfaces against a real appliance: the default configuration on free ports
under a unique name, stopped and its region removed afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wirematch.pipeline.native.shm import Region, RegionError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Instance:
    name: str
    order_entry: tuple[str, int]
    metrics: str  # host:port of /metrics and the dashboard
    api: str
    config: Path
    proc: subprocess.Popen[str]


@contextlib.contextmanager
def run_instance(workdir: Path, seconds: float = 60) -> Iterator[Instance]:
    name = f"t{uuid.uuid4().hex[:10]}"
    text = subprocess.run(
        [sys.executable, "-m", "wirematch", "config", "default"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    port, mport, aport = free_port(), free_port(), free_port()
    text = text.replace('name = "wirematch"', f'name = "{name}"')
    text = text.replace("127.0.0.1:15000", f"127.0.0.1:{port}")
    text = text.replace("dport 15000", f"dport {port}")
    text = text.replace("127.0.0.1:9108", f"127.0.0.1:{mport}")
    text = text.replace("127.0.0.1:8780", f"127.0.0.1:{aport}")
    cfg = workdir / f"{name}.toml"
    cfg.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wirematch", "run", str(cfg), "--duration", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(RegionError, KeyError, OSError), Region.attach(name) as r:
                if r.counters("appliance")["running"]:
                    # and its web server (metrics, dashboard) listens
                    socket.create_connection(("127.0.0.1", mport), timeout=1).close()
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read() if proc.stderr else ""
                pytest.fail(f"the appliance did not start: {err}")
            time.sleep(0.2)
        yield Instance(
            name, ("127.0.0.1", port), f"127.0.0.1:{mport}", f"127.0.0.1:{aport}", cfg, proc
        )
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)
        Region.unlink(name, missing_ok=True)
