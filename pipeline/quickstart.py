"""`wirematch demo`: the README's run command.

Creates a veth pair with one end in a fresh network namespace, starts the
appliance on the root-namespace end (the best backend that works here,
falling back with a message), drives it from the namespace with the load
generator (several client sessions, a realistic mix of passive and
aggressive orders, cancels and replaces) for a few seconds, stops it
cleanly and prints what happened.  Without root (no namespaces) it runs
over loopback sockets instead, and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wirematch.pipeline.appliance import Appliance, ApplianceError
from wirematch.pipeline.config import parse_config
from wirematch.pipeline.native import native_dir
from wirematch.pipeline.summary import (
    reconcile,
    render_counts,
    render_latency,
    snapshot,
    summarize_window,
    window,
)

BACKENDS = ("af_xdp", "io_uring", "socket")
FIRST_PORT = 40000  # the load generator's first client port
PORT = 15000
MD_PORT = 26400


def loadgen_path() -> Path:
    return native_dir() / "tools" / "loadgen"


def config_text(ifname: str, addr: str, peer: str, md: str, core: int, name: str) -> str:
    """The embedded default configuration, pointed at this run's interface."""
    cores = f"rx_cores = [{core}]\n" if core >= 0 else ""
    return f"""
[appliance]
name = "{name}"
hugepages = true
shm_size = 134217728
# the load generator never resends: apply what follows a loss
on_sequence_gap = "accept"

[[interfaces]]
name = "{ifname}"
address = "{addr}:{PORT}"
{cores}
[matcher]
core = {core}
idle = "adaptive"

[[instruments]]
symbol = "WMTA"
id = 1
tick_size = 100
lot_size = 100
min_qty = 100
ref_price = 1000000
band = 100000

[[instruments]]
symbol = "WMTB"
id = 2
tick_size = 100
lot_size = 100
min_qty = 100
ref_price = 1000000

[flows]
rules = '''
allow src {peer} dport {PORT} proto udp as session auto
'''

[market_data]
destination = "{md}:{MD_PORT}"
"""


@contextlib.contextmanager
def _network(force_loopback: bool) -> Iterator[tuple[Any, str]]:
    """(veth host or None, why loopback)."""
    if force_loopback:
        yield None, "loopback requested"
        return
    if os.geteuid() != 0:
        yield None, "not root: no network namespace, so loopback sockets instead of veth"
        return
    from wirematch.nic.testhost import TestHostError, veth_host

    try:
        cm = veth_host()
        host = cm.__enter__()
    except (TestHostError, OSError, subprocess.SubprocessError) as exc:
        yield None, f"cannot create a veth pair ({exc}): loopback sockets instead"
        return
    try:
        yield host, ""
    finally:
        cm.__exit__(None, None, None)


def _start(cfg_text: str, backends: tuple[str, ...], log: Any, **kw: Any) -> Appliance:
    errors = []
    for b in backends:
        app = None
        try:
            app = Appliance(parse_config(cfg_text, "<demo>"), backend=b, log=log, **kw)
            return app.start()
        except (ApplianceError, OSError) as exc:
            errors.append(f"{b}: {exc}")
            log(f"backend {b} not usable here ({exc}); falling back")
            if app is not None:
                with contextlib.suppress(Exception):
                    app.close()
    raise ApplianceError("no backend works: " + "; ".join(errors))


@dataclass
class Phase:
    """One run of the load generator against the running appliance."""

    name: str
    seconds: float
    pps: float  # packets/s; 0: top speed
    first_port: int  # its clients' first UDP source port (new flows, new sessions)


def run_phases(
    phases: list[Phase],
    sessions: int = 8,
    msgs: int = 16,
    backend: str | None = None,
    loopback: bool = False,
    log: Any = None,
) -> dict[str, Any]:
    """Start the appliance on a veth pair (or loopback), drive it through each
    phase with the load generator, stop it; what each phase did."""
    log = log or (lambda m: print(f"wirematch demo: {m}", file=sys.stderr, flush=True))
    lg = loadgen_path()
    if not lg.exists():
        raise ApplianceError(f"{lg} is missing: run `make build` first")
    cpus = sorted(os.sched_getaffinity(0))
    app_core = cpus[1] if len(cpus) > 1 else -1
    gen_core = cpus[0]
    name = f"wmdemo{os.getpid()}"
    backends = (backend,) if backend else BACKENDS
    results: list[dict[str, Any]] = []
    with _network(loopback) as (host, why):
        if host is None:
            log(why)
            backends = tuple(b for b in backends if b != "af_xdp") or ("socket",)
            text = config_text("lo", "127.0.0.1", "127.0.0.0/8", "127.0.0.1", app_core, name)
            app = _start(text, backends, log)
            prefix: list[str] = []
            dst = "127.0.0.1"
            md_sock = None
        else:
            text = config_text(
                host.host_if, host.host_addr, host.peer_addr, host.peer_addr, app_core, name
            )
            app = _start(text, backends, log, md_mac=host.peer_mac)
            prefix = host.ns_argv([])
            dst = host.host_addr
            # A market-data subscriber in the namespace: its socket takes the
            # feed (else every packet would draw an ICMP port unreachable).
            md_sock = host.socket()
            md_sock.bind((host.peer_addr, MD_PORT))
        workers = ", ".join(f"{w.name} on core {w.core}" for w in app.workers)
        setup = {
            "backend": app.backend,
            "network": "veth pair, load generator in a network namespace"
            if host is not None
            else "loopback",
            "interface": f"{app.ifname} {app.addr}:{app.port}",
            "workers": workers,
        }
        try:
            log(f"appliance up: {app.backend} on {setup['interface']}; {workers}")
            assert app.region is not None
            before = snapshot(app.region)
            for ph in phases:
                argv = [
                    *prefix,
                    str(lg),
                    "--dst", dst, "--dport", str(PORT), "--sport", str(ph.first_port),
                    "--sessions", str(sessions), "--msgs", str(msgs),
                    "--mix", "WMTA,WMTB", "--mid", "1000000", "--tick", "100",
                    "--duration", str(ph.seconds), "--hello", "--json", "--cpu", str(gen_core),
                    *(["--pps", str(ph.pps)] if ph.pps else ["--topspeed"]),
                ]  # fmt: skip
                rate = f"{ph.pps:,.0f} packets/s" if ph.pps else "top speed"
                log(
                    f"{ph.name}: {sessions} sessions x {msgs} orders per packet, {rate}, "
                    f"{ph.seconds:g} s"
                )
                t0 = time.monotonic()
                try:
                    out = subprocess.run(
                        argv, capture_output=True, text=True, timeout=ph.seconds + 30
                    )
                    elapsed = time.monotonic() - t0
                    if out.returncode not in (0, 3):
                        raise ApplianceError(f"load generator failed: {out.stderr.strip()}")
                    sent = json.loads(out.stdout.strip().splitlines()[-1])
                except (subprocess.TimeoutExpired, IndexError, ValueError) as exc:
                    raise ApplianceError(f"load generator gave no summary ({exc})") from None
                if ph is phases[-1]:
                    final = app.stop()
                else:
                    app.wait_idle()
                after = snapshot(app.region)
                s = summarize_window(window(after, before), sent.get("seconds", elapsed))
                s.update(phase=ph.name, pps=ph.pps, load_generator=sent)
                s["reconcile"] = reconcile(s, sent)
                results.append(s)
                before = after
        finally:
            app.close()
            if md_sock is not None:
                md_sock.close()
            with contextlib.suppress(OSError):
                from wirematch.pipeline.native.shm import Region

                Region.unlink(name, missing_ok=True)
    return {**setup, "phases": results, "drained": final.get("drained", False)}


def run_quickstart(
    seconds: float = 3.0,
    sessions: int = 8,
    msgs: int = 16,
    pps: float = 0.0,
    backend: str | None = None,
    loopback: bool = False,
    log: Any = None,
) -> dict[str, Any]:
    """One phase (what the end-to-end benchmark times): its summary."""
    r = run_phases([Phase("run", seconds, pps, FIRST_PORT)], sessions, msgs, backend, loopback, log)
    return {**r["phases"][0], "backend": r["backend"], "network": r["network"],
            "drained": r["drained"]}  # fmt: skip


def demo_phases(seconds: float, overload_seconds: float, pps: float) -> list[Phase]:
    phases = [Phase("paced", seconds, pps, FIRST_PORT)]
    if overload_seconds > 0:
        phases.append(Phase("overload", overload_seconds, 0.0, FIRST_PORT + 1000))
    return phases


def render_demo(r: dict[str, Any]) -> str:
    lines = [
        f"The appliance ran on {r['backend']} ({r['network']}), {r['workers']}.",
        "",
    ]
    for s in r["phases"]:
        lg, rc = s["load_generator"], s["reconcile"]
        if s["phase"] == "paced" and s["pps"]:
            lines.append(
                f"Paced phase: {s['pps']:,.0f} packets/s x "
                f"{lg['messages'] // max(lg['packets'], 1)} orders per packet for "
                f"{s['seconds']:g} s, a rate this machine sustains"
            )
        else:
            lines.append(
                f"Overload test: the load generator at top speed for {s['seconds']:g} s, "
                "more than one worker core takes; where the excess goes"
            )
        lost = rc["packets_dropped_before_receive"] + rc["packets_not_seen"]
        share = lost / max(rc["packets_sent"], 1)
        lines += [
            f"  sent:                {lg['messages']:,} orders in {lg['packets']:,} packets "
            f"({lg['pps']:,.0f} packets/s) after {lg.get('hello_packets', 0)} session-opening "
            "heartbeats",
            f"  received:            {s['orders_in']:,} orders in {s['packets_in']:,} packets "
            f"({s['orders_per_sec']:,} orders/s)",
            f"  lost before receive: {lost:,} packets ({share:.1%}): "
            f"{rc['packets_dropped_before_receive']:,} counted by the NIC stage, "
            f"{rc['packets_not_seen']:,} never seen",
            *("  " + ln for ln in render_counts(s)),
            f"  receive to match:    {render_latency(s['rx_to_match_ns'])}",
            f"  receive to reply:    {render_latency(s['rx_to_reply_ns'])}",
            f"  reconciled:          {rc['orders_to_engine']:,} orders to the engine = "
            f"{rc['orders_applied']:,} applied + {rc['orders_refused']:,} refused + "
            f"{rc['orders_dropped_by_engine']:,} dropped"
            + (f" (+{rc['orders_unexplained']:,} unexplained)" if rc["orders_unexplained"] else "")
            + f"; {rc['packets_sent']:,} packets sent = {rc['packets_received']:,} received + "
            f"{lost:,} lost",
            "",
        ]
    stop = "yes, every ring drained" if r["drained"] else "NO (timed out)"
    lines.append(f"Clean stop: {stop}.")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> None:
    phases = demo_phases(args.seconds, args.overload_seconds, args.pps)
    try:
        r = run_phases(phases, args.sessions, args.msgs, args.backend)
    except ApplianceError as exc:
        raise SystemExit(f"wirematch demo: {exc}") from None
    print(json.dumps(r, indent=2) if args.json else render_demo(r))
