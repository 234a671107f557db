"""Each UDP backend over veth: receives exactly what was sent (count and
content), transmits replies that arrive, survives bad input, counts buffer
exhaustion and recovers.  Needs root (CI has it); fails with the reason
otherwise (see the veth_pair fixture)."""

from __future__ import annotations

import random
import socket
import time
from collections import defaultdict

import pytest

from tests.nic_helpers import (
    check_enter_order,
    ipv4_frame,
    parse_mold,
    receive_n,
    run_loadgen,
    udp_frame,
    write_pcap,
)
from wirematch.nic.queue import open_queue

BACKENDS = [
    ("socket", []),
    ("io_uring", []),
    ("io_uring", ["sqpoll"]),
    ("io_uring", ["defer_taskrun"]),
    ("io_uring", ["coop_taskrun"]),
    # busy polls through io_uring_enter when its CQ is empty (docs/nic.md)
    ("io_uring", ["napi"]),
]
IDS = ["-".join([b, *o]) for b, o in BACKENDS]


def open_on(host, backend: str, options: list[str], **kw):  # noqa: ANN001, ANN201
    kw.setdefault("rcvbuf", 8 << 20)
    return open_queue(backend, addr=host.host_addr, port=0, options=options, **kw)


def hold_up_to(q, n: int, deadline_s: float) -> tuple[list, int]:  # noqa: ANN001
    """Receive up to n packets without releasing them (to exhaust buffers)."""
    held, n_held = [], 0
    end = time.monotonic() + deadline_s
    while n_held < n and time.monotonic() < end:
        hd = q.hold(n - n_held)
        held.append(hd)
        n_held += hd[1]
    return held, n_held


@pytest.mark.parametrize(("backend", "options"), BACKENDS, ids=IDS)
def test_receives_exactly_the_order_stream(veth_pair, backend, options) -> None:
    """Loadgen (sendmmsg, 3 sessions, 2 orders per packet) -> backend: every
    sequence number once per session, every Enter Order well formed."""
    with open_on(veth_pair, backend, options) as q:
        n = 1500
        summary, _ = run_loadgen(
            veth_pair,
            "--dst",
            veth_pair.host_addr,
            "--dport",
            str(q.port),
            "--count",
            str(n),
            "--pps",
            "100000",
            "--sessions",
            "3",
            "--msgs",
            "2",
        )
        assert summary["packets"] == n and summary["failed"] == 0
        got = receive_n(q, n)
        assert len(got) == n, f"{len(got)} of {n} received; stats {q.stats()}"
        assert not q.recv(64, timeout=0.05), "more packets than were sent"
        seqs: dict[str, list[int]] = defaultdict(list)
        for p in got:
            assert p.src[0] == veth_pair.peer_addr and 40000 <= p.src[1] < 40003
            session, seq, msgs = parse_mold(p.data)
            assert len(msgs) == 2
            for m in msgs:
                check_enter_order(m)
            seqs[session].append(seq)
        assert sorted(seqs) == ["WMLG000000", "WMLG000001", "WMLG000002"]
        for s in seqs.values():
            assert sorted(s) == list(range(1, 2 * len(s), 2))
        st = q.stats()
        assert st["rx_packets"] == n and st["drop_socket_full"] == 0


@pytest.mark.parametrize(("backend", "options"), BACKENDS[:2], ids=IDS[:2])
def test_receives_exactly_a_capture_over_af_xdp(veth_pair, tmp_path, backend, options) -> None:
    """Random payloads (1 to 1400 bytes) from a capture, sent with AF_XDP:
    the multiset of received payloads equals the capture's."""
    rng = random.Random(7)
    payloads = [rng.randbytes(rng.randrange(1, 1400)) for _ in range(800)]
    with open_on(veth_pair, backend, options) as q:
        frames = [
            udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", ("10.0.0.1", 1), ("10.0.0.2", 2), p)
            for p in payloads
        ]
        cap = tmp_path / "random.pcap"
        write_pcap(cap, frames)
        summary, text = run_loadgen(
            veth_pair,
            "--dst",
            veth_pair.host_addr,
            "--dport",
            str(q.port),
            "--count",
            str(len(payloads)),
            "--pps",
            "50000",
            "--pcap",
            str(cap),
            "--xdp",
            veth_pair.peer_if,
        )
        assert "Actual: 800 packets" in text and summary["mode"] == "af_xdp"
        got = receive_n(q, len(payloads))
        assert sorted(p.data for p in got) == sorted(payloads)


@pytest.mark.parametrize(("backend", "options"), BACKENDS, ids=IDS)
def test_replies_arrive(veth_pair, backend, options) -> None:
    with open_on(veth_pair, backend, options) as q:
        client = veth_pair.socket()
        client.bind((veth_pair.peer_addr, 0))
        client.settimeout(2)
        for k in range(50):
            client.sendto(b"ping-%03d" % k, (veth_pair.host_addr, q.port))
        got = receive_n(q, 50)
        assert len(got) == 50
        assert all(p.src == client.getsockname() for p in got)
        sent = q.send([(p.data[::-1], p.src) for p in got])
        assert sent == 50
        q.flush()
        replies = {client.recv(100) for _ in range(50)}
        assert replies == {(b"ping-%03d" % k)[::-1] for k in range(50)}
        for _ in range(20):
            q.flush()
        st = q.stats()
        assert st["tx_packets"] == 50 and st["tx_completions"] == 50 and st["tx_errors"] == 0
        client.close()


@pytest.mark.parametrize(("backend", "options"), BACKENDS[:3], ids=IDS[:3])
def test_survives_bad_input(veth_pair, backend, options) -> None:
    """Truncated, oversized, non-UDP and wrong-port traffic, then good packets:
    only the good ones (and nothing else) are delivered; oversized counted."""
    h = veth_pair
    with open_on(h, backend, options, buf_size=1024) as q:
        port = q.port
        raw = h.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        raw.bind((h.peer_if, 0))
        src, dst = (h.peer_addr, 5555), (h.host_addr, port)
        bad = [
            # IPv4 header claims 200 bytes, frame carries 40: the kernel drops it
            udp_frame(h.host_mac, h.peer_mac, src, dst, b"x" * 12, total_len=200),
            # UDP length larger than the IP payload
            ipv4_frame(
                h.host_mac,
                h.peer_mac,
                h.peer_addr,
                h.host_addr,
                17,
                bytes.fromhex("15b3") + port.to_bytes(2, "big") + b"\x03\xe8\x00\x00" + b"y" * 20,
            ),
            # TCP SYN and ICMP echo to the same address
            ipv4_frame(
                h.host_mac,
                h.peer_mac,
                h.peer_addr,
                h.host_addr,
                6,
                bytes.fromhex("15b3") + port.to_bytes(2, "big") + bytes(16),
            ),
            ipv4_frame(
                h.host_mac, h.peer_mac, h.peer_addr, h.host_addr, 1, b"\x08\x00" + bytes(30)
            ),
            # UDP to another port
            udp_frame(h.host_mac, h.peer_mac, src, (h.host_addr, port ^ 1), b"wrong port"),
            # an IPv4 EtherType with no IP header, and a garbage EtherType
            bytes.fromhex(h.host_mac.replace(":", "")) + bytes(6) + b"\x08\x00",
            bytes.fromhex(h.host_mac.replace(":", "")) + bytes(6) + b"\x88\xb5" + bytes(50),
        ]
        for f in bad:
            raw.send(f)
        client = h.socket()
        client.bind(src)
        client.sendto(b"z" * 3000, dst)  # larger than a 1024-byte buffer
        good = [b"good-%d" % k for k in range(20)]
        for g in good:
            client.sendto(g, dst)
        got = receive_n(q, len(good), deadline_s=5)
        time.sleep(0.05)
        got += q.recv(64, timeout=0.05)
        assert sorted(p.data for p in got) == sorted(good)
        assert q.stats()["drop_truncated"] == 1
        raw.close()
        client.close()


@pytest.mark.parametrize(("backend", "options"), BACKENDS[:3], ids=IDS[:3])
def test_buffer_exhaustion_is_counted_and_recovered(veth_pair, backend, options) -> None:
    h = veth_pair
    with open_on(h, backend, options, n_buffers=16) as q:
        client = h.socket()
        client.bind((h.peer_addr, 0))
        for k in range(48):
            client.sendto(b"held-%02d" % k, (h.host_addr, q.port))
        held, n_held = hold_up_to(q, 16, deadline_s=5)
        assert n_held == 16
        for _ in range(5):
            assert q.recv(8, timeout=0.002) == []
        assert q.stats()["rx_no_buffers"] > 0
        for hd in held:
            q.release(hd)
        rest = receive_n(q, 32, deadline_s=5)
        assert len(rest) == 32
        assert q.stats()["rx_packets"] == 48 and q.stats()["drop_socket_full"] == 0
        client.close()


@pytest.mark.parametrize(
    ("backend", "options"),
    [("io_uring", []), ("io_uring", ["no_addr"]), ("io_uring", ["coop_taskrun", "no_addr"])]
    + [("socket", [])],
    ids=["io_uring-recvmsg", "io_uring-recv", "io_uring-coop-recv", "socket"],
)
def test_counts_socket_overflow(veth_pair, backend, options) -> None:
    """The socket backends read the socket's drop count (SO_MEMINFO) on flush:
    with every buffer held the socket overflows, and each datagram sent is
    then either received or counted in drop_socket_full, drops after the
    last datagram received included (recv without the source address too)."""
    h = veth_pair
    with open_on(h, backend, options, rcvbuf=4096, n_buffers=16) as q:
        client = h.socket()
        client.bind((h.peer_addr, 0))
        for k in range(16):
            client.sendto(b"held-%02d" % k, (h.host_addr, q.port))
        # io_uring moves all 16 into its buffers at once; the socket backend
        # receives what its small socket buffer kept (the rest is dropped).
        held, n_held = hold_up_to(q, 16, deadline_s=5 if backend == "io_uring" else 0.5)
        assert n_held == 16 if backend == "io_uring" else 0 < n_held <= 16
        for k in range(300):  # far more than a 4 KB receive buffer holds
            client.sendto(b"over-%03d" % k, (h.host_addr, q.port))
        for hd in held:
            q.release(hd)
        got = receive_n(q, 300, deadline_s=1)
        q.flush()
        st = q.stats()
        assert 0 < len(got) < 300 and st["drop_socket_full"] > 0, st
        assert st["rx_packets"] == n_held + len(got), st
        assert st["rx_packets"] + st["drop_socket_full"] == 316, (len(got), st)
        if "no_addr" not in options:
            assert all(p.src == client.getsockname() for p in got)
        client.close()
