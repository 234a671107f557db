"""The replayer (tools/replay/wm_replay.c) from Python: run it, read its
JSON summary.  Pacing and transmit happen in C; see the C file's header and
docs/replay.md for what the figures mean."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wirematch.pipeline.native import build_dir


class ReplayError(RuntimeError):
    """The replayer refused its arguments or failed; the message is its own."""


def replayer_path() -> Path:
    path = build_dir() / "tools" / "wm_replay"
    if not path.exists():
        raise ReplayError(f"{path} is not built: run `make build`")
    return path


@dataclass
class Pace:
    """One of: recorded (times speed), pps, topspeed."""

    pps: float = 0.0
    topspeed: bool = False
    speed: float = 1.0

    def argv(self) -> list[str]:
        if self.topspeed:
            return ["--topspeed"]
        if self.pps > 0:
            return ["--pps", f"{self.pps:g}"]
        return ["--pace", "recorded", "--speed", f"{self.speed:g}"]


def replay_argv(
    pcap: str | Path,
    *,
    iface: str | None = None,
    udp: str | None = None,
    pace: Pace | None = None,
    loops: int = 1,
    count: int = 0,
    duration: float = 0.0,
    batch: int = 32,
    keep_sport: bool = False,
    dst_mac: str | None = None,
    sent_pcap: str | Path | None = None,
    cpu: int = -1,
    fifo: bool = False,
) -> list[str]:
    argv = [str(replayer_path()), "--pcap", str(pcap), "--json"]
    argv += ["--iface", iface] if iface else []
    argv += ["--udp", udp] if udp else []
    argv += (pace or Pace()).argv()
    argv += ["--loop", str(loops), "--batch", str(batch)]
    argv += ["--count", str(count)] if count else []
    argv += ["--duration", f"{duration:g}"] if duration else []
    argv += ["--keep-sport"] if keep_sport else []
    argv += ["--dst-mac", dst_mac] if dst_mac else []
    argv += ["--sent-pcap", str(sent_pcap)] if sent_pcap else []
    argv += ["--cpu", str(cpu)] if cpu >= 0 else []
    argv += ["--fifo"] if fifo else []
    return argv


def run_replay(
    argv: Sequence[str], netns: str | None = None, timeout: float = 120
) -> dict[str, Any]:
    """Run a replayer command line (from replay_argv), inside netns if given;
    returns its JSON summary plus "text" (the tcpreplay-style lines)."""
    full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode not in (0, 3) or not lines or not lines[-1].startswith("{"):
        raise ReplayError(f"wm_replay failed ({proc.returncode}): {proc.stderr.strip()}")
    summary = json.loads(lines[-1])
    summary["text"] = "\n".join(lines[:-1])
    return summary
