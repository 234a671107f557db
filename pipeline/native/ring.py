"""Python view of a wirematch ring (native/ring): numpy arrays in, numpy arrays out.

A ring carries fixed-size elements; on the Python side an element is one
record of a numpy structured dtype whose itemsize is the ring's element size.
Every call moves a whole array in ONE cffi call (mp burst / mc burst), so the
cost per element is the C ring's, not the interpreter's.

    ring = Ring.create("orders", ORDER_DTYPE, 1024)   # process-local ring (sync="headtail")
    hand = Ring.create("fills", FILL_DTYPE, 256, sync="slotseq")  # per-element hand-off
    ring.enqueue(orders)          # -> how many went in (the rest were refused, counted)
    got = ring.dequeue(256)       # -> up to 256 records, a new array
    ring.slots()                  # read-only, zero-copy view of the slot array

The synchronisation mode is fixed when the ring is laid out (docs/ring.md):
"headtail" (contiguous elements, for bursts) or "slotseq" (a sequence word per
slot, for single-element hand-offs); every call works the same in both.

A ring found elsewhere (e.g. in the shared-memory region) is wrapped with
Ring(ptr, dtype, owner=region, readonly=...); `owner` is kept alive as long
as the Ring or any view of it.  A read-only Ring (how another process that
attached the region read-only sees it) refuses enqueue and dequeue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wirematch.pipeline.native import check, ffi, lib

MIN_ELEM = 8
MAX_ELEM = 64
MAX_CAPACITY = 1 << 30
NAME_LEN = 32  # WM_RING_NAME_LEN, NUL included
NO_SEQ = 0xFFFFFFFF  # wm_ring_layout.seq_offset when slots have no sequence word
_LAYOUT_FIELDS = (
    "slots_offset",
    "slot_stride",
    "elem_offset",
    "seq_offset",
    "elem_size",
    "capacity",
    "prod_head_offset",
    "cons_head_offset",
)
_UINT_MAX = (1 << 32) - 1
# Mode names <-> enum wm_ring_sync values.
SYNC_MODES = {"headtail": lib.WM_RING_SYNC_HEADTAIL, "slotseq": lib.WM_RING_SYNC_SLOTSEQ}
_SYNC_NAMES = {v: k for k, v in SYNC_MODES.items()}


@dataclass(frozen=True)
class RingStats:
    enqueued: int  # elements accepted (all producers)
    dequeued: int
    enqueue_refused: int  # elements refused because the ring was full


class _SlotsView(np.ndarray):
    """ndarray that keeps the ring (and its owner) alive, slices included."""

    _keepalive: Any = None

    def __array_finalize__(self, obj: Any) -> None:
        self._keepalive = getattr(obj, "_keepalive", None)


def _check_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.names is None:
        raise ValueError(f"ring element dtype must be a numpy structured dtype, got {dt}")
    size = dt.itemsize
    if size < MIN_ELEM or size > MAX_ELEM or size % 8 != 0:
        raise ValueError(
            f"ring element dtype has itemsize {size}: a ring element is "
            f"{MIN_ELEM}..{MAX_ELEM} bytes, a multiple of 8 (pad the dtype with `itemsize=`)"
        )
    return dt


class Ring:
    """A `struct wm_ring *` seen through a numpy structured dtype."""

    def __init__(self, ptr: Any, dtype: Any, owner: Any = None, readonly: bool = False) -> None:
        dt = _check_dtype(dtype)
        if isinstance(ptr, int):
            ptr = ffi.cast("struct wm_ring *", ptr)
        if ptr == ffi.NULL:
            raise ValueError("ring pointer is NULL")
        # The memory behind ptr is the owner's; validate it is a ring at all.
        check(lib.wm_ring_check(ptr, ffi.cast("size_t", -1)), "wm_ring_check")
        elem_size = lib.wm_ring_elem_size(ptr)
        if dt.itemsize != elem_size:
            raise ValueError(
                f"dtype itemsize {dt.itemsize} does not match ring "
                f"{self._name_of(ptr)!r} element size {elem_size}"
            )
        self._ptr = ptr
        self._owner = owner
        self.dtype = dt
        self.readonly = bool(readonly)
        self.capacity = int(lib.wm_ring_capacity(ptr))
        self.name = self._name_of(ptr)
        # wm_ring_check refused unknown modes, so this is one of SYNC_MODES.
        self.sync = _SYNC_NAMES[int(lib.wm_ring_sync(ptr))]

    @staticmethod
    def _name_of(ptr: Any) -> str:
        return ffi.string(lib.wm_ring_name(ptr)).decode(errors="replace")

    @classmethod
    def create(cls, name: str, dtype: Any, capacity: int, sync: str = "headtail") -> Ring:
        """A process-local ring (wm_ring_create_sync), freed with the last reference.
        sync: "headtail" (bursts) or "slotseq" (single-element hand-offs)."""
        dt = _check_dtype(dtype)
        if sync not in SYNC_MODES:
            raise ValueError(f"ring sync mode {sync!r}: one of {', '.join(SYNC_MODES)}")
        if capacity < 2 or capacity > MAX_CAPACITY or capacity & (capacity - 1):
            raise ValueError(f"ring capacity {capacity}: a power of two in 2..2^30")
        raw = name.encode()
        if len(raw) >= NAME_LEN:
            raise ValueError(f"ring name {name!r} is longer than {NAME_LEN - 1} bytes")
        out = ffi.new("struct wm_ring **")
        check(
            lib.wm_ring_create_sync(raw, dt.itemsize, capacity, SYNC_MODES[sync], out),
            f"wm_ring_create_sync({name!r})",
        )
        ptr = ffi.gc(out[0], lib.wm_ring_destroy)
        return cls(ptr, dt)

    @property
    def ptr(self) -> Any:
        """The `struct wm_ring *` (for C callers; keep the Ring alive while used)."""
        return self._ptr

    def __repr__(self) -> str:
        ro = ", readonly" if self.readonly else ""
        size = f"{self.count}/{self.capacity} x {self.dtype.itemsize} B"
        return f"Ring({self.name!r}, {size}, {self.sync}{ro})"

    def __len__(self) -> int:
        return self.count

    # -- moving elements ------------------------------------------------------

    def _writable(self, what: str) -> None:
        if self.readonly:
            raise PermissionError(f"ring {self.name!r} is attached read-only: {what} refused")

    def _records(self, arr: Any) -> np.ndarray:
        a = np.asarray(arr)
        if a.dtype != self.dtype:
            raise ValueError(
                f"array dtype {a.dtype} is not the ring {self.name!r} element dtype {self.dtype}"
            )
        if a.ndim != 1:
            raise ValueError(f"expected a 1-D array of records, got shape {a.shape}")
        return np.ascontiguousarray(a)

    def enqueue(self, arr: Any) -> int:
        """Enqueue as many records of arr as fit (mp burst, one call); returns the
        count.  Refused records are counted in stats().enqueue_refused."""
        self._writable("enqueue")
        a = self._records(arr)
        n = min(len(a), _UINT_MAX)
        if n == 0:
            return 0
        return int(lib.wm_ring_mp_enqueue_burst(self._ptr, ffi.from_buffer(a), n))

    def enqueue_bulk(self, arr: Any) -> int:
        """Enqueue all records of arr or none (mp bulk); returns len(arr) or 0."""
        self._writable("enqueue")
        a = self._records(arr)
        if len(a) == 0:
            return 0
        if len(a) > _UINT_MAX:
            raise ValueError(f"{len(a)} records cannot go into one ring")
        return int(lib.wm_ring_mp_enqueue_bulk(self._ptr, ffi.from_buffer(a), len(a)))

    def _out(self, n: int) -> np.ndarray:
        if n < 0:
            raise ValueError(f"cannot dequeue {n} records")
        return np.empty(min(n, self.capacity), dtype=self.dtype)

    def dequeue(self, max_n: int) -> np.ndarray:
        """Up to max_n records (mc burst, one call), as a new array."""
        self._writable("dequeue")
        out = self._out(max_n)
        if len(out) == 0:
            return out
        got = lib.wm_ring_mc_dequeue_burst(self._ptr, ffi.from_buffer(out), len(out))
        return out[:got]

    def dequeue_bulk(self, n: int) -> np.ndarray:
        """Exactly n records (mc bulk), or an empty array if fewer are there."""
        self._writable("dequeue")
        if n > self.capacity:
            return np.empty(0, dtype=self.dtype)
        out = self._out(n)
        if len(out) == 0:
            return out
        got = lib.wm_ring_mc_dequeue_bulk(self._ptr, ffi.from_buffer(out), len(out))
        return out[:got]

    # -- looking ---------------------------------------------------------------

    @property
    def count(self) -> int:
        """Elements in the ring (a snapshot under concurrency)."""
        return int(lib.wm_ring_count(self._ptr))

    @property
    def free_count(self) -> int:
        return int(lib.wm_ring_free_count(self._ptr))

    def stats(self) -> RingStats:
        st = ffi.new("struct wm_ring_stats *")
        lib.wm_ring_get_stats(self._ptr, st)
        return RingStats(int(st.enqueued), int(st.dequeued), int(st.enqueue_refused))

    def layout(self) -> dict[str, int]:
        lay = ffi.new("struct wm_ring_layout *")
        lib.wm_ring_layout(self._ptr, lay)
        return {f: int(getattr(lay, f)) for f in _LAYOUT_FIELDS}

    def slots_dtype(self) -> np.dtype:
        """One slot at the C layout's offsets: the element ("elem"), plus its
        sequence word ("seq", uint64: p + 1 once position p is filled) in
        "slotseq" mode; "headtail" slots are the bare element (completion is
        tracked by the producer and consumer tails)."""
        lay = self.layout()
        names, formats, offsets = ["elem"], [self.dtype], [lay["elem_offset"]]
        if lay["seq_offset"] != NO_SEQ:
            names.insert(0, "seq")
            formats.insert(0, np.dtype("<u8"))
            offsets.insert(0, lay["seq_offset"])
        return np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": lay["slot_stride"]}
        )

    def slots(self) -> np.ndarray:
        """Read-only, zero-copy view of the slot array (capacity records of
        slots_dtype()).  Slot i holds the element of every position p with
        p % capacity == i; positions stats().dequeued .. stats().enqueued - 1
        are the ones in the ring.  The bytes change under a running producer."""
        lay = self.layout()
        total = lay["slots_offset"] + lay["slot_stride"] * lay["capacity"]
        raw = memoryview(ffi.buffer(self._ptr, total)).toreadonly()
        view = np.frombuffer(
            raw, dtype=self.slots_dtype(), count=lay["capacity"], offset=lay["slots_offset"]
        ).view(_SlotsView)
        view._keepalive = self
        return view
