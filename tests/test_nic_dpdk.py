"""The DPDK backend over veth with the net_af_packet and net_af_xdp virtual
devices (no VFIO/UIO here: no PCI NIC can be tested), one process per case
(tests/nic_dpdk_child.py): exact delivery of the loadgen's stream, replies,
the EAL's once-per-process rule, hugepages, and that no process, shared
file or hugepage file is left behind.  EAL argument building and the
capability sentences need no root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.nic_helpers import check_enter_order, parse_mold, run_loadgen
from wirematch.nic import dpdk
from wirematch.nic.caps import NicUnavailable

ROOT = Path(__file__).resolve().parent.parent
PORT = 9200
RUNTIME = Path("/var/run/dpdk")


def vdev(kind: str, host) -> dict:  # noqa: ANN001
    if kind == "net_af_packet":
        # a PACKET_MMAP ring large enough for a whole test burst
        return {"kind": kind, "iface": host.host_if, "framecnt": 4096}
    return {"kind": kind, "iface": host.host_if, "start_queue": 0, "queue_count": 1}


class Child:
    """A DPDK process running tests.nic_dpdk_child; always reaped."""

    def __init__(self, spec: dict) -> None:
        if not dpdk.dpdk_built():
            pytest.fail("this build has no DPDK backend (install libdpdk-dev, make build)")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.nic_dpdk_child", json.dumps(spec)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("{"):
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            pytest.fail(f"DPDK child did not start: {line}{err}")
        self.ready = json.loads(line)
        self.prefix = self.ready["eal"][self.ready["eal"].index("--file-prefix") + 1]

    def result(self, timeout: float = 30) -> dict:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=10)
            pytest.fail("DPDK child did not finish in time")
        assert self.proc.returncode == 0, f"DPDK child failed: {err}"
        return json.loads(out.strip().splitlines()[-1])

    def assert_clean(self) -> None:
        """Nothing of this process is left: runtime directory, hugepage files."""
        assert not (RUNTIME / self.prefix).exists(), f"{RUNTIME / self.prefix} left behind"
        for d in dpdk.hugetlbfs_mounts():
            left = [p.name for p in Path(d).glob(f"{self.prefix}*")]
            assert not left, f"hugepage files left in {d}: {left}"


@pytest.fixture
def udp_sink(veth_pair):  # noqa: ANN001, ANN201
    """A kernel socket on the test port, so the host answers no ICMP port
    unreachable that AF_PACKET would then see going out."""
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((veth_pair.host_addr, PORT))
    yield s
    s.close()


@pytest.mark.parametrize("kind", ["net_af_packet", "net_af_xdp"])
def test_receives_exactly_the_order_stream(veth_pair, udp_sink, kind) -> None:
    h = veth_pair
    n = 1200
    child = Child(
        {
            "dpdk": {"cores": [0], "memory_mb": 256, "devices": [vdev(kind, h)]},
            "device": f"{kind}0",
            "mode": "rx",
            "count": n,
            "port": PORT,
            "timeout": 15,
        }
    )
    info = child.ready["info"]
    assert info["backend"] == "dpdk" and info["dpdk_port"] == 0
    assert f"dpdk port 0 {kind}0 (driver {kind}, bus vdev)" in info["mode"]
    assert "--no-huge" in child.ready["eal"] and "--no-shconf" in child.ready["eal"]
    summary, _ = run_loadgen(
        h, "--dst", h.host_addr, "--dport", str(PORT), "--count", str(n), "--pps", "50000",
        "--sessions", "2", "--msgs", "3",
    )  # fmt: skip
    assert summary["packets"] == n
    res = child.result()
    payloads = [bytes.fromhex(p) for p in res["payloads"]]
    assert len(payloads) == n, f"{len(payloads)} of {n}: {res['stats']} {res['xstats']}"
    seqs: dict[str, list[int]] = defaultdict(list)
    for p in payloads:
        session, seq, msgs = parse_mold(p)
        assert len(msgs) == 3
        for m in msgs:
            check_enter_order(m)
        seqs[session].append(seq)
    assert sorted(seqs) == ["WMLG000000", "WMLG000001"]
    for s in seqs.values():
        assert sorted(s) == list(range(1, 3 * len(s), 3))
    st = res["stats"]
    assert st["rx_packets"] == n + res["others"]
    assert st["drop_rx_ring_full"] == 0 and st["drop_no_mbuf"] == 0
    assert res["xstats"]["rx_good_packets"] == st["rx_packets"]
    child.assert_clean()


@pytest.mark.parametrize("kind", ["net_af_packet", "net_af_xdp"])
def test_replies_arrive(veth_pair, udp_sink, kind) -> None:
    h = veth_pair
    child = Child(
        {
            "dpdk": {"devices": [vdev(kind, h)], "memory_mb": 256},
            "device": f"{kind}0",
            "mode": "echo",
            "count": 40,
            "port": PORT,
            "timeout": 15,
        }
    )
    client = h.socket()
    client.bind((h.peer_addr, 0))
    client.settimeout(3)
    for k in range(40):
        client.sendto(b"ping-%03d" % k, (h.host_addr, PORT))
        time.sleep(0.001)
    back = sorted(client.recv(100) for _ in range(40))
    assert back == sorted((b"ping-%03d" % k)[::-1] for k in range(40))
    res = child.result()
    assert res["stats"]["tx_packets"] == 40 and res["stats"]["tx_errors"] == 0
    client.close()
    child.assert_clean()


def test_eal_initialises_once_per_process(veth_pair) -> None:
    h = veth_pair
    child = Child(
        {
            "dpdk": {"devices": [vdev("net_af_packet", h)], "memory_mb": 256},
            "device": "net_af_packet0",
            "mode": "conflict",
        }
    )
    res = child.result()
    assert res["error"].startswith(
        "DPDK's EAL can be initialised once per process and already is, with other arguments"
    )
    assert "-m 256" in res["error"] and "-m 128" in res["error"]
    assert res["second"] == "queue 0 of DPDK port 0 is already open"  # EAL reused, no error
    child.assert_clean()


def test_hugepages_are_used_and_left_clean(veth_pair, tmp_path) -> None:
    """EAL memory in 2 MB hugepages from a hugetlbfs mounted for the test:
    --in-memory leaves no hugepage file, and the pages return to the pool."""
    h = veth_pair
    nr = Path("/proc/sys/vm/nr_hugepages")
    before = int(nr.read_text())
    mnt = tmp_path / "huge"
    mnt.mkdir()
    subprocess.run(
        ["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", str(mnt)], check=True, timeout=30
    )
    try:
        nr.write_text(f"{before + 80}\n")
        free0 = dpdk.free_hugepages()
        if free0 < 64:
            pytest.fail(f"cannot reserve 64 hugepages here ({free0} free)", pytrace=False)
        child = Child(
            {
                "dpdk": {
                    "devices": [vdev("net_af_packet", h)],
                    "memory_mb": 128,
                    "hugepages": True,
                    "huge_dir": str(mnt),
                },
                "device": "net_af_packet0",
                "queue": {"options": ["hugepages"], "ring_size": 512, "n_buffers": 512},
                "mode": "rx",
                "count": 0,
                "port": PORT,
                "timeout": 1,
            }
        )
        info = child.ready["info"]
        assert info["umem_hugepages"] is True and "hugepages" in info["mode"]
        assert "--in-memory" in child.ready["eal"] and "--no-huge" not in child.ready["eal"]
        child.result()
        child.assert_clean()
        assert not list(mnt.iterdir())
        assert dpdk.free_hugepages() == free0, "hugepages not returned to the pool"
    finally:
        subprocess.run(["umount", str(mnt)], timeout=30, check=False)
        nr.write_text(f"{before}\n")


def test_hugepages_option_without_hugepages_is_refused(veth_pair) -> None:
    h = veth_pair
    spec = {
        "dpdk": {"devices": [vdev("net_af_packet", h)], "memory_mb": 256},
        "device": "net_af_packet0",
        "queue": {"options": ["hugepages"]},
        "mode": "rx",
        "count": 0,
        "port": PORT,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.nic_dpdk_child", json.dumps(spec)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "the hugepages option is set but the EAL runs without hugepages" in proc.stderr


def test_eal_arguments_from_config() -> None:
    cfg = dpdk.DpdkConfig.from_mapping(
        {
            "cores": [0, 1],
            "memory_mb": 512,
            "devices": [
                {"kind": "net_af_xdp", "iface": "lo", "start_queue": 0},
                {"kind": "net_pcap", "rx_pcap": "/tmp/in.pcap"},
                {"kind": "pci", "name": "0000:03:00.1"},
            ],
            "file_prefix": "wmtest",
        }
    )
    assert dpdk.eal_args(cfg) == [
        "wirematch", "-l", "0,1", "--file-prefix", "wmtest", "--no-huge", "-m", "512",
        "--no-shconf", "--vdev", "net_af_xdp0,iface=lo,start_queue=0",
        "--vdev", "net_pcap1,rx_pcap=/tmp/in.pcap", "-a", "0000:03:00.1",
        "--log-level", "notice", "--no-telemetry",
    ]  # fmt: skip
    a = dpdk.eal_args(dpdk.DpdkConfig(devices=(dpdk.device("net_null"),)))
    b = dpdk.eal_args(dpdk.DpdkConfig(devices=(dpdk.device("net_null"),)))
    pa, pb = a[a.index("--file-prefix") + 1], b[b.index("--file-prefix") + 1]
    assert pa != pb and pa.startswith(f"wm{os.getpid()}-") and "--no-pci" in a


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"cores": []}, "nic.dpdk.cores: a non-empty list"),
        ({"memory_mb": 4}, "nic.dpdk.memory_mb: megabytes, at least 16"),
        ({"hugepages": "yes"}, "nic.dpdk.hugepages: true or false"),
        ({"turbo": 1}, "nic.dpdk.turbo: unknown key"),
        ({"devices": [{"kind": "net_af_xdp"}]}, r"devices\[0\]: net_af_xdp needs iface="),
        ({"devices": [{"kind": "net_bogus"}]}, r"devices\[0\]: kind 'net_bogus': one of pci"),
        ({"devices": [{"kind": "pci", "name": "3:0.1"}]}, "expected DDDD:BB:DD.F"),
    ],
)
def test_bad_config_names_the_key(mapping: dict, message: str) -> None:
    with pytest.raises(dpdk.DpdkConfigError, match=message):
        dpdk.DpdkConfig.from_mapping(mapping)


def test_capability_sentences(tmp_path) -> None:
    with pytest.raises(NicUnavailable, match="cores \\[999\\] are not usable"):
        dpdk.eal_args(dpdk.DpdkConfig(cores=(999,)))
    with pytest.raises(NicUnavailable, match="no network interface named 'nosuch0'"):
        dpdk.eal_args(dpdk.DpdkConfig(devices=(dpdk.device("net_af_packet", iface="nosuch0"),)))
    free = dpdk.free_hugepages()
    need = free + 1
    with pytest.raises(NicUnavailable, match=rf"needs {need} free 2 MB hugepages .* {free} are"):
        dpdk.check_hugepages(need * 2)
    with pytest.raises(NicUnavailable, match="is not a hugetlbfs mount"):
        dpdk.check_hugepages(0, huge_dir=str(tmp_path))
    assert dpdk.free_hugepages("HugePages_Free:      7\n") == 7
