"""The shared-memory region: create, attach (also from another process),
enumerate, read-only, bad names, missing and mismatched regions, hugepages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests import ROOT
from wirematch.pipeline.native import ffi, lib
from wirematch.pipeline.native.shm import Region, RegionError


def test_create_enumerate_attach(shm_name: str) -> None:
    with Region.create(shm_name, size=1 << 20, hugepages=False) as r:
        c = r.create_counters("rx0", ["rx_packets", "drop_short"])
        h = r.create_histogram("rx0.latency")
        c.add("rx_packets", 7)
        h.record([100, 200, 300])
        assert [(o.name, o.type) for o in r.objects()] == [
            ("rx0", "counters"),
            ("rx0.latency", "histogram"),
        ]
        assert r.info()["objects"] == 2
        with Region.attach(shm_name) as ro:
            assert ro.info()["readonly"] and not ro.info()["hugepages"]
            assert ro.counters("rx0")["rx_packets"] == 7
            c.add("rx_packets", 1)  # the writer goes on; the reader sees it
            assert ro.counters("rx0")["rx_packets"] == 8
            assert ro.histogram("rx0.latency").total == 3
            with pytest.raises(PermissionError):
                ro.counters("rx0").add("rx_packets")
            with pytest.raises(ValueError):
                ro.counters("rx0").values[0] = 1  # the numpy view is read-only
            with pytest.raises(KeyError, match="no histogram named 'rx0'"):
                ro.histogram("rx0")
            with pytest.raises(OSError):
                ro.create_counters("more", ["a"])  # EROFS


def test_allocation_errors(shm_name: str) -> None:
    with Region.create(shm_name, size=16 << 10, max_objects=2, hugepages=False) as r:
        r.create_counters("a", ["x"])
        with pytest.raises(OSError, match="File exists"):
            r.create_counters("a", ["y"])
        with pytest.raises(OSError, match="No space"):
            r.create_histogram("too-big")  # 34 KiB of buckets
        r.create_counters("b", ["x"])
        with pytest.raises(OSError, match="No space"):
            r.create_counters("c", ["x"])  # directory full


def test_name_rules_and_existing(shm_name: str) -> None:
    for bad in ["", "a/b", "..", "x" * 48, "sp ace"]:
        with pytest.raises(RegionError, match="invalid region name"):
            Region.create(bad, hugepages=False)
    with Region.create(shm_name, size=1 << 20, hugepages=False):
        with pytest.raises(RegionError, match="already exists"):
            Region.create(shm_name, size=1 << 20, hugepages=False)
        with Region.create(shm_name, size=1 << 20, hugepages=False, replace=True) as again:
            assert again.info()["objects"] == 0


def test_attach_missing_is_a_clear_error() -> None:
    with pytest.raises(RegionError, match="no wirematch region named 'never-made'"):
        Region.attach("never-made")


def test_version_and_layout_mismatch(shm_name: str) -> None:
    with Region.create(shm_name, size=1 << 20, hugepages=False) as r:
        hdr = ffi.cast("struct wm_shm_header *", lib.wm_shm_base(r.handle))
        hdr.version = 99
        with pytest.raises(RegionError, match="layout version 99; this build reads version 1"):
            Region.attach(shm_name)
        hdr.version = 1
        hdr.layout_sig ^= 1
        with pytest.raises(RegionError, match="different memory layout"):
            Region.attach(shm_name)
        hdr.layout_sig ^= 1
        Region.attach(shm_name).close()


def test_foreign_file_is_not_a_region() -> None:
    path = Path("/dev/shm/wirematch-foreign-test")
    path.write_bytes(b"\0" * 8192)
    try:
        with pytest.raises(RegionError, match="not a wirematch region"):
            Region.attach("foreign-test")
        path.write_bytes(b"short")
        with pytest.raises(RegionError, match="too small"):
            Region.attach("foreign-test")
    finally:
        path.unlink()


READER = """
import json, sys
import numpy as np
from wirematch.pipeline.native.shm import Region
dt = np.dtype([("order_id", "<u8"), ("qty", "<i8")])
with Region.attach(sys.argv[1]) as r:
    ring = r.ring("orders", dt)
    slots = ring.slots()["elem"]
    out = {
        "objects": [[o.name, o.type] for o in r.objects()],
        "counters": r.counters("stage").snapshot(),
        "p50": r.histogram("lat").percentile(50),
        "count": r.histogram("lat").total,
        "ring_count": ring.count,
        "ring_ids": slots["order_id"][: ring.count].tolist(),
        "ring_info": r.ring_info("orders"),
    }
    try:
        ring.dequeue(1)
    except Exception as exc:
        out["dequeue_error"] = type(exc).__name__
print(json.dumps(out))
"""


def test_another_process_attaches_read_only(shm_name: str) -> None:
    with Region.create(shm_name, size=1 << 20, hugepages=False) as r:
        r.create_counters("stage", ["in", "out"]).add("in", 41)
        r.create_histogram("lat").record([1000] * 5)
        dt = np.dtype([("order_id", "<u8"), ("qty", "<i8")])
        ring = r.create_ring("orders", dt, 16)
        batch = np.zeros(5, dt)
        batch["order_id"] = [11, 12, 13, 14, 15]
        assert ring.enqueue(batch) == 5
        proc = subprocess.run(
            [sys.executable, "-c", READER, shm_name],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        seen = json.loads(proc.stdout)
        assert seen["objects"] == [["stage", "counters"], ["lat", "histogram"], ["orders", "ring"]]
        assert seen["ring_count"] == 5 and seen["ring_ids"] == [11, 12, 13, 14, 15]
        assert seen["ring_info"]["enqueued"] == 5 and seen["ring_info"]["elem_size"] == 16
        assert seen["dequeue_error"] == "PermissionError"  # read-only attach cannot consume
        assert ring.count == 5  # the reader took nothing
        assert seen["counters"] == {"in": 41, "out": 0}
        assert seen["count"] == 5 and seen["p50"] == lib.wm_hist_highest_at(
            lib.wm_hist_index_of(1000)
        )


@pytest.fixture
def hugetlbfs() -> Iterator[Path]:
    """A private hugetlbfs mount with a few free 2 MiB pages (root needed)."""
    if os.geteuid() != 0:
        pytest.fail("hugepage test needs root (to reserve huge pages and mount hugetlbfs)")
    nr = Path("/proc/sys/vm/nr_hugepages")
    before = int(nr.read_text())
    nr.write_text(str(before + 8))
    if int(nr.read_text()) < before + 2:
        nr.write_text(str(before))
        pytest.fail("the kernel could not reserve 2 MiB huge pages (memory too fragmented?)")
    mnt = Path(tempfile.mkdtemp(prefix="wm-huge-"))
    rc = subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", str(mnt)])
    if rc.returncode != 0:
        nr.write_text(str(before))
        mnt.rmdir()
        pytest.fail("cannot mount hugetlbfs (kernel without CONFIG_HUGETLBFS?)")
    os.environ["WIREMATCH_HUGE_DIR"] = str(mnt)
    try:
        yield mnt
    finally:
        del os.environ["WIREMATCH_HUGE_DIR"]
        subprocess.run(["umount", str(mnt)], check=False)
        mnt.rmdir()
        nr.write_text(str(before))


def test_region_on_hugepages(hugetlbfs: Path, shm_name: str) -> None:
    with Region.create(shm_name, size=3 << 20) as r:
        info = r.info()
        assert info["hugepages"] is True
        assert info["size"] == 4 << 20  # rounded up to whole 2 MiB pages
        assert info["backing"] == f"{hugetlbfs}/wirematch-{shm_name}"
        r.create_counters("c", ["x"]).add("x", 2)
        with Region.attach(shm_name) as ro:
            assert ro.counters("c")["x"] == 2
        assert shm_name in Region.list_names()
    # Asking for more huge pages than exist falls back to /dev/shm.
    with Region.create(shm_name + "-big", size=64 << 20) as big:
        assert big.info()["hugepages"] is False
        assert big.info()["backing"].startswith("/dev/shm/")
    Region.unlink(shm_name + "-big")


def test_a_new_region_is_owner_only(shm_name: str) -> None:
    r = Region.create(shm_name, 1 << 20, hugepages=False)
    try:
        st = os.stat(r.info()["backing"])
        assert st.st_mode & 0o777 == 0o600
        assert r.file_owner() == (os.geteuid(), 0o600)
        with Region.attach(shm_name) as a:
            assert a.untrusted_reason() is None
    finally:
        r.close()


@pytest.mark.parametrize(
    "planted, why",
    [((65534, 0o600), "belongs to uid 65534"), ((None, 0o666), "writable by others")],
    ids=["other-owner", "world-writable"],
)
def test_a_planted_region_is_not_trusted(shm_name: str, planted: tuple, why: str) -> None:
    """A region another user planted (or one anybody may rewrite) is readable,
    but what it publishes is not believed: the API client refuses to send the
    token to the address it names."""
    from wirematch.pipeline.ops.api import ApiClientError, resolve_api

    if os.geteuid() != 0:
        pytest.fail("planting a region owned by another user needs root", pytrace=False)
    r = Region.create(shm_name, 1 << 20, hugepages=False)
    try:
        path = r.info()["backing"]
        uid, mode = planted
        if uid is not None:
            os.chown(path, uid, -1)
        os.chmod(path, mode)
        with Region.attach(shm_name) as a:
            assert why in (a.untrusted_reason() or "")
        with pytest.raises(ApiClientError, match="not trusting region"):
            resolve_api(shm_name, None, "a-token")
    finally:
        r.close()
