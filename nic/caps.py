"""Capability checks before a backend is opened.

Each check raises NicUnavailable with one sentence naming what is missing and
how to get it; nothing here raises a traceback at an operator.  The C side
repeats the checks it can only make by trying (wm_nic_last_error()), so a
backend that opens has what it reported.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from pathlib import Path

SYS_NET = Path("/sys/class/net")

# Linux capability bits (include/uapi/linux/capability.h).
CAP_NET_BIND_SERVICE = 10
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21
CAP_SYS_NICE = 23
CAP_BPF = 39

AF_XDP = 44
# Kernel versions AF_XDP features need.
AF_XDP_NEEDS = {
    "af_xdp": ((5, 4), "AF_XDP with need_wakeup and XSK map fallback actions"),
    "busy_poll": ((5, 11), "AF_XDP preferred busy polling"),
}

# Kernel versions the io_uring options need.
IO_URING_NEEDS = {
    "io_uring": ((5, 19), "multishot receive with a provided buffer ring"),
    "defer_taskrun": ((6, 1), "DEFER_TASKRUN"),
    "coop_taskrun": ((5, 19), "COOP_TASKRUN"),
    "send_zc": ((6, 1), "zero-copy sendmsg"),
    "napi": ((6, 9), "io_uring NAPI busy polling"),
    "sqpoll": ((5, 11), "unprivileged SQPOLL"),
}


class NicUnavailable(Exception):
    """A backend cannot be opened here; str() is one sentence for the operator."""


def kernel_version(release: str | None = None) -> tuple[int, int]:
    rel = release or platform.release()
    parts = rel.split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (0, 0)


def effective_caps(status: str | None = None) -> int:
    text = status if status is not None else Path("/proc/self/status").read_text()
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def has_cap(cap: int, caps: int | None = None) -> bool:
    return bool((effective_caps() if caps is None else caps) >> cap & 1)


def interface_exists(ifname: str) -> bool:
    return (SYS_NET / ifname).exists()


def rx_queue_count(ifname: str) -> int:
    qdir = SYS_NET / ifname / "queues"
    return sum(1 for p in qdir.glob("rx-*")) if qdir.is_dir() else 0


def check_io_uring(options: Iterable[str] = (), release: str | None = None) -> None:
    path = Path("/proc/sys/kernel/io_uring_disabled")
    if path.exists():
        mode = path.read_text().strip()
        if mode == "2":
            raise NicUnavailable(
                "io_uring is disabled on this machine (kernel.io_uring_disabled=2): set "
                "`sysctl kernel.io_uring_disabled=0` or use the socket backend"
            )
        if mode == "1" and not has_cap(CAP_SYS_ADMIN):
            raise NicUnavailable(
                "io_uring is restricted to privileged processes (kernel.io_uring_disabled=1): "
                "run as root, join kernel.io_uring_group, or use the socket backend"
            )
    have = kernel_version(release)
    for name in ("io_uring", *options):
        if name in IO_URING_NEEDS:
            need, what = IO_URING_NEEDS[name]
            if have < need:
                raise NicUnavailable(
                    f"{what} needs Linux {need[0]}.{need[1]} or later; this kernel is "
                    f"{have[0]}.{have[1]}: upgrade the kernel or drop the {name} option"
                )


def af_xdp_socket_supported() -> bool:
    """Whether the kernel has AF_XDP sockets (CONFIG_XDP_SOCKETS)."""
    import socket

    try:
        socket.socket(AF_XDP, socket.SOCK_RAW, 0).close()
    except OSError as exc:
        return exc.errno not in (97, 93)  # EAFNOSUPPORT, EPROTONOSUPPORT
    return True


def check_af_xdp(
    ifname: str | None,
    options: Iterable[str] = (),
    release: str | None = None,
    caps: int | None = None,
) -> None:
    """What AF_XDP needs: an interface, privileges, kernel features."""
    if ifname is None:
        raise NicUnavailable("the af_xdp backend needs an interface: pass ifname=")
    if not interface_exists(ifname):
        raise NicUnavailable(f"no network interface named {ifname!r} (see `wirematch nic list`)")
    options = list(options)
    have = kernel_version(release)
    for name in ("af_xdp", *options):
        if name in AF_XDP_NEEDS:
            need, what = AF_XDP_NEEDS[name]
            if have < need:
                raise NicUnavailable(
                    f"{what} needs Linux {need[0]}.{need[1]} or later; this kernel is "
                    f"{have[0]}.{have[1]}"
                )
    bits = effective_caps() if caps is None else caps
    needed = (("CAP_NET_ADMIN", CAP_NET_ADMIN), ("CAP_NET_RAW", CAP_NET_RAW))
    missing = [name for name, bit in needed if not has_cap(bit, bits)]
    if not (has_cap(CAP_BPF, bits) or has_cap(CAP_SYS_ADMIN, bits)):
        missing.append("CAP_BPF (or CAP_SYS_ADMIN)")
    if missing:
        raise NicUnavailable(
            f"AF_XDP (an XDP program and an XDP socket) needs {', '.join(missing)}: run as root"
        )
    if not af_xdp_socket_supported():
        raise NicUnavailable(
            "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS is off): use the io_uring "
            "or socket backend"
        )
    if "xdp_skb" in options and "xdp_native" in options:
        raise NicUnavailable("xdp_skb and xdp_native exclude each other: choose one")
    if "zero_copy" in options and "copy" in options:
        raise NicUnavailable("zero_copy and copy exclude each other: choose one")


def backend_names() -> list[str]:
    """The NIC backends this build has (the C side's table)."""
    from wirematch.pipeline.native import ffi, lib

    return [
        ffi.string(lib.wm_nic_backend_name(i)).decode() for i in range(lib.wm_nic_backend_count())
    ]


def check_backend(
    backend: str,
    *,
    ifname: str | None = None,
    port: int = 0,
    n_queues: int = 1,
    options: Iterable[str] = (),
    sqpoll_cpu: int = -1,
    path: str | None = None,
    tx_path: str | None = None,
) -> None:
    """Everything that can be known before opening; raises NicUnavailable."""
    names = backend_names()
    if backend not in names:
        raise NicUnavailable(f"no NIC backend named {backend!r}: choose one of {', '.join(names)}")
    options = list(options)
    if backend == "pcap":
        if path is None and tx_path is None:
            raise NicUnavailable("the pcap backend needs a capture to read or a file to write")
        if path is not None and not os.access(path, os.R_OK):
            raise NicUnavailable(f"cannot read capture {path}: no such file or no permission")
        if tx_path is not None:
            parent = Path(tx_path).resolve().parent
            if not os.access(parent, os.W_OK):
                raise NicUnavailable(f"cannot write {tx_path}: directory {parent} is not writable")
        return
    if backend == "af_xdp":
        check_af_xdp(ifname, options)
        ifname = None  # checked; the socket-binding check below is not for AF_XDP
    if backend == "dpdk":
        from wirematch.nic.dpdk import check_dpdk

        check_dpdk()
        return
    if backend == "io_uring":
        check_io_uring(options)
        if "sqpoll" in options and sqpoll_cpu >= 0:
            if sqpoll_cpu not in os.sched_getaffinity(0):
                raise NicUnavailable(
                    f"cannot pin the SQPOLL thread to CPU {sqpoll_cpu}: this process may use "
                    f"CPUs {sorted(os.sched_getaffinity(0))}"
                )
    if ifname is not None:
        if not interface_exists(ifname):
            raise NicUnavailable(
                f"no network interface named {ifname!r} (see `wirematch nic list`)"
            )
        if not has_cap(CAP_NET_RAW):
            raise NicUnavailable(
                f"binding a socket to interface {ifname} needs CAP_NET_RAW: run as root or "
                "bind by address instead"
            )
    if 0 < port < 1024 and not has_cap(CAP_NET_BIND_SERVICE):
        raise NicUnavailable(
            f"UDP port {port} needs CAP_NET_BIND_SERVICE: run as root or use a port from 1024"
        )
    cpus = len(os.sched_getaffinity(0))
    if n_queues < 1 or n_queues > cpus:
        raise NicUnavailable(
            f"{n_queues} queues asked for, but a queue needs a core and this process has {cpus}"
        )
    if "busy_poll" in options and not has_cap(CAP_NET_ADMIN):
        raise NicUnavailable(
            "SO_BUSY_POLL above net.core.busy_poll needs CAP_NET_ADMIN: run as root"
        )
