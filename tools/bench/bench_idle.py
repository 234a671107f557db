"""Idle strategies: what a worker costs with no traffic, and what waking it
costs the first order after a quiet gap.

One appliance per case on loopback sockets (the socket backend; its one
worker runs rx, engine and tx, not pinned), the strategy from `[matcher]
idle`, cases interleaved strategy by strategy in the same run, medians of
the repeats.  Peer: spin_yield (the previous default).

- `idle_cpu_<strategy>`: the worker thread's utime+stime over IDLE_S
  seconds with no traffic (/proc/self/task/<tid>/stat), in % of one core.
- `wake_rtt_<p>_<strategy>_after_<gap>ms`: a client on the same machine
  sends one OUCH Enter Order (one MoldUDP64 packet) after GAP_MS of
  silence and times the first reply datagram; p50 and p90 over WAKES
  orders.  This is the client's round trip through the kernel's UDP path
  both ways plus the worker's wake-up, so the difference between the
  strategies is the wake-up; the appliance's own receive-to-match
  histogram starts at the receive timestamp, after the wake-up, and does
  not see it.
- `hot_rtt_p50_<strategy>`: the same round trip with each order sent as
  soon as the previous reply arrived (no gap).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
import time

from tools.bench.common import BenchContext, Row, median
from wirematch.pipeline.appliance import Appliance
from wirematch.pipeline.config import parse_config
from wirematch.pipeline.protocols import codec
from wirematch.pipeline.quickstart import PORT as QUICKSTART_PORT
from wirematch.pipeline.quickstart import config_text

# adaptive_cap1000: adaptive with idle_max_sleep_us = 1000 (the default cap is 200)
STRATEGIES = ("spin_yield", "adaptive", "adaptive_cap1000", "spin", "sleep")
PEER = "spin_yield"
WAKE_STRATEGIES = ("spin_yield", "adaptive", "adaptive_cap1000", "spin")
IDLE_S = 3.0
GAP_MS = 50
WAKES = 20
HOT = 200
TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu_s(tid: int) -> float:
    """utime + stime of one thread of this process, in seconds."""
    with open(f"/proc/self/task/{tid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loopback_config(idle: str, name: str, port: int) -> str:
    """The quick start's configuration on loopback, at port (not the quick
    start's, which another appliance on this machine may be using)."""
    text = config_text("lo", "127.0.0.1", "127.0.0.1", "127.0.0.1", -1, name)
    text = text.replace(f"127.0.0.1:{QUICKSTART_PORT}", f"127.0.0.1:{port}")
    text = text.replace(f"dport {QUICKSTART_PORT}", f"dport {port}")
    text = text.replace("hugepages = true", "hugepages = false")
    strategy, _, cap = idle.partition("_cap")
    line = f'idle = "{strategy}"' + (f"\nidle_max_sleep_us = {cap}" if cap else "")
    return text.replace('idle = "adaptive"', line)


class Client:
    """One OUCH session over MoldUDP64 on loopback; times order -> first reply."""

    def __init__(self, server_port: int) -> None:
        self.server = ("127.0.0.1", server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        self.sock.settimeout(2.0)
        self.seq = 1
        self.ref = 0
        self.name = f"S{port}"

    def _send(self, msgs: list[bytes]) -> None:
        self.sock.sendto(codec.mold_pack(self.name, self.seq, msgs), self.server)
        self.seq += len(msgs)

    def hello(self) -> None:
        """A heartbeat: the appliance learns the flow on the slow path."""
        self._send([])

    def order_rtt_ns(self) -> int:
        """Send an order (buy and sell alternate, so the book stays small)
        and wait for its first reply; the round trip in ns."""
        self.ref += 1
        side = "B" if self.ref % 2 else "S"
        msg = codec.encode_ouch_in(
            "O", user_ref_num=self.ref, side=side, quantity=100, symbol="WMTA",
            price=1_000_000, time_in_force="0", display="Y", capacity="A", iso="N",
            cross_type="N", cl_ord_id=f"C{self.ref}",
        )  # fmt: skip
        t0 = time.perf_counter_ns()
        self._send([msg])
        while True:
            data = self.sock.recv(65536)
            if codec.mold_unpack(data)[3]:
                return time.perf_counter_ns() - t0

    def drain(self) -> None:
        self.sock.settimeout(0.05)
        with contextlib.suppress(TimeoutError):
            while True:
                self.sock.recv(65536)
        self.sock.settimeout(2.0)

    def close(self) -> None:
        self.sock.close()


def _pct(values: list[int], q: float) -> float:
    s = sorted(values)
    return float(s[min(len(s) - 1, int(q * len(s)))])


def one_case(idle: str, wake: bool) -> dict[str, float]:
    port = free_udp_port()
    cfg = parse_config(loopback_config(idle, f"bench-idle-{os.getpid()}", port), "<bench>")
    with contextlib.redirect_stderr(io.StringIO()):
        app = Appliance(cfg, backend="socket", log=lambda _m: None).start()
    c = Client(port)
    try:
        c.hello()
        deadline = time.monotonic() + 5
        while True:  # the flow is known once an order gets its reply
            try:
                c.order_rtt_ns()
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
        c.drain()
        tids = [w.tid for w in app.workers]
        time.sleep(0.3)
        t0, cpu0 = time.monotonic(), sum(thread_cpu_s(t) for t in tids)
        time.sleep(IDLE_S)
        cpu = (sum(thread_cpu_s(t) for t in tids) - cpu0) / (time.monotonic() - t0) * 100
        out = {"cpu": cpu}
        if wake:
            wakes = []
            for _ in range(WAKES):
                time.sleep(GAP_MS / 1000)
                wakes.append(c.order_rtt_ns())
                c.drain()
            hot = [c.order_rtt_ns() for _ in range(HOT)]
            out |= {"wake_p50": _pct(wakes, 0.5), "wake_p90": _pct(wakes, 0.9),
                    "hot_p50": _pct(hot, 0.5)}  # fmt: skip
        counters = app.counters()
        out["idle_sleeps"] = float(sum(v.get("idle_sleeps", 0) for k, v in counters.items()
                                       if k.startswith("worker.")))  # fmt: skip
        return out
    finally:
        c.close()
        with contextlib.redirect_stderr(io.StringIO()):
            app.stop()
            app.close()


def run(ctx: BenchContext) -> list[Row]:
    repeats = max(1, min(ctx.repeats, 5))
    res: dict[str, list[dict[str, float]]] = {s: [] for s in STRATEGIES}
    for i in range(repeats):
        for s in STRATEGIES:
            r = one_case(s, s in WAKE_STRATEGIES)
            res[s].append(r)
            print(f"  [{i + 1}/{repeats}] {s}: " + json.dumps({k: round(v) for k, v in r.items()}),
                  flush=True)  # fmt: skip

    def med(s: str, key: str) -> float:
        return median([r[key] for r in res[s]])

    rows = []
    for s in STRATEGIES:
        rows.append(
            Row(
                "idle",
                f"idle_cpu_{s}",
                "worker CPU with no traffic",
                "%core",
                round(med(s, "cpu"), 2),
            ).with_peer(PEER, round(med(PEER, "cpu"), 2))
        )
    for s in WAKE_STRATEGIES:
        for q in ("p50", "p90"):
            rows.append(
                Row(
                    "idle",
                    f"wake_rtt_{q}_{s}_after_{GAP_MS}ms",
                    "order round trip",
                    "us",
                    round(med(s, f"wake_{q}") / 1000, 1),
                ).with_peer(PEER, round(med(PEER, f"wake_{q}") / 1000, 1))
            )
        rows.append(
            Row(
                "idle",
                f"hot_rtt_p50_{s}",
                "order round trip",
                "us",
                round(med(s, "hot_p50") / 1000, 1),
            ).with_peer(PEER, round(med(PEER, "hot_p50") / 1000, 1))
        )
    return rows


if __name__ == "__main__":
    from dataclasses import asdict

    from wirematch.pipeline.native import build_dir

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for row in run(BenchContext(name="idle", build_dir=build_dir(), repeats=n)):
        print(json.dumps(asdict(row)))
