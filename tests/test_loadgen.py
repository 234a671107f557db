"""The load generator: honest summaries, rate accuracy, bounded runs, clear
argument errors, content from the built-in generator and from captures."""

from __future__ import annotations

import re
import socket
import subprocess

import pytest

from tests.nic_helpers import (
    check_enter_order,
    loadgen_path,
    parse_mold,
    receive_n,
    run_loadgen,
)


def test_refuses_unbounded_or_incomplete_runs() -> None:
    for args, needle in [
        (["--dst", "10.199.0.1", "--dport", "9", "--topspeed"], "--count N or --duration S"),
        (["--dport", "9", "--count", "1", "--topspeed"], "--dst is required"),
        (["--dst", "10.199.0.1", "--dport", "9", "--count", "1"], "--pps R or --topspeed"),
        (["--dst", "nonsense", "--dport", "9", "--count", "1", "--topspeed"], "not an IPv4"),
        (
            ["--dst", "10.199.0.1", "--dport", "9", "--count", "1", "--topspeed", "--msgs", "40"],
            "does not fit",
        ),
    ]:
        proc = subprocess.run(
            [str(loadgen_path()), *args], capture_output=True, text=True, timeout=10, check=False
        )
        assert proc.returncode != 0
        assert needle in proc.stderr, proc.stderr


def test_rate_summary_and_content_over_sendmmsg(veth_pair) -> None:
    from wirematch.nic.queue import open_queue

    with open_queue("socket", addr=veth_pair.host_addr, rcvbuf=4 << 20) as q:
        summary, text = run_loadgen(
            veth_pair,
            "--dst",
            veth_pair.host_addr,
            "--dport",
            str(q.port),
            "--count",
            "2000",
            "--pps",
            "20000",
            "--sessions",
            "2",
            "--msgs",
            "3",
        )
        # tcpreplay-style lines, and a JSON line that agrees with them
        assert re.search(r"^Actual: 2000 packets \(\d+ bytes\) sent in [\d.]+ seconds$", text, re.M)
        assert re.search(r"^Rated: [\d.]+ Bps, [\d.]+ Mbps, [\d.]+ pps$", text, re.M)
        assert "Failed packets: 0" in text
        # 2000 packets at 20 kpps take about 0.1 s
        assert 0.08 <= summary["seconds"] <= 0.3, summary
        assert summary["bytes"] == 2000 * (20 + 3 * 49)
        got = receive_n(q, 2000)
        assert len(got) == 2000
        per_session: dict[str, list[int]] = {}
        for p in got:
            session, seq, msgs = parse_mold(p.data)
            for m in msgs:
                check_enter_order(m)
            # UserRefNum increases by one per message within a session
            assert [m[1] for m in msgs] == list(range(msgs[0][1], msgs[0][1] + 3))
            per_session.setdefault(session, []).append(seq)
        # batches alternate between the sessions; each session's sequence is gapless
        assert sorted(per_session) == ["WMLG000000", "WMLG000001"]
        for seqs in per_session.values():
            assert sorted(seqs) == list(range(1, 3 * len(seqs), 3))


def test_duration_bound_and_af_xdp_topspeed(veth_pair) -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((veth_pair.host_addr, 0))
    port = rx.getsockname()[1]
    summary, _ = run_loadgen(
        veth_pair,
        "--dst",
        veth_pair.host_addr,
        "--dport",
        str(port),
        "--duration",
        "0.3",
        "--topspeed",
        "--xdp",
        veth_pair.peer_if,
    )
    rx.close()
    assert summary["mode"] == "af_xdp"
    assert 0.3 <= summary["seconds"] < 1.5
    assert summary["packets"] > 1000 and summary["failed"] == 0


def test_af_xdp_without_neighbour_says_so(veth_pair) -> None:
    proc = veth_pair.run(
        [
            str(loadgen_path()),
            "--dst",
            "10.199.255.254",
            "--dport",
            "9",
            "--count",
            "1",
            "--topspeed",
            "--xdp",
            veth_pair.peer_if,
        ]
    )
    assert proc.returncode != 0
    assert "no neighbour entry for 10.199.255.254" in proc.stderr


def test_missing_capture_is_one_sentence(tmp_path) -> None:
    proc = subprocess.run(
        [
            str(loadgen_path()),
            "--dst",
            "10.199.0.1",
            "--dport",
            "9",
            "--count",
            "1",
            "--topspeed",
            "--pcap",
            str(tmp_path / "none.pcap"),
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"loadgen: no capture file {tmp_path / 'none.pcap'}"


@pytest.mark.parametrize("frames", [False, True])
def test_capture_replay_counts(veth_pair, tmp_path, frames) -> None:
    """A capture's payloads (or frames, unchanged, over AF_XDP) arrive."""
    from tests.nic_helpers import udp_frame, write_pcap

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((veth_pair.host_addr, 0))
    rx.settimeout(1)
    port = rx.getsockname()[1]
    payloads = [b"capture-%03d" % k for k in range(100)]
    frames_list = [
        udp_frame(
            veth_pair.host_mac,
            veth_pair.peer_mac,
            (veth_pair.peer_addr, 7000),
            (veth_pair.host_addr, port),
            p,
        )
        for p in payloads
    ]
    cap = tmp_path / "c.pcap"
    write_pcap(cap, frames_list, ns=True)
    extra = ["--frames", "--xdp", veth_pair.peer_if] if frames else []
    summary, _ = run_loadgen(
        veth_pair,
        "--dst",
        veth_pair.host_addr,
        "--dport",
        str(port),
        "--count",
        "100",
        "--pps",
        "10000",
        "--pcap",
        str(cap),
        *extra,
    )
    assert summary["packets"] == 100
    got = sorted(rx.recv(2048) for _ in range(100))
    rx.close()
    assert got == payloads
