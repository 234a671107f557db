"""The adaptive idle strategy in a running appliance: with no traffic its
worker sleeps (counted) and uses little CPU, and orders still match."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest

from tools.bench.bench_idle import Client, free_udp_port, loopback_config, thread_cpu_s
from wirematch.pipeline.appliance import Appliance
from wirematch.pipeline.config import parse_config
from wirematch.pipeline.protocols import codec


def _order(ref: int, side: str) -> bytes:
    return codec.encode_ouch_in(
        "O", user_ref_num=ref, side=side, quantity=100, symbol="WMTA", price=1_000_000,
        time_in_force="0", display="Y", capacity="A", iso="N", cross_type="N",
        cl_ord_id=f"C{ref}",
    )  # fmt: skip


def _replies(sock: socket.socket, want: int, timeout: float = 3.0) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        got += [codec.decode_ouch_out(m) for m in codec.mold_unpack(data)[3]]
    return got


@pytest.fixture
def adaptive_appliance() -> Iterator[tuple[Appliance, int]]:
    port = free_udp_port()
    text = loopback_config("adaptive", f"test-idle-{os.getpid()}", port)
    app = Appliance(parse_config(text, "<test>"), backend="socket", log=lambda _m: None).start()
    try:
        yield app, port
    finally:
        app.stop()
        app.close()


def test_idle_adaptive_worker_sleeps_and_still_matches(
    adaptive_appliance: tuple[Appliance, int],
) -> None:
    app, port = adaptive_appliance
    assert [w.idle for w in app.workers] == ["adaptive"] * len(app.workers)
    c = Client(port)
    sock = c.sock
    try:
        # The first packet of a flow goes through the slow path: a heartbeat.
        c.hello()
        time.sleep(0.3)
        tids = [w.tid for w in app.workers]
        sleeps0 = app.counters()["worker.w0"]["idle_sleeps"]
        t0, cpu0 = time.monotonic(), sum(thread_cpu_s(t) for t in tids)
        time.sleep(3.0)
        cpu = (sum(thread_cpu_s(t) for t in tids) - cpu0) / (time.monotonic() - t0)
        sleeps = app.counters()["worker.w0"]["idle_sleeps"] - sleeps0
        # Capped 1 ms sleeps: ~1000/s at least (fewer only if the machine is
        # so loaded that each sleep overran); spin_yield measures 60-80 %.
        assert cpu < 0.20, f"idle worker used {cpu:.0%} of a core"
        assert sleeps > 500, f"{sleeps} idle sleeps in 3 s"

        # After the idle gap an order and its counter-order still match.
        sock.sendto(codec.mold_pack(c.name, 1, [_order(1, "B")]), c.server)
        time.sleep(0.05)
        sock.sendto(codec.mold_pack(c.name, 2, [_order(2, "S")]), c.server)
        got = _replies(sock, 4)
        kinds = [m["type"] for m in got]
        assert kinds.count("A") == 2 and kinds.count("E") == 2, got
    finally:
        c.close()
    assert app.counters()["engine.s0"]["commands"] >= 2
