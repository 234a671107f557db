"""Counter blocks and the TSC clock."""

from __future__ import annotations

import time

import pytest

from wirematch.pipeline.native import ffi, lib
from wirematch.pipeline.native.clock import Clock
from wirematch.pipeline.native.counters import Counters


def test_counters_names_values_and_snapshot() -> None:
    c = Counters.create(["rx_packets", "drop_short", "drop_unknown_flow"])
    assert c.names == ["rx_packets", "drop_short", "drop_unknown_flow"]
    c.add("rx_packets", 3)
    c.add("drop_short")
    assert c["rx_packets"] == 3
    assert c.values.tolist() == [3, 1, 0]
    assert c.snapshot() == {"rx_packets": 3, "drop_short": 1, "drop_unknown_flow": 0}
    assert lib.wm_counters_find(c.ptr, b"drop_short") == 1
    assert lib.wm_counters_find(c.ptr, b"nope") < 0


@pytest.mark.parametrize(
    "names", [[], ["a", "a"], ["x" * 48], [""]], ids=["empty", "dup", "long", "blank"]
)
def test_counters_bad_names_rejected(names: list[str]) -> None:
    with pytest.raises(OSError):
        Counters.create(names)


def test_clock_tracks_monotonic_raw() -> None:
    clk = Clock()
    info = clk.info()
    assert info.source in ("tsc", "clock_gettime(CLOCK_MONOTONIC_RAW)")
    a = clk.now_ns()
    ref_a = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
    time.sleep(0.2)
    b = clk.now_ns()
    ref_b = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
    # Within 0.2% over 200 ms plus a little call overhead.
    assert abs((b - a) - (ref_b - ref_a)) < 400_000 + 50_000
    assert abs(b - ref_b) < 1_000_000
    drift = clk.recalibrate()
    assert abs(drift) < 2_000_000  # ppb: a calibrated TSC drifts far less than 0.2%
    assert clk.info().recalibrations == 1


def test_clock_fallback_is_reported_and_works() -> None:
    clk = Clock(fallback=True)
    assert clk.info().source.startswith("clock_gettime")
    ticks = lib.wm_clock_now_ns(clk.ptr)
    assert abs(ticks - time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)) < 5_000_000
    assert clk.recalibrate() == 0
    assert clk.ticks_to_ns(12345) == 12345  # a fallback tick is a nanosecond


def test_cycles_to_ns_scale() -> None:
    clk = Clock()
    if clk.info().source != "tsc":
        pytest.fail("this machine's TSC is not invariant: the TSC path cannot be tested here")
    hz = clk.info().tsc_hz
    assert clk.cycles_to_ns(hz) == pytest.approx(1_000_000_000, rel=1e-6)
    assert ffi.sizeof("struct wm_clock") >= 64
