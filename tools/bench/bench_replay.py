"""`make bench BENCH=replay`: the replayer (tools/replay/wm_replay) against
`tcpreplay` (Debian package) replaying the same capture over the same veth.

Set-up: one veth test host (nic/testhost.py); a generated capture of 20 000
MoldUDP64/OUCH frames (16 client flows) addressed to the host end; both
tools run inside the namespace on the peer end, pinned to core 1, sending
the frames unchanged through AF_PACKET (tcpreplay's default path on Linux
too); a UDP sink on the host end takes them.  Cases, interleaved (A, B, A,
B, ...), medians of ctx.repeats runs:

- topspeed: packets per second each tool reports for `--topspeed` over 5
  loops of the capture (100 000 frames): ratio = wm_replay / tcpreplay.
- pps 100k: the relative error of the achieved rate at `--pps 100000`
  (each tool's own figure: wm_replay's JSON, tcpreplay's "Rated" line):
  ratio = tcpreplay's error / wm_replay's (above 1: wm_replay is closer).

The machine has two cores shared with other work: re-run on a quiet
machine for final figures.
"""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
from pathlib import Path

from tools.bench.common import BenchContext, Row, median
from wirematch.nic.testhost import VethHost, veth_host
from wirematch.replay.gen import GenSpec, generate
from wirematch.replay.send import Pace, replay_argv, run_replay
from wirematch.replay.setup import Setup

PACKETS = 20_000
LOOPS = 5
PPS = 100_000


def _tcpreplay(host: VethHost, pcap: Path, pace: list[str], loops: int) -> float:
    argv = ["taskset", "-c", "1", "tcpreplay", "-i", host.peer_if, "--loop", str(loops), *pace]
    proc = host.run([*argv, str(pcap)], timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"tcpreplay failed: {proc.stderr.strip()}")
    m = re.search(r"Rated:.*?([\d.]+) pps", proc.stdout)
    if not m:
        raise RuntimeError(f"no rate in tcpreplay's output:\n{proc.stdout}")
    return float(m.group(1))


def _ours(host: VethHost, pcap: Path, pace: Pace, loops: int) -> float:
    argv = replay_argv(pcap, iface=host.peer_if, pace=pace, loops=loops, dst_mac=host.host_mac)
    s = run_replay(["taskset", "-c", "1", *argv], netns=host.netns, timeout=300)
    if s["failed"] or s["sent"] != s["attempted"]:
        raise RuntimeError(f"wm_replay: {s['failed']} packets refused")
    return float(s["rate_pps"])


def run(ctx: BenchContext) -> list[Row]:
    if shutil.which("tcpreplay") is None:
        raise RuntimeError("tcpreplay is not installed (apt-get install tcpreplay; make deps)")
    rows: list[Row] = []
    with veth_host() as host, tempfile.TemporaryDirectory() as tmp:
        setup = Setup(appliance=(host.host_addr, 15000))
        spec = GenSpec(packets=PACKETS, sessions=16, client_addrs=[host.peer_addr])
        cap = generate(spec, setup)
        # the frames as they go on the wire: to the host end's MAC
        mac = bytes.fromhex(host.host_mac.replace(":", ""))
        cap.records = [(ts, mac + fr[6:]) for ts, fr in cap.records]
        pcap, _ = cap.write(Path(tmp) / "flow.pcap")
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind((host.host_addr, 15000))
        ours: list[float] = []
        theirs: list[float] = []
        err_ours: list[float] = []
        err_theirs: list[float] = []
        for _ in range(ctx.repeats):
            ours.append(_ours(host, pcap, Pace(topspeed=True), LOOPS))
            theirs.append(_tcpreplay(host, pcap, ["--topspeed"], LOOPS))
            err_ours.append(abs(_ours(host, pcap, Pace(pps=PPS), 1) / PPS - 1))
            err_theirs.append(abs(_tcpreplay(host, pcap, [f"--pps={PPS}"], 1) / PPS - 1))
        sink.close()
    rows.append(
        Row("replay", "topspeed_af_packet", "packets_sent", "M/s", median(ours) / 1e6).with_peer(
            "tcpreplay --topspeed", median(theirs) / 1e6
        )
    )
    e_ours, e_theirs = median(err_ours) * 1e6, median(err_theirs) * 1e6
    row = Row("replay", f"pps_{PPS // 1000}k_rate_error", "rate_error", "ppm", e_ours)
    row.peer, row.peer_value = f"tcpreplay --pps={PPS}", e_theirs
    row.ratio = e_theirs / e_ours if e_ours else None
    rows.append(row)
    return rows
