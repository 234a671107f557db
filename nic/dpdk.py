"""DPDK set-up: EAL arguments from the appliance config, and what is needed first.

The appliance config's `nic.dpdk` section (keys and defaults below, in
DpdkConfig) becomes the EAL command line the first `dpdk` queue of the
process starts DPDK with:

    cfg = DpdkConfig.from_mapping({
        "cores": [0],
        "memory_mb": 256,
        "hugepages": False,
        "devices": [{"kind": "net_af_packet", "iface": "eth1"}],
    })
    open_queue("dpdk", eal=cfg, device=cfg.devices[0].name)

Each process gets its own --file-prefix (DPDK's shared files and hugepage
files are named by it) and, by default, --in-memory (no shared files at
all, hugepage files unlinked once mapped), so nothing is left behind when a
process is killed.  Without hugepages the EAL runs with --no-huge -m N.

Devices: PCI addresses of real NICs (bound to vfio-pci/uio; none here, see
`wirematch nic list`) or the virtual devices testable on any Linux box:
net_af_xdp, net_af_packet, net_tap, net_pcap (and net_ring, net_null).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wirematch.nic.caps import NicUnavailable, interface_exists

# Virtual devices and the device argument each needs (None: none needed).
VDEV_KINDS: dict[str, str | None] = {
    "net_af_xdp": "iface",  # AF_XDP socket on a kernel interface
    "net_af_packet": "iface",  # AF_PACKET (PACKET_MMAP) socket on a kernel interface
    "net_tap": None,  # a TAP interface DPDK creates (iface= names it)
    "net_pcap": None,  # rx_pcap=/tx_pcap= files or iface=
    "net_ring": None,  # in-memory rings (tests)
    "net_null": None,  # discards (tests)
}
PCI_ADDR = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
HUGE_2M = 2 * 1024 * 1024


class DpdkConfigError(ValueError):
    """A bad `nic.dpdk` config value; str() names the key."""


@dataclass(frozen=True)
class DpdkDevice:
    kind: str  # "pci" or a VDEV_KINDS key
    name: str  # PCI address, or the vdev name ("net_af_packet0"): the port's name
    params: tuple[tuple[str, str], ...] = ()  # vdev arguments, in order

    def eal_arg(self) -> list[str]:
        if self.kind == "pci":
            return ["-a", self.name]
        return ["--vdev", ",".join([self.name, *(f"{k}={v}" for k, v in self.params)])]


@dataclass(frozen=True)
class DpdkConfig:
    cores: tuple[int, ...] = (0,)  # lcores (-l); the first is the main lcore (the caller's)
    memory_mb: int = 256  # EAL memory (-m)
    hugepages: bool = False  # False: --no-huge; True: 2 MB hugepages from huge_dir
    huge_dir: str | None = None  # hugetlbfs mount (None: found in /proc/mounts)
    in_memory: bool = True  # --in-memory (--no-shconf without hugepages): no shared files
    file_prefix: str | None = None  # None: unique per process
    log_level: str = "notice"  # --log-level
    devices: tuple[DpdkDevice, ...] = field(default_factory=tuple)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> DpdkConfig:
        """Build from the config's `nic.dpdk` section; DpdkConfigError names a bad key."""
        known = {"cores", "memory_mb", "hugepages", "huge_dir", "in_memory", "file_prefix"}
        known |= {"log_level", "devices"}
        for key in m:
            if key not in known:
                raise DpdkConfigError(f"nic.dpdk.{key}: unknown key (known: {sorted(known)})")
        cores = m.get("cores", [0])
        if (
            not isinstance(cores, Sequence)
            or not cores
            or not all(isinstance(c, int) and c >= 0 for c in cores)
        ):
            raise DpdkConfigError("nic.dpdk.cores: a non-empty list of core numbers")
        mem = m.get("memory_mb", 256)
        if not isinstance(mem, int) or not 16 <= mem <= 1 << 20:
            raise DpdkConfigError("nic.dpdk.memory_mb: megabytes, at least 16")
        for key in ("hugepages", "in_memory"):
            if key in m and not isinstance(m[key], bool):
                raise DpdkConfigError(f"nic.dpdk.{key}: true or false")
        devs = []
        for i, d in enumerate(m.get("devices", [])):
            if not isinstance(d, Mapping) or "kind" not in d:
                raise DpdkConfigError(f"nic.dpdk.devices[{i}]: a mapping with a 'kind'")
            params = {k: str(v) for k, v in d.items() if k not in ("kind", "name")}
            try:
                devs.append(device(d["kind"], d.get("name"), index=i, **params))
            except DpdkConfigError as exc:
                raise DpdkConfigError(f"nic.dpdk.devices[{i}]: {exc}") from None
        return cls(
            cores=tuple(cores),
            memory_mb=mem,
            hugepages=m.get("hugepages", False),
            huge_dir=m.get("huge_dir"),
            in_memory=m.get("in_memory", True),
            file_prefix=m.get("file_prefix"),
            log_level=str(m.get("log_level", "notice")),
            devices=tuple(devs),
        )


def device(kind: str, name: str | None = None, index: int = 0, **params: str) -> DpdkDevice:
    """A PCI NIC (kind "pci", name its address) or a virtual device with its arguments."""
    if kind == "pci":
        if name is None or not PCI_ADDR.match(name):
            raise DpdkConfigError(f"PCI address {name!r}: expected DDDD:BB:DD.F")
        return DpdkDevice("pci", name.lower())
    if kind not in VDEV_KINDS:
        raise DpdkConfigError(f"kind {kind!r}: one of pci, {', '.join(VDEV_KINDS)}")
    need = VDEV_KINDS[kind]
    if need and need not in params:
        raise DpdkConfigError(f"{kind} needs {need}=")
    name = name or f"{kind}{index}"
    if not name.startswith(kind):
        raise DpdkConfigError(f"name {name!r}: a {kind} device's name starts with {kind}")
    return DpdkDevice(kind, name, tuple(params.items()))


def hugetlbfs_mounts() -> dict[str, int]:
    """hugetlbfs mount points and their page sizes in bytes."""
    out = {}
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "hugetlbfs":
            size = HUGE_2M
            m = re.search(r"pagesize=(\d+)([KMG])", parts[3])
            if m:
                size = int(m.group(1)) << {"K": 10, "M": 20, "G": 30}[m.group(2)]
            out[parts[1]] = size
    return out


def free_hugepages(meminfo: str | None = None) -> int:
    text = meminfo if meminfo is not None else Path("/proc/meminfo").read_text()
    m = re.search(r"^HugePages_Free:\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def check_hugepages(memory_mb: int, huge_dir: str | None = None) -> str:
    """The hugetlbfs directory to use; NicUnavailable says what is missing."""
    need = (memory_mb * 1024 * 1024 + HUGE_2M - 1) // HUGE_2M
    have = free_hugepages()
    if have < need:
        raise NicUnavailable(
            f"DPDK with hugepages needs {need} free 2 MB hugepages for {memory_mb} MB and "
            f"{have} are free: `echo {need} > /proc/sys/vm/nr_hugepages`, or set "
            "nic.dpdk.hugepages to false (--no-huge)"
        )
    mounts = {d: s for d, s in hugetlbfs_mounts().items() if s == HUGE_2M}
    if huge_dir is not None:
        if huge_dir not in mounts:
            raise NicUnavailable(
                f"{huge_dir} is not a hugetlbfs mount with 2 MB pages: "
                f"`mount -t hugetlbfs -o pagesize=2M nodev {huge_dir}`"
            )
        return huge_dir
    if not mounts:
        raise NicUnavailable(
            "no hugetlbfs with 2 MB pages is mounted: `mkdir -p /dev/hugepages && mount -t "
            "hugetlbfs -o pagesize=2M nodev /dev/hugepages`, or set nic.dpdk.hugepages to false"
        )
    return sorted(mounts)[0]


def unique_prefix() -> str:
    return f"wm{os.getpid()}-{uuid.uuid4().hex[:6]}"


def eal_args(cfg: DpdkConfig, check: bool = True) -> list[str]:
    """The EAL argv (argv[0] included) for cfg.  With check, capability problems
    (cores not ours, interfaces missing, hugepages missing) raise NicUnavailable."""
    allowed = os.sched_getaffinity(0)
    if check:
        bad = [c for c in cfg.cores if c not in allowed]
        if bad:
            raise NicUnavailable(
                f"DPDK cores {bad} are not usable by this process (it may use {sorted(allowed)})"
            )
        for d in cfg.devices:
            iface = dict(d.params).get("iface")
            if d.kind in ("net_af_xdp", "net_af_packet") and iface and not interface_exists(iface):
                raise NicUnavailable(f"{d.name}: no network interface named {iface!r}")
    args = ["wirematch", "-l", ",".join(str(c) for c in cfg.cores)]
    args += ["--file-prefix", cfg.file_prefix or unique_prefix()]
    if cfg.hugepages:
        huge_dir = check_hugepages(cfg.memory_mb, cfg.huge_dir) if check else cfg.huge_dir
        args += ["-m", str(cfg.memory_mb)]
        if huge_dir:
            args += ["--huge-dir", huge_dir]
        if not cfg.in_memory:
            args += ["--huge-unlink"]
        if cfg.in_memory:
            args += ["--in-memory"]
    else:
        args += ["--no-huge", "-m", str(cfg.memory_mb)]
        if cfg.in_memory:
            args += ["--no-shconf"]  # --in-memory is refused with --no-huge; this is its part
    if not any(d.kind == "pci" for d in cfg.devices):
        args += ["--no-pci"]
    for d in cfg.devices:
        args += d.eal_arg()
    args += ["--log-level", cfg.log_level, "--no-telemetry"]
    return args


def dpdk_built() -> bool:
    """Whether this build has the DPDK plugin (pkg-config found libdpdk)."""
    from wirematch.pipeline.native import build_dir

    return (build_dir() / "libwirematch_dpdk.so").exists()


def check_dpdk() -> None:
    if not dpdk_built():
        raise NicUnavailable(
            "this build of wirematch has no DPDK backend: pkg-config found no libdpdk when it "
            "was built (install libdpdk-dev, then `make build`)"
        )
    if os.geteuid() != 0:
        raise NicUnavailable(
            "DPDK needs root here (memory mapping, raw sockets for its virtual devices): run "
            "as root"
        )
