"""The appliance's named shared-memory region, from Python.

`Region.create` makes one (hugetlbfs when mounted with room, /dev/shm
otherwise); `Region.attach(name)` maps an existing one, read-only by default,
from any process, and enumerates the rings, counter blocks and histograms in
it.  The C side (`wirematch/shm.h`) owns the layout; a version or layout
mismatch is a `RegionError` saying what differs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wirematch.pipeline.native import ffi, lib
from wirematch.pipeline.native.counters import Counters
from wirematch.pipeline.native.hist import MAX_VALUE_DEFAULT, Histogram
from wirematch.pipeline.native.ring import Ring

OBJ_TYPES = {
    lib.WM_OBJ_RING: "ring",
    lib.WM_OBJ_COUNTERS: "counters",
    lib.WM_OBJ_HIST: "histogram",
    lib.WM_OBJ_BLOB: "blob",
}
FILE_PREFIX = "wirematch-"


class RegionError(OSError):
    """A region could not be created or attached; the message says why."""

    def __str__(self) -> str:
        return str(self.strerror)


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    type: str
    offset: int
    size: int


def _error(rc: int, what: str) -> RegionError:
    detail = ffi.string(lib.wm_shm_last_error()).decode() or os.strerror(-rc)
    return RegionError(-rc, f"{what}: {detail}")


class Region:
    """A mapped region.  Use as a context manager, or call close()."""

    def __init__(self, handle: Any, readonly: bool) -> None:
        self._h = handle
        self.readonly = readonly

    # -- lifecycle -------------------------------------------------------
    @classmethod
    def create(
        cls,
        name: str,
        size: int = 64 << 20,
        max_objects: int = 256,
        hugepages: bool = True,
        replace: bool = False,
    ) -> Region:
        out = ffi.new("struct wm_shm **")
        flags = (0 if hugepages else lib.WM_SHM_NO_HUGEPAGES) | (
            lib.WM_SHM_REPLACE if replace else 0
        )
        rc = lib.wm_shm_create(name.encode(), size, max_objects, flags, out)
        if rc < 0:
            raise _error(rc, f"cannot create region {name!r}")
        return cls(out[0], readonly=False)

    @classmethod
    def attach(cls, name: str, readonly: bool = True) -> Region:
        out = ffi.new("struct wm_shm **")
        rc = lib.wm_shm_attach(name.encode(), 1 if readonly else 0, out)
        if rc < 0:
            raise _error(rc, f"cannot attach region {name!r}")
        return cls(out[0], readonly=readonly)

    @staticmethod
    def unlink(name: str, missing_ok: bool = False) -> None:
        rc = lib.wm_shm_unlink(name.encode())
        if rc < 0 and not (missing_ok and rc == -2):
            raise RegionError(-rc, f"cannot remove region {name!r}: {os.strerror(-rc)}")

    @staticmethod
    def list_names() -> list[str]:
        """Names of the regions on this machine (in /dev/shm and hugetlbfs mounts)."""
        dirs = [Path("/dev/shm")]
        env = os.environ.get("WIREMATCH_HUGE_DIR")
        if env:
            dirs.append(Path(env))
        try:
            for line in Path("/proc/mounts").read_text().splitlines():
                parts = line.split()
                if len(parts) > 2 and parts[2] == "hugetlbfs":
                    dirs.append(Path(parts[1]))
        except OSError:
            pass
        names: set[str] = set()
        for d in dirs:
            try:
                names.update(
                    p.name[len(FILE_PREFIX) :] for p in d.glob(FILE_PREFIX + "*") if p.is_file()
                )
            except OSError:
                continue
        return sorted(names)

    def close(self) -> None:
        if self._h is not None:
            lib.wm_shm_close(self._h)
            self._h = None

    def __enter__(self) -> Region:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- facts -----------------------------------------------------------
    @property
    def _hdr(self) -> Any:
        if self._h is None:
            raise RegionError(9, "region is closed")
        return lib.wm_shm_header(self._h)

    @property
    def name(self) -> str:
        return ffi.string(self._hdr.name).decode()

    def file_owner(self) -> tuple[int, int]:
        """(uid, permission bits) of the region's file as it was opened."""
        uid = ffi.new("uint32_t *")
        mode = ffi.new("uint32_t *")
        lib.wm_shm_file_owner(self.handle, uid, mode)
        return int(uid[0]), int(mode[0])

    def untrusted_reason(self) -> str | None:
        """Why what this region publishes (an API address, say) must not be
        believed by this process, or None: a region is trusted when its file
        belongs to this user or to root and nobody else may write it."""
        uid, mode = self.file_owner()
        me = os.geteuid()
        if uid not in (0, me):
            return f"its file belongs to uid {uid}, not to you (uid {me}) or root"
        if mode & 0o022:
            return f"its file is writable by others (mode {mode:04o})"
        return None

    def info(self) -> dict[str, Any]:
        h = self._hdr
        return {
            "name": ffi.string(h.name).decode(),
            "version": int(h.version),
            "size": int(h.size),
            "used": int(h.used),
            "objects": int(h.n_objects),
            "max_objects": int(h.max_objects),
            "hugepages": bool(h.hugepages),
            "backing": ffi.string(h.backing).decode(),
            "creator_pid": int(h.creator_pid),
            "created_ns": int(h.created_ns),
            "readonly": self.readonly,
        }

    def objects(self) -> list[ObjectInfo]:
        h = self._hdr
        return [
            ObjectInfo(
                name=ffi.string(h.dir[i].name).decode(),
                type=OBJ_TYPES.get(h.dir[i].type, f"type{h.dir[i].type}"),
                offset=int(h.dir[i].offset),
                size=int(h.dir[i].size),
            )
            for i in range(min(h.n_objects, h.max_objects))
        ]

    # -- objects ---------------------------------------------------------
    def _object(self, name: str, type_code: int) -> tuple[Any, int]:
        ent = lib.wm_shm_find(self._h, name.encode(), type_code)
        if ent == ffi.NULL:
            kinds = OBJ_TYPES.get(type_code, "object")
            raise KeyError(f"region {self.name!r} has no {kinds} named {name!r}")
        ptr = lib.wm_shm_object(self._h, ent)
        if ptr == ffi.NULL:
            raise RegionError(22, f"object {name!r} lies outside the region")
        return ptr, int(ent.size)

    def create_counters(self, name: str, names: list[str]) -> Counters:
        keep = [ffi.new("char[]", n.encode()) for n in names]
        arr = ffi.new("const char *[]", keep)
        ptr = lib.wm_shm_counters_create(self._h, name.encode(), arr, len(names))
        if ptr == ffi.NULL:
            raise RegionError(
                ffi.errno, f"cannot create counters {name!r}: {os.strerror(ffi.errno)}"
            )
        return Counters(ptr, lib.wm_counters_memsize(len(names)), owner=self)

    def counters(self, name: str) -> Counters:
        ptr, size = self._object(name, lib.WM_OBJ_COUNTERS)
        return Counters(ptr, size, owner=self, readonly=self.readonly)

    def create_histogram(self, name: str, max_value: int = MAX_VALUE_DEFAULT) -> Histogram:
        ptr = lib.wm_shm_hist_create(self._h, name.encode(), max_value)
        if ptr == ffi.NULL:
            raise RegionError(
                ffi.errno, f"cannot create histogram {name!r}: {os.strerror(ffi.errno)}"
            )
        return Histogram(ptr, lib.wm_hist_memsize(max_value), owner=self)

    def histogram(self, name: str) -> Histogram:
        ptr, size = self._object(name, lib.WM_OBJ_HIST)
        return Histogram(ptr, size, owner=self, readonly=self.readonly)

    def create_ring(self, name: str, dtype: Any, capacity: int, sync: int = 0) -> Ring:
        """A ring of numpy records of `dtype` (8..64 bytes) placed in the region."""
        itemsize = np.dtype(dtype).itemsize
        ptr = lib.wm_shm_ring_create(self._h, name.encode(), itemsize, capacity, sync)
        if ptr == ffi.NULL:
            raise RegionError(
                ffi.errno,
                f"cannot create ring {name!r} ({capacity} x {itemsize} B): "
                f"{os.strerror(ffi.errno)}",
            )
        return Ring(ptr, dtype, owner=self)

    def ring(self, name: str, dtype: Any) -> Ring:
        """An existing ring, seen through `dtype` (its itemsize must match)."""
        ptr, size = self._object(name, lib.WM_OBJ_RING)
        if lib.wm_ring_check(ptr, size) < 0:
            raise RegionError(22, f"object {name!r} is not a valid ring")
        elem = int(lib.wm_ring_elem_size(ffi.cast("struct wm_ring *", ptr)))
        if np.dtype(dtype).itemsize != elem:
            raise ValueError(
                f"ring {name!r} holds {elem}-byte elements; dtype has itemsize "
                f"{np.dtype(dtype).itemsize}"
            )
        return Ring(ffi.cast("struct wm_ring *", ptr), dtype, owner=self, readonly=self.readonly)

    def ring_info(self, name: str) -> dict[str, int]:
        """Occupancy and totals of a ring, without knowing its element type."""
        ptr, size = self._object(name, lib.WM_OBJ_RING)
        if lib.wm_ring_check(ptr, size) < 0:
            raise RegionError(22, f"object {name!r} is not a valid ring")
        r = ffi.cast("struct wm_ring *", ptr)
        stats = ffi.new("struct wm_ring_stats *")
        lib.wm_ring_get_stats(r, stats)
        return {
            "elem_size": int(lib.wm_ring_elem_size(r)),
            "capacity": int(lib.wm_ring_capacity(r)),
            "count": int(lib.wm_ring_count(r)),
            "enqueued": int(stats.enqueued),
            "dequeued": int(stats.dequeued),
            "enqueue_refused": int(stats.enqueue_refused),
        }

    @property
    def handle(self) -> Any:
        return self._h
