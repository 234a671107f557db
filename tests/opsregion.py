"""A region laid out as a running appliance's (the contract in docs/operations.md),
written through the real Counters, Histogram, Ring and FlowTable objects, for
the operator-surface tests (status, top, flows, metrics, the CLI client).

Its counter blocks are the C side's own: every block the appliance's tables
declare (`appliance_counter_blocks`, from wm_app_counter_block/_name) for
queue 0 and shard 0, with exactly those names, and the `appliance` block with
the names Python writes.  A counter the C side does not declare cannot be set
here (Counters.add of an unknown name raises KeyError)."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wirematch.classify.decide import ALLOW, DENY, Decision
from wirematch.classify.table import FlowTable
from wirematch.pipeline.native import ffi, lib
from wirematch.pipeline.native.counters import Counters, appliance_counter_blocks
from wirematch.pipeline.native.hist import Histogram
from wirematch.pipeline.native.ring import Ring
from wirematch.pipeline.native.shm import Region
from wirematch.pipeline.ops.status import APPLIANCE_BLOCK, APPLIANCE_COUNTERS

INSTANCE_BLOB_SIZE = 4096
ELEM = np.dtype([("a", "<u8"), ("b", "<u8"), ("c", "<u8"), ("d", "<u8")])  # 32 bytes


def counter_blocks() -> dict[str, list[str]]:
    """Block name (queue 0, shard 0) -> counter names, from the C tables."""
    out = {f"{stage}.{kind}0": names for stage, (kind, names) in appliance_counter_blocks().items()}
    out[APPLIANCE_BLOCK] = list(APPLIANCE_COUNTERS)
    return out


HISTOGRAMS = ("rx.q0.batch", "engine.s0.batch", "engine.s0.rx_to_match_ns", "tx.q0.rx_to_reply_ns")
# The rings native/app makes (the engine -> tx ring is out.q<N>: tx.q<N> is the
# tx stage's counter block, and region names are unique across object types).
RINGS = {"in.s0": 1024, "out.q0": 512, "ctl.s0": 64, "slowpath": 256}


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def write_blob(region: Region, name: str, data: bytes, size: int) -> None:
    mem = lib.wm_shm_alloc(region.handle, lib.WM_OBJ_BLOB, name.encode(), size, 64)
    assert mem != ffi.NULL, f"cannot place blob {name}"
    buf = ffi.buffer(mem, size)
    buf[: len(data)] = data
    buf[len(data) :] = b"\0" * (size - len(data))


@dataclass
class OpsRegion:
    region: Region
    counters: dict[str, Counters] = field(default_factory=dict)
    hists: dict[str, Histogram] = field(default_factory=dict)
    rings: dict[str, Ring] = field(default_factory=dict)
    table: FlowTable | None = None
    flow_keys: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)

    def close(self) -> None:
        self.region.close()


def instance_facts(api: str = "", metrics: str = "") -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "started_ns": 1_700_000_000_000_000_000,
        "config": "/etc/wirematch/test.toml",
        "backend": "socket",
        "queues": 1,
        "shards": 1,
        "api": api,
        "metrics": metrics,
        "slo_rx_to_match_p99_ns": 1_000_000,
        "instruments": [{"symbol": "WMTA", "id": 1}, {"symbol": "WMTB", "id": 2}],
        "workers": [
            {"name": "rx0", "stages": ["rx.q0", "tx.q0"], "core": 0, "tid": 101, "idle": "spin"},
            {"name": "engine0", "stages": ["engine.s0"], "core": 1, "tid": 102, "idle": "spin"},
        ],
    }


def build(name: str, api: str = "", metrics: str = "", flows: bool = True) -> OpsRegion:
    """The region of a running instance with some work done already."""
    region = Region.create(name, size=8 << 20, hugepages=False)
    ops = OpsRegion(region)
    for block, names in counter_blocks().items():
        ops.counters[block] = region.create_counters(block, names)
    for h in HISTOGRAMS:
        ops.hists[h] = region.create_histogram(h, max_value=1 << 32)
    for r, cap in RINGS.items():
        ops.rings[r] = region.create_ring(r, ELEM, cap)
    write_blob(
        region, "instance", json.dumps(instance_facts(api, metrics)).encode(), INSTANCE_BLOB_SIZE
    )
    if flows:
        ops.table = FlowTable.in_region(region, "flows", 64)
        keys = [
            (ip("10.0.0.1"), ip("10.0.0.254"), 40001, 15000, 0, 17),
            (ip("10.0.0.2"), ip("10.0.0.254"), 40002, 15000, 100, 17),
            (ip("10.0.0.66"), ip("10.0.0.254"), 40066, 15000, 0, 17),
        ]
        ops.table.install(keys[0], Decision(ALLOW, session=1, shard=0, bucket=0, rule=0xAB), 10)
        ops.table.install(keys[1], Decision(ALLOW, session=2, shard=0), 10)
        ops.table.install(keys[2], Decision(DENY), 10)
        ops.table.record(keys[0], 1000, 64_000, 0, int(lib.wm_clock_read_tsc()))
        ops.table.record(keys[1], 10, 640, 0, 20)
        ops.table.record(keys[2], 0, 0, 7, 30)
        ops.flow_keys = keys
    c = ops.counters
    c["appliance"].add("running", 1)
    c["appliance"].add("started_ns", 1_700_000_000_000_000_000)
    c["nic.q0"].add("rx_packets", 1000)
    c["rx.q0"].add("packets", 1000)
    c["rx.q0"].add("busy_cycles", 200_000)  # 200 cycles per packet
    c["rx.q0"].add("drop_short_frame", 3)
    c["rx.q0"].add("drop_flow_denied", 7)
    c["engine.s0"].add("commands", 990)
    c["engine.s0"].add("busy_cycles", 99_000)
    c["tx.q0"].add("packets", 990)
    c["tx.q0"].add("busy_cycles", 49_500)
    ops.hists["rx.q0.batch"].record([32] * 30 + [8] * 5)
    ops.hists["engine.s0.batch"].record([16] * 60)
    ops.hists["engine.s0.rx_to_match_ns"].record(np.arange(100, 1100, dtype=np.uint64))
    ops.hists["tx.q0.rx_to_reply_ns"].record(np.full(990, 5000, dtype=np.uint64))
    ops.rings["in.s0"].enqueue(np.zeros(10, dtype=ELEM))
    ops.rings["out.q0"].enqueue(np.zeros(512, dtype=ELEM))
    ops.rings["out.q0"].enqueue(np.zeros(3, dtype=ELEM))  # full: 3 refused
    return ops
