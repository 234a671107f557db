"""Named 64-bit counter blocks, seen from Python as a zero-copy numpy array.

The C side (one writer thread per block) bumps the values; Python reads them
through `values`, a numpy view of the shared memory, without disturbing the
writer.  `snapshot()` copies them for a clear-and-measure window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wirematch.pipeline.native import check, ffi, lib


class Counters:
    """A view of one `struct wm_counters` (process-local or in a shared region)."""

    def __init__(self, ptr: Any, size: int, owner: Any = None, readonly: bool = False) -> None:
        rc = lib.wm_counters_check(ptr, size)
        if rc < 0:
            raise ValueError("not a valid counter block (bad magic or layout)")
        self._ptr = ffi.cast("struct wm_counters *", ptr)
        self._owner = owner  # keeps the memory (region or allocation) alive
        self.readonly = readonly
        n = self._ptr.n
        self.names: list[str] = [
            ffi.string(lib.wm_counters_name(self._ptr, i)).decode() for i in range(n)
        ]
        self._index = {name: i for i, name in enumerate(self.names)}
        buf = ffi.buffer(ffi.cast("char *", self._ptr) + self._ptr.values_offset, 8 * n)
        view = np.frombuffer(buf, dtype=np.uint64, count=n)
        if readonly:
            view.flags.writeable = False
        self.values: np.ndarray = view

    @classmethod
    def create(cls, names: list[str]) -> Counters:
        """A process-local block (freed with the object)."""
        keep = [ffi.new("char[]", n.encode()) for n in names]
        arr = ffi.new("const char *[]", keep)
        out = ffi.new("struct wm_counters **")
        check(lib.wm_counters_create(arr, len(names), out), "wm_counters_create")
        ptr = ffi.gc(out[0], lib.wm_counters_destroy)
        return cls(ptr, lib.wm_counters_memsize(len(names)), owner=ptr)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> int:
        return int(self.values[self._index[name]])

    def add(self, name: str, delta: int = 1) -> None:
        """Writer side (tests and Python-owned stages only)."""
        if self.readonly:
            raise PermissionError("counter block attached read-only")
        lib.wm_counters_add_value(self._ptr, self._index[name], delta)

    def snapshot(self) -> dict[str, int]:
        vals = self.values.copy()
        return {name: int(v) for name, v in zip(self.names, vals, strict=True)}

    @property
    def ptr(self) -> Any:
        return self._ptr


def appliance_counter_blocks() -> dict[str, tuple[str, list[str]]]:
    """The counter blocks of an appliance's region, from the C side's own tables
    (wm_app_counter_block / wm_app_counter_name): stage -> (kind, names), kind
    "q" for one block per NIC queue (`<stage>.q<N>`), "s" per engine shard or
    "w" per worker thread (`worker.w<N>`)."""
    out: dict[str, tuple[str, list[str]]] = {}
    stage_p = ffi.new("const char **")
    kind_p = ffi.new("char *")
    i = 0
    while lib.wm_app_counter_block(i, stage_p, kind_p) == 0:
        stage = ffi.string(stage_p[0]).decode()
        names = []
        while (name := lib.wm_app_counter_name(stage_p[0], len(names))) != ffi.NULL:
            names.append(ffi.string(name).decode())
        out[stage] = (kind_p[0].decode(), names)
        i += 1
    return out
