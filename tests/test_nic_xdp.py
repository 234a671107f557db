"""The AF_XDP backend over veth: exact delivery of the loadgen's stream in
native and SKB mode (and with busy polling and the batched fill policy),
replies, the kernel keeping non-appliance traffic, bad input, fill-ring
exhaustion, the UMEM in hugepages, stale programs from crashed runs,
detaching on signals, and the capability sentences.  Needs root (CI has
it); the veth_pair fixture fails with the reason otherwise."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.nic_frames import parse_udp, reply_frame
from tests.nic_helpers import (
    check_enter_order,
    ipv4_frame,
    parse_mold,
    receive_n,
    run_loadgen,
    udp_frame,
)
from wirematch.nic import caps
from wirematch.nic.queue import NicError, open_queue
from wirematch.nic.xdp import XdpError, detach, query

ROOT = Path(__file__).resolve().parent.parent
PORT = 9100

CASES = [
    ([], "native"),
    (["xdp_skb"], "skb"),
    (["xdp_native", "busy_poll"], "native"),
]
CASE_IDS = ["default-native", "skb", "native-busy_poll-batched"]


def open_xdp(host, options=(), port=PORT, **kw):  # noqa: ANN001, ANN201
    return open_queue(
        "af_xdp", ifname=host.host_if, addr=host.host_addr, port=port, options=list(options), **kw
    )


@pytest.mark.parametrize(("options", "mode"), CASES, ids=CASE_IDS)
def test_receives_exactly_the_order_stream(veth_pair, options, mode) -> None:
    h = veth_pair
    policy = "batched" if "busy_poll" in options else "on_release"
    # The sender finishes before the test reads: every packet needs a frame.
    with open_xdp(h, options, fill_policy=policy, n_buffers=2048) as q:
        info = q.info()
        assert info["backend"] == "af_xdp" and info["xdp_mode"] == mode
        assert info["bind_flags"] == ["copy", "need_wakeup"]  # veth: copy mode only
        assert info["zero_copy_rx"] is False and info["xdp_prog_id"] > 0
        assert f"af_xdp {mode} mode, copy" in info["mode"]
        assert query(h.host_if).prog_id == info["xdp_prog_id"]
        n = 1500
        summary, _ = run_loadgen(
            h, "--dst", h.host_addr, "--dport", str(PORT), "--count", str(n), "--pps", "100000",
            "--sessions", "3", "--msgs", "2",
        )  # fmt: skip
        assert summary["packets"] == n
        got = receive_n(q, n)
        assert len(got) == n, f"{len(got)} of {n}; stats {q.stats()} {q.xstats()}"
        assert not q.recv(64, timeout=0.05), "more packets than were sent"
        seqs: dict[str, list[int]] = defaultdict(list)
        for p in got:
            assert p.kind == "l2"
            u = parse_udp(p.data)
            assert u is not None and u.dst == (h.host_addr, PORT)
            assert u.src[0] == h.peer_addr and 40000 <= u.src[1] < 40003
            session, seq, msgs = parse_mold(u.payload)
            for m in msgs:
                check_enter_order(m)
            seqs[session].append(seq)
        assert sorted(seqs) == ["WMLG000000", "WMLG000001", "WMLG000002"]
        for s in seqs.values():
            assert sorted(s) == list(range(1, 2 * len(s), 2))
        q.flush()
        st, xs = q.stats(), q.xstats()
        assert st["rx_packets"] == n and st["drop_rx_ring_full"] == 0
        assert st["drop_kernel_rx"] == 0
        assert xs["prog_steered"] == n and xs["prog_dropped_no_socket"] == 0
        assert xs["xsk_rx_ring_full"] == 0
        if "busy_poll" in options:
            assert st["rx_wakeups"] > 0  # recvfrom drove the busy poll when the ring was empty
    assert query(h.host_if).prog_id == 0, "program left attached after close"


def test_non_appliance_traffic_reaches_the_kernel(veth_pair) -> None:
    """With the program attached: a kernel UDP socket on another port, a TCP
    connection and a UDP socket to another address all still work; the
    appliance's port goes to the XDP socket only."""
    h = veth_pair
    kernel_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    kernel_udp.bind((h.host_addr, PORT + 1))
    kernel_udp.settimeout(2)
    same_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    same_port.bind((h.host_addr, PORT))
    same_port.setblocking(False)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((h.host_addr, 0))
    listener.listen(1)
    listener.settimeout(3)
    with open_xdp(h) as q:
        client = h.socket()
        client.bind((h.peer_addr, 0))
        for k in range(20):
            client.sendto(b"kernel-%02d" % k, (h.host_addr, PORT + 1))
            client.sendto(b"bypass-%02d" % k, (h.host_addr, PORT))
        assert sorted(kernel_udp.recv(100) for _ in range(20)) == [
            b"kernel-%02d" % k for k in range(20)
        ]
        got = receive_n(q, 20)
        assert sorted(parse_udp(p.data).payload for p in got) == [
            b"bypass-%02d" % k for k in range(20)
        ]
        with pytest.raises(BlockingIOError):
            same_port.recv(100)  # the kernel never saw the appliance's packets
        tcp = h.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.settimeout(3)
        tcp.connect((h.host_addr, listener.getsockname()[1]))
        conn, _ = listener.accept()
        tcp.sendall(b"management")
        assert conn.recv(100) == b"management"
        conn.close()
        tcp.close()
        state = query(h.host_if)
        assert state.ours and state.owner_pid == os.getpid() and state.owner_alive
        assert state.n_ports == 1 and state.local_addr == h.host_addr
        assert state.steered == 20 and state.passed >= 20 + 3  # UDP + TCP handshake/data
        client.close()
    for s in (kernel_udp, same_port, listener):
        s.close()


def test_replies_arrive_and_ports_can_be_added(veth_pair) -> None:
    h = veth_pair
    with open_xdp(h) as q:
        q.steer_port(PORT + 2)
        assert query(h.host_if).n_ports == 2
        client = h.socket()
        client.bind((h.peer_addr, 0))
        client.settimeout(2)
        for k in range(50):
            client.sendto(b"ping-%03d" % k, (h.host_addr, PORT + 2 * (k % 2)))
        got = receive_n(q, 50)
        assert len(got) == 50
        replies = []
        for p in got:
            u = parse_udp(p.data)
            assert u.src == client.getsockname()
            replies.append(reply_frame(p.data, u.payload[::-1]))
        assert q.send(replies) == 50
        q.flush()
        back = sorted(client.recv(100) for _ in range(50))
        assert back == sorted((b"ping-%03d" % k)[::-1] for k in range(50))
        q.flush()
        st = q.stats()
        assert st["tx_packets"] == 50 and st["tx_completions"] == 50 and st["tx_errors"] == 0
        q.steer_port(PORT + 2, on=False)
        assert query(h.host_if).n_ports == 1
        client.close()


def test_bad_input_is_dropped_with_a_reason(veth_pair) -> None:
    """Malformed frames to the port are left to the kernel (which drops them);
    L4 and oversized transmits are counted drops."""
    h = veth_pair
    with open_xdp(h) as q:
        raw = h.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        raw.bind((h.peer_if, 0))
        src, dst = (h.peer_addr, 5555), (h.host_addr, PORT)
        bad = [
            # IPv4 with the UDP header cut off
            ipv4_frame(h.host_mac, h.peer_mac, h.peer_addr, h.host_addr, 17, b"\x15\xb3"),
            # TCP to the same port
            ipv4_frame(
                h.host_mac, h.peer_mac, h.peer_addr, h.host_addr, 6,
                bytes.fromhex("15b3") + PORT.to_bytes(2, "big") + bytes(16),
            ),
            # to another address on the same port
            udp_frame(h.host_mac, h.peer_mac, src, ("10.199.255.254", PORT), b"other addr"),
            # a later fragment (no UDP header of its own)
            bytes(ipv4_frame(h.host_mac, h.peer_mac, h.peer_addr, h.host_addr, 17, bytes(30))),
        ]  # fmt: skip
        frag = bytearray(bad[-1])
        frag[20:22] = (0x0010).to_bytes(2, "big")  # fragment offset 16 * 8
        bad[-1] = bytes(frag)
        for f in bad:
            raw.send(f)
        good = [udp_frame(h.host_mac, h.peer_mac, src, dst, b"good-%d" % k) for k in range(10)]
        for f in good:
            raw.send(f)
        got = receive_n(q, 10, deadline_s=5)
        got += q.recv(64, timeout=0.05)
        assert sorted(parse_udp(p.data).payload for p in got) == [b"good-%d" % k for k in range(10)]
        xs = q.xstats()
        assert xs["prog_steered"] == 10 and xs["prog_passed"] >= len(bad)
        sent = q.send([(b"l4 payload", (h.peer_addr, 1)), b"\0" * 4000, good[0]])
        assert sent == 3
        q.flush()
        st = q.stats()
        assert st["tx_drop_bad_kind"] == 1 and st["tx_drop_oversized"] == 1
        assert st["tx_packets"] == 1
        raw.close()


def test_fill_ring_exhaustion_is_counted_and_recovered(veth_pair) -> None:
    h = veth_pair
    with open_xdp(h, n_buffers=16, ring_size=64) as q:
        client = h.socket()
        client.bind((h.peer_addr, 0))
        for k in range(16):
            client.sendto(b"held-%02d" % k, (h.host_addr, PORT))
        held, n_held = [], 0
        end = time.monotonic() + 5
        while n_held < 16 and time.monotonic() < end:
            hd = q.hold(16 - n_held)
            held.append(hd)
            n_held += hd[1]
        assert n_held == 16
        for k in range(8):  # no frame left in the fill ring: the kernel drops these
            client.sendto(b"lost-%02d" % k, (h.host_addr, PORT))
        time.sleep(0.05)
        q.flush()
        st = q.stats()
        assert st["drop_kernel_rx"] == 8 and st["rx_fill_ring_empty"] >= 8, st
        for hd in held:
            q.release(hd)
        for k in range(8):
            client.sendto(b"back-%02d" % k, (h.host_addr, PORT))
        rest = receive_n(q, 8)
        assert sorted(parse_udp(p.data).payload for p in rest) == [
            b"back-%02d" % k for k in range(8)
        ]
        client.close()


def _hugepages() -> tuple[int, int]:
    text = Path("/proc/meminfo").read_text()
    get = {ln.split(":")[0]: int(ln.split()[1]) for ln in text.splitlines() if "HugePages_" in ln}
    return get["HugePages_Total"], get["HugePages_Free"]


def test_umem_in_hugepages(veth_pair) -> None:
    """With free hugepages the UMEM takes them; without enough, the hugepages
    option fails with the sentence saying how many are needed."""
    h = veth_pair
    nr = Path("/proc/sys/vm/nr_hugepages")
    before = int(nr.read_text())
    try:
        nr.write_text(f"{before + 2}\n")
        total, free = _hugepages()
        if free < 2:
            pytest.fail(f"cannot reserve 2 hugepages here (free {free} of {total})", pytrace=False)
        with open_xdp(h, ["hugepages"], n_buffers=512) as q:  # 512 + 256 frames: 1.5 MB
            info = q.info()
            assert info["umem_hugepages"] is True and "umem 2M hugepages" in info["mode"]
            client = h.socket()
            client.bind((h.peer_addr, 0))
            for k in range(10):
                client.sendto(b"huge-%d" % k, (h.host_addr, PORT))
            assert len(receive_n(q, 10)) == 10
            client.close()
    finally:
        nr.write_text(f"{before}\n")
    _, free = _hugepages()
    need = -(-(32768 + 256) * 4096 // (2 << 20))  # rounded up
    if free < need:
        with pytest.raises(
            NicError, match=rf"needs {need} free 2 MB hugepages and {free} are free"
        ):
            open_xdp(h, ["hugepages"], n_buffers=32768, buf_size=4096)
    else:  # a machine with that many free: then the UMEM is in them
        with open_xdp(h, ["hugepages"], n_buffers=32768, buf_size=4096) as q:
            assert q.info()["umem_hugepages"] is True


CHILD = """
import sys, time
from wirematch.nic.queue import open_queue
q = open_queue("af_xdp", ifname=sys.argv[1], port=int(sys.argv[2]))
print(q.info()["xdp_prog_id"], flush=True)
time.sleep(30)
"""


def _start_owner(ifname: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, ifname, str(PORT)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.wait(5)
        pytest.fail(f"owner process failed: {proc.stderr.read()}")
    return proc, int(line)


def test_stale_program_is_replaced_and_live_owner_refused(veth_pair) -> None:
    h = veth_pair
    owner, prog = _start_owner(h.host_if)
    try:
        state = query(h.host_if)
        assert state.prog_id == prog and state.ours and state.owner_alive
        with pytest.raises(NicError, match=rf"attached by process {owner.pid}, which still runs"):
            open_xdp(h)
        with pytest.raises(XdpError, match="which still runs"):
            detach(h.host_if)
    finally:
        owner.kill()  # a crash: no clean-up runs
        owner.wait(10)
    state = query(h.host_if)
    assert state.prog_id == prog and not state.owner_alive, "SIGKILL should leave it attached"
    assert "gone: stale" in state.describe()
    with open_xdp(h) as q:
        info = q.info()
        assert info["stale_prog_id"] == prog and info["xdp_prog_id"] != prog
        assert f"replaced stale prog {prog}" in info["mode"]
    assert query(h.host_if).prog_id == 0

    # The manual clean-up: `wirematch nic detach IFACE`.
    owner, prog = _start_owner(h.host_if)
    owner.kill()
    owner.wait(10)
    out = subprocess.run(
        [sys.executable, "-m", "wirematch", "nic", "detach", h.host_if, "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["detached"] == 1 and data["was"]["prog_id"] == prog
    assert query(h.host_if).prog_id == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_detach_the_program(veth_pair, sig) -> None:
    h = veth_pair
    owner, prog = _start_owner(h.host_if)
    assert query(h.host_if).prog_id == prog
    owner.send_signal(sig)
    owner.wait(10)
    assert query(h.host_if).prog_id == 0, f"program left after {sig.name}"


def test_other_program_is_not_touched(veth_pair, tmp_path) -> None:
    """An XDP program that is not ours: open and detach refuse, naming it."""
    h = veth_pair
    src = tmp_path / "pass.c"
    src.write_text(
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
        'SEC("xdp") int other_prog(struct xdp_md *c) { return XDP_PASS; }\n'
        'char _l[] SEC("license") = "GPL";\n'
    )
    obj = tmp_path / "pass.o"
    subprocess.run(
        ["clang", "-O2", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", str(src),
         "-o", str(obj)],
        check=True, timeout=60,
    )  # fmt: skip
    subprocess.run(
        ["ip", "link", "set", "dev", h.host_if, "xdpgeneric", "obj", str(obj), "sec", "xdp"],
        check=True, timeout=30,
    )  # fmt: skip
    try:
        with pytest.raises(
            NicError, match=r"already has XDP program \d+ \('other_prog', skb mode\)"
        ):
            open_xdp(h)
        with pytest.raises(XdpError, match="is not wirematch's"):
            detach(h.host_if)
        assert query(h.host_if).prog_name == "other_prog"
    finally:
        subprocess.run(["ip", "link", "set", "dev", h.host_if, "xdpgeneric", "off"], timeout=30)


def test_capability_sentences() -> None:
    with pytest.raises(caps.NicUnavailable, match="needs an interface"):
        caps.check_af_xdp(None)
    with pytest.raises(caps.NicUnavailable, match="no network interface named 'nosuch0'"):
        caps.check_af_xdp("nosuch0")
    with pytest.raises(
        caps.NicUnavailable,
        match=r"needs CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF \(or CAP_SYS_ADMIN\): run as root",
    ):
        caps.check_af_xdp("lo", caps=0)
    with pytest.raises(
        caps.NicUnavailable, match=r"needs Linux 5\.11 or later; this kernel is 5\.4"
    ):
        caps.check_af_xdp("lo", ["busy_poll"], release="5.4.0")
    with pytest.raises(caps.NicUnavailable, match="exclude each other"):
        caps.check_af_xdp("lo", ["xdp_skb", "xdp_native"])
    with pytest.raises(NicError, match="AF_XDP frames are 2048 or 4096 bytes"):
        open_queue("af_xdp", ifname="lo", port=PORT, buf_size=1024)
    with pytest.raises(NicError, match="the io_uring backend has no option xdp_skb"):
        open_queue("io_uring", addr="127.0.0.1", options=["xdp_skb"])
