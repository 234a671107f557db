"""Test hosts: a veth pair with one end in a fresh network namespace.

The root-namespace end (the "host" end, where the backend under test listens)
and the namespace end (the "peer", where the load generator runs) get
addresses from 10.199.0.0/16 (a /30 not yet used here), permanent neighbour
entries both ways (no ARP in the way of AF_XDP or of a program that steers
every frame), IPv6 off, and transmit checksum offload off, so that frames
carry final UDP checksums (a partial checksum echoed unchanged is dropped by
the peer).  Everything is removed again, even when a test fails.

As a pytest fixture: `veth_pair` (exposed in tests/conftest.py).
As a tool:
    python -m nic.testhost up            create one, print it (JSON)
    python -m nic.testhost down NAME     remove it (NAME from `up`)
    python -m nic.testhost down --all    remove every test host this tool made
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PREFIX = "wmt"  # namespaces wmt-XXXXXXXX, interfaces wmtXXXXXXXXh / ...n
NETNS_DIR = Path("/run/netns")


class TestHostError(RuntimeError):
    """A test host cannot be created here; the message says what is missing."""


@dataclass
class VethHost:
    name: str  # the tag shared by the namespace and the interfaces
    netns: str
    host_if: str
    peer_if: str
    host_addr: str
    peer_addr: str
    host_mac: str
    peer_mac: str
    prefix_len: int = 30

    def ns_argv(self, argv: Sequence[str]) -> list[str]:
        """A command line that runs argv inside the namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(
        self, argv: Sequence[str], timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.ns_argv(argv), capture_output=True, text=True, timeout=timeout, check=False, **kw
        )

    def popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen:
        return subprocess.Popen(self.ns_argv(argv), **kw)

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_DGRAM, proto: int = 0):  # noqa: A002, ANN201
        """A socket created inside the namespace (it stays there)."""
        with in_netns(self.netns):
            return socket.socket(family, type, proto)


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


@contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the calling thread inside namespace `name` for the block."""
    with open("/proc/thread-self/ns/net", "rb") as own, open(NETNS_DIR / name, "rb") as target:
        if _libc.setns(target.fileno(), CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise TestHostError(f"cannot enter network namespace {name}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(own.fileno(), CLONE_NEWNET) != 0:
                raise TestHostError("cannot return to the original network namespace")


def check_privileges() -> None:
    """One sentence naming what is missing, if anything."""
    if sys.platform != "linux":
        raise TestHostError("veth test hosts need Linux network namespaces")
    if os.geteuid() != 0:
        raise TestHostError(
            "creating a veth pair and a network namespace needs root (CAP_NET_ADMIN and "
            "CAP_SYS_ADMIN): run the tests as root, as CI does"
        )
    try:
        import pyroute2  # noqa: F401
    except ImportError as exc:
        raise TestHostError(
            "pyroute2 is not installed: `pip install pyroute2` (or `make deps`)"
        ) from exc


def _used_subnets() -> set[str]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        return {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=socket.AF_INET)}


def _pick_subnet() -> tuple[str, str]:
    used = _used_subnets()
    rng = random.Random()
    for _ in range(1000):
        x, y = rng.randrange(0, 256), rng.randrange(0, 64) * 4
        host, peer = f"10.199.{x}.{y + 1}", f"10.199.{x}.{y + 2}"
        if host not in used and peer not in used:
            return host, peer
    raise TestHostError("no free /30 left in 10.199.0.0/16")


def _sh(argv: Sequence[str]) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise TestHostError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")


def create() -> VethHost:
    check_privileges()
    from pyroute2 import IPRoute, NetNS, netns

    tag = f"{os.getpid() & 0xFFFF:04x}{random.getrandbits(16):04x}"
    name = f"{PREFIX}-{tag}"
    host_if, peer_if = f"{PREFIX}{tag}h", f"{PREFIX}{tag}n"
    host_addr, peer_addr = _pick_subnet()
    netns.create(name)
    host = None
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=host_if, kind="veth", peer=peer_if)
            (peer_idx,) = ipr.link_lookup(ifname=peer_if)
            ipr.link("set", index=peer_idx, net_ns_fd=name)
            (host_idx,) = ipr.link_lookup(ifname=host_if)
            host_mac = ipr.get_links(host_idx)[0].get_attr("IFLA_ADDRESS")
            Path(f"/proc/sys/net/ipv6/conf/{host_if}/disable_ipv6").write_text("1\n")
            ipr.addr("add", index=host_idx, address=host_addr, prefixlen=30)
            ipr.link("set", index=host_idx, state="up")
        with NetNS(name) as ns:
            (lo,) = ns.link_lookup(ifname="lo")
            ns.link("set", index=lo, state="up")
            (idx,) = ns.link_lookup(ifname=peer_if)
            peer_mac = ns.get_links(idx)[0].get_attr("IFLA_ADDRESS")
            ns.addr("add", index=idx, address=peer_addr, prefixlen=30)
            ns.link("set", index=idx, state="up")
            ns.neigh("replace", dst=host_addr, lladdr=host_mac, ifindex=idx, state="permanent")
        with IPRoute() as ipr:
            ipr.neigh(
                "replace", dst=peer_addr, lladdr=peer_mac, ifindex=host_idx, state="permanent"
            )
        host = VethHost(name, name, host_if, peer_if, host_addr, peer_addr, host_mac, peer_mac)
        # Final checksums on the wire (see the module docstring), and no IPv6 chatter.
        _sh(["ethtool", "-K", host_if, "tx", "off"])
        _sh(host.ns_argv(["ethtool", "-K", peer_if, "tx", "off"]))
        _sh(host.ns_argv(["sysctl", "-qw", f"net.ipv6.conf.{peer_if}.disable_ipv6=1"]))
        return host
    except Exception:
        destroy_named(name)
        raise


def destroy_named(name: str) -> None:
    """Remove test host `name` (namespace and both veth ends); missing parts are fine."""
    from pyroute2 import IPRoute, netns

    tag = name.removeprefix(f"{PREFIX}-")
    with IPRoute() as ipr:
        for ifname in (f"{PREFIX}{tag}h",):
            for idx in ipr.link_lookup(ifname=ifname):
                ipr.link("del", index=idx)
    if name in netns.listnetns():
        netns.remove(name)  # the peer end goes with it


def destroy(host: VethHost) -> None:
    destroy_named(host.name)


def list_hosts() -> list[str]:
    from pyroute2 import netns

    return sorted(n for n in netns.listnetns() if n.startswith(f"{PREFIX}-"))


@contextmanager
def veth_host() -> Iterator[VethHost]:
    host = create()
    try:
        yield host
    finally:
        destroy(host)


try:
    import pytest

    @pytest.fixture
    def veth_pair() -> Iterator[VethHost]:
        """A veth pair, one end in a fresh namespace; removed after the test.

        Fails (does not skip) with the reason when this machine cannot make one.
        """
        try:
            check_privileges()
        except TestHostError as exc:
            pytest.fail(str(exc), pytrace=False)
        with veth_host() as host:
            yield host

except ImportError:  # used as a tool without pytest installed
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nic.testhost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="create a test host and print it as JSON")
    down = sub.add_parser("down", help="remove a test host")
    down.add_argument("name", nargs="?")
    down.add_argument("--all", action="store_true", help=f"remove every {PREFIX}-* test host")
    sub.add_parser("ls", help="list the test hosts present")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            print(json.dumps(asdict(create()), indent=2))
        elif args.cmd == "ls":
            check_privileges()
            print("\n".join(list_hosts()) or "no test hosts")
        else:
            check_privileges()
            names = list_hosts() if args.all else [args.name] if args.name else []
            if not names:
                parser.error("down needs a NAME or --all")
            for n in names:
                destroy_named(n)
                print(f"removed {n}")
    except TestHostError as exc:
        print(f"testhost: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
