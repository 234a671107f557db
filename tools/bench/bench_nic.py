"""`make bench BENCH=nic`: receive throughput and UDP round-trip latency of
each NIC backend over veth, as ratios to the `socket` backend (recvmmsg /
sendmmsg) measured in the same run.

Set-up (one veth test host, see nic/testhost.py):
- the load generator runs inside the namespace, pinned to core 1, sending
  64-byte-payload MoldUDP64/OUCH packets with AF_XDP at top speed, so the
  sender's own UDP/IP stack is not in the way; it too runs in a session of
  its own whose autogroup is at nice -20, so that other work on core 1 does
  not slow it below what the receivers take;
- the host end's receive processing is steered to core 0 with RPS (as a NIC
  queue's interrupt would be), the receiver is pinned to core 0 and runs in
  its own session whose autogroup is raised to nice -20 (RX_PRIORITY): at
  nice 0 a compile on the same core took half of it and the
  receivers fell to ~0.05 Mpps (socket 0.045 vs 0.329 Mpps at -20, same
  minute); the RPS softirq work still runs (in interrupt context);
- throughput is packets received over the longer of the receive window (first
  to last packet) and the sender's send window; the
  loadgen's offered rate is reported beside it (when the offered rate is not
  above the received one, the generator was the bottleneck);
- latency: a spinning echo server on the backend (core 0) and a spinning
  UDP client in the namespace (core 1), both SCHED_FIFO 50 (ECHO_PRIORITY:
  nothing else on the machine preempts them; the kernel's RT throttling
  still leaves others 5%), 20k round trips after 1k warm-up,
  with RPS off again (receive processing on the client's core, so the
  softirq work does not queue behind the spinning server on core 0);
  the L2 backends (AF_XDP, DPDK) echo frames with addresses swapped; the
  AF_XDP floor (xsk_echo_min: libxdp and our XDP program, frames answered
  in place) runs beside them in native and SKB mode as a reference;
- two measuring clients (ECHO_CLIENTS), run one after the other against the
  same server, in alternating order: the socket client (a spinning
  non-blocking UDP socket; its send and recv system calls are most of the
  round trip on this VM) and the AF_XDP client (`nic_echo client --backend
  af_xdp` on the peer end: the project's af_xdp backend, request frames built
  by hand, the rx ring polled without system calls, one tx kick per request).
  Rows of the socket client keep their names (`echo_af_xdp_native_p99`),
  the AF_XDP client's are `echo_xdp_client_<case>_...`; each client's rows
  are ratios to the socket backend measured with the same client.  The
  client's XDP program is detached on the peer after every run (the client
  detaches it itself on exit; this catches a killed one).

Kernel-bypass cases: AF_XDP (our XDP program attached in native or SKB
mode, copy mode on veth; the port steered, everything else to the kernel),
DPDK with the net_af_xdp and net_af_packet virtual devices (EAL from
nic.dpdk.eal_args: --no-huge, its own --file-prefix, main lcore 0), and as
a reference peer `dpdk-testpmd` in rxonly mode on net_af_xdp (forwarding
lcore 0, main lcore 1; its RX-packets over the sender's window).

Cases are interleaved (A, B, A, B, ...) and medians reported.  The machine
is shared: figures taken while other work runs are noisy.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tools.bench.common import BenchContext, Row, median
from wirematch.nic.dpdk import DpdkConfig, device, eal_args
from wirematch.nic.testhost import VethHost, veth_host

RX_CASES: list[tuple[str, str, str]] = [
    # (case name, backend, options; for dpdk the virtual device)
    ("socket", "socket", "none"),
    ("io_uring", "io_uring", "none"),
    ("io_uring no_addr", "io_uring", "no_addr"),
    ("io_uring coop_taskrun", "io_uring", "coop_taskrun"),
    ("io_uring defer_taskrun", "io_uring", "defer_taskrun"),
    ("io_uring sqpoll cpu0", "io_uring", "sqpoll"),
    # The best io_uring set measured here (docs/nic.md): recv without the
    # source address (no recvmsg header to write or parse), task work run
    # only when the kernel flags some (IORING_SQ_TASKRUN), in batches, and a
    # buffer ring of 16k (RX_EXTRA_ARGS) so the multishot recv runs dry less.
    ("io_uring best: no_addr+coop_taskrun+16k_bufs", "io_uring", "no_addr,coop_taskrun"),
    ("af_xdp native", "af_xdp", "xdp_native"),
    ("af_xdp skb", "af_xdp", "xdp_skb"),
    ("dpdk net_af_xdp", "dpdk", "net_af_xdp"),
    ("dpdk net_af_packet", "dpdk", "net_af_packet"),
    ("testpmd rxonly net_af_xdp", "testpmd", "net_af_xdp"),
]
# (no_addr receives no source address, so it cannot answer: not an echo case)
ECHO_NAMES = ("socket", "io_uring", "io_uring coop_taskrun", "af_xdp native", "af_xdp skb")
ECHO_NAMES += ("dpdk net_af_xdp", "dpdk net_af_packet")
ECHO_CASES = [c for c in RX_CASES if c[0] in ECHO_NAMES]
ECHO_CASES.insert(4, ("af_xdp native busy_poll", "af_xdp", "xdp_native,busy_poll"))
# The floor for AF_XDP (tools/bench/xsk_echo_min.c: libxdp and the project's
# XDP program used directly, each frame answered in place from its own UMEM
# frame), run beside the backend in each mode; the backend's rows are also
# given as a ratio to it (ECHO_FLOOR).
ECHO_CASES.insert(3, ("xsk_echo_min native (floor)", "xsk_echo_min", "native"))
ECHO_CASES.insert(6, ("xsk_echo_min skb (floor)", "xsk_echo_min", "skb"))
ECHO_FLOOR = {
    "af_xdp native": "xsk_echo_min native (floor)",
    "af_xdp native busy_poll": "xsk_echo_min native (floor)",
    "af_xdp skb": "xsk_echo_min skb (floor)",
}
# nic_rx arguments beyond the backend's for some cases (default: 4096 buffers;
# the socket backend measured no better with 16k)
RX_EXTRA_ARGS = {"io_uring best: no_addr+coop_taskrun+16k_bufs": ["--buffers", "16384"]}
PACKETS = 500_000
# The measuring clients: row-name prefix -> nic_echo client arguments.  The
# AF_XDP client runs in SKB mode (ECHO_XDP_CLIENT_MODE): on veth generic XDP
# on the peer is cheaper than native mode's copy of each reply into a
# page-pool page (docs/nic.md, "The AF_XDP client").
ECHO_XDP_CLIENT_MODE = "xdp_skb"
ECHO_XDP_CLIENT_PORT = 9301  # the client's UDP port, steered by its program on the peer
ECHO_CLIENTS = {"": [], "xdp_client_": ["--backend", "af_xdp", "--options", ECHO_XDP_CLIENT_MODE]}
ECHO_COUNT = 20_000
PORT = 9300  # the L2 backends' port (AF_XDP steers it; DPDK takes the whole queue)


def _vdev(kind: str, host: VethHost) -> dict[str, str]:
    if kind == "net_af_packet":
        return {"iface": host.host_if, "framecnt": "8192"}
    return {"iface": host.host_if, "start_queue": "0", "queue_count": "1"}


def backend_args(backend: str, opts: str, host: VethHost) -> list[str]:
    """nic_rx / nic_echo server arguments for one case."""
    if backend == "af_xdp":
        return ["--backend", "af_xdp", "--ifname", host.host_if, "--addr", host.host_addr,
                "--port", str(PORT), "--options", opts]  # fmt: skip
    if backend == "dpdk":
        dev = device(opts, **_vdev(opts, host))
        cfg = DpdkConfig(cores=(0,), memory_mb=512, devices=(dev,))
        eal = " ".join(eal_args(cfg)[1:])
        return ["--backend", "dpdk", "--eal", eal, "--device", dev.name, "--port", str(PORT)]
    return ["--backend", backend, "--addr", host.host_addr, "--options", opts]


def _port(ready: dict) -> int:
    return int(ready["port"]) or PORT


# How the program under test is ranked against the rest of the machine (see
# the module docstring): "autogroup" (its own session's autogroup at nice -20,
# like the benchmark itself), "fifo" (SCHED_FIFO 50; the echo client too),
# "none" (its own autogroup at nice 0).
RX_PRIORITY = "autogroup"
ECHO_PRIORITY = "fifo"
FIFO_PRIO = 50


def _rank(pid: int, how: str) -> None:
    if how == "autogroup":
        Path(f"/proc/{pid}/autogroup").write_text("-20\n")
    elif how == "fifo":
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(FIFO_PRIO))


def _start(argv: list[str], priority: str = "none") -> tuple[subprocess.Popen, dict]:
    # setsid: a session of its own is an autogroup of its own (setsid execs in
    # place, so the pid is the program's).
    proc = subprocess.Popen(
        ["setsid", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(5)
        raise RuntimeError(f"{argv[0]} failed: {proc.stderr.read() if proc.stderr else ''}")
    # Ranked once ready: a SCHED_FIFO spinner from the start would starve the
    # kernel workers its own set-up waits for (a DPDK net_af_xdp open hung).
    _rank(proc.pid, priority)
    return proc, json.loads(line)


def _finish(proc: subprocess.Popen, timeout: float = 30) -> dict:
    out, err = proc.communicate(timeout=timeout)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark program failed ({proc.returncode}): {err}")
    return json.loads(lines[-1])


def _loadgen(host: VethHost, loadgen: Path, port: int) -> dict:
    # In a session of its own whose autogroup is raised like the receiver's
    # (RX_PRIORITY; set by the shell before it execs the generator, so from
    # the first packet): at nice 0 a compile on core 1 halved
    # the offered rate (~0.5 against ~0.75-1.2 Mpps), below what the
    # receivers take, and every case then measured the sender (ratio ~1).
    argv = [
        str(loadgen), "--dst", host.host_addr, "--dport", str(port),
        "--count", str(PACKETS), "--topspeed", "--xdp", host.peer_if, "--cpu", "1",
        "--batch", "64", "--json",
    ]  # fmt: skip
    if RX_PRIORITY == "autogroup":
        argv = ["setsid", "sh", "-c", 'echo -20 > /proc/self/autogroup && exec "$@"', "sh", *argv]
    gen = host.run(argv, timeout=60)
    if gen.returncode != 0:
        raise RuntimeError(f"loadgen failed: {gen.stderr}")
    return json.loads(gen.stdout.strip().splitlines()[-1])


def testpmd_once(host: VethHost, loadgen: Path, vdev: str) -> dict:
    """dpdk-testpmd in rxonly mode as the reference receiver (bounded: killed
    after 60 s whatever happens)."""
    exe = shutil.which("dpdk-testpmd")
    if exe is None:
        raise RuntimeError("dpdk-testpmd is not installed (package dpdk)")
    prefix = f"wmtp{int(time.time() * 1000) % 10**8}"
    params = ",".join(f"{k}={v}" for k, v in _vdev(vdev, host).items())
    argv = [
        "setsid", "stdbuf", "-oL", exe, "-l", "0-1", "--main-lcore", "1", "--no-pci",
        "--no-huge", "-m", "256", "--no-shconf", "--file-prefix", prefix,
        f"--vdev={vdev}0,{params}", "--", "--total-num-mbufs=16384", "--forward-mode=rxonly",
        "--auto-start", "--stats-period=1", "--nb-cores=1",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    text: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("testpmd exited early: " + "".join(text[-5:]))
            text.append(line)
            if "Port statistics" in line:
                break
        sent = _loadgen(host, loadgen, PORT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        rundir = Path("/var/run/dpdk") / prefix
        if rundir.is_dir():
            rundir.rmdir()  # --no-shconf leaves it empty
    m = re.search(r"Accumulated forward statistics.*?RX-packets:\s+(\d+)", out, re.S)
    if m is None:
        raise RuntimeError("no forward statistics from testpmd")
    got = int(m.group(1))
    return {"packets": got, "pps": got / max(sent["seconds"], 1e-9), "offered_pps": sent["pps"],
            "drop_socket_full": 0}  # fmt: skip


def _clear_xdp(host: VethHost) -> None:
    """A stale wirematch program (a killed case) would stop DPDK's net_af_xdp."""
    from wirematch.nic.xdp import XdpError, detach

    try:
        detach(host.host_if)
    except XdpError as exc:
        print(f"  (XDP program left on {host.host_if}: {exc})")


def rx_once(
    ctx: BenchContext, host: VethHost, loadgen: Path, backend: str, opts: str,
    extra: list[str] | None = None,
) -> dict:  # fmt: skip
    _clear_xdp(host)
    if backend == "testpmd":
        return testpmd_once(host, loadgen, opts)
    proc, ready = _start(
        [
            str(ctx.binary("nic_rx")), *backend_args(backend, opts, host), "--cpu", "0",
            "--sqpoll-cpu", "0", "--expect", str(PACKETS), "--timeout", "20", "--idle", "0.5",
            *(extra or []),
        ],
        RX_PRIORITY,
    )  # fmt: skip
    try:
        sent = _loadgen(host, loadgen, _port(ready))
    finally:
        result = _finish(proc)
    result["offered_pps"] = sent["pps"]
    # The receiver cannot honestly take less time than the sender took to send
    # (a receiver that stalls after one burst would otherwise look infinitely fast).
    result["pps"] = result["packets"] / max(result["seconds"], sent["seconds"], 1e-9)
    return result


def _clear_peer_xdp(host: VethHost) -> None:
    """The AF_XDP client detaches its program on exit; a killed one leaves it
    on the peer end (in the namespace), where it would take the next run's
    replies to its port."""
    from wirematch.nic.testhost import in_netns
    from wirematch.nic.xdp import XdpError, detach

    try:
        with in_netns(host.netns):
            n = detach(host.peer_if)
    except XdpError as exc:
        print(f"  (XDP program left on {host.peer_if}: {exc})")
        return
    if n:
        print(f"  (the AF_XDP client left its XDP program on {host.peer_if}: detached)")


def echo_client_argv(ctx: BenchContext, host: VethHost, client: str, port: int) -> list[str]:
    """nic_echo client command line (run in the namespace) for one client."""
    argv = [str(ctx.binary("nic_echo")), "client", "--dst", host.host_addr, "--port", str(port),
            "--count", str(ECHO_COUNT), "--cpu", "1", *ECHO_CLIENTS[client]]  # fmt: skip
    if ECHO_CLIENTS[client]:
        argv += ["--ifname", host.peer_if, "--sport", str(ECHO_XDP_CLIENT_PORT),
                 "--duration", "30"]  # fmt: skip
    return argv


def echo_once(
    ctx: BenchContext, host: VethHost, backend: str, opts: str, clients: list[str]
) -> dict[str, dict]:
    """One echo server for the case, each client in `clients` against it in
    that order; {client: its JSON result}."""
    # AF_PACKET also hands the datagrams to the kernel: a socket there keeps it
    # from answering with ICMP port unreachable.
    _clear_xdp(host)
    sink = None
    if backend == "dpdk":
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind((host.host_addr, PORT))
    if backend == "xsk_echo_min":
        server = [str(ctx.binary("xsk_echo_min")), "--ifname", host.host_if,
                  "--addr", host.host_addr, "--port", str(PORT), "--mode", opts]  # fmt: skip
    else:
        server = [str(ctx.binary("nic_echo")), "server", *backend_args(backend, opts, host)]
    proc, ready = _start([*server, "--cpu", "0", "--duration", "60"], ECHO_PRIORITY)
    chrt = ["chrt", "-f", str(FIFO_PRIO)] if ECHO_PRIORITY == "fifo" else []
    results: dict[str, dict] = {}
    try:
        for client in clients:
            try:
                run = host.run([*chrt, *echo_client_argv(ctx, host, client, _port(ready))],
                               timeout=60)  # fmt: skip
            finally:
                if ECHO_CLIENTS[client]:
                    _clear_peer_xdp(host)
            if run.returncode != 0:
                raise RuntimeError(f"echo client {client or 'socket'} failed: {run.stderr}")
            results[client] = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
        if sink is not None:
            sink.close()
    return results


def _slug(name: str) -> str:
    """Plain words joined by underscores: `io_uring no_addr` -> `io_uring_no_addr`."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@contextlib.contextmanager
def _ksoftirqd_ranked(cpu: int) -> Iterator[None]:
    """The receive work RPS steers to `cpu` runs in softirq context, and what
    one interrupt exit does not finish goes to ksoftirqd/<cpu>, a nice-0
    thread outside the receiver's autogroup (-20): it got ~1% of the core, so
    receivers that never enter the kernel (AF_XDP SKB mode, DPDK
    net_af_packet) starved their own packet supply (0.02 Mpps offered), while
    receivers making system calls ran the work inline.  For the receive cases
    it gets the receiver's rank (nice -20); restored afterwards."""
    pids = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    pid = next((int(p.name) for p in pids if _comm(p) == f"ksoftirqd/{cpu}"), None)
    if pid is None:
        yield
        return
    before = os.getpriority(os.PRIO_PROCESS, pid)
    os.setpriority(os.PRIO_PROCESS, pid, -20)
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, pid, before)


def _comm(proc: Path) -> str:
    try:
        return (proc / "comm").read_text().strip()
    except OSError:
        return ""


def run(ctx: BenchContext) -> list[Row]:
    from wirematch.pipeline.native import build_dir

    loadgen = build_dir() / "tools" / "loadgen"
    rows: list[Row] = []
    with veth_host() as host, _ksoftirqd_ranked(0):
        Path(f"/sys/class/net/{host.host_if}/queues/rx-0/rps_cpus").write_text("1\n")
        rx: dict[str, list[float]] = {c[0]: [] for c in RX_CASES}
        offered: dict[str, list[float]] = {c[0]: [] for c in RX_CASES}
        drops: dict[str, list[float]] = {c[0]: [] for c in RX_CASES}
        for rep in range(ctx.repeats):
            for name, backend, opts in RX_CASES:
                r = rx_once(ctx, host, loadgen, backend, opts, RX_EXTRA_ARGS.get(name))
                rx[name].append(r["pps"] / 1e6)
                offered[name].append(r["offered_pps"] / 1e6)
                drops[name].append(r["drop_socket_full"])
                kdrops = r.get("drop_rx_ring_full", 0) + r.get("drop_kernel_rx", 0)
                print(
                    f"  rx {name:26} {r['pps'] / 1e6:6.3f} Mpps (offered "
                    f"{r['offered_pps'] / 1e6:.3f}, socket drops {r['drop_socket_full']}, "
                    f"ring/fill drops {kdrops}, rep {rep + 1})",
                    flush=True,
                )
                time.sleep(0.2)  # a closed io_uring socket lingers a moment
        base = median(rx["socket"])
        for name, *_ in RX_CASES:
            case = f"rx_{_slug(name)}"
            row = Row("nic", case, "rx packets (veth, AF_XDP sender)", "M/s", median(rx[name]))
            rows.append(row.with_peer("socket", base) if name != "socket" else row)
            rows.append(
                Row("nic", f"{case}_offered", "loadgen offered", "M/s", median(offered[name]))
            )
        # Round trips at one packet at a time: receive processing back on the
        # sender's core (no RPS), so it does not compete with the spinning server.
        Path(f"/sys/class/net/{host.host_if}/queues/rx-0/rps_cpus").write_text("0\n")
        rows += echo_rows(ctx, host)
    return rows


def echo_rows(ctx: BenchContext, host: VethHost) -> list[Row]:
    """Every echo case with every client, interleaved, medians."""
    clients = list(ECHO_CLIENTS)
    lat: dict[tuple[str, str], dict[str, list[float]]] = {
        (cl, c[0]): {"p50_us": [], "p99_us": []} for cl in clients for c in ECHO_CASES
    }
    for rep in range(max(1, ctx.repeats // 2)):
        for name, backend, opts in ECHO_CASES:
            order = clients if rep % 2 == 0 else clients[::-1]
            for cl, r in echo_once(ctx, host, backend, opts, order).items():
                for k in ("p50_us", "p99_us"):
                    lat[cl, name][k].append(r[k])
                lost = f", lost {r['lost']}" if r["lost"] else ""
                print(
                    f"  echo {name:28} {(cl or 'socket_')[:-1]:11}: "
                    f"p50 {r['p50_us']:.2f} us, p99 {r['p99_us']:.2f} us{lost}",
                    flush=True,
                )
            time.sleep(0.2)
    rows: list[Row] = []
    for cl in clients:
        client = "AF_XDP client" if cl else "socket client"
        for k in ("p50_us", "p99_us"):
            base = median(lat[cl, "socket"][k]) * 1000
            for name, *_ in ECHO_CASES:
                row = Row(
                    "nic",
                    f"echo_{cl}{_slug(name)}_{k[:3]}",
                    f"UDP round trip ({client})",
                    "ns",
                    median(lat[cl, name][k]) * 1000,
                )
                rows.append(row.with_peer(f"{cl}socket", base) if name != "socket" else row)
            for name, floor in ECHO_FLOOR.items():
                if (cl, name) not in lat or (cl, floor) not in lat:
                    continue  # a shortened case list
                row = Row(
                    "nic",
                    f"echo_{cl}{_slug(name)}_{k[:3]}_vs_floor",
                    f"UDP round trip ({client})",
                    "ns",
                    median(lat[cl, name][k]) * 1000,
                )
                rows.append(row.with_peer(cl + _slug(floor), median(lat[cl, floor][k]) * 1000))
    return rows
