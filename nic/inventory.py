"""`wirematch nic list`: interfaces, their queues, drivers, XDP support, and
RDMA devices (through pyverbs where rdma-core is present)."""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SYS_NET = Path("/sys/class/net")

# Drivers with native (driver-mode) XDP in mainline Linux; every interface
# has generic (SKB) mode.  Zero-copy AF_XDP is a subset and depends on the
# kernel version; we name it only where the driver is known to have it.
NATIVE_XDP = {
    "veth",
    "virtio_net",
    "tun",
    "ixgbe",
    "ixgbevf",
    "i40e",
    "ice",
    "igb",
    "igc",
    "mlx4_en",
    "mlx5_core",
    "bnxt_en",
    "ena",
    "nfp",
    "qede",
    "thunder_nicvf",
    "sfc",
    "efx",
    "hv_netvsc",
    "netsec",
    "stmmac",
    "mvneta",
    "mvpp2",
    "dpaa2-eth",
    "fec",
    "tsnep",
    "lan966x-switch",
    "cpsw",
    "am65-cpsw-nuss",
    "bond",
    "xen-netfront",
    "gve",
    "octeontx2-nicvf",
    "idpf",
}
ZEROCOPY_XDP = {"ixgbe", "i40e", "ice", "igc", "mlx5_core", "stmmac", "gve", "idpf", "igb"}


@dataclass
class Interface:
    name: str
    state: str
    mac: str
    mtu: int
    driver: str
    rx_queues: int
    tx_queues: int
    xdp: str  # what XDP modes the driver offers
    xdp_attached: str  # program attached now, or "none"
    addresses: list[str]
    xdp_state: dict[str, Any] | None = None  # nic.xdp.query (needs root), else None


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return default


def _driver_and_xdp(ifname: str) -> tuple[str, str, dict[str, str], list[str]]:
    """Driver (or virtual link kind), attached XDP program, addresses, via netlink."""
    drv_link = SYS_NET / ifname / "device" / "driver"
    driver = os.path.basename(os.readlink(drv_link)) if drv_link.is_symlink() else ""
    attached = "none"
    addrs: list[str] = []
    try:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=ifname)
            if idx:
                link = ipr.get_links(idx[0])[0]
                info = link.get_attr("IFLA_LINKINFO")
                if not driver and info is not None:
                    driver = info.get_attr("IFLA_INFO_KIND") or ""
                xdp = link.get_attr("IFLA_XDP")
                if xdp is not None:
                    mode = xdp.get_attr("IFLA_XDP_ATTACHED") or 0
                    if mode:
                        names = {1: "native", 2: "generic", 3: "offload", 4: "multi"}
                        prog = xdp.get_attr("IFLA_XDP_PROG_ID")
                        attached = f"{names.get(mode, str(mode))} prog {prog}"
                for a in ipr.get_addr(index=idx[0]):
                    addrs.append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    except (ImportError, OSError):
        pass
    if not driver:
        driver = "loopback" if ifname == "lo" else "-"
    return driver, attached, {}, addrs


def list_interfaces() -> list[Interface]:
    out = []
    for dev in sorted(SYS_NET.iterdir()) if SYS_NET.is_dir() else []:
        name = dev.name
        driver, attached, _, addrs = _driver_and_xdp(name)
        if driver in ZEROCOPY_XDP:
            xdp = "native, generic, zero-copy AF_XDP"
        elif driver in NATIVE_XDP:
            xdp = "native, generic (AF_XDP copy mode)"
        elif driver == "loopback":
            xdp = "generic"
        else:
            xdp = "generic only"
        queues = dev / "queues"
        state = None
        if attached != "none":
            try:
                from wirematch.nic.xdp import XdpError, query

                xs = query(name)
                state = asdict(xs)
                attached = xs.describe()
            except (XdpError, ImportError, OSError):
                pass  # no privileges to inspect programs: keep the netlink summary
        out.append(
            Interface(
                name=name,
                state=_read(dev / "operstate", "unknown"),
                mac=_read(dev / "address"),
                mtu=int(_read(dev / "mtu", "0") or 0),
                driver=driver,
                rx_queues=sum(1 for _ in queues.glob("rx-*")) if queues.is_dir() else 0,
                tx_queues=sum(1 for _ in queues.glob("tx-*")) if queues.is_dir() else 0,
                xdp=xdp,
                xdp_attached=attached,
                addresses=addrs,
                xdp_state=state,
            )
        )
    return out


def list_rdma() -> tuple[list[dict[str, Any]], str]:
    """(devices, note).  The note says why the list is empty when it is."""
    try:
        from pyverbs import device as vdev
    except ImportError:
        return [], "none (pyverbs not installed)"
    try:
        devs = vdev.get_device_list()
    except Exception as exc:  # PyverbsRDMAError: no RDMA subsystem / no devices
        # rdma-core reports "Failed to get devices list" when the kernel has
        # no RDMA subsystem or no device: that is "none", said plainly.
        detail = str(exc).strip() or "no RDMA devices"
        return [], f"none (pyverbs found no RDMA device: {detail})"
    found = []
    for d in devs:
        name = d.name.decode() if isinstance(d.name, bytes) else str(d.name)
        entry: dict[str, Any] = {"name": name}
        try:
            entry["node_type"] = int(d.node_type)
            entry["guid"] = hex(int(d.guid))
        except Exception:  # attributes differ between rdma-core versions
            pass
        found.append(entry)
    return found, "" if found else "none"


def inventory() -> dict[str, Any]:
    from wirematch.nic.caps import kernel_version

    rdma, note = list_rdma()
    major, minor = kernel_version()
    return {
        "kernel": f"{major}.{minor}",
        "interfaces": [asdict(i) for i in list_interfaces()],
        "rdma": rdma,
        "rdma_note": note,
    }


def format_inventory(data: dict[str, Any]) -> str:
    rows = [("interface", "state", "driver", "rx/tx queues", "XDP", "attached", "addresses")]
    for i in data["interfaces"]:
        rows.append(
            (
                i["name"],
                i["state"],
                i["driver"],
                f"{i['rx_queues']}/{i['tx_queues']}",
                i["xdp"],
                i["xdp_attached"],
                ", ".join(i["addresses"]) or "-",
            )
        )
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if data["rdma"]:
        lines.append("RDMA devices: " + ", ".join(d["name"] for d in data["rdma"]))
    else:
        lines.append(f"RDMA devices: {data['rdma_note']}")
    return "\n".join(lines)


def cmd_nic_list(args: argparse.Namespace) -> None:
    from wirematch.output import emit as _emit

    data = inventory()
    _emit(args, data, format_inventory(data))
