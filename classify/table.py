"""The C flow table and rate buckets from Python: numpy mirrors of the shared
structs, and the thin layer that applies decisions (classify.decide) to them.

Control-plane calls on a table are serialised by a lock (the C table has
exactly one writer).  Reads (`flows()`) copy the slots through a numpy view
and re-read, with the C reader, any slot that changed under the copy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from wirematch.classify.decide import Decision, FlowKey, Install, Op, Remove, SetRate
from wirematch.pipeline.native import check, ffi, lib

KEY_DTYPE = np.dtype(
    [
        ("src_addr", "<u4"),
        ("dst_addr", "<u4"),
        ("src_port", "<u2"),
        ("dst_port", "<u2"),
        ("vlan", "<u2"),
        ("proto", "u1"),
        ("zero", "u1"),
    ]
)
DECISION_DTYPE = np.dtype(
    [
        ("session", "<u4"),
        ("shard", "<u2"),
        ("action", "u1"),
        ("queue", "u1"),
        ("bucket", "<u4"),
        ("rule", "<u4"),
    ]
)
ENTRY_DTYPE = np.dtype(
    [
        ("version", "<u8"),
        ("key", KEY_DTYPE),
        ("decision", DECISION_DTYPE),
        ("installed", "<u8"),
        ("state", "<u4"),
        ("reserved0", "<u4"),
        ("reserved1", "<u8"),
        ("packets", "<u8"),
        ("bytes", "<u8"),
        ("drops", "<u8"),
        ("last_seen", "<u8"),
        ("base_packets", "<u8"),
        ("base_bytes", "<u8"),
        ("base_drops", "<u8"),
        ("reserved2", "<u8"),
    ]
)
MISS_DTYPE = np.dtype(
    [
        ("key", KEY_DTYPE),
        ("first_seen", "<u8"),
        ("queue", "<u2"),
        ("len", "<u2"),
        ("reserved", "<u4"),
    ]
)
C_STRUCTS = {
    "struct wm_flow_key": KEY_DTYPE,
    "struct wm_flow_decision": DECISION_DTYPE,
    "struct wm_flow_entry": ENTRY_DTYPE,
    "struct wm_flow_miss": MISS_DTYPE,
}
NO_BUCKET = lib.WM_FLOW_NO_BUCKET
LIVE = lib.WM_FLOW_LIVE


def _ckey(key: FlowKey) -> Any:
    k = ffi.new("struct wm_flow_key *")
    k.src_addr, k.dst_addr, k.src_port, k.dst_port, k.vlan, k.proto = key
    return k


def _cdecision(d: Decision) -> Any:
    c = ffi.new("struct wm_flow_decision *")
    c.session, c.shard, c.action, c.queue, c.bucket, c.rule = (
        d.session,
        d.shard,
        d.action,
        d.queue,
        d.bucket,
        d.rule,
    )
    return c


class FlowTable:
    """A `struct wm_flow_table` (process-local, or placed in a shared region)."""

    def __init__(self, ptr: Any, owner: Any = None) -> None:
        self._t = ffi.cast("struct wm_flow_table *", ptr)
        self._owner = owner
        self._lock = threading.Lock()
        self.capacity = int(self._t.capacity)
        self.max_flows = int(self._t.max_flows)
        base = ffi.cast("char *", lib.wm_flow_table_entries(self._t))
        buf = ffi.buffer(base, self.capacity * ENTRY_DTYPE.itemsize)
        self._slots = np.frombuffer(buf, dtype=ENTRY_DTYPE)

    @classmethod
    def create(cls, max_flows: int) -> FlowTable:
        out = ffi.new("struct wm_flow_table **")
        check(lib.wm_flow_table_create(max_flows, out), f"wm_flow_table_create({max_flows})")
        ptr = ffi.gc(out[0], lib.wm_flow_table_destroy)
        return cls(ptr, owner=ptr)

    @classmethod
    def in_region(cls, region: Any, name: str, max_flows: int) -> FlowTable:
        """Lay a table out in a shared region (an object of type blob named `name`)."""
        size = lib.wm_flow_table_memsize(max_flows)
        if size == 0:
            raise ValueError(f"flow table of {max_flows} flows: 1..{lib.WM_FLOW_MAX_FLOWS}")
        mem = lib.wm_shm_alloc(region.handle, lib.WM_OBJ_BLOB, name.encode(), size, 64)
        if mem == ffi.NULL:
            raise OSError(ffi.errno, f"cannot place flow table {name!r} in the region")
        check(lib.wm_flow_table_init(mem, size, max_flows), "wm_flow_table_init")
        return cls(mem, owner=region)

    @property
    def ptr(self) -> Any:
        return self._t

    def stats(self) -> dict[str, int]:
        t = self._t
        names = ("n_live", "n_tombstones", "max_probe", "inserts", "updates", "removes")
        names += ("expired", "insert_full", "reclaimed")
        return {n: int(getattr(t, n)) for n in names}

    # -- control plane (one writer: the lock) ---------------------------
    def install(self, key: FlowKey, decision: Decision, now: int) -> int:
        with self._lock:
            rc = lib.wm_flow_table_install(self._t, _ckey(key), _cdecision(decision), now)
        return check(rc, "wm_flow_table_install")

    def remove(self, key: FlowKey, now: int) -> bool:
        with self._lock:
            return lib.wm_flow_table_remove(self._t, _ckey(key), now) == 0

    def expire(self, now: int, idle_ticks: int, max_out: int = 4096) -> np.ndarray:
        """Remove flows idle longer than idle_ticks; returns their final entries."""
        out = np.zeros(max_out, dtype=ENTRY_DTYPE)
        with self._lock:
            n = lib.wm_flow_table_expire(
                self._t,
                now,
                idle_ticks,
                ffi.cast("struct wm_flow_entry *", out.ctypes.data),
                max_out,
            )
        return out[:n]

    def reclaim(self) -> int:
        with self._lock:
            return int(lib.wm_flow_table_reclaim(self._t))

    # -- readers ----------------------------------------------------------
    def lookup(self, key: FlowKey) -> Decision | None:
        d = ffi.new("struct wm_flow_decision *")
        rc = lib.wm_flow_table_lookup(self._t, _ckey(key), d)
        if rc < 0:
            return None
        return Decision(d.action, d.session, d.shard, d.bucket, d.rule, d.queue)

    def record(self, key: FlowKey, packets: int, nbytes: int, drops: int, now: int) -> None:
        """Count on a flow as its data-plane thread would (tests and tools)."""
        d = ffi.new("struct wm_flow_decision *")
        slot = lib.wm_flow_table_lookup(self._t, _ckey(key), d)
        check(slot, "wm_flow_table_lookup")
        lib.wm_flow_table_record(self._t, slot, packets, nbytes, drops, now)

    def flows(self) -> np.ndarray:
        """Live entries, counters relative to their baselines (a consistent copy)."""
        snap = self._slots.copy()
        again = self._slots["version"]
        idx = np.nonzero((snap["version"] != again) | (snap["version"] & 1 == 1))[0]
        one = ffi.new("struct wm_flow_entry *")
        for i in idx:
            if lib.wm_flow_table_read(self._t, int(i), one) == 0:
                snap[i] = np.frombuffer(ffi.buffer(one), dtype=ENTRY_DTYPE)[0]
                snap[i]["base_packets"] = snap[i]["base_bytes"] = snap[i]["base_drops"] = 0
        live = snap[snap["state"] == LIVE]
        for c in ("packets", "bytes", "drops"):
            live[c] = live[c] - live["base_" + c]
        return live


class RateTable:
    """Per-(session, queue) token buckets (`struct wm_rate_table`)."""

    def __init__(self, n: int, tick_hz: int) -> None:
        out = ffi.new("struct wm_rate_table **")
        check(lib.wm_rate_table_create(n, tick_hz, out), f"wm_rate_table_create({n})")
        self._t = ffi.gc(out[0], lib.wm_rate_table_destroy)
        self.n = n

    @property
    def ptr(self) -> Any:
        return self._t

    def set(self, bucket: int, rate: int, burst: int) -> None:
        check(lib.wm_rate_bucket_set(self._t, bucket, rate, burst), f"rate bucket {bucket}")

    def take(self, bucket: int, now: int, n: int = 1) -> bool:
        return bool(lib.wm_rate_table_take(self._t, bucket, now, n))

    def params(self, bucket: int) -> tuple[int, int]:
        b = self._t.buckets[bucket]
        if b.flags & lib.WM_RATE_UNLIMITED:
            return (0, 0)
        return (int(b.rate), int(b.burst_fp >> 32))


def apply(
    ops: Iterable[Op], table: FlowTable, rates: RateTable | None, n_queues: int, now: int
) -> dict[str, int]:
    """Apply decisions to the C tables; returns how many of each were done or failed."""
    done = {"installed": 0, "removed": 0, "rates_set": 0, "install_failed": 0}
    for op in ops:
        if isinstance(op, Install):
            try:
                table.install(op.key, op.decision, now)
                done["installed"] += 1
            except OSError:
                done["install_failed"] += 1
        elif isinstance(op, Remove):
            done["removed"] += table.remove(op.key, now)
        elif isinstance(op, SetRate) and rates is not None:
            for q in range(n_queues):
                rates.set(op.session * n_queues + q, op.rate, op.burst)
            done["rates_set"] += 1
    return done
