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
from pathlib import Path
from typing import Any

from wirematch.pipeline.appliance import Appliance, ApplianceError
from wirematch.pipeline.config import parse_config
from wirematch.pipeline.native import native_dir
from wirematch.pipeline.summary import render, summarize

BACKENDS = ("af_xdp", "io_uring", "socket")
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
idle = "spin_yield"

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
        try:
            app = Appliance(parse_config(cfg_text, "<demo>"), backend=b, log=log, **kw)
            return app.start()
        except (ApplianceError, OSError) as exc:
            errors.append(f"{b}: {exc}")
            log(f"backend {b} not usable here ({exc}); falling back")
            with contextlib.suppress(Exception):
                app.close()
    raise ApplianceError("no backend works: " + "; ".join(errors))


def run_quickstart(
    seconds: float = 3.0,
    sessions: int = 8,
    msgs: int = 16,
    pps: float = 0.0,
    backend: str | None = None,
    loopback: bool = False,
    log: Any = None,
) -> dict[str, Any]:
    log = log or (lambda m: print(f"wirematch demo: {m}", file=sys.stderr, flush=True))
    lg = loadgen_path()
    if not lg.exists():
        raise ApplianceError(f"{lg} is missing: run `make build` first")
    cpus = sorted(os.sched_getaffinity(0))
    app_core = cpus[1] if len(cpus) > 1 else -1
    gen_core = cpus[0]
    name = f"wmdemo{os.getpid()}"
    backends = (backend,) if backend else BACKENDS
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
        try:
            log(
                f"appliance up: {app.backend} on {app.ifname} {app.addr}:{app.port}; "
                f"workers {[(w.name, w.core) for w in app.workers]}"
            )
            argv = [
                *prefix,
                str(lg),
                "--dst", dst, "--dport", str(PORT),
                "--sessions", str(sessions), "--msgs", str(msgs),
                "--mix", "WMTA,WMTB", "--mid", "1000000", "--tick", "100",
                "--duration", str(seconds), "--hello", "--json", "--cpu", str(gen_core),
                *(["--pps", str(pps)] if pps else ["--topspeed"]),
            ]  # fmt: skip
            log(f"load generator: {sessions} sessions x {msgs} orders per packet for {seconds} s")
            t0 = time.monotonic()
            out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
            elapsed = time.monotonic() - t0
            if out.returncode not in (0, 3):
                raise ApplianceError(f"load generator failed: {out.stderr.strip()}")
            sent = json.loads(out.stdout.strip().splitlines()[-1])
            final = app.stop()
        finally:
            app.close()
            if md_sock is not None:
                md_sock.close()
            with contextlib.suppress(OSError):
                from wirematch.pipeline.native.shm import Region

                Region.unlink(name, missing_ok=True)
    s = summarize(final, sent.get("seconds", elapsed))
    s["network"] = "veth + netns" if host is not None else "loopback"
    s["load_generator"] = sent
    return s


def cmd_demo(args: argparse.Namespace) -> None:
    try:
        s = run_quickstart(args.seconds, args.sessions, args.msgs, args.pps, args.backend)
    except ApplianceError as exc:
        raise SystemExit(f"wirematch demo: {exc}") from None
    if args.json:
        print(json.dumps(s, indent=2))
        return
    lg = s["load_generator"]
    print(f"network:             {s['network']}")
    print(
        f"load generator sent: {lg['messages']} orders in {lg['packets']} packets "
        f"({lg['pps']:,.0f} packets/s; mix {lg['mix']})"
    )
    print(render(s))
