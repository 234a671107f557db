"""The interface's XDP program from the control plane: what is attached, and
detaching wirematch's program by hand.

The AF_XDP backend attaches the project's steering program when its first
queue on an interface opens and detaches it when the last one closes (and
nic.queue closes queues at exit and on SIGTERM/SIGINT/SIGHUP).  A process
killed outright leaves the program attached; the next open replaces it (its
owner process is gone), or `wirematch nic detach IFACE` removes it.
"""

from __future__ import annotations

import argparse
import socket
import struct
from dataclasses import asdict, dataclass

from wirematch.nic.caps import NicUnavailable


class XdpError(Exception):
    """Querying or detaching failed; str() is one sentence."""


@dataclass(frozen=True)
class XdpState:
    native_prog_id: int
    skb_prog_id: int
    hw_prog_id: int
    prog_id: int  # the program described below (wirematch's first), 0 = none
    mode: str  # none, native, skb, hw
    prog_name: str
    ours: bool  # wirematch's steering program
    owner_pid: int  # ours: the process that attached it
    owner_alive: bool  # ours: False means stale (a crashed run)
    local_addr: str  # ours: steered destination address ("any")
    n_ports: int  # ours: UDP ports steered
    steered: int  # ours: program counters
    passed: int
    dropped: int

    def describe(self) -> str:
        if not self.prog_id:
            return "none"
        text = f"{self.mode} prog {self.prog_id} {self.prog_name}"
        if self.ours:
            owner = "alive" if self.owner_alive else "gone: stale"
            text += (
                f" (wirematch, pid {self.owner_pid} {owner}, {self.n_ports} port(s) to "
                f"{self.local_addr}, steered {self.steered} passed {self.passed} "
                f"dropped {self.dropped})"
            )
        return text


def _error() -> str:
    from wirematch.pipeline.native import ffi, lib

    return ffi.string(lib.wm_nic_last_error()).decode()


def query(ifname: str) -> XdpState:
    """What is attached to ifname now (read from the kernel)."""
    from wirematch.pipeline.native import ffi, lib

    st = ffi.new("struct wm_nic_xdp_state *")
    rc = lib.wm_nic_xdp_query(ifname.encode(), st)
    if rc < 0:
        raise XdpError(_error())
    modes = {0: "none", 1: "native", 2: "skb", 3: "hw"}
    addr = socket.inet_ntoa(struct.pack("=I", st.local_addr)) if st.local_addr else "any"
    return XdpState(
        native_prog_id=st.native_prog_id,
        skb_prog_id=st.skb_prog_id,
        hw_prog_id=st.hw_prog_id,
        prog_id=st.prog_id,
        mode=modes.get(st.mode, str(st.mode)),
        prog_name=ffi.string(st.prog_name).decode(errors="replace"),
        ours=bool(st.ours),
        owner_pid=st.owner_pid,
        owner_alive=bool(st.owner_alive),
        local_addr=addr,
        n_ports=st.n_ports,
        steered=st.steered,
        passed=st.passed,
        dropped=st.dropped,
    )


def detach(ifname: str, force: bool = False) -> int:
    """Detach wirematch's program from ifname; returns how many were detached.
    Refuses another program, and ours while its owner runs (unless force)."""
    from wirematch.pipeline.native import lib

    rc = lib.wm_nic_xdp_detach(ifname.encode(), 1 if force else 0)
    if rc < 0:
        raise XdpError(_error())
    return rc


def cmd_nic_detach(args: argparse.Namespace) -> None:
    from wirematch.output import emit as _emit

    try:
        before = query(args.ifname)
        n = detach(args.ifname, args.force)
    except (XdpError, NicUnavailable) as exc:
        raise SystemExit(f"wirematch nic detach: {exc}") from None
    text = (
        f"detached {before.describe()} from {args.ifname}"
        if n
        else f"no XDP program on {args.ifname}"
    )
    _emit(args, {"ifname": args.ifname, "detached": n, "was": asdict(before)}, text)
