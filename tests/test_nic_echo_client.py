"""The AF_XDP measuring client (`nic_echo client --backend af_xdp`,
tools/bench/nic_echo.c) over veth: against a socket-backend echo server every
request is answered, counted once and nothing lost, with no receive system
call; against a server that never answers it reports every request lost and
stops at its limits.  Either way its XDP program is gone from the peer end
afterwards.  Needs root (the veth_pair fixture fails with the reason)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from wirematch.nic.testhost import VethHost, in_netns
from wirematch.nic.xdp import query
from wirematch.pipeline.native import build_dir

CLIENT_PORT = 9301


def nic_echo() -> Path:
    path = build_dir() / "bench" / "nic_echo"
    assert path.exists(), f"{path} not built: run `make build`"
    return path


def run_client(h: VethHost, port: int, *args: str, timeout: float = 30) -> tuple[dict, float]:
    argv = [str(nic_echo()), "client", "--backend", "af_xdp", "--ifname", h.peer_if,
            "--dst", h.host_addr, "--port", str(port), "--sport", str(CLIENT_PORT),
            *args]  # fmt: skip
    t0 = time.monotonic()
    proc = h.run(argv, timeout=timeout)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, f"client failed ({proc.returncode}): {proc.stderr}{proc.stdout}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), elapsed


def peer_prog_id(h: VethHost) -> int:
    with in_netns(h.netns):
        return query(h.peer_if).prog_id


@pytest.mark.parametrize("mode", ["native", "skb"])
def test_every_request_answered_against_a_socket_server(veth_pair, mode) -> None:
    h = veth_pair
    server = subprocess.Popen(
        [str(nic_echo()), "server", "--backend", "socket", "--addr", h.host_addr,
         "--duration", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline() or "{}")
        assert ready.get("ready"), server.stderr.read() if server.stderr else ""
        r, _ = run_client(
            h, ready["port"], "--options", f"xdp_{mode}", "--count", "400", "--warmup", "20"
        )
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=10)
    assert f"af_xdp {mode} mode, copy" in r["mode"]
    assert r["count"] == 400 and r["recorded"] == 400
    assert r["requests"] == r["sent"] == r["answered"] == 420
    assert r["lost"] == 0 and r["late"] == 0 and r["tx_refused"] == 0
    assert not r["duration_limited"] and not r["stopped"]
    # The server saw each request once (the kernel's socket, so the frames the
    # client built were valid IPv4/UDP to it).
    assert json.loads(out.strip().splitlines()[-1])["echoed"] == 420
    # The receive side made no system call; the transmit side one kick per request.
    assert r["rx_wakeups"] == 0 and r["tx_wakeups"] >= 420
    assert 0 < r["p50_us"] <= r["p99_us"] <= r["p999_us"]
    assert peer_prog_id(h) == 0, "the client left its XDP program on the peer"


def test_unanswered_requests_are_lost_within_the_limits(veth_pair) -> None:
    """A server that takes the requests and never answers: a kernel UDP socket."""
    h = veth_pair
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((h.host_addr, 0))
    sink.setblocking(False)
    port = sink.getsockname()[1]
    try:
        # Per-request time-out: 6 requests, 30 ms each, well inside the duration.
        r, elapsed = run_client(
            h, port, "--count", "6", "--warmup", "0", "--timeout-ms", "30", "--duration", "10"
        )
        assert r["requests"] == r["sent"] == r["lost"] == 6
        assert r["answered"] == 0 and r["recorded"] == 0 and not r["duration_limited"]
        assert 0.18 <= elapsed < 5, elapsed
        got = []
        while True:
            try:
                data, src = sink.recvfrom(2048)
            except BlockingIOError:
                break
            assert src == (h.peer_addr, CLIENT_PORT) and len(data) == 64
            got.append(struct.unpack_from("=Q", data)[0])
        assert got == list(range(6))
        # The overall limit: 1000 requests of 200 ms would take 200 s; it stops at 1 s.
        r, elapsed = run_client(
            h, port, "--count", "1000", "--warmup", "0", "--timeout-ms", "200", "--duration", "1"
        )
        assert r["duration_limited"] and r["answered"] == 0
        assert r["lost"] == r["sent"] == r["requests"] and 4 <= r["lost"] <= 6
        assert elapsed < 4, f"took {elapsed:.1f} s against a 1 s limit"
    finally:
        sink.close()
    assert peer_prog_id(h) == 0, "the client left its XDP program on the peer"


def test_argument_and_set_up_errors(veth_pair) -> None:
    h = veth_pair
    exe = str(nic_echo())
    no_if = subprocess.run(
        [exe, "client", "--backend", "af_xdp", "--dst", h.host_addr, "--port", "9"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    assert no_if.returncode == 2 and "--ifname IF" in no_if.stderr
    bad = subprocess.run([exe, "client", "--backend", "rdma", "--dst", h.host_addr],
                         capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    assert bad.returncode == 2 and "socket or af_xdp, not rdma" in bad.stderr
    # An address without a neighbour entry (TEST-NET-1): refused before any attach.
    other = "192.0.2.1"
    proc = h.run([exe, "client", "--backend", "af_xdp", "--ifname", h.peer_if, "--dst", other,
                  "--port", "9"], timeout=10)  # fmt: skip
    assert proc.returncode == 1 and "no neighbour entry" in proc.stderr
    proc = h.run([exe, "client", "--backend", "af_xdp", "--ifname", "wmnope0", "--dst", other,
                  "--port", "9"], timeout=10)  # fmt: skip
    assert proc.returncode == 1 and "no interface wmnope0" in proc.stderr
    assert peer_prog_id(h) == 0
