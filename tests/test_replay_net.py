"""The replayer and the capturer over a veth pair: rate accuracy at a
moderate --pps (by the replayer's own account and by the receiver's kernel
timestamps), the recorded pace, loops, both transmit modes, and a capture
round trip (what was sent is what was captured, byte for byte)."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from wirematch.replay.capture import Capturer
from wirematch.replay.gen import GenSpec, generate
from wirematch.replay.pcapio import parse_udp, read_pcap
from wirematch.replay.send import Pace, ReplayError, replay_argv, run_replay
from wirematch.replay.setup import Setup

SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33


def _capture_for(host, tmp_path: Path, packets: int, pps: float = 20_000, seed: int = 1) -> Path:
    setup = Setup(appliance=(host.host_addr, 15000))
    spec = GenSpec(packets=packets, sessions=8, seed=seed, pps=pps, client_addrs=[host.peer_addr])
    path, _ = generate(spec, setup).write(tmp_path / f"flow{seed}.pcap")
    return path


def _sink(host, port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((host.host_addr, port))
    s.settimeout(2.0)
    return s


def _drain(s: socket.socket, n: int) -> list[tuple[int, bytes]]:
    out = []
    anc = socket.CMSG_SPACE(16)
    deadline = time.monotonic() + 10
    while len(out) < n and time.monotonic() < deadline:
        try:
            data, cmsgs, _, _ = s.recvmsg(65536, anc)
        except TimeoutError:
            break
        ts = next(struct.unpack("qq", d[:16]) for lv, k, d in cmsgs if k == SO_TIMESTAMPNS)
        out.append((ts[0] * 1_000_000_000 + ts[1], data))
    return out


def test_rate_within_one_percent_at_moderate_pps(veth_pair, tmp_path: Path) -> None:
    pcap = _capture_for(veth_pair, tmp_path, 3000)
    sink = _sink(veth_pair)
    port = sink.getsockname()[1]
    n, pps = 10_000, 20_000.0
    s = run_replay(
        replay_argv(
            pcap,
            udp=f"{veth_pair.host_addr}:{port}",
            pace=Pace(pps=pps),
            loops=4,
            count=n,
            fifo=True,
        ),  # fmt: skip
        netns=veth_pair.netns,
    )
    assert s["attempted"] == s["sent"] == n and s["failed"] == 0
    assert s["pace"] == "pps" and s["requested_pps"] == pps
    assert abs(s["rate_pps"] / pps - 1) < 0.01, s
    assert abs(s["elapsed_s"] - (n - 1) / pps) < 0.01 * n / pps, s
    assert s["late_max_ns"] >= s["late_p99_ns"] >= s["late_p50_ns"]
    assert "Actual: 10000 packets" in s["text"] and "Schedule lateness" in s["text"]
    got = _drain(sink, n)
    assert len(got) == n
    # the receiver's own clock agrees: same rate within 1 %
    span = got[-1][0] - got[0][0]
    assert abs((n - 1) / (span * 1e-9) / pps - 1) < 0.01, span
    # payloads in capture order (the capture's UDP datagrams, looped)
    frames = [parse_udp(r.data) for r in read_pcap(pcap)]
    payloads = [u.payload for u in frames if not isinstance(u, str)]
    assert [d for _, d in got[:50]] == payloads[:50]
    assert got[len(payloads)][1] == payloads[0]  # second loop starts over


def test_recorded_pace_and_speed(veth_pair, tmp_path: Path) -> None:
    pcap = _capture_for(veth_pair, tmp_path, 800, pps=4000, seed=2)
    recs = read_pcap(pcap)
    span = (recs[-1].ts_ns - recs[0].ts_ns) * 1e-9
    sink = _sink(veth_pair)
    port = sink.getsockname()[1]
    for speed in (1.0, 2.0):
        s = run_replay(
            replay_argv(
                pcap, udp=f"{veth_pair.host_addr}:{port}", pace=Pace(speed=speed), fifo=True
            ),
            netns=veth_pair.netns,
        )
        assert s["sent"] == len(recs) and s["pace"] == "recorded"
        assert abs(s["elapsed_s"] / (span / speed) - 1) < 0.01, (speed, s, span)
        assert len(_drain(sink, len(recs))) == len(recs)


def test_capture_round_trip_over_af_packet(veth_pair, tmp_path: Path) -> None:
    pcap = _capture_for(veth_pair, tmp_path, 1500, seed=3)
    recs = read_pcap(pcap)
    sink = _sink(veth_pair, 15000)  # the frames are addressed to port 15000
    sent = tmp_path / "sent.pcap"
    with Capturer(veth_pair.host_if, seconds=20) as cap:
        s = run_replay(
            replay_argv(
                pcap,
                iface=veth_pair.peer_if,
                pace=Pace(pps=50_000),
                dst_mac=veth_pair.host_mac,
                sent_pcap=sent,
            ),  # fmt: skip
            netns=veth_pair.netns,
        )
        time.sleep(0.3)
    got = cap.result
    assert s["sent"] == len(recs) and s["mode"] == "af_packet"
    assert got.kernel_drops == 0 and got.outgoing == 0
    want = [bytes.fromhex(veth_pair.host_mac.replace(":", "")) + r.data[6:] for r in recs]
    frames = [d for _, d in got.records if parse_udp(d) and not isinstance(parse_udp(d), str)]
    frames = [d for d in frames if parse_udp(d).dport == 15000]  # type: ignore[union-attr]
    assert frames == want
    got.write(tmp_path / "got.pcap")
    assert [r.data for r in read_pcap(tmp_path / "got.pcap")] == [d for _, d in got.records]
    # the replayer's record of what it sent: same frames, stamped before they arrived
    sent_recs = read_pcap(sent)
    assert [r.data for r in sent_recs] == want
    arrived = {d: ts for ts, d in got.records}
    assert all(r.ts_ns <= arrived[r.data] for r in sent_recs[:100])
    assert len(_drain(sink, len(recs))) == len(recs)


def test_topspeed_and_bounded_runs(veth_pair, tmp_path: Path) -> None:
    pcap = _capture_for(veth_pair, tmp_path, 500, seed=4)
    sink = _sink(veth_pair)
    port = sink.getsockname()[1]
    s = run_replay(
        replay_argv(pcap, udp=f"{veth_pair.host_addr}:{port}", pace=Pace(topspeed=True), loops=20),
        netns=veth_pair.netns,
    )
    assert s["attempted"] == 20 * 508 and s["pace"] == "topspeed"
    assert s["rate_pps"] > 50_000, s  # far above any paced case here
    s = run_replay(
        replay_argv(
            pcap, udp=f"{veth_pair.host_addr}:{port}", pace=Pace(pps=1000), loops=100, duration=0.2
        ),  # fmt: skip
        netns=veth_pair.netns,
    )
    assert 150 <= s["attempted"] <= 260, s  # the duration bounds it


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--udp", "10.0.0.1:9"], "--pcap FILE is required"),
        (["--pcap", "x.pcap"], "one of --iface IF or --udp"),
        (["--pcap", "x.pcap", "--udp", "nonsense"], "HOST:PORT"),
        (["--pcap", "x.pcap", "--udp", "10.0.0.1:9", "--pps", "5", "--topspeed"], "one pace"),
        (["--pcap", "/nonexistent.pcap", "--udp", "10.0.0.1:9"], "cannot open"),
    ],
)
def test_clear_argument_errors(args: list[str], needle: str) -> None:
    from wirematch.replay.send import replayer_path

    proc = subprocess.run(
        [str(replayer_path()), *args], capture_output=True, text=True, timeout=10, check=False
    )
    assert proc.returncode != 0 and needle in proc.stderr, proc.stderr
    with pytest.raises(ReplayError):
        run_replay([str(replayer_path()), *args])
