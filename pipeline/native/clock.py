"""The TSC clock seen from Python: calibration facts and conversions."""

from __future__ import annotations

from dataclasses import dataclass

from wirematch.pipeline.native import check, ffi, lib


@dataclass
class ClockInfo:
    source: str
    tsc_hz: int
    invariant_tsc: bool
    drift_ppb: int
    last_error_ns: int
    recalibrations: int


class Clock:
    """A calibrated clock; `fallback=True` forces clock_gettime."""

    def __init__(self, calib_us: int = 20000, fallback: bool = False) -> None:
        self._clk = ffi.new("struct wm_clock *")
        flags = lib.WM_CLOCK_FORCE_FALLBACK if fallback else 0
        check(lib.wm_clock_init(self._clk, calib_us, flags), "wm_clock_init")

    @property
    def ptr(self) -> object:
        return self._clk

    def ticks_to_ns(self, ticks: int) -> int:
        return int(lib.wm_clock_tsc_to_ns(self._clk, ticks))

    def cycles_to_ns(self, cycles: int) -> int:
        return int(lib.wm_clock_cycles_to_ns(self._clk, cycles))

    def now_ns(self) -> int:
        return int(lib.wm_clock_now_ns(self._clk))

    def recalibrate(self) -> int:
        """Re-measure against CLOCK_MONOTONIC_RAW; returns the drift in ppb."""
        return int(lib.wm_clock_recalibrate(self._clk))

    def info(self) -> ClockInfo:
        c = self._clk
        return ClockInfo(
            source=ffi.string(lib.wm_clock_source_name(c)).decode(),
            tsc_hz=int(c.tsc_hz),
            invariant_tsc=bool(lib.wm_tsc_is_invariant()),
            drift_ppb=int(c.drift_ppb),
            last_error_ns=int(c.last_error_ns),
            recalibrations=int(c.recalibrations),
        )
