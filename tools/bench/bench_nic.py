"""`make bench BENCH=nic`: receive throughput and UDP round-trip latency of
each NIC backend over veth, as ratios to the `socket` backend (recvmmsg /
sendmmsg) measured in the same run.

Set-up (one veth test host, see nic/testhost.py):
- the load generator runs inside the namespace, pinned to core 1, sending
  64-byte-payload MoldUDP64/OUCH packets with AF_XDP at top speed, so the
  sender's own UDP/IP stack is not in the way;
- the host end's receive processing is steered to core 0 with RPS (as a NIC
  queue's interrupt would be), the receiver is pinned to core 0 and runs in
  its own session (its own autogroup at nice 0), so that it shares core 0
  with that softirq work instead of starving it;
- throughput is packets received over the longer of the receive window (first
  to last packet) and the sender's send window; the
  loadgen's offered rate is reported beside it (when the offered rate is not
  above the received one, the generator was the bottleneck);
- latency: a spinning echo server on the backend (core 0) and a spinning
  UDP client in the namespace (core 1), 20k round trips after 1k warm-up.

Cases are interleaved (A, B, A, B, ...) and medians reported.  The machine
is shared: figures taken while other work runs are noisy.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from nic.testhost import VethHost, veth_host
from tools.bench.common import BenchContext, Row, median

RX_CASES: list[tuple[str, str, str]] = [
    # (case name, backend, options)
    ("socket", "socket", "none"),
    ("io_uring", "io_uring", "none"),
    ("io_uring no_addr", "io_uring", "no_addr"),
    ("io_uring coop_taskrun", "io_uring", "coop_taskrun"),
    ("io_uring defer_taskrun", "io_uring", "defer_taskrun"),
    ("io_uring sqpoll cpu0", "io_uring", "sqpoll"),
]
ECHO_CASES = [c for c in RX_CASES if c[0] in ("socket", "io_uring", "io_uring coop_taskrun")]
PACKETS = 500_000


def _start(argv: list[str]) -> tuple[subprocess.Popen, dict]:
    # setsid: a session of its own is an autogroup of its own (nice 0).
    proc = subprocess.Popen(
        ["setsid", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(5)
        raise RuntimeError(f"{argv[0]} failed: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


def _finish(proc: subprocess.Popen, timeout: float = 30) -> dict:
    out, err = proc.communicate(timeout=timeout)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark program failed ({proc.returncode}): {err}")
    return json.loads(lines[-1])


def rx_once(ctx: BenchContext, host: VethHost, loadgen: Path, backend: str, opts: str) -> dict:
    proc, ready = _start(
        [
            str(ctx.binary("nic_rx")), "--backend", backend, "--addr", host.host_addr,
            "--options", opts, "--cpu", "0", "--sqpoll-cpu", "0", "--expect", str(PACKETS),
            "--timeout", "20", "--idle", "0.5",
        ]
    )  # fmt: skip
    gen = host.run(
        [
            str(loadgen), "--dst", host.host_addr, "--dport", str(ready["port"]),
            "--count", str(PACKETS), "--topspeed", "--xdp", host.peer_if, "--cpu", "1",
            "--batch", "64", "--json",
        ],
        timeout=60,
    )  # fmt: skip
    result = _finish(proc)
    if gen.returncode != 0:
        raise RuntimeError(f"loadgen failed: {gen.stderr}")
    sent = json.loads(gen.stdout.strip().splitlines()[-1])
    result["offered_pps"] = sent["pps"]
    # The receiver cannot honestly take less time than the sender took to send
    # (a receiver that stalls after one burst would otherwise look infinitely fast).
    result["pps"] = result["packets"] / max(result["seconds"], sent["seconds"], 1e-9)
    return result


def echo_once(ctx: BenchContext, host: VethHost, backend: str, opts: str) -> dict:
    proc, ready = _start(
        [
            str(ctx.binary("nic_echo")), "server", "--backend", backend, "--addr",
            host.host_addr, "--options", opts, "--cpu", "0", "--duration", "30",
        ]
    )  # fmt: skip
    try:
        client = host.run(
            [
                str(ctx.binary("nic_echo")), "client", "--dst", host.host_addr,
                "--port", str(ready["port"]), "--count", "20000", "--cpu", "1",
            ],
            timeout=60,
        )  # fmt: skip
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    if client.returncode != 0:
        raise RuntimeError(f"echo client failed: {client.stderr}")
    return json.loads(client.stdout.strip().splitlines()[-1])


def run(ctx: BenchContext) -> list[Row]:
    from pipeline.native import build_dir

    loadgen = build_dir() / "tools" / "loadgen"
    rows: list[Row] = []
    with veth_host() as host:
        Path(f"/sys/class/net/{host.host_if}/queues/rx-0/rps_cpus").write_text("1\n")
        rx: dict[str, list[float]] = {c[0]: [] for c in RX_CASES}
        offered: dict[str, list[float]] = {c[0]: [] for c in RX_CASES}
        drops: dict[str, list[float]] = {c[0]: [] for c in RX_CASES}
        for rep in range(ctx.repeats):
            for name, backend, opts in RX_CASES:
                r = rx_once(ctx, host, loadgen, backend, opts)
                rx[name].append(r["pps"] / 1e6)
                offered[name].append(r["offered_pps"] / 1e6)
                drops[name].append(r["drop_socket_full"])
                print(
                    f"  rx {name:24} {r['pps'] / 1e6:6.3f} Mpps (offered "
                    f"{r['offered_pps'] / 1e6:.3f}, socket drops {r['drop_socket_full']}, "
                    f"rep {rep + 1})",
                    flush=True,
                )
                time.sleep(0.2)  # a closed io_uring socket lingers a moment
        base = median(rx["socket"])
        for name, *_ in RX_CASES:
            row = Row("nic", f"rx {name}", "rx pps (veth, AF_XDP sender)", "M/s", median(rx[name]))
            rows.append(row.with_peer("socket", base) if name != "socket" else row)
            rows.append(Row("nic", f"rx {name}", "loadgen offered", "M/s", median(offered[name])))
        lat: dict[str, dict[str, list[float]]] = {
            c[0]: {"p50_us": [], "p99_us": []} for c in ECHO_CASES
        }
        for _ in range(max(1, ctx.repeats // 2)):
            for name, backend, opts in ECHO_CASES:
                r = echo_once(ctx, host, backend, opts)
                for k in ("p50_us", "p99_us"):
                    lat[name][k].append(r[k])
                print(f"  echo {name:22} p50 {r['p50_us']:.2f} us, p99 {r['p99_us']:.2f} us")
                time.sleep(0.2)
        for k in ("p50_us", "p99_us"):
            base = median(lat["socket"][k])
            for name, *_ in ECHO_CASES:
                row = Row(
                    "nic", f"echo {name}", f"UDP round trip {k[:3]}", "us", median(lat[name][k])
                )
                rows.append(row.with_peer("socket", base) if name != "socket" else row)
    return rows
