"""Capability checks, backend selection and `wirematch nic list`; the pcap
backend from Python.  None of these need root."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.nic_helpers import udp_frame, write_pcap
from wirematch.nic import caps
from wirematch.nic.queue import NicError, open_queue


def test_unknown_backend_and_option_are_one_sentence() -> None:
    with pytest.raises(caps.NicUnavailable, match="no NIC backend named 'dpdk2': choose one of"):
        open_queue("dpdk2")
    with pytest.raises(caps.NicUnavailable, match="unknown option 'turbo'"):
        open_queue("socket", addr="127.0.0.1", options=["turbo"])
    with pytest.raises(NicError, match="the socket backend has no option sqpoll"):
        open_queue("socket", addr="127.0.0.1", options=["sqpoll"])


def test_interface_and_queue_checks() -> None:
    with pytest.raises(caps.NicUnavailable, match="no network interface named 'nosuch0'"):
        caps.check_backend("socket", ifname="nosuch0")
    with pytest.raises(caps.NicUnavailable, match="a queue needs a core"):
        caps.check_backend("socket", n_queues=1000)
    with pytest.raises(caps.NicUnavailable, match="cannot read capture"):
        caps.check_backend("pcap", path="/nonexistent/x.pcap")


def test_kernel_version_gates() -> None:
    assert caps.kernel_version("6.18.44-fc") == (6, 18)
    with pytest.raises(
        caps.NicUnavailable, match=r"needs Linux 6\.1 or later; this kernel is 5\.19"
    ):
        caps.check_io_uring(["defer_taskrun"], release="5.19.0")
    with pytest.raises(caps.NicUnavailable, match=r"needs Linux 6\.9"):
        caps.check_io_uring(["napi"], release="6.6.1")
    caps.check_io_uring(["sqpoll", "coop_taskrun"], release="6.1.0")


def test_capability_bits() -> None:
    status = "Name:\tx\nCapEff:\t0000000000003000\n"
    bits = caps.effective_caps(status)
    assert caps.has_cap(caps.CAP_NET_ADMIN, bits) and caps.has_cap(caps.CAP_NET_RAW, bits)
    assert not caps.has_cap(caps.CAP_SYS_ADMIN, bits)


def test_io_uring_reports_what_it_got() -> None:
    with open_queue("io_uring", addr="127.0.0.1", options=["coop_taskrun"], n_buffers=64) as q:
        info = q.info()
        assert info["backend"] == "io_uring" and info["options"] == ["coop_taskrun"]
        assert "multishot recvmsg" in info["mode"] and "coop_taskrun" in info["mode"]
        assert info["zero_copy_rx"] is False and info["n_buffers"] == 64 and info["local_port"]


def test_nic_list_json_and_text() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wirematch", "nic", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    data = json.loads(out.stdout)
    lo = next(i for i in data["interfaces"] if i["name"] == "lo")
    assert lo["rx_queues"] >= 1 and lo["driver"] == "loopback"
    assert data["rdma"] or data["rdma_note"].startswith("none")
    text = subprocess.run(
        [sys.executable, "-m", "wirematch", "nic", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "rx/tx queues" in text and "RDMA devices:" in text


def test_pcap_backend_from_python(tmp_path) -> None:
    payloads = [b"p%d" % k for k in range(10)]
    frames = [
        udp_frame(
            "02:00:00:00:00:01",
            "02:00:00:00:00:02",
            ("10.199.0.2", 4000),
            ("10.199.0.1", 9000 + (k % 2)),
            p,
        )
        for k, p in enumerate(payloads)
    ]
    cap = tmp_path / "in.pcap"
    write_pcap(cap, frames)
    with open_queue("pcap", path=str(cap), options=["l4"], port=9000) as q:
        got = q.recv(64)
        assert [p.data for p in got] == payloads[0::2]
        assert got[0].src == ("10.199.0.2", 4000) and got[0].dst == ("10.199.0.1", 9000)
        with pytest.raises(EOFError):
            q.recv(64)
        assert q.stats()["drop_other_port"] == 5
    out = tmp_path / "out.pcap"
    with open_queue("pcap", path=str(cap), tx_path=str(out)) as q:
        frames_in = q.recv(64)
        assert [p.data for p in frames_in] == frames and frames_in[0].kind == "l2"
        assert q.send([p.data for p in frames_in]) == 10
    with open_queue("pcap", path=str(out)) as q:
        assert [p.data for p in q.recv(64)] == frames
    with pytest.raises(NicError, match="not a pcap or pcapng file"):
        bad = tmp_path / "bad.pcap"
        bad.write_bytes(b"x" * 64)
        open_queue("pcap", path=str(bad))
