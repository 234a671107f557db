"""Latency histograms: the C HDR-style layout read through numpy.

Recording happens in C (one writer thread).  Python reads the counts as a
zero-copy numpy view, computes count/min/max/mean/percentiles with numpy, and
subtracts snapshots for clear-and-measure windows.  The bucket layout and the
percentile definition are HdrHistogram's (2 significant digits, unit 1), so
results agree with the `hdrhistogram` package on the same samples.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from wirematch.pipeline.native import check, ffi, lib

SUB_BITS = 7
SUB_HALF = 1 << SUB_BITS
MAX_VALUE_DEFAULT = 1 << 40
RELATIVE_PRECISION = 1.0 / SUB_HALF  # a bucket spans at most 0.78% of its values


def lowest_values(n_counts: int) -> np.ndarray:
    """Lowest value of every bucket index 0..n_counts-1 (vectorised wm_hist_lowest_at)."""
    idx = np.arange(n_counts, dtype=np.uint64)
    bucket = np.where(idx < 2 * SUB_HALF, 0, (idx >> np.uint64(SUB_BITS)) - np.uint64(1))
    sub = (idx & np.uint64(SUB_HALF - 1)) + np.uint64(SUB_HALF)
    return np.where(bucket == 0, idx, sub << bucket).astype(np.uint64)


def highest_values(n_counts: int) -> np.ndarray:
    idx = np.arange(n_counts, dtype=np.uint64)
    bucket = np.where(idx < 2 * SUB_HALF, 0, (idx >> np.uint64(SUB_BITS)) - np.uint64(1))
    return lowest_values(n_counts) + (np.uint64(1) << bucket.astype(np.uint64)) - np.uint64(1)


@dataclass
class HistSnapshot:
    """A copy of a histogram's counts; snapshots subtract (windows) and add (merge)."""

    counts: np.ndarray
    overflows: int = 0

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def __sub__(self, earlier: HistSnapshot) -> HistSnapshot:
        return HistSnapshot(self.counts - earlier.counts, self.overflows - earlier.overflows)

    def __add__(self, other: HistSnapshot) -> HistSnapshot:
        return HistSnapshot(self.counts + other.counts, self.overflows + other.overflows)

    def percentiles(self, ps: Iterable[float]) -> list[int]:
        """Values at percentiles (0..100], HdrHistogram's definition."""
        ps = list(ps)
        total = self.total
        if total == 0:
            return [0 for _ in ps]
        cum = np.cumsum(self.counts)
        highs = highest_values(len(self.counts))
        out = []
        for p in ps:
            p = min(max(p, 0.0), 100.0)
            target = max(1, int(p / 100.0 * total + 0.5))
            out.append(int(highs[int(np.searchsorted(cum, target))]))
        return out

    def percentile(self, p: float) -> int:
        return self.percentiles([p])[0]

    @property
    def min(self) -> int:
        nz = np.flatnonzero(self.counts)
        return int(lowest_values(len(self.counts))[nz[0]]) if len(nz) else 0

    @property
    def max(self) -> int:
        nz = np.flatnonzero(self.counts)
        return int(highest_values(len(self.counts))[nz[-1]]) if len(nz) else 0

    @property
    def mean(self) -> float:
        total = self.total
        if total == 0:
            return 0.0
        lows = lowest_values(len(self.counts)).astype(np.float64)
        highs = highest_values(len(self.counts)).astype(np.float64)
        return float((self.counts * (lows + highs) / 2).sum() / total)

    def summary(self, ps: Iterable[float] = (50, 90, 99, 99.9)) -> dict[str, float]:
        ps = list(ps)
        values = self.percentiles(ps)
        out: dict[str, float] = {"count": self.total, "min": self.min, "mean": self.mean}
        out.update({f"p{p:g}": v for p, v in zip(ps, values, strict=True)})
        out["max"] = self.max
        return out


class Histogram:
    """A view of one `struct wm_hist` (process-local or in a shared region)."""

    def __init__(self, ptr: Any, size: int, owner: Any = None, readonly: bool = False) -> None:
        if lib.wm_hist_check(ptr, size) < 0:
            raise ValueError("not a valid histogram (bad magic or layout)")
        self._ptr = ffi.cast("struct wm_hist *", ptr)
        self._owner = owner
        self.readonly = readonly
        n = self._ptr.n_counts
        buf = ffi.buffer(ffi.addressof(self._ptr.counts, 0), 8 * n)
        view = np.frombuffer(buf, dtype=np.uint64, count=n)
        if readonly:
            view.flags.writeable = False
        self.counts: np.ndarray = view

    @classmethod
    def create(cls, max_value: int = MAX_VALUE_DEFAULT) -> Histogram:
        out = ffi.new("struct wm_hist **")
        check(lib.wm_hist_create(max_value, out), "wm_hist_create")
        ptr = ffi.gc(out[0], lib.wm_hist_destroy)
        return cls(ptr, lib.wm_hist_memsize(max_value), owner=ptr)

    @property
    def ptr(self) -> Any:
        return self._ptr

    @property
    def max_value(self) -> int:
        return int(self._ptr.max_value)

    def record(self, values: np.ndarray | Iterable[int] | int) -> None:
        """Record values (one C call for an array).  Writer side only."""
        if self.readonly:
            raise PermissionError("histogram attached read-only")
        arr = np.ascontiguousarray(np.atleast_1d(np.asarray(values)), dtype=np.uint64)
        lib.wm_hist_record_array(self._ptr, ffi.from_buffer("uint64_t[]", arr), len(arr))

    def snapshot(self) -> HistSnapshot:
        return HistSnapshot(self.counts.copy(), int(self._ptr.overflows))

    # Whole-histogram statistics, straight from the live counts.
    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @property
    def min(self) -> int:
        return 0 if self._ptr.total == 0 else int(self._ptr.min)

    @property
    def max(self) -> int:
        return int(self._ptr.max)

    @property
    def mean(self) -> float:
        total = int(self._ptr.total)
        return int(self._ptr.sum) / total if total else 0.0

    @property
    def overflows(self) -> int:
        return int(self._ptr.overflows)

    def percentile(self, p: float) -> int:
        return int(lib.wm_hist_percentile(self._ptr, p))

    def percentiles(self, ps: Iterable[float]) -> list[int]:
        return self.snapshot().percentiles(ps)

    def summary(self, ps: Iterable[float] = (50, 90, 99, 99.9)) -> dict[str, float]:
        ps = list(ps)
        out: dict[str, float] = {"count": self.total, "min": self.min, "mean": self.mean}
        out.update({f"p{p:g}": v for p, v in zip(ps, self.percentiles(ps), strict=True)})
        out["max"] = self.max
        return out

    def reset(self) -> None:
        """Zero the histogram (only when nobody records into it)."""
        if self.readonly:
            raise PermissionError("histogram attached read-only")
        lib.wm_hist_reset(self._ptr)
