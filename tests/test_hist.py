"""Latency histogram: layout, precision, agreement with HdrHistogram, windows."""

from __future__ import annotations

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from wirematch.pipeline.native import lib
from wirematch.pipeline.native.hist import (
    RELATIVE_PRECISION,
    Histogram,
    highest_values,
    lowest_values,
)

PERCENTILES = [0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100]


def test_bucket_bounds_match_c() -> None:
    n = int(lib.wm_hist_index_of(10**10)) + 1
    lows, highs = lowest_values(n), highest_values(n)
    for idx in [0, 1, 255, 256, 257, 383, 384, 1000, n - 1]:
        assert lows[idx] == lib.wm_hist_lowest_at(idx)
        assert highs[idx] == lib.wm_hist_highest_at(idx)
        assert lib.wm_hist_index_of(int(lows[idx])) == idx
        assert lib.wm_hist_index_of(int(highs[idx])) == idx
    assert (lows[1:] == highs[:-1] + 1).all(), "buckets tile the value range"


def test_relative_error_at_most_one_percent_from_1ns_to_10s() -> None:
    values = np.unique(np.geomspace(1, 10**10, 20000).astype(np.uint64))
    for v in values:
        idx = lib.wm_hist_index_of(int(v))
        lo, hi = lib.wm_hist_lowest_at(idx), lib.wm_hist_highest_at(idx)
        assert lo <= v <= hi
        assert (hi - lo) <= max(0, v * RELATIVE_PRECISION)
    assert RELATIVE_PRECISION < 0.01


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_agree_with_hdrhistogram(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Latency-like: a lognormal body around 1 us, a tail into milliseconds.
    samples = np.concatenate(
        [rng.lognormal(7, 0.6, 20000), rng.lognormal(12, 1.5, 500), [1, 2, 3, 9_999_999_999]]
    ).astype(np.uint64)
    ours = Histogram.create()
    ours.record(samples)
    ref = HdrHistogram(1, 10**10, 2)
    for v in samples:
        ref.record_value(int(v))
    assert ours.total == ref.get_total_count() == len(samples)
    c_values = [ours.percentile(p) for p in PERCENTILES]
    np_values = ours.percentiles(PERCENTILES)
    ref_values = [ref.get_value_at_percentile(p) for p in PERCENTILES]
    assert c_values == np_values
    for p, mine, theirs in zip(PERCENTILES, c_values, ref_values, strict=True):
        # Same bucket layout, same definition: agreement within one bucket's
        # precision (and in practice exactly).
        assert abs(mine - theirs) <= theirs * RELATIVE_PRECISION + 1, (p, mine, theirs)
    assert ours.min == samples.min() and ours.max == samples.max()
    assert ours.mean == pytest.approx(samples.astype(np.float64).mean(), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**10), min_size=1, max_size=300))
def test_percentile_within_precision_of_exact(values: list[int]) -> None:
    h = Histogram.create()
    h.record(values)
    srt = sorted(values)
    for p in (50, 90, 99, 100):
        rank = max(1, int(p / 100 * len(srt) + 0.5))
        exact = srt[rank - 1]
        got = h.percentile(p)
        assert exact <= got <= exact + exact * RELATIVE_PRECISION + 1


def test_overflow_counted_and_clamped() -> None:
    h = Histogram.create(max_value=1000)
    h.record([10, 5000])
    assert h.overflows == 1
    assert h.total == 2
    assert h.percentile(100) == lib.wm_hist_highest_at(lib.wm_hist_index_of(1000))


def test_snapshot_windows_and_merge() -> None:
    h = Histogram.create()
    h.record([100] * 10)
    before = h.snapshot()
    h.record([10_000] * 10)
    window = h.snapshot() - before
    assert window.total == 10
    assert window.percentile(50) == lib.wm_hist_highest_at(lib.wm_hist_index_of(10_000))
    assert (window + before).total == 20
    other = Histogram.create()
    other.record([5])
    assert lib.wm_hist_merge(other.ptr, h.ptr) == 0
    assert other.total == 21 and other.min == 5
    small = Histogram.create(max_value=1000)
    assert lib.wm_hist_merge(small.ptr, h.ptr) < 0  # layouts differ


def test_empty_and_invalid() -> None:
    h = Histogram.create()
    assert h.percentile(99) == 0 and h.total == 0 and h.min == 0
    assert h.snapshot().summary()["count"] == 0
    with pytest.raises(OSError):
        Histogram.create(max_value=10)
