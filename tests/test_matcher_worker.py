"""The matcher's C thread between two rings: same events as a direct run,
pinned where asked, backpressure without loss, drain on stop, bad config."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from wirematch.pipeline.demo import run_demo
from wirematch.pipeline.native import matcher as mt
from wirematch.pipeline.native.counters import Counters
from wirematch.pipeline.native.hist import Histogram
from wirematch.pipeline.native.matcher_worker import COUNTER_NAMES, MatcherWorker
from wirematch.pipeline.native.ring import Ring
from wirematch.pipeline.orderflow import FlowSpec, generate


def _matcher(spec: FlowSpec) -> mt.Matcher:
    m = mt.Matcher(max_instruments=spec.instruments, max_orders=1 << 18)
    for rules in spec.rules():
        m.add_instrument(rules)
    return m


def _run_threaded(cmds: np.ndarray, spec: FlowSpec, event_capacity: int, idle: str):
    m = _matcher(spec)
    cmd_ring = Ring.create("cmd", mt.CMD_DTYPE, 1024)
    ev_ring = Ring.create("ev", mt.EVENT_DTYPE, event_capacity)
    counters = Counters.create(COUNTER_NAMES)
    latency = Histogram.create()
    cpu = max(os.sched_getaffinity(0))
    w = MatcherWorker(m, cmd_ring, ev_ring, counters, latency, idle=idle, cpu=cpu)
    w.start()
    assert w.affinity() == {cpu}
    out = []
    pos = 0
    deadline = time.monotonic() + 60
    while pos < len(cmds):
        assert time.monotonic() < deadline, "worker made no progress"
        pos += cmd_ring.enqueue(cmds[pos : pos + 100])
        out.append(ev_ring.dequeue(4096))
    w.request_stop()
    while not w.done:
        assert time.monotonic() < deadline, "worker did not drain"
        out.append(ev_ring.dequeue(4096))
    w.join()
    out.append(ev_ring.dequeue(event_capacity))
    return m, np.concatenate(out), counters.snapshot(), latency


@pytest.mark.parametrize(
    ("event_capacity", "idle"), [(1 << 16, "spin"), (16, "spin_yield"), (1 << 12, "sleep")]
)
def test_threaded_run_equals_direct_run(event_capacity: int, idle: str) -> None:
    spec = FlowSpec(commands=20_000, seed=7)
    cmds = generate(spec)
    m, events, counters, latency = _run_threaded(cmds, spec, event_capacity, idle)
    direct = _matcher(spec)
    expected = direct.apply(cmds, events_cap=1 << 14)
    assert len(events) == len(expected)
    assert events.tobytes() == expected.tobytes()
    assert m.hash == direct.hash
    assert counters["commands"] == len(cmds)
    assert counters["events"] == len(events)
    assert latency.total == len(cmds)
    if event_capacity == 16:
        # A tiny event ring: the matcher waited for room instead of dropping.
        assert counters["out_full_waits"] > 0


def test_stop_drains_the_command_ring() -> None:
    spec = FlowSpec(commands=3_000, seed=3)
    cmds = generate(spec)
    m = _matcher(spec)
    cmd_ring = Ring.create("cmd", mt.CMD_DTYPE, 4096)
    ev_ring = Ring.create("ev", mt.EVENT_DTYPE, 1 << 16)
    assert cmd_ring.enqueue(cmds) == len(cmds)  # all queued before the thread starts
    w = MatcherWorker(m, cmd_ring, ev_ring, idle="sleep")
    w.start()
    w.join()  # immediate stop: it must still apply every queued command
    assert cmd_ring.count == 0
    assert m.last_seq == ev_ring.count


def test_bad_configuration_is_refused() -> None:
    m = mt.Matcher()
    good = Ring.create("cmd", mt.CMD_DTYPE, 64)
    small = Ring.create("small", np.dtype([("x", "<u8")]), 64)
    with pytest.raises(OSError, match="Invalid argument"):
        MatcherWorker(m, small, good).start()  # 8-byte elements are not commands
    with pytest.raises(ValueError, match="worker counters"):
        MatcherWorker(m, good, good, counters=Counters.create(["a"]))
    with pytest.raises(ValueError, match="idle strategy"):
        MatcherWorker(m, good, good, idle="nap")


def test_demo_summary_is_consistent() -> None:
    before = os.sched_getaffinity(0)
    r = run_demo(FlowSpec(commands=50_000, seed=2), batch=128)
    assert os.sched_getaffinity(0) == before  # the demo gives the CPUs back
    assert r["identical_to_direct_run"] is True
    assert r["commands_applied"] == r["commands_in"] == 50_000
    ev = r["events_by_type"]
    assert r["accepted"] + r["rejected"] <= r["commands_in"]
    assert r["rejected"] == sum(r["rejected_by_reason"].values())
    assert ev["executed"] == 2 * r["trades"]
    for reason in ("unknown_instrument", "bad_qty", "out_of_band", "duplicate_id"):
        assert r["rejected_by_reason"].get(reason, 0) > 0, reason
    assert r["latency_ns"]["count"] == 50_000
