"""The matcher's C thread, started, pinned and stopped from Python.

The thread (native/worker/matcher_worker.c) takes commands from a ring, applies
them and publishes events to another ring; Python never touches a command on
the way.  Python's part: start it, pin it to its core by the thread id it
reports, read its counters and histograms from shared memory, stop it (stop
drains the command ring: nothing accepted is dropped).
"""

from __future__ import annotations

import os
from typing import Any

from wirematch.pipeline.native import check, ffi, lib
from wirematch.pipeline.native.counters import Counters
from wirematch.pipeline.native.hist import Histogram
from wirematch.pipeline.native.matcher import Matcher, matcher_ptr
from wirematch.pipeline.native.ring import Ring

IDLE = {
    "spin": lib.WM_IDLE_SPIN,
    "spin_yield": lib.WM_IDLE_SPIN_YIELD,
    "sleep": lib.WM_IDLE_SLEEP,
    "adaptive": lib.WM_IDLE_ADAPTIVE,
}
COUNTER_NAMES = [
    ffi.string(lib.wm_matcher_worker_counter_names()[i]).decode()
    for i in range(lib.WM_MW_N_COUNTERS)
]


class MatcherWorker:
    def __init__(
        self,
        matcher: Matcher,
        cmd_ring: Ring,
        event_ring: Ring,
        counters: Counters | None = None,
        latency: Histogram | None = None,
        batch_sizes: Histogram | None = None,
        burst: int = 32,
        idle: str = "adaptive",
        cpu: int | None = None,
    ) -> None:
        if idle not in IDLE:
            raise ValueError(f"idle strategy {idle!r}: one of {', '.join(IDLE)}")
        if counters is not None and counters.names != COUNTER_NAMES:
            raise ValueError(f"worker counters must be named {COUNTER_NAMES}")
        self._keep = (matcher, cmd_ring, event_ring, counters, latency, batch_sizes)
        cfg = ffi.new("struct wm_matcher_worker_config *")
        cfg.size = ffi.sizeof("struct wm_matcher_worker_config")
        cfg.burst = burst
        cfg.idle.strategy = IDLE[idle]
        cfg.matcher = matcher_ptr(matcher)
        cfg.__setattr__("in", cmd_ring.ptr)
        cfg.out = event_ring.ptr
        cfg.counters = counters.ptr if counters is not None else ffi.NULL
        cfg.latency = latency.ptr if latency is not None else ffi.NULL
        cfg.batch_sizes = batch_sizes.ptr if batch_sizes is not None else ffi.NULL
        self._cfg = cfg
        self._w: Any = None
        self.cpu = cpu
        self.idle = idle

    def start(self) -> int:
        """Start the thread; pin it to `cpu` if given.  Returns its thread id."""
        out = ffi.new("struct wm_matcher_worker **")
        check(lib.wm_matcher_worker_start(self._cfg, out), "wm_matcher_worker_start")
        self._w = out[0]
        if self.cpu is not None:
            os.sched_setaffinity(self.tid, {self.cpu})
        return self.tid

    @property
    def tid(self) -> int:
        if self._w is None:
            raise RuntimeError("worker not started")
        return int(lib.wm_matcher_worker_tid(self._w))

    def affinity(self) -> set[int]:
        return os.sched_getaffinity(self.tid)

    def request_stop(self) -> None:
        if self._w is not None:
            lib.wm_matcher_worker_request_stop(self._w)

    @property
    def done(self) -> bool:
        return self._w is not None and bool(lib.wm_matcher_worker_done(self._w))

    def join(self) -> None:
        """Stop (draining the command ring) and wait for the thread.  The event
        ring must have room or be read meanwhile (see `done`)."""
        if self._w is not None:
            lib.wm_matcher_worker_join(self._w)
            self._w = None

    def __del__(self) -> None:
        if getattr(self, "_w", None) is not None:
            self.join()
